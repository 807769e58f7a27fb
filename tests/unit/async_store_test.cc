#include "store/async_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>

#include "common/encoding.h"

namespace alto {
namespace {

namespace fs = std::filesystem;

class AsyncStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("alto-async-" + RandomHex(6));
    fs::create_directories(dir_);
    store_ = Open();
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(dir_);
  }
  std::unique_ptr<AsyncStore> Open() {
    auto s = OpenSqliteAsyncStore((dir_ / "alto.db").string());
    EXPECT_TRUE(s.ok());
    return std::move(s.value());
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
  std::unique_ptr<AsyncStore> store_;
};

TEST_F(AsyncStoreTest, EnqueuedEventsSurviveReopen) {
  std::vector<AsyncEvent> batch = {Event("a", 10), Event("a", 20), Event("b", 15)};
  ASSERT_TRUE(store_->Enqueue(batch).ok());
  EXPECT_GT(batch[0].id, 0);
  EXPECT_NE(batch[0].id, batch[1].id);
  store_ = Open();
  auto due = store_->Due(100, 10);
  ASSERT_TRUE(due.ok());
  ASSERT_EQ(due->size(), 3u);
  EXPECT_EQ((*due)[0].next_attempt_ms, 10);
  EXPECT_EQ((*due)[1].function, "b");
  EXPECT_EQ((*due)[0].payload, R"({"n":1})");
}

TEST_F(AsyncStoreTest, DueIsFairAcrossFunctions) {
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

TEST_F(AsyncStoreTest, RescheduleAndFinishAtomically) {
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

TEST_F(AsyncStoreTest, AnAttemptIsClaimedOnce) {
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
TEST_F(AsyncStoreTest, AnOpenAttemptIsSeenAsInterruptedAfterReopen) {
  std::vector<AsyncEvent> batch = {Event("a", 10), Event("b", 10)};
  ASSERT_TRUE(store_->Enqueue(batch).ok());
  EXPECT_FALSE((*store_->Due(100, 10))[0].attempt_interrupted);
  AsyncEvent handed = batch[0];
  handed.invoke_count = 1;
  ASSERT_TRUE(*store_->RecordAttempt(handed, /*handed_off=*/true));
  AsyncEvent throttled = batch[1];
  throttled.invoke_count = 1;
  ASSERT_TRUE(*store_->RecordAttempt(throttled, /*handed_off=*/false));
  store_ = Open();  // the server died
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
  store_ = Open();
  auto after = store_->Due(100, 10);  // a named local: the loop must not outlive a temporary
  ASSERT_TRUE(after.ok());
  for (const auto& e : *after) EXPECT_FALSE(e.attempt_interrupted) << e.function;
}

// A database from before the attempt mark keeps working: the column is added on open.
TEST_F(AsyncStoreTest, OldSchemaIsMigrated) {
  store_.reset();
  fs::remove_all(dir_);
  fs::create_directories(dir_);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir_ / "alto.db").string().c_str(), &db), SQLITE_OK);
  ASSERT_EQ(
      sqlite3_exec(db,
                   "CREATE TABLE async_events (id INTEGER PRIMARY KEY AUTOINCREMENT,"
                   " request_id TEXT NOT NULL, function TEXT NOT NULL, payload BLOB NOT NULL,"
                   " enqueued_ms INTEGER NOT NULL, next_attempt_ms INTEGER NOT NULL,"
                   " retries_used INTEGER NOT NULL DEFAULT 0,"
                   " invoke_count INTEGER NOT NULL DEFAULT 0, hop INTEGER NOT NULL DEFAULT 0);"
                   "INSERT INTO async_events(request_id, function, payload, enqueued_ms,"
                   " next_attempt_ms, invoke_count) VALUES('r1', 'old', '{}', 5, 5, 1);",
                   nullptr, nullptr, nullptr),
      SQLITE_OK);
  sqlite3_close(db);
  store_ = Open();
  auto due = store_->Due(100, 10);
  ASSERT_TRUE(due.ok());
  ASSERT_EQ(due->size(), 1u);
  EXPECT_EQ((*due)[0].function, "old");
  EXPECT_EQ((*due)[0].version, "$LATEST");
  EXPECT_FALSE((*due)[0].attempt_interrupted);
  AsyncEvent e = (*due)[0];
  e.invoke_count = 2;
  EXPECT_TRUE(*store_->RecordAttempt(e, true));
  store_ = Open();  // and a second open finds the column already there
  EXPECT_TRUE((*store_->Due(100, 10))[0].attempt_interrupted);
}

TEST_F(AsyncStoreTest, ConfigsAndQueues) {
  EXPECT_EQ(store_->GetConfig("f").error().code, Errc::kNotFound);
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

}  // namespace
}  // namespace alto
