// The AsyncStore on the state core, on both backends: SQLite (a temp file) and a real etcd.
#include "store/async_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <set>
#include <thread>

#include "common/encoding.h"
#include "state/etcd/etcd_state.h"
#include "state/etcd_fixture.h"
#include "support/test_state.h"

namespace alto {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr const char* kAccount = "000000000000";

class AsyncStoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("alto-async-" + RandomHex(6));
    fs::create_directories(dir_);
    if (etcd()) {
      etcd_ = std::make_unique<state::testing::EtcdProcess>();
      ASSERT_TRUE(etcd_->ok()) << etcd_->error();
    }
    OpenState();
    store_ = Open();
  }
  void TearDown() override {
    store_.reset();
    state_.reset();
    test_state_.reset();
    etcd_.reset();
    fs::remove_all(dir_);
  }
  bool etcd() const { return GetParam() == "etcd"; }
  void OpenState() {
    if (etcd()) {
      state::EtcdOptions o;
      o.endpoints = {etcd_->endpoint()};
      auto s = state::OpenEtcdState(o);
      ASSERT_TRUE(s.ok()) << s.error().message;
      state_ = std::move(*s);
    } else {
      if (!test_state_)
        test_state_ = std::make_unique<alto::testing::TestState>(dir_ / "alto.db");
      else
        test_state_->Reopen();
      state_ = test_state_->state();
    }
  }
  std::unique_ptr<AsyncStore> Open(std::string node = "node-a", int64_t ttl_s = 10,
                                   bool revoke_at_close = true) {
    StateAsyncOptions o;
    o.node = std::move(node);
    o.lease_ttl_s = ttl_s;
    o.revoke_at_close = revoke_at_close;
    auto s = OpenStateAsyncStore(state_, kAccount, o);
    EXPECT_TRUE(s.ok()) << s.error().message;
    return s.ok() ? std::move(s.value()) : nullptr;
  }
  // A process restart: the store and its state connection go, both open again.
  void Restart() {
    store_.reset();
    state_.reset();
    OpenState();
    store_ = Open();
  }
  // The lease a node's store holds its claims on.
  state::LeaseId LeaseOf(const std::string& node) {
    auto kv = state_->Get(std::string("/acct/") + kAccount + "/async/node/" + node);
    EXPECT_TRUE(kv.ok());
    return kv.ok() ? std::stoll(kv->value) : 0;
  }
  // Lets leases of ttl_s run out with nobody keeping them alive.
  void LetLeasesExpire(int64_t ttl_s) {
    if (!etcd()) {
      test_state_->clock().Advance(std::chrono::seconds(ttl_s) + 1s);
      return;
    }
    std::this_thread::sleep_for(std::chrono::seconds(ttl_s) + 1500ms);  // etcd's lessor: 0.5 s
  }
  void CreateFunctionRecord(const std::string& fn) {
    ASSERT_TRUE(state_->Put(std::string("/acct/") + kAccount + "/functions/" + fn, "{}").ok());
  }
  static AsyncEvent Event(const std::string& fn, int64_t at) {
    AsyncEvent e;
    e.request_id = NewUuid();
    e.function = fn;
    e.payload = R"({"n":1})";
    e.enqueued_ms = at;
    e.next_attempt_ms = at;
    return e;
  }
  fs::path dir_;
  std::unique_ptr<state::testing::EtcdProcess> etcd_;
  std::unique_ptr<alto::testing::TestState> test_state_;
  std::shared_ptr<state::StateStore> state_;
  std::unique_ptr<AsyncStore> store_;
};

TEST_P(AsyncStoreTest, EnqueuedEventsSurviveReopen) {
  std::vector<AsyncEvent> batch = {Event("a", 10), Event("a", 20), Event("b", 15)};
  ASSERT_TRUE(store_->Enqueue(batch).ok());
  EXPECT_GT(batch[0].id, 0);
  EXPECT_NE(batch[0].id, batch[1].id);
  Restart();
  auto due = store_->Due(100, 10);
  ASSERT_TRUE(due.ok());
  ASSERT_EQ(due->size(), 3u);
  EXPECT_EQ((*due)[0].next_attempt_ms, 10);
  EXPECT_EQ((*due)[1].function, "b");
  EXPECT_EQ((*due)[0].payload, R"({"n":1})");
}

