// The files init writes into the data directory (roles/pg_files.hpp): replagent.conf and its
// include directive, the pg_hba and pg_ident blocks, the standby settings and the replicas'
// primary_conninfo. That each value reads back exactly as PostgreSQL parses it is
// pg_quoting_test.cpp's.
#include "roles/pg_files.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <utility>

#include "agent/errors.hpp"
#include "test/unit/pg_files_fixture.hpp"
#include "test/unit/pg_grammar.hpp"

namespace replagent::roles {
namespace {

namespace grammar = test::pg_grammar;
using pg_files_test::sample_info;

int count_of(const std::string& text, const std::string& needle) {
  int n = 0;
  for (auto pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1))
    ++n;
  return n;
}

TEST(RenderInclude, HasPortAndReplicationSettings) {
  agent::Config c;
  c.postgres.port = 5433;
  const std::string inc = render_include(c);
  EXPECT_NE(inc.find("\nport = 5433\n"), std::string::npos) << inc;
  EXPECT_NE(inc.find("\nlisten_addresses = '*'\n"), std::string::npos) << inc;
  EXPECT_NE(inc.find("\nwal_level = replica\n"), std::string::npos);
  EXPECT_NE(inc.find("\nhot_standby = on\n"), std::string::npos);
  EXPECT_NE(inc.find("\nmax_wal_senders = 10\n"), std::string::npos);
  EXPECT_NE(inc.find("\nmax_replication_slots = 10\n"), std::string::npos);
}

TEST(RenderInclude, ClusterNameIsThePodName) {
  agent::Config c;
  c.pod.name = "todo-db-2";
  EXPECT_NE(render_include(c).find("\ncluster_name = 'todo-db-2'\n"), std::string::npos)
      << render_include(c);
}

TEST(RenderInclude, MaxWalSizeOnlyWhenSet) {
  agent::Config c;
  EXPECT_EQ(render_include(c).find("max_wal_size"), std::string::npos) << render_include(c);
  c.postgres.max_wal_size = 128ULL << 20;
  EXPECT_NE(render_include(c).find("\nmax_wal_size = '128MB'\n"), std::string::npos)
      << render_include(c);
}

TEST(RenderInclude, SlotWalRetentionIsUnlimitedUnlessSet) {
  agent::Config c;
  EXPECT_NE(render_include(c).find("\nmax_slot_wal_keep_size = -1\n"), std::string::npos)
      << render_include(c);
  c.postgres.max_slot_wal_keep_size = 2ULL << 30;
  EXPECT_NE(render_include(c).find("\nmax_slot_wal_keep_size = '2048MB'\n"), std::string::npos)
      << render_include(c);
}

TEST(RenderInclude, QuotesListenAddresses) {
  agent::Config c;
  c.postgres.listen_addresses = "0.0.0.0, it's";
  EXPECT_NE(render_include(c).find("\nlisten_addresses = '0.0.0.0, it''s'\n"), std::string::npos)
      << render_include(c);
}

struct IncludeCase {
  const char* name;
  std::string before;
  std::string after;
};

class IncludeDirective : public ::testing::TestWithParam<IncludeCase> {};

TEST_P(IncludeDirective, IsAppendedOnce) {
  const auto& c = GetParam();
  const std::string once = with_include_directive(c.before);
  EXPECT_EQ(once, c.after);
  EXPECT_EQ(with_include_directive(once), once) << "idempotent";
}

const std::string kInclude = "include_if_exists = 'replagent.conf'  # added by replagent\n";

INSTANTIATE_TEST_SUITE_P(
    Files, IncludeDirective,
    ::testing::Values(IncludeCase{"empty", "", kInclude},
                      IncludeCase{"with_newline", "port = 5432\n", "port = 5432\n" + kInclude},
                      IncludeCase{"without_newline", "port = 5432", "port = 5432\n" + kInclude},
                      IncludeCase{"already_there", "a = 1\n" + kInclude + "b = 2\n",
                                  "a = 1\n" + kInclude + "b = 2\n"}),
    [](const auto& info) { return std::string(info.param.name); });

agent::Config hba_config(const std::string& replication_user = "replicator") {
  agent::Config c;
  c.postgres.replication_user = replication_user;
  return c;
}

TEST(HbaBlock, PutFirstBeforeForeignLines) {
  const std::string original =
      "# TYPE  DATABASE        USER            ADDRESS                 METHOD\n"
      "local   all             all                                     trust\n";
  const std::string hba = with_hba_block(original, hba_config());
  EXPECT_EQ(hba.rfind("# BEGIN replagent", 0), 0u) << "ours first: pg_hba is first-match";
  EXPECT_NE(hba.find("# END replagent\n" + original), std::string::npos) << hba;
  EXPECT_EQ(count_of(hba, "# BEGIN replagent"), 1);
  EXPECT_EQ(count_of(hba, "# END replagent"), 1);
  EXPECT_NE(hba.find("host    replication     \"replicator\"    0.0.0.0/0"), std::string::npos)
      << hba;
  EXPECT_NE(hba.find("host    replication     \"replicator\"    ::/0"), std::string::npos);
}

TEST(HbaBlock, ReplacedNotDuplicatedOnRerun) {
  const std::string original = "local all all trust\n";
  const std::string first = with_hba_block(original, hba_config());
  EXPECT_EQ(with_hba_block(first, hba_config()), first) << "idempotent";

  // A line the admin added after our block survives, and a new user replaces the old block.
  const std::string edited = first + "host sales all 10.0.0.0/8 md5\n";
  const std::string second = with_hba_block(edited, hba_config("streamer"));
  EXPECT_EQ(count_of(second, "# BEGIN replagent"), 1);
  EXPECT_EQ(count_of(second, "\"replicator\""), 0) << second;
  EXPECT_NE(second.find("local all all trust\n"), std::string::npos);
  EXPECT_NE(second.find("host sales all 10.0.0.0/8 md5\n"), std::string::npos);
}

// The rules in the order PostgreSQL reads them: {type, database, user, address, method}.
std::vector<std::vector<std::string>> hba_rules(const std::string& hba) {
  std::vector<std::vector<std::string>> out;
  std::istringstream in(hba);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream words(line);
    std::vector<std::string> w;
    for (std::string x; words >> x;) w.push_back(x);
    if (w[0] == "local") w.insert(w.begin() + 3, "");
    out.push_back(w);
  }
  return out;
}

