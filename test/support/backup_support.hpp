// Helpers for the `replagent backup` integration tests: the Job's environment, running the
// command, a multi-address headless Service record, pgbench in the background, file tweaks.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "test/support/dns_server.hpp"
#include "test/support/pod.hpp"
#include "test/support/process.hpp"

namespace replagent::test {

inline constexpr const char* kServiceName = "todo-db.default.svc.cluster.local";

// The environment of a backup Job of the set: not a pod of the set (POD_NAME todo-db-backup),
// so the set comes from REPLAGENT_POD_SERVICE; the set's DNS, port, tools and superuser secret
// as `any_pod`'s init sees them; backups into `dir`.
Env backup_env(const Pod& any_pod, const std::filesystem::path& dir);

// `replagent backup [flags]`, its output kept under `logs` as backup-N.{stdout,stderr}.
RunResult run_backup(const Env& env, const std::vector<std::string>& flags,
                     const std::filesystem::path& logs,
                     std::chrono::milliseconds timeout = std::chrono::seconds(180));
std::unique_ptr<ChildProcess> start_backup(const Env& env, const std::vector<std::string>& flags,
                                           const std::filesystem::path& logs);
std::string describe(const RunResult& r);

// The headless Service's own name with one A record per address (DnsServer::set_record writes
// one "ip name" line; several lines of the same name give several records).
void publish_service(DnsServer& dns, const std::vector<std::string>& ips);

// pgbench on `pod` over its unix socket, in the background until stopped (SIGINT) or its
// duration ends.
std::unique_ptr<ChildProcess> start_pgbench(const Pod& pod, const std::vector<std::string>& args,
                                            const std::filesystem::path& logs);

// Names in `dir` ending in `suffix`, sorted.
std::vector<std::string> files_ending(const std::filesystem::path& dir, const std::string& suffix);
// XORs `count` bytes at `offset` with 0xFF.
void flip_bytes(const std::filesystem::path& file, std::uintmax_t offset, std::size_t count);
// A file of `size` zero bytes, allocated (fallocate), to fill a volume.
void allocate_file(const std::filesystem::path& file, std::uintmax_t size);
// Free bytes for an unprivileged user on the file system holding `dir`.
std::uintmax_t free_bytes(const std::filesystem::path& dir);

}  // namespace replagent::test