TEST_P(AsyncStoreTest, DueIsFairAcrossFunctions) {
  std::vector<AsyncEvent> batch;
  for (int i = 0; i < 50; ++i) batch.push_back(Event("busy", i));
  batch.push_back(Event("quiet", 1000));
  ASSERT_TRUE(store_->Enqueue(batch).ok());
  auto due = store_->Due(5000, 4);
  ASSERT_TRUE(due.ok());
  size_t quiet = 0, busy = 0;
  for (const auto& e : *due) (e.function == "quiet" ? quiet : busy)++;
  EXPECT_EQ(busy, 4u);
  EXPECT_EQ(quiet, 1u);                        // not hidden behind the busy function's backlog
  EXPECT_EQ(store_->Due(5, 100)->size(), 6u);  // only what is due
}

TEST_P(AsyncStoreTest, RescheduleAndFinishAtomically) {
  std::vector<AsyncEvent> batch = {Event("a", 10)};
  ASSERT_TRUE(store_->Enqueue(batch).ok());
  AsyncEvent e = batch[0];
  e.retries_used = 1;
  e.invoke_count = 2;
  e.next_attempt_ms = 500;
  ASSERT_TRUE(store_->Reschedule(e).ok());
  EXPECT_TRUE(store_->Due(100, 10)->empty());
  EXPECT_EQ(*store_->NextDueMs(), 500);
  auto again = store_->Due(500, 10);
  ASSERT_EQ(again->size(), 1u);
  EXPECT_EQ((*again)[0].invoke_count, 2);
  EXPECT_EQ((*again)[0].retries_used, 1);

  ASSERT_TRUE(store_->CreateQueue("done").ok());
  EventFinish finish;
  finish.messages.push_back(QueueMessage{0, "done", "record", "{}", 1});
  AsyncEvent follow = Event("next", 600);
  finish.follow_up = follow;
  ASSERT_TRUE(store_->Finish(e.id, finish).ok());
  auto stats = store_->Stats("a");
  EXPECT_EQ(stats->depth, 0);
  EXPECT_EQ(store_->Stats("next")->depth, 1);
  auto msgs = store_->ReadMessages("done", 10, /*consume=*/false);
  ASSERT_EQ(msgs->size(), 1u);
  EXPECT_EQ((*msgs)[0].body, "record");
  EXPECT_EQ(store_->ReadMessages("done", 10, true)->size(), 1u);
  EXPECT_TRUE(store_->ReadMessages("done", 10, true)->empty());  // consumed
}

TEST_P(AsyncStoreTest, AnAttemptIsClaimedOnce) {
  std::vector<AsyncEvent> batch = {Event("a", 10)};
  ASSERT_TRUE(store_->Enqueue(batch).ok());
  AsyncEvent snapshot = batch[0];
  snapshot.invoke_count = 1;
  EXPECT_TRUE(*store_->RecordAttempt(snapshot, true));
  EXPECT_FALSE(*store_->RecordAttempt(snapshot, true));  // a second delivery, same snapshot
  ASSERT_TRUE(store_->Finish(snapshot.id, {}).ok());
  snapshot.invoke_count = 2;
  EXPECT_FALSE(*store_->RecordAttempt(snapshot, true));  // the event is gone
}

