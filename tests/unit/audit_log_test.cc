// The audit log on the state core: ordered sequence numbers across writers, filters and pages,
// retention by buckets, and the move of an earlier Alto's audit_log table.
#include "auth/audit_log.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <set>
#include <thread>

#include "common/encoding.h"
#include "support/test_state.h"

namespace alto::auth {
namespace {

namespace fs = std::filesystem;

AuditEntry Entry(int64_t t, std::string account, std::string action) {
  AuditEntry e;
  e.time_ms = t;
  e.account_id = std::move(account);
  e.access_key_id = "k";
  e.action = std::move(action);
  e.resource = "*";
  e.source_ip = "127.0.0.1";
  e.status = 200;
  return e;
}

class AuditLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("alto-audit-" + RandomHex(6));
    fs::create_directories(dir_);
    ts_ = std::make_unique<testing::TestState>(dir_ / "alto.db");
    log_ = OpenStateAuditLog(ts_->state());
  }
  void TearDown() override {
    log_.reset();
    ts_.reset();
    fs::remove_all(dir_);
  }
  fs::path dir_;
  std::unique_ptr<testing::TestState> ts_;
  std::unique_ptr<AuditLog> log_;
};

TEST_F(AuditLogTest, ConcurrentWritersGetDistinctIncreasingNumbers) {
  constexpr int kThreads = 4, kEach = 50;
  auto second = OpenStateAuditLog(ts_->state());  // another node on the same state
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      AuditLog& log = t % 2 ? *second : *log_;
      for (int i = 0; i < kEach; ++i)
        ASSERT_TRUE(log.Append(Entry(i, "000000000000", "a" + std::to_string(t))).ok());
    });
  }
  for (auto& th : threads) th.join();
  auto page = log_->Read({.limit = 10000});
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->entries.size(), size_t{kThreads * kEach});
  std::set<int64_t> seqs;
  for (size_t i = 0; i < page->entries.size(); ++i) {
    seqs.insert(page->entries[i].seq);
    if (i > 0) EXPECT_GT(page->entries[i].seq, page->entries[i - 1].seq);
  }
  EXPECT_EQ(seqs.size(), size_t{kThreads * kEach});
  EXPECT_EQ(page->next_after, 0);
}

TEST_F(AuditLogTest, FiltersAndPages) {
  for (int i = 0; i < 30; ++i)
    ASSERT_TRUE(log_->Append(Entry(1000 + i, i % 3 ? "111111111111" : "000000000000",
                                   "act" + std::to_string(i)))
                    .ok());
  auto page = log_->Read({.since_ms = 1010, .account_id = "000000000000", .limit = 3});
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->entries.size(), 3u);
  EXPECT_EQ(page->entries[0].action, "act12");
  EXPECT_EQ(page->entries[2].action, "act18");
  EXPECT_EQ(page->entries[0].source_ip, "127.0.0.1");
  ASSERT_GT(page->next_after, 0);
  auto rest = log_->Read({.since_ms = 1010,
                          .account_id = "000000000000",
                          .after_seq = page->next_after,
                          .limit = 100});
  ASSERT_TRUE(rest.ok());
  ASSERT_EQ(rest->entries.size(), 3u);  // act21, act24, act27
  EXPECT_EQ(rest->entries.back().action, "act27");
  EXPECT_EQ(rest->next_after, 0);
}

TEST_F(AuditLogTest, KeepsTheNewestBuckets) {
  // 10 buckets of 10,000 are kept: entry 100,000 opens bucket 10 and retires bucket 0.
  std::vector<AuditEntry> batch(100, Entry(1, "000000000000", "x"));
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(log_->AppendBatch(batch, {}).ok());
  ASSERT_TRUE(log_->Append(Entry(2, "000000000000", "last")).ok());
  auto first = log_->Read({.limit = 1});
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->entries.size(), 1u);
  EXPECT_EQ(first->entries[0].seq, 10'000);  // 1-9,999 are gone
}

TEST_F(AuditLogTest, MovesTheLegacyTableOnceAndDropsIt) {
  const std::string db_path = (dir_ / "legacy.db").string();
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(db_path.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db,
                           "CREATE TABLE audit_log (seq INTEGER PRIMARY KEY AUTOINCREMENT,"
                           " time_ms INTEGER NOT NULL, account TEXT NOT NULL, access_key TEXT NOT"
                           " NULL, action TEXT NOT NULL, resource TEXT NOT NULL, source TEXT NOT"
                           " NULL, status INTEGER NOT NULL, error_type TEXT NOT NULL);",
                           nullptr, nullptr, nullptr),
              SQLITE_OK);
    for (int i = 0; i < 205; ++i) {
      std::string sql =
          "INSERT INTO audit_log(time_ms, account, access_key, action, resource, "
          "source, status, error_type) VALUES(" +
          std::to_string(i) + ",'000000000000','old','lambda:Op" + std::to_string(i) +
          "','*','10.0.0.1',403,'AccessDeniedException')";
      ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
    }
    sqlite3_close(db);
  }
  auto moved = MigrateLegacyAuditLog(db_path, *log_, *ts_->state());
  ASSERT_TRUE(moved.ok()) << moved.error().message;
  EXPECT_EQ(*moved, 205);
  auto again = MigrateLegacyAuditLog(db_path, *log_, *ts_->state());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, 0);  // the table is gone
  auto page = log_->Read({.limit = 1000});
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->entries.size(), 205u);
  EXPECT_EQ(page->entries[0].action, "lambda:Op0");
  EXPECT_EQ(page->entries[204].action, "lambda:Op204");
  EXPECT_EQ(page->entries[204].error_type, "AccessDeniedException");
  EXPECT_EQ(page->entries[204].status, 403);
  EXPECT_FALSE(ts_->state()->Get("/audit/legacy-moved-through").ok());
}

}  // namespace
}  // namespace alto::auth
