// Readers of the file formats replagent writes for PostgreSQL and libpq, written from
// PostgreSQL 15's own readers, for tests only: the property tests (test/unit/pg_files_test.cpp,
// test/fuzz/*_fuzz.cpp) render values with roles/pg_files and check these read them back
// unchanged. Each follows the grammar of the C code it names, quirks included; where it is
// simpler the comment says how. test/integration/conf_quote_test.cpp checks the postgresql.conf
// reader against a real server, and the conninfo tests check parse_conninfo against libpq.
// Four readers, one section each (postgresql.conf's in pg_grammar_conf.hpp), in the header that
// unit, fuzz and integration tests include.
#pragma once

#include <algorithm>
#include <cctype>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "test/unit/pg_grammar_conf.hpp"

namespace replagent::test::pg_grammar {

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