// The durable mark that recognizes a poison event: an attempt handed to a sandbox stays open
// until its outcome is recorded; a restart (reopen) sees it as interrupted.
TEST_P(AsyncStoreTest, AnOpenAttemptIsSeenAsInterruptedAfterReopen) {
  std::vector<AsyncEvent> batch = {Event("a", 10), Event("b", 10)};
  ASSERT_TRUE(store_->Enqueue(batch).ok());
  EXPECT_FALSE((*store_->Due(100, 10))[0].attempt_interrupted);
  AsyncEvent handed = batch[0];
  handed.invoke_count = 1;
  ASSERT_TRUE(*store_->RecordAttempt(handed, /*handed_off=*/true));
  AsyncEvent throttled = batch[1];
  throttled.invoke_count = 1;
  ASSERT_TRUE(*store_->RecordAttempt(throttled, /*handed_off=*/false));
  Restart();  // the server stopped
  auto due = store_->Due(100, 10);
  ASSERT_EQ(due->size(), 2u);
  const AsyncEvent& a = (*due)[0].function == "a" ? (*due)[0] : (*due)[1];
  const AsyncEvent& b = (*due)[0].function == "a" ? (*due)[1] : (*due)[0];
  EXPECT_TRUE(a.attempt_interrupted);
  EXPECT_EQ(a.invoke_count, 1);
  EXPECT_FALSE(b.attempt_interrupted);  // never reached a sandbox
  EXPECT_EQ(b.invoke_count, 1);
  // Recording the outcome (a retry) closes the attempt.
  AsyncEvent next = a;
  next.retries_used = 1;
  ASSERT_TRUE(store_->Reschedule(next).ok());
  Restart();
  auto after = store_->Due(100, 10);  // a named local: the loop must not outlive a temporary
  ASSERT_TRUE(after.ok());
  for (const auto& e : *after) EXPECT_FALSE(e.attempt_interrupted) << e.function;
}

TEST_P(AsyncStoreTest, ConfigsAndQueues) {
  EXPECT_EQ(store_->GetConfig("f").error().code, Errc::kNotFound);
  EventInvokeConfig ghost;
  ghost.function = "f";
  // Under the function's keys, so only while it exists (DeleteFunction takes it along).
  EXPECT_EQ(store_->PutConfig(ghost).error().code, Errc::kNotFound);
  CreateFunctionRecord("f");
  EventInvokeConfig c;
  c.function = "f";
  c.max_retry_attempts = 1;
  c.on_failure = "arn:aws:sqs:us-east-1:000000000000:q";
  ASSERT_TRUE(store_->PutConfig(c).ok());
  EXPECT_EQ(store_->GetConfig("f")->max_retry_attempts, 1);
  EXPECT_EQ(store_->GetConfig("f")->on_failure, c.on_failure);
  ASSERT_TRUE(store_->DeleteConfig("f").ok());
  EXPECT_EQ(store_->DeleteConfig("f").error().code, Errc::kNotFound);
  EXPECT_FALSE(*store_->QueueExists("q"));
  ASSERT_TRUE(store_->CreateQueue("q").ok());
  ASSERT_TRUE(store_->CreateQueue("q").ok());  // idempotent
  EXPECT_TRUE(*store_->QueueExists("q"));
  EXPECT_EQ(store_->ListQueues()->size(), 1u);
}

// Two nodes on one state: once one has claimed an attempt (handed it to a sandbox), the other's
// Due does not return the event, and the other cannot claim it either.
TEST_P(AsyncStoreTest, TwoNodesNeverBothGetAClaimedEvent) {
  auto b = Open("node-b");
  ASSERT_TRUE(b);
  std::vector<AsyncEvent> batch = {Event("a", 10)};
  ASSERT_TRUE(store_->Enqueue(batch).ok());
  ASSERT_EQ(b->Due(100, 10)->size(), 1u);  // nobody holds it yet
  AsyncEvent attempt = batch[0];
  attempt.invoke_count = 1;
  ASSERT_TRUE(*store_->RecordAttempt(attempt, /*handed_off=*/true));
  EXPECT_FALSE(*b->RecordAttempt(attempt, true));  // the same snapshot on the other node
  EXPECT_TRUE(b->Due(100, 10)->empty());
  EXPECT_EQ(b->Stats("a")->depth, 1);  // still queued, just not b's to run
  // The attempt ends with a retry: the claim goes with it and either node may take the next one.
  attempt.next_attempt_ms = 50;
  ASSERT_TRUE(store_->Reschedule(attempt).ok());
  auto due = b->Due(100, 10);
  ASSERT_EQ(due->size(), 1u);
  EXPECT_FALSE((*due)[0].attempt_interrupted);
  EXPECT_EQ((*due)[0].invoke_count, 1);
  // Finish deletes the claim too: claimed by b, finished by b, gone for both.
  AsyncEvent second = (*due)[0];
  second.invoke_count = 2;
  ASSERT_TRUE(*b->RecordAttempt(second, true));
  EXPECT_TRUE(store_->Due(100, 10)->empty());
  ASSERT_TRUE(b->Finish(second.id, {}).ok());
  EXPECT_TRUE(store_->Due(100, 10)->empty());
  EXPECT_EQ(store_->Stats("a")->depth, 0);
  EXPECT_EQ(*store_->NextDueMs(), 0);
}

