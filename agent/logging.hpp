#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace replagent::agent {

// log.format and --log-format: "text" is for people, "json" for log pipelines.
enum class LogFormat { kText, kJson };
// log.level and --log-level: the lowest level logged.
enum class LogLevel { kTrace, kDebug, kInfo, kWarn, kError };

// The names the settings and flags take: "text", "json"; "trace" ... "error".
const char* to_string(LogFormat format);
const char* to_string(LogLevel level);
// The value named `name`; nullopt for any other text (the caller names the flag or key).
std::optional<LogFormat> parse_log_format(std::string_view name);
std::optional<LogLevel> parse_log_level(std::string_view name);

// All logs go to stderr, one line per event (the kubelet keeps them): as text, or as JSON
// {"ts":"...","level":"info","msg":"..."} with the message escaped.
void setup_logging(LogFormat format, LogLevel level);

// Escapes a string for a JSON string literal (without the quotes).
std::string json_escape(const std::string& text);

}  // namespace replagent::agent