// The method of the first rule matching a TCP connection of `user` to `db` from any address
// in `net` (the block's addresses are exactly the configured networks or "all").
std::string first_match(const std::string& hba, const std::string& type, const std::string& db,
                        const std::string& user, const std::string& net) {
  for (const auto& r : hba_rules(hba)) {
    if (r[0] != type) continue;
    const bool db_ok = r[1] == db || (r[1] == "all" && db != "replication");
    const bool user_ok = r[2] == "all" || r[2] == "\"" + user + "\"";
    const bool addr_ok = type == "local" || r[3] == "all" || r[3] == net;
    if (db_ok && user_ok && addr_ok) return r.size() > 5 ? r[4] + " " + r[5] : r[4];
  }
  return "(no match)";
}

TEST(HbaBlock, LeastPrivilegeByDefault) {
  const std::string hba = with_hba_block("local all all trust\n", hba_config());
  // Superuser: the local socket only.
  EXPECT_EQ(first_match(hba, "host", "postgres", "postgres", "0.0.0.0/0"), "reject");
  EXPECT_EQ(first_match(hba, "host", "replication", "postgres", "0.0.0.0/0"), "reject");
  EXPECT_EQ(first_match(hba, "local", "postgres", "postgres", ""), "peer map=replagent")
      << "initdb's trust line is shadowed";
  // The pod's own processes reach the server over the socket without a password: the
  // monitoring role (sidecar, probe), the superuser and the replication role (the primary's
  // sidecar: rotated passwords, slots) through the ident map; any other role is its OS user.
  EXPECT_EQ(first_match(hba, "local", "postgres", "replagent_monitor", ""), "peer map=replagent");
  EXPECT_EQ(first_match(hba, "local", "replication", "replicator", ""), "peer map=replagent");
  EXPECT_EQ(first_match(hba, "local", "replication", "postgres", ""), "peer map=replagent");
  EXPECT_EQ(first_match(hba, "local", "todo", "app", ""), "peer");
  EXPECT_EQ(first_match(hba, "local", "replication", "replagent_monitor", ""), "peer")
      << "the monitoring role cannot stream over the socket either";
  // The replication role streams and nothing else.
  EXPECT_EQ(first_match(hba, "host", "replication", "replicator", "0.0.0.0/0"), "scram-sha-256");
  EXPECT_EQ(first_match(hba, "host", "postgres", "replicator", "0.0.0.0/0"), "reject");
  EXPECT_EQ(first_match(hba, "host", "todo", "replicator", "::/0"), "reject");
  // Other roles may not stream, and log in with a password.
  EXPECT_EQ(first_match(hba, "host", "replication", "replagent_monitor", "0.0.0.0/0"), "reject");
  EXPECT_EQ(first_match(hba, "host", "todo", "app", "0.0.0.0/0"), "scram-sha-256");
  EXPECT_EQ(count_of(hba, "trust"), 1) << "only the foreign line kept after ours";
}