// A node that dies holding a claim: its lease is revoked (or runs out), the claim key vanishes,
// and another node gets the event, marked interrupted (the poison-event accounting).
TEST_P(AsyncStoreTest, ADeadNodesClaimGoesToAnotherNodeAsInterrupted) {
  auto b = Open("node-b");
  std::vector<AsyncEvent> batch = {Event("a", 10)};
  ASSERT_TRUE(store_->Enqueue(batch).ok());
  AsyncEvent attempt = batch[0];
  attempt.invoke_count = 1;
  ASSERT_TRUE(*store_->RecordAttempt(attempt, true));
  ASSERT_TRUE(b->Due(100, 10)->empty());
  ASSERT_TRUE(state_->RevokeLease(LeaseOf("node-a")).ok());  // node a is gone
  auto due = b->Due(100, 10);
  ASSERT_EQ(due->size(), 1u);
  EXPECT_TRUE((*due)[0].attempt_interrupted);
  EXPECT_EQ((*due)[0].invoke_count, 1);
  // b claims the next attempt; a's late outcome of its attempt 1 is refused.
  AsyncEvent next = (*due)[0];
  next.invoke_count = 2;
  ASSERT_TRUE(*b->RecordAttempt(next, true));
  EXPECT_FALSE(*store_->RecordAttempt(next, true));
}

// The same without anyone revoking: the process is killed (no clean close), nobody keeps its
// lease alive, and the TTL runs out.
TEST_P(AsyncStoreTest, AKilledNodesClaimIsReleasedWhenItsLeaseExpires) {
  auto dying = Open("node-c", /*ttl_s=*/1, /*revoke_at_close=*/false);
  auto b = Open("node-b");
  std::vector<AsyncEvent> batch = {Event("a", 10)};
  ASSERT_TRUE(dying->Enqueue(batch).ok());
  AsyncEvent attempt = batch[0];
  attempt.invoke_count = 1;
  ASSERT_TRUE(*dying->RecordAttempt(attempt, true));
  dying.reset();  // kill -9: the claim outlives the process until the lease runs out
  EXPECT_TRUE(b->Due(100, 10)->empty());
  LetLeasesExpire(1);
  auto due = b->Due(100, 10);
  // etcd rounds a TTL up to its minimum (about 2 s) and revokes through its lessor: give it time.
  for (int i = 0; etcd() && i < 50 && due.ok() && due->empty(); ++i) {
    std::this_thread::sleep_for(200ms);
    due = b->Due(100, 10);
  }
  ASSERT_EQ(due->size(), 1u);
  EXPECT_TRUE((*due)[0].attempt_interrupted);
}

// A node restarted after a kill (same node identity) releases its previous claims at once
// instead of waiting for the TTL.
TEST_P(AsyncStoreTest, ARestartedNodeReleasesItsPreviousClaims) {
  store_ = Open("node-a", 3600, /*revoke_at_close=*/false);
  std::vector<AsyncEvent> batch = {Event("a", 10)};
  ASSERT_TRUE(store_->Enqueue(batch).ok());
  AsyncEvent attempt = batch[0];
  attempt.invoke_count = 1;
  ASSERT_TRUE(*store_->RecordAttempt(attempt, true));
  store_.reset();  // killed
  auto other = Open("node-b");
  EXPECT_TRUE(other->Due(100, 10)->empty());  // the dead lease would hold it for an hour
  store_ = Open("node-a");
  auto due = store_->Due(100, 10);
  ASSERT_EQ(due->size(), 1u);
  EXPECT_TRUE((*due)[0].attempt_interrupted);
}

