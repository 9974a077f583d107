// conf_quote, the postgresql.conf string literal (cluster_name, listen_addresses,
// primary_conninfo, primary_slot_name): any bytes either come back as a usage error (exactly
// when they hold a control character) or are written so that PostgreSQL's configuration lexer
// (test/unit/pg_grammar.hpp, from guc-file.l) reads the line back as exactly those bytes, also
// with a comment after it and another setting on the next line. The reader itself is fed the
// raw input as a file too (no crash).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "agent/errors.hpp"
#include "roles/pg_files.hpp"
#include "test/fuzz/fuzz_check.hpp"
#include "test/unit/pg_grammar.hpp"

namespace grammar = replagent::test::pg_grammar;
using replagent::agent::AgentError;
using replagent::agent::ExitCode;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string value(reinterpret_cast<const char*>(data), size);
  (void)grammar::parse_conf(value);

  bool has_control = false;
  for (char c : value) {
    const auto u = static_cast<unsigned char>(c);
    has_control = has_control || u < 0x20 || u == 0x7f;
  }

  std::string quoted;
  try {
    quoted = replagent::roles::conf_quote(value, "fuzz_value");
  } catch (const AgentError& e) {
    FUZZ_CHECK(e.code() == ExitCode::kUsage);
    FUZZ_CHECK(has_control);
    FUZZ_CHECK(std::string_view(e.what()).find("fuzz_value") != std::string_view::npos);
    return 0;
  }
  FUZZ_CHECK(!has_control);
  FUZZ_CHECK(quoted.find('\n') == std::string::npos);

  const auto settings =
      grammar::parse_conf("cluster_name = " + quoted + "  # the pod\nport = 5432\n");
  FUZZ_CHECK(settings.has_value());
  FUZZ_CHECK(settings->size() == 2);
  FUZZ_CHECK((*settings)[0] == (grammar::ConfSetting{"cluster_name", value}));
  FUZZ_CHECK((*settings)[1] == (grammar::ConfSetting{"port", "5432"}));
  return 0;
}
