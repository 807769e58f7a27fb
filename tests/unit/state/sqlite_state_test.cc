// The SQLite backend: the contract suite over a temporary file with a fake clock, and what only
// this backend has (schema versions, its own change-log trimming).
#include "state/sqlite/sqlite_state.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <thread>

#include "common/fake_clock.h"
#include "contract.h"
#include "contract_util.h"

namespace alto::state::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class SqliteBackend final : public BackendUnderTest {
 public:
  explicit SqliteBackend(SqliteStateOptions options = {}) : options_(options) {
    std::string tmpl = (fs::temp_directory_path() / "alto-state-XXXXXX").string();
    if (::mkdtemp(tmpl.data())) dir_ = tmpl;
    timer_thread_ = std::thread([this] { timer_io_.run(); });
    Open();
  }
  ~SqliteBackend() override {
    store_.reset();  // before the timer's io_context goes
    guard_.reset();
    timer_io_.stop();
    timer_thread_.join();
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
  }

  bool ok() const { return store_ != nullptr; }
  StateStore& store() override { return *store_; }
  SqliteState& sqlite() { return *store_; }
  void Reopen() override {
    store_.reset();
    Open();
  }
  void Compact(Revision revision) override {
    auto st = store_->Compact(revision);
    ASSERT_TRUE(st.ok()) << st.error().message;
  }
  void LetLeasesExpire(int64_t ttl_seconds) override {
    clock_.Advance(std::chrono::seconds(ttl_seconds) + 1ms);
  }

  FakeClock& clock() { return clock_; }
  std::string path() const { return (dir_ / "alto.db").string(); }
  // Opens the file again next to the store: what another build or a test's raw SQL sees.
  Result<std::unique_ptr<SqliteState>> OpenAnother(SqliteStateOptions options = {}) {
    return OpenSqliteState(path(), clock_, timer_io_.get_executor(), options);
  }
  void Close() { store_.reset(); }

 private:
  void Open() {
    auto s = OpenAnother(options_);
    EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message);
    store_ = s.ok() ? std::move(s).value() : nullptr;
  }

  SqliteStateOptions options_;
  fs::path dir_;
  FakeClock clock_;
  boost::asio::io_context timer_io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_{
      timer_io_.get_executor()};
  std::thread timer_thread_;
  std::unique_ptr<SqliteState> store_;
};

INSTANTIATE_TEST_SUITE_P(Sqlite, StateContractTest,
                         ::testing::Values(BackendFactory{
                             "sqlite",
                             []() -> std::unique_ptr<BackendUnderTest> {
                               auto b = std::make_unique<SqliteBackend>();
                               if (!b->ok()) return nullptr;
                               return b;
                             }}),
                         BackendName);

// Runs one SQL statement on the file with a connection of its own; returns the first column of
// the first row (0 without one).
int64_t RawSql(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK) << sql;
  int64_t out = 0;
  int rc = sqlite3_step(stmt);
  if (rc == SQLITE_ROW) out = sqlite3_column_int64(stmt, 0);
  EXPECT_TRUE(rc == SQLITE_ROW || rc == SQLITE_DONE) << sqlite3_errmsg(db);
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return out;
}

TEST(SqliteStateTest, ANewerSchemaIsRefusedNamingBothVersions) {
  SqliteBackend b;
  ASSERT_TRUE(b.ok());
  Must(b.store().Put("k", "v"));
  b.Close();
  RawSql(b.path(), "UPDATE state_meta SET value = 7 WHERE name = 'schema_version'");
  auto s = b.OpenAnother();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Errc::kUnsupported);
  EXPECT_NE(s.error().message.find("version 7"), std::string::npos) << s.error().message;
  EXPECT_NE(s.error().message.find("(" + std::to_string(kSqliteStateSchemaVersion) + ")"),
            std::string::npos)
      << s.error().message;
  // Refusing wrote nothing: the version is still the newer one.
  EXPECT_EQ(RawSql(b.path(), "SELECT value FROM state_meta WHERE name = 'schema_version'"), 7);
}

TEST(SqliteStateTest, MigrationsAreIdempotentOnReopen) {
  SqliteBackend b;
  ASSERT_TRUE(b.ok());
  Revision rev = Must(b.store().Put("m/k", "v")).revision;
  for (int i = 0; i < 3; ++i) {
    b.Reopen();
    ASSERT_TRUE(b.ok());
  }
  EXPECT_EQ(Must(b.store().Get("m/k")).value, "v");
  EXPECT_EQ(Must(b.store().CurrentRevision()), rev);
  b.Close();
  EXPECT_EQ(RawSql(b.path(), "SELECT value FROM state_meta WHERE name = 'schema_version'"),
            kSqliteStateSchemaVersion);
  EXPECT_EQ(RawSql(b.path(),
                   "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
                   "name LIKE 'state\\_%' ESCAPE '\\'"),
            4);
}

