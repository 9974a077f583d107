// render_primary_conninfo and with_standby_settings: the replica's connection to the primary
// as libpq reads it, inside postgresql.auto.conf as the server reads it. Input: host, hostaddr,
// user, passfile, application_name and the slot name separated by NUL bytes (a NUL cannot be
// in a C string, and conninfo_quote refuses it). Properties:
//  - the conninfo parses, by libpq's rules (test/unit/pg_grammar.hpp) and by libpq itself
//    (PQconninfoParse, the oracle; libpq-fe.h is included here only for that), to exactly the
//    fields given, hostaddr only when set, and the fixed keepalive settings;
//  - with_standby_settings either refuses it with a usage error naming the setting (exactly
//    when the conninfo or slot holds a control character) or writes primary_conninfo and
//    primary_slot_name that the configuration lexer reads back exactly.
#include <libpq-fe.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
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
using replagent::roles::PrimaryConnInfo;

namespace {

using Values = std::map<std::string, std::string>;

Values libpq_parse(const std::string& conninfo) {
  char* err = nullptr;
  std::unique_ptr<PQconninfoOption, decltype(&PQconninfoFree)> opts(
      PQconninfoParse(conninfo.c_str(), &err), &PQconninfoFree);
  if (err) PQfreemem(err);
  FUZZ_CHECK(opts != nullptr);
  Values out;
  for (const PQconninfoOption* o = opts.get(); o->keyword; ++o)
    if (o->val) out[o->keyword] = o->val;
  return out;
}

bool has_control(std::string_view s) {
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return true;
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  (void)grammar::parse_conninfo(in);
  std::vector<std::string> f;
  for (std::size_t start = 0;;) {
    const auto nul = in.find('\0', start);
    f.emplace_back(
        in.substr(start, nul == std::string_view::npos ? std::string_view::npos : nul - start));
    if (nul == std::string_view::npos) break;
    start = nul + 1;
  }
  f.resize(6);
  PrimaryConnInfo info;
  info.host = f[0];
  info.hostaddr = f[1];
  info.port = 1 + static_cast<int>(size % 65535);
  info.user = f[2];
  info.passfile = f[3];
  info.application_name = f[4];
  const std::string& slot = f[5];

  const std::string conninfo = replagent::roles::render_primary_conninfo(info);
  Values expected = {{"host", info.host},
                     {"port", std::to_string(info.port)},
                     {"user", info.user},
                     {"passfile", info.passfile},
                     {"application_name", info.application_name},
                     {"connect_timeout", "5"},
                     {"keepalives", "1"},
                     {"keepalives_idle", "10"},
                     {"keepalives_interval", "5"},
                     {"keepalives_count", "3"}};
  if (!info.hostaddr.empty()) expected["hostaddr"] = info.hostaddr;

  const auto pairs = grammar::parse_conninfo(conninfo);
  FUZZ_CHECK(pairs.has_value());
  FUZZ_CHECK(pairs->size() == expected.size());
  FUZZ_CHECK(Values(pairs->begin(), pairs->end()) == expected);
  FUZZ_CHECK(libpq_parse(conninfo) == expected);

  std::string conf;
  try {
    conf = replagent::roles::with_standby_settings("", conninfo, slot);
  } catch (const AgentError& e) {
    FUZZ_CHECK(e.code() == ExitCode::kUsage);
    FUZZ_CHECK(has_control(conninfo) || has_control(slot));
    const std::string_view what(e.what());
    FUZZ_CHECK(what.find(has_control(conninfo) ? "primary_conninfo" : "primary_slot_name") !=
               std::string_view::npos);
    return 0;
  }
  FUZZ_CHECK(!has_control(conninfo) && !has_control(slot));
  const auto settings = grammar::parse_conf(conf);
  FUZZ_CHECK(settings.has_value());
  FUZZ_CHECK(settings->size() == 2);
  FUZZ_CHECK((*settings)[0] == (grammar::ConfSetting{"primary_conninfo", conninfo}));
  FUZZ_CHECK((*settings)[1] == (grammar::ConfSetting{"primary_slot_name", slot}));
  return 0;
}
