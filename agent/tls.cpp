#include "agent/tls.hpp"

#include <fmt/format.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <memory>
#include <sstream>
#include <utility>

#include "agent/errors.hpp"
#include "agent/identity.hpp"

namespace replagent::agent {
namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct StoreFree {
  void operator()(X509_STORE* s) const { X509_STORE_free(s); }
};
struct StoreCtxFree {
  void operator()(X509_STORE_CTX* c) const { X509_STORE_CTX_free(c); }
};
struct StackFree {
  void operator()(STACK_OF(X509) * s) const { sk_X509_pop_free(s, X509_free); }
};
struct NamesFree {
  void operator()(GENERAL_NAMES* n) const { GENERAL_NAMES_free(n); }
};
using UniqueX509 = std::unique_ptr<X509, X509Free>;

// Every certificate in `pem`, in order; empty when there is none or one does not parse.
std::vector<UniqueX509> read_certificates(const std::string& pem) {
  std::vector<UniqueX509> out;
  std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return out;
  while (X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) out.emplace_back(x);
  // The loop ends on "no start line" after the last certificate; anything else is damage.
  const unsigned long err = ERR_peek_last_error();
  if (!out.empty() && err != 0 && ERR_GET_REASON(err) != PEM_R_NO_START_LINE) out.clear();
  ERR_clear_error();
  return out;
}

std::string format_time(const ASN1_TIME* t) {
  std::tm tm{};
  if (ASN1_TIME_to_tm(t, &tm) != 1) return "an unreadable date";
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::vector<std::string> dns_sans(X509* cert) {
  std::vector<std::string> out;
  std::unique_ptr<GENERAL_NAMES, NamesFree> names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  if (!names) return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* n = sk_GENERAL_NAME_value(names.get(), i);
    if (n->type != GEN_DNS) continue;
    const auto* data = ASN1_STRING_get0_data(n->d.dNSName);
    out.emplace_back(reinterpret_cast<const char*>(data),
                     static_cast<std::size_t>(ASN1_STRING_length(n->d.dNSName)));
  }
  return out;
}

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ", ") + i;
  return out;
}

// The file's contents; nullopt with errno set when it cannot be opened.
std::optional<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string read_whole(const std::string& path, const char* key) {
  auto text = read_file(path);
  if (!text) {
    throw usage_error(
        fmt::format("{} {}: cannot read it: {} (mount the TLS Secret there or fix "
                    "the path)",
                    key, path, std::strerror(errno)));
  }
  return std::move(*text);
}

// PostgreSQL's own rule for the key file (be-secure-common.c, check_ssl_key_file_permissions):
// a server that would refuse the key must not get `ssl = on` from init, since it would not start.
void check_key_file_mode(const std::string& path, const char* key) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    throw usage_error(
        fmt::format("{} {}: cannot read it: {} (mount the TLS Secret there or fix "
                    "the path)",
                    key, path, std::strerror(errno)));
  }
  if (!S_ISREG(st.st_mode)) throw usage_error(fmt::format("{} {}: not a regular file", key, path));
  const auto mode = st.st_mode & 07777;
  if (st.st_uid == ::geteuid()) {
    if (mode & (S_IRWXG | S_IRWXO))
      throw usage_error(
          fmt::format("{} {}: mode {:04o} lets group or others read it, and "
                      "PostgreSQL refuses such a key owned by its own user (make "
                      "it 0600, or owned by root with at most 0640)",
                      key, path, mode));
  } else if (st.st_uid == 0) {
    if (mode & (S_IWGRP | S_IXGRP | S_IRWXO))
      throw usage_error(
          fmt::format("{} {}: mode {:04o} is more than PostgreSQL accepts for a "
                      "key owned by root (at most 0640; the Secret volume's "
                      "defaultMode)",
                      key, path, mode));
  } else {
    throw usage_error(
        fmt::format("{} {}: owned by uid {}, and PostgreSQL accepts a key owned "
                    "only by its own user (uid {}) or root",
                    key, path, st.st_uid, ::geteuid()));
  }
}

}  // namespace

bool is_tls_unsupported(const std::string& e) {
  return e.find("server does not support SSL") != std::string::npos;
}

bool is_tls_refusal(const std::string& e) {
  if (is_tls_unsupported(e)) return true;
  for (const char* text : {"certificate verify failed", "does not match host name",
                           "certificate is not yet valid", "certificate has expired",
                           "self-signed certificate", "unable to get local issuer certificate"}) {
    if (e.find(text) != std::string::npos) return true;
  }
  return false;
}

