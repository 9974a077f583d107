// render_hba_block and with_hba_block with the role names and networks a config can hold.
// Input, one per line: postgres.superuser, postgres.replication_user,
// postgres.allowed_networks (comma-separated), postgres.superuser_network_login; the rest is
// a foreign pg_hba.conf. The first four go through load_config as --set flags, so only values
// the config accepts (is_valid_role_name, CIDR networks, distinct roles) reach the renderer.
// Properties, reading the block as PostgreSQL does (test/unit/pg_grammar.hpp, from hba.c):
//  - every line is a local rule (4 fields) or a host rule (5), one token per field;
//  - every role token is the keyword all (unquoted) or, quoted, exactly the configured
//    superuser or replication role (so a role named "all" or "replication" is that role, not
//    the keyword); every address is "all" or exactly one of the configured networks;
//  - the networks scram-sha-256 admits, in order: the replication role for `replication`,
//    every role for `all`, and the superuser for `all` only with superuser_network_login;
//  - with_hba_block keeps a foreign file without our markers after the block, line for line,
//    and is idempotent.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "agent/config.hpp"
#include "agent/errors.hpp"
#include "roles/pg_files.hpp"
#include "test/fuzz/fuzz_check.hpp"
#include "test/unit/pg_grammar.hpp"

namespace grammar = replagent::test::pg_grammar;
using replagent::agent::AgentError;
using replagent::agent::Config;
using replagent::agent::ConfigInputs;

namespace {

std::string_view next_line(std::string_view& rest) {
  const auto nl = rest.find('\n');
  const std::string_view line = rest.substr(0, nl);
  rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
  return line;
}

bool is(const grammar::HbaToken& t, std::string_view text, bool quoted) {
  return t.text == text && t.quoted == quoted;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  (void)grammar::parse_hba(rest);
  ConfigInputs in;
  in.file_text = "";
  for (const char* key : {"postgres.superuser", "postgres.replication_user",
                          "postgres.allowed_networks", "postgres.superuser_network_login"}) {
    in.flags.emplace_back(key, std::string(next_line(rest)));
  }
  const std::string foreign(rest);
  // A network with a NUL byte once passed (inet_pton read it as a C string) and carried a
  // pg_hba line after the NUL: load_config now refuses control characters in every setting,
  // and the properties below check that nothing of the kind reaches the block.
  Config c;
  try {
    c = replagent::agent::load_config(in);
  } catch (const AgentError&) {
    return 0;
  }
  const auto& p = c.postgres;
  FUZZ_CHECK(replagent::agent::is_valid_role_name(p.superuser));
  FUZZ_CHECK(replagent::agent::is_valid_role_name(p.replication_user));

  const std::string block = replagent::roles::render_hba_block(c);
  const auto rules = grammar::parse_hba(block);
  FUZZ_CHECK(rules.has_value());
  std::vector<std::string> replication_nets, all_nets, superuser_nets;
  for (const auto& rule : *rules) {
    for (const auto& field : rule) FUZZ_CHECK(field.size() == 1);
    const bool local = is(rule[0][0], "local", false);
    FUZZ_CHECK(local || is(rule[0][0], "host", false));
    const auto& db = rule[1][0];
    const auto& user = rule[2][0];
    FUZZ_CHECK(!db.quoted && (db.text == "all" || db.text == "replication"));
    FUZZ_CHECK(is(user, "all", false) || is(user, p.superuser, true) ||
               is(user, p.replication_user, true) || is(user, p.monitor_user, true));
    if (local) {
      // peer, or (the pod's own roles only) peer through pg_ident.conf's replagent map.
      FUZZ_CHECK(rule.size() == 4u || rule.size() == 5u);
      FUZZ_CHECK(is(rule[3][0], "peer", false));
      if (rule.size() == 5u) {
        FUZZ_CHECK(is(rule[4][0], "map=replagent", false));
        FUZZ_CHECK(!is(user, "all", false));
      }
      continue;
    }
    FUZZ_CHECK(rule.size() == 5u);
    FUZZ_CHECK(!is(user, p.monitor_user, true) || p.monitor_user == p.superuser ||
               p.monitor_user == p.replication_user);
    const auto& address = rule[3][0];
    const auto& method = rule[4][0];
    FUZZ_CHECK(!address.quoted && !method.quoted);
    bool known = address.text == "all";
    for (const auto& net : p.allowed_networks) known = known || address.text == net;
    FUZZ_CHECK(known);
    if (method.text != "scram-sha-256") continue;
    if (is(user, p.replication_user, true) && db.text == "replication")
      replication_nets.push_back(address.text);
    if (is(user, "all", false) && db.text == "all") all_nets.push_back(address.text);
    if (is(user, p.superuser, true) && db.text == "all") superuser_nets.push_back(address.text);
  }
  FUZZ_CHECK(replication_nets == p.allowed_networks);
  FUZZ_CHECK(all_nets == p.allowed_networks);
  FUZZ_CHECK(superuser_nets ==
             (p.superuser_network_login ? p.allowed_networks : std::vector<std::string>{}));

  if (foreign.find("# BEGIN replagent") == std::string::npos &&
      foreign.find("# END replagent") == std::string::npos) {
    const std::string hba = replagent::roles::with_hba_block(foreign, c);
    const std::string kept = foreign.empty() || foreign.back() == '\n' ? foreign : foreign + "\n";
    FUZZ_CHECK(hba == block + kept);
    FUZZ_CHECK(replagent::roles::with_hba_block(hba, c) == hba);
  }
  return 0;
}