TEST(HbaBlock, AllowedNetworksAndSuperuserNetworkLogin) {
  agent::Config c = hba_config();
  c.postgres.allowed_networks = {"10.0.0.0/8"};
  c.postgres.superuser_network_login = true;
  const std::string hba = with_hba_block("", c);
  EXPECT_EQ(first_match(hba, "host", "postgres", "postgres", "10.0.0.0/8"), "scram-sha-256");
  EXPECT_EQ(first_match(hba, "host", "postgres", "postgres", "0.0.0.0/0"), "reject");
  EXPECT_EQ(first_match(hba, "host", "replication", "replicator", "10.0.0.0/8"), "scram-sha-256");
  EXPECT_EQ(first_match(hba, "host", "replication", "replicator", "0.0.0.0/0"), "reject");
  EXPECT_EQ(first_match(hba, "host", "todo", "app", "0.0.0.0/0"), "(no match)");
  EXPECT_EQ(count_of(hba, "0.0.0.0/0"), 0) << hba;
}

TEST(PrimaryConninfo, WithoutHostaddr) {
  const std::string s = render_primary_conninfo(sample_info());
  EXPECT_EQ(s.rfind("host='todo-db-0.todo-db.default.svc.cluster.local' port=5432 "
                    "user='replicator' "
                    "passfile='/var/lib/postgresql/data/pgdata/replagent.pgpass' "
                    "application_name='todo-db-1'",
                    0),
            0u)
      << s;
  EXPECT_EQ(s.find("hostaddr"), std::string::npos) << s;
  EXPECT_NE(s.find("keepalives=1"), std::string::npos);
  EXPECT_NE(s.find("connect_timeout="), std::string::npos);
}

TEST(PrimaryConninfo, WithHostaddr) {
  auto info = sample_info();
  info.hostaddr = "10.0.0.10";
  const std::string s = render_primary_conninfo(info);
  EXPECT_NE(s.find("host='todo-db-0.todo-db.default.svc.cluster.local' hostaddr='10.0.0.10' "
                   "port=5432"),
            std::string::npos)
      << s;
}

TEST(StandbySettings, ReplaceExistingKeepOthers) {
  const std::string auto_conf =
      "# Do not edit this file manually!\n"
      "# It will be overwritten by the ALTER SYSTEM command.\n"
      "work_mem = '8MB'\n"
      "primary_conninfo = 'user=replicator passfile=''/tmp/run/pgpass'' host=10.0.0.10'\n"
      "  primary_slot_name = 'old_slot'\n"
      "log_min_messages = 'debug1'\n";
  const std::string out = with_standby_settings(auto_conf, "host='h' user='u'", "todo_db_1");
  EXPECT_EQ(out,
            "# Do not edit this file manually!\n"
            "# It will be overwritten by the ALTER SYSTEM command.\n"
            "work_mem = '8MB'\n"
            "log_min_messages = 'debug1'\n"
            "primary_conninfo = 'host=''h'' user=''u'''\n"
            "primary_slot_name = 'todo_db_1'\n");
  EXPECT_EQ(with_standby_settings(out, "host='h' user='u'", "todo_db_1"), out) << "idempotent";
}

TEST(StandbySettings, EmptyFileGetsHeader) {
  const std::string out = with_standby_settings("", "host='h'", "s");
  EXPECT_EQ(out.rfind("# Do not edit this file manually!\n", 0), 0u) << out;
  EXPECT_NE(out.find("primary_conninfo = 'host=''h'''\n"), std::string::npos) << out;
  EXPECT_NE(out.find("primary_slot_name = 's'\n"), std::string::npos);
}