bool san_matches(const std::string& pattern_in, const std::string& name_in) {
  const std::string pattern = lower(pattern_in);
  const std::string name = lower(name_in);
  if (pattern.empty() || name.empty()) return false;
  if (pattern.rfind("*.", 0) != 0) return pattern == name;
  // "*" is the whole left-most label and stands for exactly one non-empty label.
  const auto dot = name.find('.');
  if (dot == 0 || dot == std::string::npos) return false;
  return name.substr(dot) == pattern.substr(1);
}

std::optional<TlsProblem> check_tls_material(const TlsMaterial& m,
                                             const std::vector<std::string>& names,
                                             std::chrono::system_clock::time_point now) {
  auto ca = read_certificates(m.ca_pem);
  if (ca.empty())
    return TlsProblem{TlsFile::kCa,
                      "holds no PEM certificate that parses (expected the set's CA, "
                      "-----BEGIN CERTIFICATE-----)"};
  auto chain = read_certificates(m.cert_pem);
  if (chain.empty())
    return TlsProblem{TlsFile::kCert,
                      "holds no PEM certificate that parses (expected "
                      "-----BEGIN CERTIFICATE-----)"};
  X509* leaf = chain.front().get();

  std::unique_ptr<BIO, BioFree> key_bio(
      BIO_new_mem_buf(m.key_pem.data(), static_cast<int>(m.key_pem.size())));
  // A null passphrase callback that refuses: an encrypted key fails here instead of prompting.
  auto no_passphrase = [](char*, int, int, void*) { return 0; };
  std::unique_ptr<EVP_PKEY, PkeyFree> key(
      key_bio ? PEM_read_bio_PrivateKey(key_bio.get(), nullptr, no_passphrase, nullptr) : nullptr);
  ERR_clear_error();
  if (!key)
    return TlsProblem{TlsFile::kKey,
                      "holds no unencrypted PEM private key that parses (the "
                      "server has no passphrase)"};
  if (X509_check_private_key(leaf, key.get()) != 1) {
    ERR_clear_error();
    return TlsProblem{TlsFile::kKey,
                      "does not match the certificate of postgres.tls_cert_file (another "
                      "certificate's key?)"};
  }

  std::time_t t = std::chrono::system_clock::to_time_t(now);
  if (X509_cmp_time(X509_get0_notBefore(leaf), &t) > 0)
    return TlsProblem{TlsFile::kCert, "not valid before " + format_time(X509_get0_notBefore(leaf))};
  if (X509_cmp_time(X509_get0_notAfter(leaf), &t) < 0)
    return TlsProblem{TlsFile::kCert, "expired on " + format_time(X509_get0_notAfter(leaf))};

  const auto sans = dns_sans(leaf);
  for (const auto& name : names) {
    const bool covered = std::any_of(
        sans.begin(), sans.end(), [&](const std::string& san) { return san_matches(san, name); });
    if (covered) continue;
    if (sans.empty())
      return TlsProblem{TlsFile::kCert,
                        "has no DNS subjectAltName, so it covers no name (needs "
                        "one covering " +
                            name + ")"};
    return TlsProblem{TlsFile::kCert, "SANs (" + joined(sans) + ") do not cover " + name +
                                          " (the name replicas verify with sslmode=verify-full)"};
  }

  std::unique_ptr<X509_STORE, StoreFree> store(X509_STORE_new());
  std::unique_ptr<STACK_OF(X509), StackFree> untrusted(sk_X509_new_null());
  std::unique_ptr<X509_STORE_CTX, StoreCtxFree> ctx(X509_STORE_CTX_new());
  if (!store || !untrusted || !ctx) return TlsProblem{TlsFile::kCa, "out of memory"};
  for (auto& c : ca) X509_STORE_add_cert(store.get(), c.get());
  for (std::size_t i = 1; i < chain.size(); ++i) {
    X509_up_ref(chain[i].get());
    sk_X509_push(untrusted.get(), chain[i].get());
  }
  if (X509_STORE_CTX_init(ctx.get(), store.get(), leaf, untrusted.get()) != 1)
    return TlsProblem{TlsFile::kCa, "cannot set up the verification"};
  X509_STORE_CTX_set_time(ctx.get(), 0, t);
  const int ok = X509_verify_cert(ctx.get());
  const int err = X509_STORE_CTX_get_error(ctx.get());
  ERR_clear_error();
  if (ok != 1)
    return TlsProblem{TlsFile::kCa,
                      fmt::format("the certificate of postgres.tls_cert_file does not verify "
                                  "against this CA: {} (is it the CA that issued it?)",
                                  X509_verify_cert_error_string(err))};
  return std::nullopt;
}