TEST_P(AsyncStoreTest, ConcurrentEnqueuersGetUniqueIds) {
  auto b = Open("node-b");
  constexpr int kBatches = 15, kPerBatch = 8;
  std::vector<int64_t> ids[2];
  auto run = [&](AsyncStore* store, std::vector<int64_t>* out) {
    for (int i = 0; i < kBatches; ++i) {
      std::vector<AsyncEvent> batch;
      for (int j = 0; j < kPerBatch; ++j) batch.push_back(Event("f", 10));
      auto st = store->Enqueue(batch);
      EXPECT_TRUE(st.ok()) << st.error().message;
      for (const auto& e : batch) out->push_back(e.id);
    }
  };
  // Two stores each start from an empty id block: the second's first block must not be the first's.
  std::thread t1(run, store_.get(), &ids[0]);
  std::thread t2(run, b.get(), &ids[1]);
  t1.join();
  t2.join();
  std::set<int64_t> all(ids[0].begin(), ids[0].end());
  all.insert(ids[1].begin(), ids[1].end());
  EXPECT_EQ(all.size(), size_t{2 * kBatches * kPerBatch});
  EXPECT_EQ(store_->Stats("f")->depth, 2 * kBatches * kPerBatch);
  // And the next store (a third node) too.
  auto c = Open("node-c");
  std::vector<AsyncEvent> one = {Event("f", 10)};
  ASSERT_TRUE(c->Enqueue(one).ok());
  EXPECT_FALSE(all.count(one[0].id));
}

TEST_P(AsyncStoreTest, DropFunctionEventsLeavesOtherFunctions) {
  CreateFunctionRecord("a");
  EventInvokeConfig c;
  c.function = "a";
  ASSERT_TRUE(store_->PutConfig(c).ok());
  std::vector<AsyncEvent> batch = {Event("a", 10), Event("a", 20), Event("b", 30)};
  ASSERT_TRUE(store_->Enqueue(batch).ok());
  ASSERT_TRUE(store_->DropFunctionEvents("a").ok());
  EXPECT_EQ(store_->Stats("a")->depth, 0);
  EXPECT_EQ(store_->GetConfig("a").error().code, Errc::kNotFound);
  auto due = store_->Due(100, 10);
  ASSERT_EQ(due->size(), 1u);
  EXPECT_EQ((*due)[0].function, "b");
  // The dangling index entries were cleaned up by that Due.
  EXPECT_EQ(*store_->NextDueMs(), 30);
  EXPECT_TRUE(store_->Finish(batch[0].id, {}).ok());  // finishing a dropped event is harmless
}

// Due reads the index from the start and stops at now: what is due later is not read.
TEST_P(AsyncStoreTest, DueIsOrderedByNextAttemptAndPerFunctionBounded) {
  std::vector<AsyncEvent> batch;
  for (int i = 0; i < 40; ++i) batch.push_back(Event(i % 2 ? "odd" : "even", 1000 - i));
  ASSERT_TRUE(store_->Enqueue(batch).ok());
  auto due = store_->Due(990, 3);
  ASSERT_TRUE(due.ok());
  ASSERT_EQ(due->size(), 6u);
  for (size_t i = 1; i < due->size(); ++i)
    EXPECT_LE((*due)[i - 1].next_attempt_ms, (*due)[i].next_attempt_ms);
  EXPECT_EQ((*due)[0].next_attempt_ms, 961);
  EXPECT_EQ(*store_->NextDueMs(), 961);
}

TEST_P(AsyncStoreTest, QueueMessagesAreConsumedOnceAcrossNodes) {
  auto b = Open("node-b");
  ASSERT_TRUE(store_->CreateQueue("q").ok());
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(
        store_->SendMessage(QueueMessage{0, "q", "m" + std::to_string(i), R"({"k":1})", 100 + i})
            .ok());
  }
  auto peek = b->ReadMessages("q", 3, false);
  ASSERT_EQ(peek->size(), 3u);
  EXPECT_EQ((*peek)[0].body, "m0");
  EXPECT_EQ((*peek)[0].attributes, R"({"k":1})");
  EXPECT_EQ((*peek)[0].sent_ms, 100);
  std::vector<std::string> got;
  std::thread t([&] {
    for (;;) {
      auto r = b->ReadMessages("q", 2, true);
      if (!r.ok() || r->empty()) break;
      for (auto& m : *r) got.push_back(m.body);
    }
  });
  std::vector<std::string> mine;
  for (;;) {
    auto r = store_->ReadMessages("q", 2, true);
    ASSERT_TRUE(r.ok());
    if (r->empty()) break;
    for (auto& m : *r) mine.push_back(m.body);
  }
  t.join();
  got.insert(got.end(), mine.begin(), mine.end());
  std::set<std::string> unique(got.begin(), got.end());
  EXPECT_EQ(got.size(), 10u);
  EXPECT_EQ(unique.size(), 10u);
}

