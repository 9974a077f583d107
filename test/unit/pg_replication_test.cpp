// The replication-protocol commands over a scripted server (agent/pg_replication.hpp): what
// each sends, on which connection, and how it reads the replies and the server's refusals.
// Against real servers: the init and slot janitor flows of test/integration.
#include "agent/pg_replication.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "test/unit/fakes.hpp"

namespace replagent::agent {
namespace {

using Row = fakes::ScriptedServer::Row;

ConnParams primary() {
  ConnParams p;
  p.host = "todo-db-0.todo-db.default.svc.cluster.local";
  p.hostaddr = "10.0.0.10";
  p.user = "replicator";
  return p;
}

struct Fixture {
  Fixture() { client = make_replication_client(pg); }
  fakes::FakePgClient pg;
  std::unique_ptr<ReplicationClient> client;
};

TEST(PgReplication, IdentifySystemReadsTheReplyAndTheClusterName) {
  Fixture f;
  f.pg.server.answer("IDENTIFY_SYSTEM", {{"7712161188363855152", "3", "0/3000060", std::nullopt}});
  f.pg.server.answer("SHOW cluster_name", {{"todo-db-0"}});
  PgError err;
  const auto info = f.client->identify_system(primary(), &err);
  ASSERT_TRUE(info) << err.message;
  EXPECT_EQ(info->system_identifier, 7712161188363855152ULL);
  EXPECT_EQ(info->timeline, 3);
  EXPECT_EQ(info->wal_position, 0x3000060u);
  EXPECT_EQ(info->cluster_name, "todo-db-0");
  ASSERT_EQ(f.pg.connect_calls.size(), 1u);
  EXPECT_TRUE(f.pg.connect_calls[0].replication) << "forced on";
  EXPECT_EQ(f.pg.connect_calls[0].user, "replicator");
  EXPECT_EQ(f.pg.sql, (std::vector<std::string>{"IDENTIFY_SYSTEM", "SHOW cluster_name"}));
}

TEST(PgReplication, IdentifySystemWithoutAClusterNameIsStillAnAnswer) {
  Fixture f;
  f.pg.server.answer("IDENTIFY_SYSTEM", {{"1", "1", "0/0", std::nullopt}});
  f.pg.server.fail("SHOW cluster_name", PgError{"42704", "unrecognized configuration parameter"});
  PgError err;
  const auto info = f.client->identify_system(primary(), &err);
  ASSERT_TRUE(info) << err.message;
  EXPECT_EQ(info->cluster_name, "");
}

// Replies the command cannot read are an error naming the server, never a half-filled answer.
TEST(PgReplication, IdentifySystemRefusesAnUnexpectedReply) {
  const std::vector<std::vector<Row>> replies = {
      {},                                                                  // no row
      {{"1", "1"}},                                                        // too few columns
      {{"x", "1", "0/0", std::nullopt}},                                   // not a number
      {{"1", "1", "not-an-lsn", std::nullopt}},                            // not an LSN
      {{std::nullopt, "1", "0/0", std::nullopt}},                          // NULL identifier
      {{"1", "1", "0/0", std::nullopt}, {"1", "1", "0/0", std::nullopt}},  // two rows
  };
  for (const auto& rows : replies) {
    Fixture f;
    f.pg.server.answer("IDENTIFY_SYSTEM", rows);
    PgError err;
    EXPECT_FALSE(f.client->identify_system(primary(), &err)) << rows.size();
    EXPECT_EQ(err.message, "unexpected IDENTIFY_SYSTEM reply from " + primary().describe());
  }
}

TEST(PgReplication, ConnectAndStatementErrorsAreTheServers) {
  Fixture f;
  f.pg.server.connect_error = PgError{"28P01", "password authentication failed"};
  PgError err;
  EXPECT_FALSE(f.client->identify_system(primary(), &err));
  EXPECT_TRUE(err.auth_failed());
  EXPECT_FALSE(f.client->read_physical_slot(primary(), "todo_db_1", &err));
  EXPECT_EQ(err.sqlstate, "28P01");
  bool created = true;
  EXPECT_EQ(f.client->ensure_physical_slot(primary(), "todo_db_1", &created)->sqlstate, "28P01");
  EXPECT_FALSE(created);
  EXPECT_EQ(f.client->drop_physical_slot(primary(), "todo_db_1")->sqlstate, "28P01");

  f.pg.server.connect_error.reset();
  f.pg.server.fail("", PgError{"53400", "all replication slots are in use"});
  EXPECT_EQ(f.client->ensure_physical_slot(primary(), "todo_db_1", &created)->sqlstate, "53400");
  EXPECT_EQ(f.client->drop_physical_slot(primary(), "todo_db_1")->sqlstate, "53400");
  EXPECT_FALSE(f.client->read_physical_slot(primary(), "todo_db_1", &err));
  EXPECT_EQ(err.sqlstate, "53400");
}

TEST(PgReplication, EnsureSlotCreatesOrFindsIt) {
  Fixture f;
  bool created = false;
  EXPECT_FALSE(f.client->ensure_physical_slot(primary(), "todo_db_1", &created));
  EXPECT_TRUE(created);
  ASSERT_EQ(f.pg.sql.size(), 1u);
  EXPECT_EQ(f.pg.sql[0], "CREATE_REPLICATION_SLOT \"todo_db_1\" PHYSICAL RESERVE_WAL");
  EXPECT_TRUE(f.pg.connect_calls[0].replication);

  f.pg.server.fail("CREATE_REPLICATION_SLOT", PgError{"42710", "already exists"});
  EXPECT_FALSE(f.client->ensure_physical_slot(primary(), "todo_db_1", &created))
      << "duplicate_object: the slot is there";
  EXPECT_FALSE(created);
}

TEST(PgReplication, ReadSlotTellsMissingInvalidatedAndHealthy) {
  struct Case {
    const char* name;
    std::vector<Row> rows;
    bool exists;
    std::optional<std::uint64_t> restart_lsn;
  };
  const Case cases[] = {
      {"missing", {{std::nullopt, std::nullopt, std::nullopt}}, false, std::nullopt},
      {"invalidated", {{"physical", std::nullopt, std::nullopt}}, true, std::nullopt},
      {"healthy", {{"physical", "0/3000000", "1"}}, true, 0x3000000},
  };
  for (const auto& c : cases) {
    Fixture f;
    f.pg.server.answer("READ_REPLICATION_SLOT", c.rows);
    PgError err;
    const auto slot = f.client->read_physical_slot(primary(), "todo_db_1", &err);
    ASSERT_TRUE(slot) << c.name << ": " << err.message;
    EXPECT_EQ(slot->exists, c.exists) << c.name;
    EXPECT_EQ(slot->restart_lsn, c.restart_lsn) << c.name;
    EXPECT_EQ(f.pg.sql, std::vector<std::string>{"READ_REPLICATION_SLOT \"todo_db_1\""});
    EXPECT_TRUE(f.pg.connect_calls[0].replication) << c.name;
  }
}

TEST(PgReplication, DropSlotOfNoSlotIsSuccess) {
  Fixture f;
  EXPECT_FALSE(f.client->drop_physical_slot(primary(), "todo_db_2"));
  EXPECT_EQ(f.pg.sql, std::vector<std::string>{"DROP_REPLICATION_SLOT \"todo_db_2\""});
  f.pg.server.fail("DROP_REPLICATION_SLOT", PgError{"42704", "does not exist"});
  EXPECT_FALSE(f.client->drop_physical_slot(primary(), "todo_db_2")) << "undefined_object";
  f.pg.server.fail("DROP_REPLICATION_SLOT", PgError{"55006", "replication slot is active"});
  EXPECT_EQ(f.client->drop_physical_slot(primary(), "todo_db_2")->sqlstate, "55006");
}

}  // namespace
}  // namespace replagent::agent
