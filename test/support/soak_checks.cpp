#include "test/support/soak_checks.hpp"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <sstream>
#include <string>

namespace replagent::test {
namespace {

bool is_metric_name_char(char c, bool first) {
  return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':' ||
         (!first && std::isdigit(static_cast<unsigned char>(c)));
}

// is_json's recogniser: one pass over the text, nesting bounded at 64.
class JsonCheck {
 public:
  explicit JsonCheck(const std::string& s) : s_(s) {}
  bool valid() {
    ws();
    if (!value()) return false;
    ws();
    return i_ == s_.size();
  }

 private:
  void ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\r' || s_[i_] == '\t'))
      ++i_;
  }
  bool lit(const char* word) {
    const std::string w(word);
    if (s_.compare(i_, w.size(), w) != 0) return false;
    i_ += w.size();
    return true;
  }
  bool value() {
    if (++depth_ > 64 || i_ >= s_.size()) return false;
    bool ok = false;
    switch (s_[i_]) {
      case '{':
        ok = object();
        break;
      case '[':
        ok = array();
        break;
      case '"':
        ok = string();
        break;
      case 't':
        ok = lit("true");
        break;
      case 'f':
        ok = lit("false");
        break;
      case 'n':
        ok = lit("null");
        break;
      default:
        ok = number();
    }
    --depth_;
    return ok;
  }
  bool object() {
    ++i_;
    ws();
    if (i_ < s_.size() && s_[i_] == '}') return ++i_, true;
    for (;;) {
      ws();
      if (i_ >= s_.size() || s_[i_] != '"' || !string()) return false;
      ws();
      if (i_ >= s_.size() || s_[i_++] != ':') return false;
      ws();
      if (!value()) return false;
      ws();
      if (i_ >= s_.size()) return false;
      if (s_[i_] == '}') return ++i_, true;
      if (s_[i_++] != ',') return false;
    }
  }
  bool array() {
    ++i_;
    ws();
    if (i_ < s_.size() && s_[i_] == ']') return ++i_, true;
    for (;;) {
      ws();
      if (!value()) return false;
      ws();
      if (i_ >= s_.size()) return false;
      if (s_[i_] == ']') return ++i_, true;
      if (s_[i_++] != ',') return false;
    }
  }
  bool string() {
    ++i_;
    while (i_ < s_.size()) {
      const unsigned char c = static_cast<unsigned char>(s_[i_++]);
      if (c == '"') return true;
      if (c < 0x20) return false;
      if (c != '\\') continue;
      if (i_ >= s_.size()) return false;
      const char e = s_[i_++];
      if (e == 'u') {
        for (int k = 0; k < 4; ++k, ++i_) {
          if (i_ >= s_.size() || !std::isxdigit(static_cast<unsigned char>(s_[i_]))) return false;
        }
      } else if (std::string_view("\"\\/bfnrt").find(e) == std::string_view::npos) {
        return false;
      }
    }
    return false;
  }
  bool number() {
    const std::size_t start = i_;
    if (i_ < s_.size() && s_[i_] == '-') ++i_;
    auto digits = [&] {
      const std::size_t from = i_;
      while (i_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_]))) ++i_;
      return i_ > from;
    };
    if (i_ < s_.size() && s_[i_] == '0') {
      ++i_;
    } else if (!digits()) {
      return false;
    }
    if (i_ < s_.size() && s_[i_] == '.') {
      ++i_;
      if (!digits()) return false;
    }
    if (i_ < s_.size() && (s_[i_] == 'e' || s_[i_] == 'E')) {
      ++i_;
      if (i_ < s_.size() && (s_[i_] == '+' || s_[i_] == '-')) ++i_;
      if (!digits()) return false;
    }
    return i_ > start;
  }

  const std::string& s_;
  std::size_t i_ = 0;
  int depth_ = 0;
};

}  // namespace

std::string check_exposition(const std::string& text) {
  if (text.empty() || text.back() != '\n') return "exposition does not end in a newline";
  std::istringstream in(text);
  int samples = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    if (line[0] == '#') {
      if (line.rfind("# HELP ", 0) != 0 && line.rfind("# TYPE ", 0) != 0) {
        return "unexpected comment: " + line;
      }
      continue;
    }
    std::size_t i = 0;
    while (i < line.size() && is_metric_name_char(line[i], i == 0)) ++i;
    if (i == 0) return "no metric name: " + line;
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (i < line.size() && line[i] != '}') {
        const std::size_t name_start = i;
        while (i < line.size() && is_metric_name_char(line[i], i == name_start)) ++i;
        if (i == name_start || i + 1 >= line.size() || line[i] != '=' || line[i + 1] != '"') {
          return "bad label: " + line;
        }
        i += 2;
        while (i < line.size() && line[i] != '"') i += line[i] == '\\' ? 2 : 1;
        if (i >= line.size()) return "unterminated label value: " + line;
        ++i;
        if (i < line.size() && line[i] == ',') ++i;
      }
      if (i >= line.size()) return "unterminated labels: " + line;
      ++i;
    }
    if (i >= line.size() || line[i] != ' ') return "no value: " + line;
    std::string value = line.substr(i + 1);
    if (const auto sp = value.find(' '); sp != std::string::npos) value = value.substr(0, sp);
    if (value != "+Inf" && value != "-Inf" && value != "NaN") {
      char* end = nullptr;
      std::strtod(value.c_str(), &end);
      if (value.empty() || end != value.c_str() + value.size()) return "bad value: " + line;
    }
    ++samples;
  }
  return samples > 0 ? "" : "no samples";
}

bool is_json(const std::string& text) { return JsonCheck(text).valid(); }

long rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return -1;
}

long open_fds(const Sidecar& s) {
  try {
    const auto n = s.metric("replagent_process_open_fds");
    return n ? std::lround(*n) : -1;
  } catch (const std::exception&) {
    return -1;
  }
}

}  // namespace replagent::test
