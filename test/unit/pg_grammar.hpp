// Readers of the file formats replagent writes for PostgreSQL and libpq, written from
// PostgreSQL 15's own readers, for tests only: the property tests (test/unit/pg_files_test.cpp,
// test/fuzz/*_fuzz.cpp) render values with roles/pg_files and check these read them back
// unchanged. Each follows the grammar of the C code it names, quirks included; where it is
// simpler the comment says how. test/integration/conf_quote_test.cpp checks the postgresql.conf
// reader against a real server, and the conninfo tests check parse_conninfo against libpq.
// Four readers, one section each, in one header that unit, fuzz and integration tests include.
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

// ---- .pgpass: src/interfaces/libpq/fe-connect.c (passwordFromFile, pwdfMatchesString) ------

// A host, port, database or user field: "*" matches anything, else the literal after
// unescaping (a backslash takes the next character literally).
struct PassField {
  bool any = false;
  std::string literal;
  bool operator==(const PassField&) const = default;
};
struct PassEntry {
  PassField host, port, database, user;
  std::string password;
  bool operator==(const PassEntry&) const = default;
};

// One line as libpq reads it: trailing \r and \n stripped, empty lines and lines starting
// with '#' skipped (nullopt), as are lines with fewer than five fields (libpq's matcher runs
// off the end of them and matches nothing). The password runs to the first unescaped ':' or
// the end; a lone backslash at the very end stays.
inline std::optional<PassEntry> parse_passfile_line(std::string_view line) {
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  if (line.empty() || line[0] == '#') return std::nullopt;
  std::size_t i = 0;
  auto field = [&]() -> std::optional<PassField> {
    if (line.substr(i, 2) == "*:") {
      i += 2;
      return PassField{true, ""};
    }
    PassField f;
    while (i < line.size()) {
      if (line[i] == '\\') {
        if (++i >= line.size()) return std::nullopt;
        f.literal += line[i++];
      } else if (line[i] == ':') {
        ++i;
        return f;
      } else {
        f.literal += line[i++];
      }
    }
    return std::nullopt;
  };
  PassEntry e;
  for (PassField* f : {&e.host, &e.port, &e.database, &e.user}) {
    auto got = field();
    if (!got) return std::nullopt;
    *f = std::move(*got);
  }
  for (; i < line.size() && line[i] != ':'; ++i) {
    if (line[i] == '\\' && i + 1 < line.size()) ++i;
    e.password += line[i];
  }
  return e;
}

// A whole file: lines end at '\n' (fgets), the last one may not.
inline std::vector<PassEntry> parse_passfile(std::string_view text) {
  std::vector<PassEntry> out;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    const std::string_view line =
        text.substr(0, nl == std::string_view::npos ? text.size() : nl + 1);
    text.remove_prefix(line.size());
    if (auto e = parse_passfile_line(line)) out.push_back(std::move(*e));
  }
  return out;
}

// ---- conninfo: src/interfaces/libpq/fe-connect.c (conninfo_parse) ---------------------------

// keyword=value pairs in order (libpq keeps the last of a repeated keyword and rejects
// keywords it does not know; neither is checked here). nullopt where libpq reports a missing
// "=" or an unterminated quoted string. Not the URI form (postgresql://).
inline std::optional<std::vector<std::pair<std::string, std::string>>> parse_conninfo(
    std::string_view s) {
  auto space = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
  // conninfo_parse works on a C string copy.
  if (const auto nul = s.find('\0'); nul != std::string_view::npos) s = s.substr(0, nul);
  std::vector<std::pair<std::string, std::string>> out;
  std::size_t i = 0;
  while (i < s.size()) {
    if (space(s[i])) {
      ++i;
      continue;
    }
    std::string name;
    while (i < s.size() && s[i] != '=' && !space(s[i])) name += s[i++];
    while (i < s.size() && space(s[i])) ++i;
    if (i >= s.size() || s[i] != '=') return std::nullopt;
    ++i;
    while (i < s.size() && space(s[i])) ++i;
    std::string value;
    if (i < s.size() && s[i] == '\'') {
      ++i;
      for (;;) {
        if (i >= s.size()) return std::nullopt;
        if (s[i] == '\\') {
          if (++i < s.size()) value += s[i++];
          continue;
        }
        if (s[i] == '\'') {
          ++i;
          break;
        }
        value += s[i++];
      }
    } else {
      while (i < s.size()) {
        if (space(s[i])) {
          ++i;
          break;
        }
        if (s[i] == '\\') {
          if (++i < s.size()) value += s[i++];
        } else {
          value += s[i++];
        }
      }
    }
    out.emplace_back(std::move(name), std::move(value));
  }
  return out;
}

// ---- pg_hba.conf: src/backend/libpq/hba.c (tokenize_auth_file, next_field_expand,
// next_token) ----------------------------------------------------------------------------------

struct HbaToken {
  std::string text;
  bool quoted = false;  // began with '"': never a keyword ("all"), a group (+) or a file (@)
  bool operator==(const HbaToken&) const = default;
};
using HbaField = std::vector<HbaToken>;  // a comma-separated list
using HbaLine = std::vector<HbaField>;

// The lines with fields, in order. Fields are separated by blanks (space, tab, \r, \n); a
// comma separates the tokens of one field; "..." quotes (blanks, commas and # inside), and ""
// inside quotes is one '"'; # outside quotes starts a comment; a line ending in a backslash
// continues on the next (PostgreSQL 14 and later). nullopt where PostgreSQL reports a token
// too long (255 bytes).
// Simpler than PostgreSQL: @file inclusion is not followed (kept as a token).
inline std::optional<std::vector<HbaLine>> parse_hba(std::string_view text) {
  auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  std::vector<HbaLine> out;
  while (!text.empty()) {
    // Collect one logical line.
    std::string line;
    for (;;) {
      const auto nl = text.find('\n');
      std::string_view physical = text.substr(0, nl);
      text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
      while (!physical.empty() && (physical.back() == '\n' || physical.back() == '\r'))
        physical.remove_suffix(1);
      line += physical;
      // The backslash goes, also inside quotes and comments; at the end of the file too.
      if (line.empty() || line.back() != '\\') break;
      line.pop_back();
      if (text.empty()) break;
    }
    HbaLine fields;
    std::size_t i = 0;
    bool comment = false;
    while (i < line.size() && !comment) {
      HbaField field;
      bool comma = false;
      do {
        // next_token
        while (i < line.size() && (blank(line[i]) || line[i] == ',')) ++i;
        HbaToken tok;
        bool in_quote = false, was_quote = false, saw_quote = false;
        comma = false;
        while (i < line.size() && (!blank(line[i]) || in_quote)) {
          const char c = line[i];
          if (c == '#' && !in_quote) {
            comment = true;
            i = line.size();
            break;
          }
          if (tok.text.size() >= 255) return std::nullopt;  // MAX_TOKEN (256, with the \0)
          if (c == ',' && !in_quote) {
            comma = true;
            ++i;
            break;
          }
          if (c != '"' || was_quote) tok.text += c;
          was_quote = in_quote && c == '"' ? !was_quote : false;
          if (c == '"') {
            in_quote = !in_quote;
            saw_quote = true;
            if (tok.text.empty()) tok.quoted = true;
          }
          ++i;
        }
        if (!saw_quote && tok.text.empty()) break;
        field.push_back(std::move(tok));
      } while (comma);
      if (!field.empty()) fields.push_back(std::move(field));
    }
    if (!fields.empty()) out.push_back(std::move(fields));
  }
  return out;
}

}  // namespace replagent::test::pg_grammar
