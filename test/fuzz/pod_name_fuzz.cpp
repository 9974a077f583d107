// Pod names (<set>-<ordinal>) from POD_NAME, HOSTNAME or pod.name: parsing never crashes; a
// parsed name is rebuilt exactly from its parts, and the slot name derived from any text is a
// valid PostgreSQL replication slot name.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "agent/identity.hpp"
#include "test/fuzz/fuzz_check.hpp"

using replagent::agent::parse_pod_name;
using replagent::agent::slot_name_for;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view name(reinterpret_cast<const char*>(data), size);

  if (auto id = parse_pod_name(name)) {
    FUZZ_CHECK(!id->set.empty());
    FUZZ_CHECK(id->ordinal >= 0);
    FUZZ_CHECK(id->set + "-" + std::to_string(id->ordinal) == name);
    const auto dns = replagent::agent::pod_dns_name(*id, "svc", "ns", "cluster.local");
    FUZZ_CHECK(dns.rfind(std::string(name) + ".", 0) == 0);
  }

  const std::string slot = slot_name_for(name);
  FUZZ_CHECK(slot.size() <= 63);
  FUZZ_CHECK(slot.size() == std::min<std::size_t>(name.size(), 63));
  for (char c : slot) FUZZ_CHECK((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_');
  return 0;
}
