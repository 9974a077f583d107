// The postgresql.conf reader of test/unit/pg_grammar.hpp (which includes this file), written
// from PostgreSQL 15's guc-file.l: the flex scanner, GUC_scanstr and ParseConfigFp. Tests only.
#pragma once

#include <algorithm>
#include <cctype>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace replagent::test::pg_grammar {

// ---- postgresql.conf: src/backend/utils/misc/guc-file.l (ParseConfigFp, GUC_scanstr) -------

struct ConfSetting {
  std::string name;
  std::string value;
  bool operator==(const ConfSetting&) const = default;
};

namespace detail {

inline bool conf_letter(char c) {
  const auto u = static_cast<unsigned char>(c);
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' || u >= 0x80;
}
inline bool conf_digit(char c) { return c >= '0' && c <= '9'; }
inline bool conf_letter_or_digit(char c) { return conf_letter(c) || conf_digit(c); }
inline bool conf_hex(char c) {
  return conf_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

enum class ConfToken {
  kEnd,
  kEol,
  kId,
  kQualifiedId,
  kString,
  kUnquoted,
  kInteger,
  kReal,
  kEquals,
  kError
};

// ID {LETTER}{LETTER_OR_DIGIT}*
inline std::size_t match_id(std::string_view s, std::size_t i) {
  if (i >= s.size() || !conf_letter(s[i])) return 0;
  std::size_t j = i + 1;
  while (j < s.size() && conf_letter_or_digit(s[j])) ++j;
  return j - i;
}
// QUALIFIED_ID {ID}"."{ID}
inline std::size_t match_qualified_id(std::string_view s, std::size_t i) {
  const std::size_t a = match_id(s, i);
  if (a == 0 || i + a >= s.size() || s[i + a] != '.') return 0;
  const std::size_t b = match_id(s, i + a + 1);
  return b == 0 ? 0 : a + 1 + b;
}
// STRING \'([^'\\\n]|\\.|\'\')*\'   (flex's "." is any byte but newline). The longest match:
// a quote followed by a quote may be '' or the end; we go on and remember the last end seen.
inline std::size_t match_string(std::string_view s, std::size_t i) {
  if (i >= s.size() || s[i] != '\'') return 0;
  std::size_t j = i + 1, last = 0;
  while (j < s.size() && s[j] != '\n') {
    if (s[j] == '\\') {
      if (j + 1 >= s.size() || s[j + 1] == '\n') break;
      j += 2;
    } else if (s[j] == '\'') {
      last = j + 1 - i;
      if (j + 1 < s.size() && s[j + 1] == '\'') {
        j += 2;
      } else {
        break;
      }
    } else {
      ++j;
    }
  }
  return last;
}
// UNQUOTED_STRING {LETTER}({LETTER_OR_DIGIT}|[-._:/])*
inline std::size_t match_unquoted(std::string_view s, std::size_t i) {
  if (i >= s.size() || !conf_letter(s[i])) return 0;
  std::size_t j = i + 1;
  while (j < s.size() && (conf_letter_or_digit(s[j]) || s[j] == '-' || s[j] == '.' || s[j] == '_' ||
                          s[j] == ':' || s[j] == '/'))
    ++j;
  return j - i;
}
// INTEGER {SIGN}?({DIGIT}+|0x{HEXDIGIT}+){UNIT_LETTER}*
inline std::size_t match_integer(std::string_view s, std::size_t i) {
  std::size_t j = i;
  if (j < s.size() && (s[j] == '+' || s[j] == '-')) ++j;
  std::size_t best = 0;
  auto units = [&](std::size_t k) {
    while (k < s.size() && ((s[k] >= 'a' && s[k] <= 'z') || (s[k] >= 'A' && s[k] <= 'Z'))) ++k;
    return k;
  };
  std::size_t k = j;
  while (k < s.size() && conf_digit(s[k])) ++k;
  if (k > j) best = units(k) - i;
  if (j + 2 < s.size() && s[j] == '0' && s[j + 1] == 'x' && conf_hex(s[j + 2])) {
    k = j + 2;
    while (k < s.size() && conf_hex(s[k])) ++k;
    best = std::max(best, units(k) - i);
  }
  return best;
}
// REAL {SIGN}?{DIGIT}*"."{DIGIT}*{EXPONENT}?   EXPONENT [Ee]{SIGN}?{DIGIT}+
inline std::size_t match_real(std::string_view s, std::size_t i) {
  std::size_t j = i;
  if (j < s.size() && (s[j] == '+' || s[j] == '-')) ++j;
  while (j < s.size() && conf_digit(s[j])) ++j;
  if (j >= s.size() || s[j] != '.') return 0;
  ++j;
  while (j < s.size() && conf_digit(s[j])) ++j;
  if (j < s.size() && (s[j] == 'e' || s[j] == 'E')) {
    std::size_t k = j + 1;
    if (k < s.size() && (s[k] == '+' || s[k] == '-')) ++k;
    const std::size_t digits = k;
    while (k < s.size() && conf_digit(s[k])) ++k;
    if (k > digits) j = k;
  }
  return j - i;
}

// The flex scanner: skips [ \t\r]+ and #-comments, then the longest match, ties to the rule
// listed first (ID, QUALIFIED_ID, STRING, UNQUOTED_STRING, INTEGER, REAL, =), else one byte
// of GUC_ERROR.
inline ConfToken next_conf_token(std::string_view s, std::size_t& pos, std::string_view& text) {
  while (pos < s.size()) {
    if (s[pos] == ' ' || s[pos] == '\t' || s[pos] == '\r') {
      ++pos;
    } else if (s[pos] == '#') {
      while (pos < s.size() && s[pos] != '\n') ++pos;
    } else {
      break;
    }
  }
  if (pos >= s.size()) return ConfToken::kEnd;
  if (s[pos] == '\n') {
    text = s.substr(pos++, 1);
    return ConfToken::kEol;
  }
  const std::pair<ConfToken, std::size_t> candidates[] = {
      {ConfToken::kId, match_id(s, pos)},
      {ConfToken::kQualifiedId, match_qualified_id(s, pos)},
      {ConfToken::kString, match_string(s, pos)},
      {ConfToken::kUnquoted, match_unquoted(s, pos)},
      {ConfToken::kInteger, match_integer(s, pos)},
      {ConfToken::kReal, match_real(s, pos)},
      {ConfToken::kEquals, s[pos] == '=' ? std::size_t{1} : 0}};
  ConfToken kind = ConfToken::kError;
  std::size_t len = 1;
  std::size_t best = 0;
  for (const auto& [k, n] : candidates) {
    if (n > best) {
      best = n;
      kind = k;
      len = n;
    }
  }
  text = s.substr(pos, len);
  pos += len;
  return kind;
}

}  // namespace detail

// GUC_scanstr: a STRING token ('...') to its value. A backslash escapes: \b \f \n \r \t, up to
// three octal digits (a byte, \0 ending the C string), any other character stands for itself;
// '' is one quote.
inline std::string scan_conf_string(std::string_view literal) {
  std::string out;
  const std::string_view s = literal.substr(1, literal.size() - 2);
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size()) {
      const char c = s[++i];
      switch (c) {
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        default:
          if (c >= '0' && c <= '7') {
            int v = 0, k = 0;
            for (; k < 3 && i + k < s.size() && s[i + k] >= '0' && s[i + k] <= '7'; ++k)
              v = (v << 3) + (s[i + k] - '0');
            i += k - 1;
            out += static_cast<char>(v);
          } else {
            out += c;
          }
      }
    } else if (s[i] == '\'' && i + 1 < s.size() && s[i + 1] == '\'') {
      out += '\'';
      ++i;
    } else {
      out += s[i];
    }
  }
  // The value is a C string from here on.
  if (const auto nul = out.find('\0'); nul != std::string::npos) out.resize(nul);
  return out;
}