std::vector<std::string> tls_required_names(const Config& c) {
  const auto id = parse_pod_name(c.pod.name);
  if (!id) return {};
  const std::string service = c.pod.service.empty() ? id->set : c.pod.service;
  return {pod_dns_name(*id, service, c.pod.namespace_, c.pod.cluster_domain)};
}

std::optional<std::chrono::system_clock::time_point> certificate_not_after(const std::string& pem) {
  const auto certs = read_certificates(pem);
  std::tm tm{};
  if (certs.empty() || ASN1_TIME_to_tm(X509_get0_notAfter(certs.front().get()), &tm) != 1)
    return std::nullopt;
  return std::chrono::system_clock::from_time_t(::timegm(&tm));  // notAfter is UTC
}

TlsExpiry read_tls_expiry(const Config& c) {
  auto not_after = [](const std::string& path) {
    const auto pem = path.empty() ? std::nullopt : read_file(path);
    return pem ? certificate_not_after(*pem) : std::nullopt;
  };
  return {not_after(c.postgres.tls_cert_file), not_after(c.postgres.tls_ca_file)};
}

std::string tls_fingerprint(const TlsMaterial& m) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  bool ok = ctx && EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) == 1;
  for (const auto* part : {&m.cert_pem, &m.key_pem, &m.ca_pem}) {
    // Lengths first: no two different triples hash the same concatenation.
    const std::string length = std::to_string(part->size()) + ":";
    ok = ok && EVP_DigestUpdate(ctx.get(), length.data(), length.size()) == 1 &&
         EVP_DigestUpdate(ctx.get(), part->data(), part->size()) == 1;
  }
  ok = ok && EVP_DigestFinal_ex(ctx.get(), md, &len) == 1;
  if (!ok) throw AgentError(ExitCode::kFailed, "cannot compute a SHA-256 digest (OpenSSL)");
  std::string out;
  for (unsigned int i = 0; i < len; ++i) out += fmt::format("{:02x}", md[i]);
  return out;
}

const char* tls_key_name(TlsFile file) {
  switch (file) {
    case TlsFile::kCert:
      return "postgres.tls_cert_file";
    case TlsFile::kKey:
      return "postgres.tls_key_file";
    case TlsFile::kCa:
      return "postgres.tls_ca_file";
  }
  return "";
}

const std::string& tls_path(const Config& c, TlsFile file) {
  switch (file) {
    case TlsFile::kCert:
      return c.postgres.tls_cert_file;
    case TlsFile::kKey:
      return c.postgres.tls_key_file;
    case TlsFile::kCa:
      return c.postgres.tls_ca_file;
  }
  return c.postgres.tls_ca_file;
}

std::optional<TlsMaterial> read_tls_files(const Config& c) {
  const auto& p = c.postgres;
  if (p.tls_cert_file.empty() && p.tls_key_file.empty() && p.tls_ca_file.empty())
    return std::nullopt;
  for (auto f : {TlsFile::kCert, TlsFile::kKey, TlsFile::kCa}) {
    if (tls_path(c, f).empty())
      throw usage_error(
          fmt::format("{} is not set: TLS needs postgres.tls_cert_file, "
                      "postgres.tls_key_file and postgres.tls_ca_file together (or "
                      "none of them, for no TLS)",
                      tls_key_name(f)));
  }
  TlsMaterial m;
  m.cert_pem = read_whole(p.tls_cert_file, tls_key_name(TlsFile::kCert));
  check_key_file_mode(p.tls_key_file, tls_key_name(TlsFile::kKey));
  m.key_pem = read_whole(p.tls_key_file, tls_key_name(TlsFile::kKey));
  m.ca_pem = read_whole(p.tls_ca_file, tls_key_name(TlsFile::kCa));
  return m;
}

void check_tls_files(const Config& c, std::chrono::system_clock::time_point now) {
  const auto material = read_tls_files(c);
  if (!material) return;
  if (auto problem = check_tls_material(*material, tls_required_names(c), now)) {
    throw usage_error(fmt::format("{} {}: {}", tls_key_name(problem->file),
                                  tls_path(c, problem->file), problem->problem));
  }
}

}  // namespace replagent::agent
