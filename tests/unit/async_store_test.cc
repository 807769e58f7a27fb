#include "store/async_store.h"

#include <gtest/gtest.h>

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
  EXPECT_TRUE(*store_->RecordAttempt(snapshot));
  EXPECT_FALSE(*store_->RecordAttempt(snapshot));  // a second delivery from the same snapshot
  ASSERT_TRUE(store_->Finish(snapshot.id, {}).ok());
  snapshot.invoke_count = 2;
  EXPECT_FALSE(*store_->RecordAttempt(snapshot));  // the event is gone
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
