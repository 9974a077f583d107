// ConnParams without libpq: the keyword arrays for libpq (agent/pg_keywords.hpp) and
// describe().
#include "agent/pg_keywords.hpp"

#include "agent/dns.hpp"
#include "agent/errors.hpp"

namespace replagent::agent {

std::string ConnParams::describe() const {
  const std::string& where = !host.empty() ? host : !hostaddr.empty() ? hostaddr : "local socket";
  return user + "@" + host_port(where, port);
}

namespace pg_detail {

ConnKeywords::ConnKeywords(const ConnParams& p) {
  // libpq falls back to the OS user name (getpwuid) when `user` is unset; a static binary
  // in a scratch image has no /etc/passwd and fails with "could not look up local user ID".
  if (p.user.empty()) {
    throw usage_error("cannot connect to " + p.describe() + ": no user name set");
  }
  add("user", p.user);
  if (!p.host.empty()) add("host", p.host);
  if (!p.hostaddr.empty()) add("hostaddr", p.hostaddr);
  add("port", std::to_string(p.port));
  add("dbname", p.dbname);
  add("application_name", p.application_name);
  add("connect_timeout", std::to_string(p.connect_timeout.count()));
  // Every session the agent opens resolves names in pg_catalog only (then pg_temp, last, so
  // a temporary object cannot shadow either), as pg_dump does: in PostgreSQL 15 a database
  // owner owns `public`, and a `public.format(text, name, name)` or operator there would
  // outrank pg_catalog's for an unqualified call and run with the agent's privileges
  // (CVE-2018-1058). As a startup option it applies before the first statement and wins
  // over ALTER ROLE/DATABASE ... SET search_path. The agent's SQL is schema-qualified too.
  add("options",
      "-c search_path=pg_catalog,pg_temp" + (p.options.empty() ? std::string() : " " + p.options));
  if (p.replication) add("replication", "true");
  if (!p.password.empty()) add("password", p.password.reveal());
  if (p.sslrootcert.empty()) {
    add("sslmode", "prefer");
  } else {
    add("sslmode", "verify-full");
    add("sslrootcert", p.sslrootcert);
  }
  // The static build has no GSSAPI; "disable" is accepted either way and spares a
  // Kerberos round trip in the dynamic one.
  add("gssencmode", "disable");
  for (std::size_t i = 0; i < keys_.size(); ++i) {
    key_ptrs_.push_back(keys_[i].c_str());
    value_ptrs_.push_back(values_[i].c_str());
  }
  key_ptrs_.push_back(nullptr);
  value_ptrs_.push_back(nullptr);
}

}  // namespace pg_detail
}  // namespace replagent::agent