// A data dir from before the state core: its async tables move in, nothing lost, then go.
TEST_P(AsyncStoreTest, LegacyTablesMoveIntoTheState) {
  const std::string legacy = (dir_ / (etcd() ? "legacy.db" : "alto.db")).string();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(legacy.c_str(), &db), SQLITE_OK);
  std::string sql =
      "CREATE TABLE async_events (id INTEGER PRIMARY KEY AUTOINCREMENT,"
      " request_id TEXT NOT NULL, function TEXT NOT NULL, payload BLOB NOT NULL,"
      " enqueued_ms INTEGER NOT NULL, next_attempt_ms INTEGER NOT NULL,"
      " retries_used INTEGER NOT NULL DEFAULT 0,"
      " invoke_count INTEGER NOT NULL DEFAULT 0, hop INTEGER NOT NULL DEFAULT 0,"
      " qualifier TEXT NOT NULL DEFAULT '', version TEXT NOT NULL DEFAULT '',"
      " attempt_open INTEGER NOT NULL DEFAULT 0);"
      "CREATE TABLE event_invoke_configs (function TEXT PRIMARY KEY, max_retry_attempts INTEGER"
      " NOT NULL, max_event_age_s INTEGER NOT NULL, on_success TEXT NOT NULL, on_failure TEXT"
      " NOT NULL, last_modified_ms INTEGER NOT NULL);"
      "CREATE TABLE queues (name TEXT PRIMARY KEY, created_ms INTEGER NOT NULL);"
      "CREATE TABLE queue_messages (id INTEGER PRIMARY KEY AUTOINCREMENT, queue TEXT NOT NULL,"
      " body BLOB NOT NULL, attributes TEXT NOT NULL, sent_ms INTEGER NOT NULL);"
      "INSERT INTO event_invoke_configs VALUES('f', 1, 60, '', 'arn:aws:sqs:us-east-1:0:dlq', 7);"
      "INSERT INTO event_invoke_configs VALUES('gone', 1, 60, '', '', 7);"
      "INSERT INTO queues VALUES('dlq', 1);"
      "INSERT INTO queue_messages(queue, body, attributes, sent_ms) VALUES('dlq', 'first', '{}', "
      "5);"
      "INSERT INTO queue_messages(queue, body, attributes, sent_ms) VALUES('dlq', 'second', "
      "'{\"a\":1}', 6);"
      "INSERT INTO async_events(request_id, function, payload, enqueued_ms, next_attempt_ms,"
      " retries_used, invoke_count, hop, qualifier, version, attempt_open)"
      " VALUES('r-open', 'f', 'p1', 5, 5, 0, 1, 0, 'live', '3', 1);";
  // Enough events for several chunks of the move.
  for (int i = 0; i < 70; ++i) {
    sql +=
        "INSERT INTO async_events(request_id, function, payload, enqueued_ms, next_attempt_ms)"
        " VALUES('r" +
        std::to_string(i) + "', 'f', 'x', 6, " + std::to_string(6 + i) + ");";
  }
  ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK)
      << sqlite3_errmsg(db);
  sqlite3_close(db);
  CreateFunctionRecord("f");

  auto moved = MigrateLegacyAsyncTables(legacy, state_, kAccount);
  ASSERT_TRUE(moved.ok()) << moved.error().message;
  EXPECT_EQ(*moved, 1 + 1 + 71 + 2);  // 'gone' has no function any more
  EXPECT_EQ(store_->Stats("f")->depth, 71);
  auto due = store_->Due(1000, 100);
  ASSERT_EQ(due->size(), 71u);
  EXPECT_EQ((*due)[0].request_id, "r-open");
  EXPECT_TRUE((*due)[0].attempt_interrupted);  // was in a sandbox when the old server stopped
  EXPECT_EQ((*due)[0].invoke_count, 1);
  EXPECT_EQ((*due)[0].qualifier, "live");
  EXPECT_EQ((*due)[0].version, "3");
  EXPECT_EQ((*due)[0].payload, "p1");
  EXPECT_FALSE((*due)[1].attempt_interrupted);
  EXPECT_EQ((*due)[1].version, "$LATEST");
  EXPECT_EQ(store_->GetConfig("f")->on_failure, "arn:aws:sqs:us-east-1:0:dlq");
  EXPECT_TRUE(*store_->QueueExists("dlq"));
  auto msgs = store_->ReadMessages("dlq", 10, false);
  ASSERT_EQ(msgs->size(), 2u);
  EXPECT_EQ((*msgs)[0].body, "first");
  EXPECT_EQ((*msgs)[1].attributes, R"({"a":1})");
  // The old tables are gone; a second start moves nothing.
  ASSERT_EQ(sqlite3_open(legacy.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db,
                     "SELECT COUNT(*) FROM sqlite_master WHERE name IN ('async_events',"
                     " 'event_invoke_configs', 'queues', 'queue_messages')",
                     -1, &st, nullptr);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(st, 0), 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  EXPECT_EQ(*MigrateLegacyAsyncTables(legacy, state_, kAccount), 0);
  EXPECT_EQ(store_->Stats("f")->depth, 71);
}

