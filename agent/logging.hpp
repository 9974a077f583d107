#pragma once

#include <string>

namespace replagent::agent {

// All logs go to stderr, one line per event (the kubelet keeps them). "text" is for people,
// "json" for log pipelines: {"ts":"...","level":"info","msg":"..."} with the message escaped.
// Throws AgentError(kUsage) for an unknown format or level.
void setup_logging(const std::string& format, const std::string& level);

// Escapes a string for a JSON string literal (without the quotes).
std::string json_escape(const std::string& text);

}  // namespace replagent::agent