TEST(SqliteStateTest, TheLogKeepsHistoryRevisionsAndOlderWatchesResync) {
  SqliteBackend b(SqliteStateOptions{.history = 3});
  ASSERT_TRUE(b.ok());
  Revision first = 0, last = 0;
  for (int i = 0; i < 10; ++i) {
    last = Must(b.store().Put("h/" + std::to_string(i), "v")).revision;
    if (i == 0) first = last;
  }
  EXPECT_EQ(RawSql(b.path(), "SELECT count(*) FROM state_log"), 3);

  TestIo io;
  WatchRecorder old_rec, kept_rec;
  auto old_watch = b.store().Watch("h/", first, io.executor(), old_rec.Callback());
  auto kept_watch = b.store().Watch("h/", last - 2, io.executor(), kept_rec.Callback());
  ASSERT_TRUE(old_watch.ok() && kept_watch.ok());
  ASSERT_TRUE(io.RunUntil([&] { return !old_rec.batches.empty() && kept_rec.EventCount() >= 3; }));
  io.RunFor(50ms);
  ASSERT_EQ(old_rec.batches.size(), 1u);
  EXPECT_TRUE(old_rec.batches[0].resync);
  EXPECT_EQ(old_rec.batches[0].events.size(), 10u);
  EXPECT_EQ(old_rec.batches[0].revision, last);
  ASSERT_EQ(kept_rec.EventCount(), 3u);
  EXPECT_EQ(kept_rec.Events()[0].kv.mod_revision, last - 2);
  for (const auto& batch : kept_rec.batches) EXPECT_FALSE(batch.resync);

  // The trimmed log survives a reopen: an old watch still resyncs.
  old_watch->reset();
  kept_watch->reset();
  b.Reopen();
  WatchRecorder again;
  auto w = b.store().Watch("h/", last - 3, io.executor(), again.Callback());
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(io.RunUntil([&] { return !again.batches.empty(); }));
  EXPECT_TRUE(again.batches[0].resync);
}

TEST(SqliteStateTest, KeepAliveExtendsByTheTtlOnTheClock) {
  SqliteBackend b;
  ASSERT_TRUE(b.ok());
  LeaseId lease = Must(b.store().GrantLease(10));
  Must(b.store().Put("ka/k", "v", lease));
  b.clock().Advance(6s);
  MustOk(b.store().KeepAlive(lease));
  b.clock().Advance(6s);  // 12 s since the grant, 6 s since the keep-alive
  EXPECT_TRUE(b.store().Get("ka/k").ok());
  b.clock().Advance(4s);  // exactly the TTL since the keep-alive: gone
  EXPECT_EQ(ErrorOf(b.store().Get("ka/k")), Errc::kNotFound);
}

TEST(SqliteStateTest, LeasesSurviveAReopenWithTheirAbsoluteExpiry) {
  SqliteBackend b;
  ASSERT_TRUE(b.ok());
  LeaseId lease = Must(b.store().GrantLease(10));
  Must(b.store().Put("lr/k", "v", lease));
  b.Reopen();
  EXPECT_EQ(Must(b.store().Get("lr/k")).lease, lease);
  MustOk(b.store().KeepAlive(lease));
  b.Close();
  b.clock().Advance(11s);  // expired while closed
  b.Reopen();
  EXPECT_EQ(ErrorOf(b.store().Get("lr/k")), Errc::kNotFound);
  EXPECT_EQ(ErrorOf(b.store().KeepAlive(lease)), Errc::kNotFound);
}

TEST(SqliteStateTest, CompactPastTheCurrentRevisionIsRefused) {
  SqliteBackend b;
  ASSERT_TRUE(b.ok());
  Revision rev = Must(b.store().Put("c/k", "v")).revision;
  EXPECT_EQ(ErrorOf(b.sqlite().Compact(rev + 1)), Errc::kInvalidArgument);
  MustOk(b.sqlite().Compact(rev));
  MustOk(b.sqlite().Compact(rev - 1));  // already compacted further: nothing to do
  EXPECT_EQ(b.store().Describe(), "sqlite:" + b.path());
}

// Not a check: prints what one durable put costs here. Run with
// --gtest_also_run_disabled_tests --gtest_filter='*PutLatency*'.
TEST(SqliteStateTest, DISABLED_PutLatency) {
  SqliteBackend b;
  ASSERT_TRUE(b.ok());
  constexpr int kPuts = 500;
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kPuts; ++i) Must(b.store().Put("perf/" + std::to_string(i % 50), "value"));
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() -
                                                                  start)
                .count();
  std::cout << "sqlite state: " << kPuts << " puts in " << us / 1000 << " ms, " << us / kPuts
            << " us/put, " << kPuts * 1'000'000LL / us << " puts/s\n";
}

}  // namespace
}  // namespace alto::state::testing
