#pragma once

// Internal to agent/config*.cpp: parsing and checking one key's value. A value that is not
// what the key takes throws std::invalid_argument (bad()) saying what was expected, or a
// KeyError that is a whole sentence; apply() (agent/config_load.cpp) adds where it came from.

#include <toml++/toml.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <vector>

#include "agent/config.hpp"

namespace replagent::agent::config_detail {

// Throws std::invalid_argument(expected): "true or false", "a size such as 16MB", ...
[[noreturn]] void bad(const std::string& expected);

// A whole sentence naming the key (and the entry) that is wrong, for the keys whose values
// are tables or lists: apply() prefixes where the value came from, nothing else.
struct KeyError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
  KeyError(const std::string& what, std::uint32_t entry_line)
      : std::invalid_argument(what), line(entry_line) {}
  std::uint32_t line = 0;  // the entry's line in a TOML file; 0: the key's
};

// A control character (and, unless allowed, a tab) anywhere in `v`.
bool has_control(const std::string& v, bool allow_tab = false);

// The environment's or a flag's text of a table or list key, read as a TOML value; `expected`
// says what it should be.
void with_toml_value(const std::string& text, const std::string& expected,
                     const std::function<void(const toml::node&)>& use);
// One postgres.parameters entry: `given` as given, `value` as text. Returns the lower-case
// name; throws KeyError.
std::string check_parameter(const std::string& given, const std::string& value);
// postgres.parameters and postgres.hba_extra from their TOML values; throw KeyError.
void set_parameters(Config& c, const toml::node& node);
void set_hba_extra(Config& c, const toml::node& node);

// The value parsers of the key table: each returns the value or calls bad().
std::string text(const std::string& v);
int to_int(const std::string& v, int lo, int hi);
bool to_bool(const std::string& v);
// Durations are bounded at load: a poll interval times the stale count, or now() plus a
// timeout, must never overflow the clock's int64 milliseconds later.
inline constexpr std::chrono::milliseconds kMaxDuration = std::chrono::hours(7 * 24);
std::chrono::milliseconds to_duration(const std::string& v,
                                      std::chrono::milliseconds max = kMaxDuration);
std::string role_name(const std::string& v);
std::string role_name_or_empty(const std::string& v);
std::string database_name_or_empty(const std::string& v);
std::string safe_path(const std::string& v);
std::string dns_label(const std::string& v);
std::string dns_label_or_empty(const std::string& v);
std::string dns_subdomain(const std::string& v);
bool is_cidr(const std::string& v);
std::uint64_t to_size(const std::string& v);
std::vector<std::string> to_list(const std::string& v);
// backup.source: "replica", "primary" or a host, into source and source_host; and back.
void set_backup_source(Config& c, const std::string& v);
std::string backup_source_text(const Config& c);

// The value of an enum setting whose to_string() is `v`, one of `all`; else bad("one of a, b"):
// a setting's names are its enum's to_string, so the two cannot drift apart.
template <typename Enum>
Enum to_enum(const std::string& v, std::initializer_list<Enum> all) {
  for (const Enum e : all)
    if (v == to_string(e)) return e;
  std::string list;
  for (const Enum e : all) list += (list.empty() ? "" : ", ") + std::string(to_string(e));
  bad("one of " + list);
}

}  // namespace replagent::agent::config_detail