// ParseConfigFp: per line `name [=] value` (name an ID or QUALIFIED_ID; value an ID, STRING,
// INTEGER, REAL or UNQUOTED_STRING), blank lines and comments skipped. nullopt where the server
// reports a syntax error. Include directives are returned as settings named include*.
inline std::optional<std::vector<ConfSetting>> parse_conf(std::string_view text) {
  using detail::ConfToken;
  std::vector<ConfSetting> out;
  std::size_t pos = 0;
  std::string_view tok;
  for (;;) {
    ConfToken t = detail::next_conf_token(text, pos, tok);
    if (t == ConfToken::kEnd) return out;
    if (t == ConfToken::kEol) continue;
    if (t != ConfToken::kId && t != ConfToken::kQualifiedId) return std::nullopt;
    ConfSetting setting{std::string(tok), ""};
    t = detail::next_conf_token(text, pos, tok);
    if (t == ConfToken::kEquals) t = detail::next_conf_token(text, pos, tok);
    if (t == ConfToken::kString) {
      setting.value = scan_conf_string(tok);
    } else if (t == ConfToken::kId || t == ConfToken::kInteger || t == ConfToken::kReal ||
               t == ConfToken::kUnquoted) {
      setting.value = std::string(tok);
    } else {
      return std::nullopt;
    }
    t = detail::next_conf_token(text, pos, tok);
    if (t != ConfToken::kEol && t != ConfToken::kEnd) return std::nullopt;
    out.push_back(std::move(setting));
    if (t == ConfToken::kEnd) return out;
  }
}

}  // namespace replagent::test::pg_grammar
