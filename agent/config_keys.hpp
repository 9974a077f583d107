#pragma once

// Internal to agent/config*.cpp (everything else includes agent/config.hpp): the table of
// settable keys, which agent/config.cpp holds, and what the loading, the rendering and the
// reference need to know of it.

#include <toml++/toml.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "agent/config.hpp"

namespace replagent::agent::config_detail {

// A key's value as the config output shows it.
using Rendered = std::variant<std::string, std::int64_t, bool, std::vector<std::string>,
                              std::map<std::string, std::string>>;

// One settable key. `set` parses a textual value (from TOML, env or a flag) or throws a
// std::invalid_argument whose text says what was expected; the caller adds where it came from.
struct Key {
  std::string name;  // "section.key"
  std::function<void(Config&, const std::string&)> set;
  std::function<Rendered(const Config&)> render;  // empty: not rendered
  bool secret = false;                            // env only, never in a file, never rendered
  // A key whose value is a TOML table or array (postgres.parameters, postgres.hba_extra): a
  // file gives the node; `set` parses the environment's or a flag's text as a TOML value.
  std::function<void(Config&, const toml::node&)> set_node = nullptr;
};

// Every key, in the order the reference and `replagent config` show them.
const std::vector<Key>& keys();
// The key named "section.key"; nullptr when there is none.
const Key* find_key(const std::string& name);
// "init.wait_timeout" -> "REPLAGENT_INIT_WAIT_TIMEOUT".
std::string env_name(const std::string& key);
// The keys' sections, in table order.
std::vector<std::string> sections();
// The key whose environment name is nearest to `variable`.
const Key& closest_key(const std::string& variable);
// For an unknown "section.key": " (did you mean ...? known keys ...; every key: ...)".
std::string unknown_key_hint(const std::string& name);

// Where a user finds every key; the binary carries it, so it works inside a container too.
inline constexpr const char* kReferenceHint =
    "every key: `replagent config --reference` or docs/configuration.md";

}  // namespace replagent::agent::config_detail
