#pragma once

// The server certificate, key and CA the pod's PostgreSQL serves TLS with
// (postgres.tls_cert_file, tls_key_file, tls_ca_file), checked before anything uses them: by
// init before it writes `ssl = on` (a server that cannot load its key does not start, and says
// so only in its own log), by the sidecar at start and before each reload of rotated files
// (roles/tls_reload.hpp). Replicas connect with sslmode=verify-full against the CA, so a
// certificate whose SANs miss the pod's DNS name would keep every replica from streaming.
//
// The one owner of OpenSSL's X.509 API. It adds no dependency: libssl and libcrypto are
// already linked statically for libpq's TLS (CMakeLists.txt).
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "agent/config.hpp"

namespace replagent::agent {

// The PEM text of the three files.
struct TlsMaterial {
  std::string cert_pem;  // the server certificate, optionally followed by intermediates
  std::string key_pem;   // its private key, unencrypted (the server has no passphrase)
  std::string ca_pem;    // one or more CA certificates the chain must end in
};

// Which file a problem is about.
enum class TlsFile { kCert, kKey, kCa };

struct TlsProblem {
  TlsFile file = TlsFile::kCert;
  std::string problem;  // "expired on 2026-01-01 00:00:00 UTC"
  bool operator==(const TlsProblem&) const = default;
};

// Why `m` cannot serve TLS for a server named `names` at `now`, or nullopt when it can. In
// order: the CA parses; the certificate parses; the key parses and matches the certificate;
// `now` is within the certificate's notBefore..notAfter; its DNS SANs cover every name; it
// chains to the CA (intermediates from the certificate file). Names are matched as libpq's
// verify-full does (RFC 6125): case-insensitive, a `*` only as the whole left-most label,
// matching exactly one label; a certificate without DNS SANs covers nothing.
std::optional<TlsProblem> check_tls_material(const TlsMaterial& m,
                                             const std::vector<std::string>& names,
                                             std::chrono::system_clock::time_point now);

// Whether the SAN pattern `pattern` ("*.todo-db.default.svc.cluster.local") covers `name`.
bool san_matches(const std::string& pattern, const std::string& name);

// True when libpq's error says the server could not be verified or offers no TLS at all
// ("certificate verify failed", "server certificate for ... does not match host name",
// "server does not support SSL, but SSL was required"): not a server still starting, but one
// this client must not talk to until its certificate or the CA file changes.
bool is_tls_refusal(const std::string& libpq_error);

// True when libpq's error says the server offers no TLS at all ("server does not support SSL,
// but SSL was required"): a server not yet configured for it (TLS being turned on for a running
// set, whose primary restarts last), rather than one that shows a certificate we reject.
bool is_tls_unsupported(const std::string& libpq_error);

// The names the certificate must cover for this pod: its headless-Service name
// <pod>.<service>.<namespace>.svc.<cluster domain> (the name replicas verify).
std::vector<std::string> tls_required_names(const Config& config);

// The files as the config names them, read; nullopt when TLS is off (all three keys empty).
// Throws AgentError(kUsage) naming the key and path when one is missing or unreadable, or
// when the key file's ownership or mode would make PostgreSQL refuse it.
std::optional<TlsMaterial> read_tls_files(const Config& config);

// read_tls_files then check_tls_material: throws AgentError(kUsage) with the key, the path
// and the problem ("postgres.tls_cert_file /etc/replagent/tls/tls.crt: expired on ...").
// Does nothing when TLS is off.
void check_tls_files(const Config& config, std::chrono::system_clock::time_point now);

// notAfter of the first certificate in `pem` (tls.crt's server certificate, ca.crt's first
// CA); nullopt when it holds none that parses.
std::optional<std::chrono::system_clock::time_point> certificate_not_after(const std::string& pem);

// When the certificate and the CA file the config names expire (certificate_not_after of each
// file as it is on disk now), for the sidecar's metrics. Never throws: a file that cannot be
// read (TLS off, mid-rotation) or holds no certificate gives nullopt.
struct TlsExpiry {
  std::optional<std::chrono::system_clock::time_point> cert, ca;
};
TlsExpiry read_tls_expiry(const Config& config);

// SHA-256 of the three files' contents (hex), to notice a rotation without keeping the key.
std::string tls_fingerprint(const TlsMaterial& m);

// "postgres.tls_cert_file" etc.; and the path the config gives that key.
const char* tls_key_name(TlsFile file);
const std::string& tls_path(const Config& config, TlsFile file);

}  // namespace replagent::agent
