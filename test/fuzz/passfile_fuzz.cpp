// passfile_line, the libpq passfile (.pgpass) line of the replication and backup roles. Input:
// the first byte is the length of the role name, the rest is the role name then the password.
// Either the line is refused with a usage error (exactly when a field holds \n, \r or \0) whose
// text does not depend on the password, or libpq's reading of the file (test/unit/
// pg_grammar.hpp, from fe-connect.c passwordFromFile) gives one entry: any host, port and
// database, exactly this role, exactly this password. The reader is fed the raw input too.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "agent/errors.hpp"
#include "agent/secret.hpp"
#include "roles/pg_files.hpp"
#include "test/fuzz/fuzz_check.hpp"
#include "test/unit/pg_grammar.hpp"

namespace grammar = replagent::test::pg_grammar;
using replagent::agent::AgentError;
using replagent::agent::ExitCode;
using replagent::agent::Secret;
using replagent::roles::passfile_line;

namespace {

// The message of the usage error, or "" when the line was written.
std::string refusal(const std::string& user, const std::string& password) {
  try {
    passfile_line(user, Secret(password));
  } catch (const AgentError& e) {
    FUZZ_CHECK(e.code() == ExitCode::kUsage);
    return e.what();
  }
  return "";
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  (void)grammar::parse_passfile(in);
  if (in.empty()) return 0;
  const std::size_t user_len =
      std::min<std::size_t>(static_cast<unsigned char>(in[0]), in.size() - 1);
  const std::string user(in.substr(1, user_len));
  const std::string password(in.substr(1 + user_len));

  const std::string_view unwritable("\n\r\0", 3);
  const bool bad_user = user.find_first_of(unwritable) != std::string::npos;
  const bool bad_password = password.find_first_of(unwritable) != std::string::npos;
  if (bad_user || bad_password) {
    const std::string message = refusal(user, password);
    FUZZ_CHECK(!message.empty());
    // The same message for any other unwritable password: it cannot show this one.
    if (!bad_user) FUZZ_CHECK(message == refusal(user, "\n"));
    return 0;
  }

  const std::string line = passfile_line(user, Secret(password));
  FUZZ_CHECK(!line.empty() && line.back() == '\n');
  FUZZ_CHECK(line.find('\n') == line.size() - 1);
  const auto entries = grammar::parse_passfile(line);
  FUZZ_CHECK(entries.size() == 1);
  const auto& e = entries[0];
  FUZZ_CHECK(e.host.any && e.port.any && e.database.any);
  FUZZ_CHECK(e.user == (grammar::PassField{false, user}));
  FUZZ_CHECK(e.password == password);
  return 0;
}
