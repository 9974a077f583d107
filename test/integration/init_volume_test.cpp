// The replica's volume as the kubelet hands it over: too small for the clone, or the only
// thing the static binary can see (an empty chroot, like a FROM-scratch image).
#include <sys/statvfs.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "test/support/cluster.hpp"

namespace replagent::test {
namespace {

namespace fs = std::filesystem;

class InitVolume : public ClusterTest {};

// A static executable has no PT_INTERP program header (no dynamic loader to name). Unused in
// builds that do not expect the static binary (the sanitizer build).
[[maybe_unused]] bool is_static_executable(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return bytes.size() > 64 &&
         bytes.compare(0, 4,
                       "\x7f"
                       "ELF") == 0 &&
         bytes.find("/lib64/ld-linux") == std::string::npos &&
         bytes.find("/lib/ld-linux") == std::string::npos;
}

// scripts/test (as root) mounts a 40 MB tmpfs for this test and hands it over by path:
// mounting needs root, the tests do not run as root.
std::optional<fs::path> small_volume() {
  const char* p = std::getenv("REPLAGENT_TEST_TMPFS_CLONE");
  if (!p || !*p) return std::nullopt;
  return fs::path(p);
}

std::uint64_t avail_bytes(const fs::path& p) {
  struct statvfs s {};
  if (::statvfs(p.c_str(), &s) != 0) return 0;
  return static_cast<std::uint64_t>(s.f_bavail) * s.f_frsize;
}

TEST_F(InitVolume, FullVolumeDuringCloneFailsCleanly) {
  const auto tmpfs = small_volume();
  if (!tmpfs) {
    if (std::getenv("CI"))
      FAIL() << "REPLAGENT_TEST_TMPFS_CLONE is not set: run via scripts/test as root";
    GTEST_SKIP() << "REPLAGENT_TEST_TMPFS_CLONE not set (scripts/test mounts it as root)";
  }
  Pod& primary = pod(0);
  ASSERT_NO_FATAL_FAILURE(bring_up_primary(primary));
  // ~75 MB of data: more than the 40 MB volume holds.
  RunResult r = primary.pg_tool("pgbench",
                                {"-i", "-s", "5", "-q", "-h", primary.socket_dir().string(), "-p",
                                 std::to_string(primary.port()), "-U", "postgres", "postgres"},
                                {}, std::chrono::seconds(300));
  ASSERT_EQ(r.exit_code(), 0) << r.err;

  const fs::path volume = *tmpfs / ("vol-" + std::to_string(::getpid()));
  fs::create_directories(volume);
  const std::uint64_t free_before = avail_bytes(*tmpfs);
  InitResult init =
      pod(1).run_init({{"PGDATA", (volume / "pgdata").string()}}, std::chrono::seconds(120));
  EXPECT_EQ(init.exit_code, 4) << describe(init);
  EXPECT_NE(init.err.find("No space left on device"), std::string::npos) << init.err;
  EXPECT_FALSE(fs::exists(volume / "pgdata" / "PG_VERSION"));
  // Nothing of the clone is left on the volume: the next start has the whole volume again.
  EXPECT_TRUE(fs::is_empty(volume))
      << "left on the volume: " << fs::directory_iterator(volume)->path();
  EXPECT_GE(avail_bytes(*tmpfs) + (1u << 20), free_before);
  std::error_code ec;
  fs::remove_all(volume, ec);
}

// A PGDATA that is itself the volume's mount point: init works in directories beside PGDATA,
// which would then be outside the volume. scripts/test hands over a tmpfs mount point owned by
// the test user (REPLAGENT_TEST_TMPFS, also the backup tests' small volume: only read here).
TEST_F(InitVolume, PgdataThatIsAMountPointIsRefusedWithExit2) {
  const char* p = std::getenv("REPLAGENT_TEST_TMPFS");
  if (!p || !*p) GTEST_SKIP() << "REPLAGENT_TEST_TMPFS not set (scripts/test mounts it as root)";
  const fs::path mount = fs::path(p).lexically_normal();
  const fs::path parent = mount.parent_path();
  const std::string hidden = "." + mount.filename().string() + ".replagent-";
  InitResult init =
      pod(1).run_init({{"PGDATA", mount.string()}, {"REPLAGENT_INIT_WAIT_TIMEOUT", "5s"}},
                      std::chrono::seconds(60));
  EXPECT_EQ(init.exit_code, 2) << describe(init);
  EXPECT_NE(init.err.find("is a mount point"), std::string::npos) << init.err;
  EXPECT_NE(init.err.find("set PGDATA to a subdirectory of the volume mount"), std::string::npos)
      << init.err;
  // Nothing was created beside the mount point (on the "container's writable layer").
  for (const auto& e : fs::directory_iterator(parent))
    EXPECT_NE(e.path().filename().string().rfind(hidden, 0), 0u) << "left " << e.path();
}

// The shipped binary runs with nothing around it: no /etc/passwd, no resolv.conf, no libc
// resolver, no shared libraries. A replica restart in an empty chroot (a user namespace makes
// chroot possible without root) must still resolve the primary with c-ares, talk to it with
// libpq, and keep its data.
TEST_F(InitVolume, StaticBinaryInitsAReplicaInsideAnEmptyChroot) {
#if REPLAGENT_EXPECT_STATIC
  ASSERT_TRUE(is_static_executable(REPLAGENT_BINARY))
      << REPLAGENT_BINARY << " is not static, though this build is REPLAGENT_STATIC";
#else
  GTEST_SKIP() << "needs the release-static build (stage 1 of scripts/test)";
#endif
  Pod& primary = pod(0);
  ASSERT_NO_FATAL_FAILURE(bring_up_primary(primary));
  Pod& replica = pod(1);
  ASSERT_NO_FATAL_FAILURE(bring_up_replica(replica, primary));
  replica.stop_postgres();

  // The chroot is the replica's volume, holding PGDATA and a copy of the binary, nothing else.
  const fs::path root = replica.volume();
  fs::copy_file(REPLAGENT_BINARY, root / "replagent", fs::copy_options::overwrite_existing);
  fs::permissions(root / "replagent",
                  fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
  ASSERT_FALSE(fs::exists(root / "etc"));
  ASSERT_FALSE(fs::exists(root / "lib"));

  SpawnOptions opts;
  opts.argv = {"/usr/bin/unshare", "-r",   "/usr/sbin/chroot", root.string(),
               "/replagent",       "init", "--log-format",     "json"};
  opts.env = {{"POD_NAME", replica.name()},
              {"POD_NAMESPACE", "default"},
              {"PGDATA", "/" + replica.pgdata().filename().string()},
              {"REPLAGENT_DNS_SERVERS", dns().server()},
              {"REPLAGENT_DNS_TIMEOUT", "1s"},
              {"REPLAGENT_POSTGRES_PORT", std::to_string(replica.port())},
              {"REPLAGENT_POSTGRES_LISTEN_ADDRESSES", replica.ip()},
              {"REPLAGENT_POSTGRES_REPLICATION_PASSWORD", set_config().replication_password},
              {"REPLAGENT_INIT_PIN_PRIMARY_ADDRESS", "true"},
              {"REPLAGENT_INIT_TERMINATION_LOG", ""},
              {"PATH", "/usr/sbin:/usr/bin:/sbin:/bin"}};
  opts.stdout_path = scratch().path() / "chroot-init.out";
  opts.stderr_path = scratch().path() / "chroot-init.err";
  RunResult r = run_process(opts, std::chrono::seconds(60));
  ASSERT_EQ(r.exit_code(), 0) << r.err;
  EXPECT_NE(r.err.find("matches the primary"), std::string::npos)
      << "init did not reach the primary from the chroot: " << r.err;
  EXPECT_EQ(r.err.find(set_config().replication_password), std::string::npos) << "password logged";
  fs::remove(root / "replagent");

  // primary_conninfo now names the passfile as the chroot saw it (/pgdata/...); in a pod both
  // containers mount PGDATA at the same path. Outside the chroot, a normal init puts it back.
  InitResult again = replica.run_init();
  ASSERT_EQ(again.exit_code, 0) << describe(again);
  replica.start_postgres();
  EXPECT_TRUE(
      wait_until([&] { return streaming(primary, replica.name()); }, std::chrono::seconds(30)));
}

}  // namespace
}  // namespace replagent::test
