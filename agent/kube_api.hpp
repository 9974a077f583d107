#pragma once

// The one call replagent makes to the Kubernetes API: a JSON merge patch of its own pod's
// labels (the sidecar's role label, roles/role_label.hpp), as a pod that reads its in-cluster
// configuration the way client-go's rest.InClusterConfig does: the API server at
// KUBERNETES_SERVICE_HOST:KUBERNETES_SERVICE_PORT (the kubelet sets both in every container,
// also with enableServiceLinks: false), the service account's token read from its file at each
// call (a projected token is rotated by the kubelet, which rewrites the file), and the server
// verified against the cluster's CA (ca.crt beside the token) for that host, over TLS only.
#include <chrono>
#include <cstdint>
#include <map>
#include <string>

namespace replagent::agent {

struct KubeApi {
  std::string host;  // an address (IPv4, IPv6 without brackets) or a DNS name
  // The numeric address to connect to: `host` itself, or what it resolved to (the caller
  // resolves names with agent::Resolver: a static binary has no working getaddrinfo).
  std::string address;
  std::uint16_t port = 443;
  std::string token_file;
  std::string ca_file;
  std::chrono::milliseconds timeout{5000};
};

struct KubeAnswer {
  int status = 0;     // the HTTP status; 0: no complete response (error says why)
  std::string body;   // the server's answer (a Status object on failure)
  std::string error;  // why there is no response: "connection refused", "certificate verify failed"
  bool ok() const { return status >= 200 && status < 300; }
  // One line for the logs: "HTTP 403: pods \"x\" is forbidden: ..." or the error.
  std::string describe() const;
};

// PATCH /api/v1/namespaces/<ns>/pods/<pod> with Content-Type application/merge-patch+json,
// setting `labels`. Keys and values must already be valid label keys and values (config
// checks the key; the values are replagent's own words): they are written into the JSON as is.
KubeAnswer patch_pod_labels(const KubeApi& api, const std::string& ns, const std::string& pod,
                            const std::map<std::string, std::string>& labels);

}  // namespace replagent::agent
