#pragma once

// Internal to agent/pg*.cpp: ConnParams as the keyword/value arrays libpq's
// PQconnectdbParams, PQconnectStartParams and PQpingParams take. Built without libpq (plain
// C strings), so it lives outside agent/pg.cpp, the one file that includes <libpq-fe.h>.

#include <string>
#include <vector>

#include "agent/pg.hpp"

namespace replagent::agent::pg_detail {

// Keyword/value arrays for PQconnectdbParams: every value reaches libpq as-is, so a password
// with quotes or spaces needs no escaping and is never part of a string we build.
class ConnKeywords {
 public:
  // Throws AgentError(kUsage) when p.user is empty.
  explicit ConnKeywords(const ConnParams& p);
  const char* const* keys() const { return key_ptrs_.data(); }
  const char* const* values() const { return value_ptrs_.data(); }

 private:
  void add(const char* key, std::string value) {
    keys_.emplace_back(key);
    values_.push_back(std::move(value));
  }
  std::vector<std::string> keys_;
  std::vector<std::string> values_;
  std::vector<const char*> key_ptrs_;
  std::vector<const char*> value_ptrs_;
};

}  // namespace replagent::agent::pg_detail