// Past the state's value and transaction limits: a 1 MiB payload (Lambda's limit) in a batch, a
// destination record carrying it (over 1 MiB), messages of several MiB.
TEST_P(AsyncStoreTest, LargePayloadsAndMessagesPassTheStateLimits) {
  const std::string mib(1024 * 1024, 'p');
  std::vector<AsyncEvent> batch = {Event("big", 10), Event("big", 11), Event("small", 12)};
  batch[0].payload = mib;
  batch[1].payload = mib;
  ASSERT_TRUE(store_->Enqueue(batch).ok());
  auto due = store_->Due(100, 10);
  ASSERT_EQ(due->size(), 3u);
  EXPECT_EQ((*due)[0].payload, mib);
  EXPECT_EQ((*due)[1].payload, mib);

  ASSERT_TRUE(store_->CreateQueue("q").ok());
  EventFinish finish;
  const std::string record = "{\"requestPayload\":" + mib + mib + "x" + "}";
  finish.messages.push_back(QueueMessage{0, "q", record, R"({"a":1})", 20});
  finish.messages.push_back(QueueMessage{0, "q", "small", "{}", 21});
  AsyncEvent follow = Event("next", 30);
  follow.payload = record;
  finish.follow_up = follow;
  ASSERT_TRUE(store_->Finish(batch[0].id, finish).ok());
  EXPECT_EQ(store_->Stats("big")->depth, 1);
  auto next = store_->Due(100, 10);
  ASSERT_TRUE(next.ok());
  bool found = false;
  for (const auto& e : *next) {
    if (e.function != "next") continue;
    found = true;
    EXPECT_EQ(e.payload, record);
    ASSERT_TRUE(store_->Finish(e.id, {}).ok());
  }
  EXPECT_TRUE(found);
  auto msgs = store_->ReadMessages("q", 10, /*consume=*/true);
  ASSERT_TRUE(msgs.ok()) << msgs.error().message;
  ASSERT_GE(msgs->size(), 1u);
  EXPECT_EQ((*msgs)[0].body, record);
  EXPECT_EQ((*msgs)[0].attributes, R"({"a":1})");
  std::vector<QueueMessage> all = *msgs;
  while (true) {
    auto more = store_->ReadMessages("q", 10, true);
    ASSERT_TRUE(more.ok());
    if (more->empty()) break;
    all.insert(all.end(), more->begin(), more->end());
  }
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[1].body, "small");
  // Nothing of them is left behind: parts go with their message.
  auto left = state_->Range(std::string("/acct/") + kAccount + "/async/msgx/");
  ASSERT_TRUE(left.ok());
  EXPECT_TRUE(left->kvs.empty());
  auto parts = state_->Range(std::string("/acct/") + kAccount + "/async/fn/next/");
  ASSERT_TRUE(parts.ok());
  EXPECT_TRUE(parts->kvs.empty());
}

INSTANTIATE_TEST_SUITE_P(Backends, AsyncStoreTest, ::testing::Values("sqlite", "etcd"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace alto