TEST(IdentBlock, MapsTheServersOsUserToThePodsRoles) {
  agent::Config c = hba_config();
  const std::string foreign = "# comment\nmymap  alice  app\n";
  const std::string ident = with_ident_block(foreign, c, "postgres");
  EXPECT_EQ(ident.rfind("# BEGIN replagent", 0), 0u) << ident;
  EXPECT_NE(ident.find("# END replagent\n" + foreign), std::string::npos) << "foreign map kept";
  std::vector<std::string> lines;
  std::istringstream in(ident);
  for (std::string l; std::getline(in, l);) {
    std::istringstream w(l);
    std::string map, os, role;
    if (l.empty() || l[0] == '#' || !(w >> map >> os >> role) || map != "replagent") continue;
    EXPECT_EQ(os, "postgres");
    lines.push_back(role);
  }
  EXPECT_EQ(lines, (std::vector<std::string>{"replagent_monitor", "postgres", "replicator"}));
  EXPECT_EQ(with_ident_block(ident, c, "postgres"), ident) << "idempotent";
  c.postgres.monitor_user = "watcher";
  EXPECT_NE(with_ident_block(ident, c, "postgres").find("watcher"), std::string::npos);
  EXPECT_EQ(count_of(with_ident_block(ident, c, "postgres"), "# BEGIN replagent"), 1);
}

TEST(IdentBlock, AnOsUserWithoutAUsableNameMapsNothing) {
  for (const std::string os : {"", "bad name", "-x", "a\nb"}) {
    const std::string ident = render_ident_block(hba_config(), os);
    EXPECT_EQ(ident.find("replagent_monitor"), std::string::npos) << os;
  }
}

TEST(IdentBlock, OsUserNameFromAPasswdFile) {
  const auto path =
      std::filesystem::temp_directory_path() / ("replagent-passwd-" + std::to_string(::getpid()));
  {
    std::ofstream out(path);
    out << "root:x:0:0:root:/root:/bin/bash\npostgres:x:999:999::/var/lib/postgresql:/bin/sh\n"
           "short:x\n";
  }
  EXPECT_EQ(os_user_name(999, path.string()), "postgres");
  EXPECT_EQ(os_user_name(0, path.string()), "root");
  EXPECT_EQ(os_user_name(4242, path.string()), "");
  EXPECT_EQ(os_user_name(999, "/nonexistent/passwd"), "");
  std::filesystem::remove(path);
}

// postgres.hba_extra: after the lines for replagent's roles and replication (so those still
// win), before the catch-all (so an extra line decides what it matches).
TEST(HbaBlock, ExtraLinesComeAfterReplagentsRolesAndBeforeTheCatchAll) {
  agent::Config c = hba_config();
  c.postgres.hba_extra = {"host all \"app\" 10.0.0.0/8 trust  ", "local todo \"app\" scram-sha-256",
                          "host all all 192.168.0.0/16 reject"};
  const std::string hba = with_hba_block("local all all trust\n", c);
  const auto rules = grammar::parse_hba(hba);
  ASSERT_TRUE(rules.has_value()) << hba;
  EXPECT_EQ(first_match(hba, "host", "todo", "app", "10.0.0.0/8"), "trust") << hba;
  EXPECT_EQ(first_match(hba, "host", "todo", "other", "0.0.0.0/0"), "scram-sha-256");
  EXPECT_EQ(first_match(hba, "local", "todo", "app", ""), "scram-sha-256");
  EXPECT_EQ(first_match(hba, "local", "postgres", "app", ""), "peer");
  EXPECT_EQ(first_match(hba, "host", "todo", "app", "192.168.0.0/16"), "reject");
  // replagent's own roles and replication are decided before any extra line.
  EXPECT_EQ(first_match(hba, "host", "postgres", "postgres", "192.168.0.0/16"), "reject");
  EXPECT_EQ(first_match(hba, "host", "replication", "replicator", "0.0.0.0/0"), "scram-sha-256");
  EXPECT_EQ(first_match(hba, "local", "postgres", "replagent_monitor", ""), "peer map=replagent");
  EXPECT_NE(hba.find("host all \"app\" 10.0.0.0/8 trust\n"), std::string::npos)
      << "trailing blanks cut";
  EXPECT_EQ(with_hba_block(hba, c), hba) << "idempotent";
}

}  // namespace
}  // namespace replagent::roles
