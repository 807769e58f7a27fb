// The state core's contract, part 2: watches and leases. Watch callbacks run on a TestIo the
// test thread drives, except where a test needs them on another thread.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "contract.h"
#include "contract_util.h"
#include "state/state.h"

namespace alto::state::testing {
namespace {

using namespace std::chrono_literals;

// Leases in the contract use 2 s: etcd rounds shorter TTLs up to its minimum (about 2 s).
constexpr int64_t kTtl = 2;

std::unique_ptr<WatchHandle> MustWatch(StateStore& store, const std::string& prefix, Revision from,
                                       TestIo& io, WatchRecorder& rec) {
  auto h = store.Watch(prefix, from, io.executor(), rec.Callback());
  EXPECT_TRUE(h.ok()) << (h.ok() ? "" : h.error().message);
  return h.ok() ? std::move(h).value() : nullptr;
}

TEST_P(StateContractTest, WatchDeliversChangesInOrderUnderItsPrefix) {
  TestIo io;
  WatchRecorder rec;
  auto h = MustWatch(store(), "w/", 0, io, rec);
  Revision r1 = Must(store().Put("w/a", "1")).revision;
  Must(store().Put("wx", "not mine"));
  Must(store().Put("other/w/a", "not mine"));
  Revision r2 = Must(store().Put("w/b", "2")).revision;
  Revision r3 = Must(store().Put("w/a", "3")).revision;
  Revision r4 = Must(store().Delete("w/a")).revision;
  Revision r5 = Must(store().Txn({}, {Op::Put("w/c", "5"), Op::Put("w/d", "5")})).revision;
  ASSERT_TRUE(io.RunUntil([&] { return rec.EventCount() >= 6; }));
  io.RunFor(100ms);
  auto ev = rec.Events();
  ASSERT_EQ(ev.size(), 6u);
  struct Want {
    Event::Type type;
    const char* key;
    const char* value;
    Revision rev;
  };
  const Want want[] = {{Event::Type::kPut, "w/a", "1", r1}, {Event::Type::kPut, "w/b", "2", r2},
                       {Event::Type::kPut, "w/a", "3", r3}, {Event::Type::kDelete, "w/a", "", r4},
                       {Event::Type::kPut, "w/c", "5", r5}, {Event::Type::kPut, "w/d", "5", r5}};
  for (size_t i = 0; i < 6; ++i) {
    EXPECT_EQ(ev[i].type, want[i].type) << i;
    EXPECT_EQ(ev[i].kv.key, want[i].key) << i;
    EXPECT_EQ(ev[i].kv.value, want[i].value) << i;
    EXPECT_EQ(ev[i].kv.mod_revision, want[i].rev) << i;
  }
  // A put event carries the key's whole state.
  EXPECT_EQ(ev[2].kv.create_revision, r1);
  EXPECT_EQ(ev[2].kv.version, 2);
  Revision last = 0;
  for (const auto& b : rec.batches) {
    EXPECT_FALSE(b.resync);
    EXPECT_GT(b.revision, last);
    for (const auto& e : b.events) EXPECT_LE(e.kv.mod_revision, b.revision);
    last = b.revision;
  }
  EXPECT_EQ(last, r5);
}

TEST_P(StateContractTest, WatchFromZeroSeesOnlyTheFuture) {
  Must(store().Put("wz/old", "1"));
  TestIo io;
  WatchRecorder rec;
  auto h = MustWatch(store(), "wz/", 0, io, rec);
  Revision r = Must(store().Put("wz/new", "2")).revision;
  ASSERT_TRUE(io.RunUntil([&] { return rec.EventCount() >= 1; }));
  io.RunFor(100ms);
  ASSERT_EQ(rec.EventCount(), 1u);
  EXPECT_EQ(rec.Events()[0].kv.key, "wz/new");
  EXPECT_EQ(rec.Events()[0].kv.mod_revision, r);
}

TEST_P(StateContractTest, WatchFromThePastReplaysOnceWithoutAGap) {
  std::vector<Revision> revs;
  for (int i = 0; i < 5; ++i)
    revs.push_back(Must(store().Put("wp/" + std::to_string(i), "v")).revision);
  TestIo io;
  WatchRecorder rec;
  // Writes keep coming while the watch starts: each must arrive once, replayed or live.
  std::atomic<Revision> last{0};
  std::thread writer([&] {
    for (int i = 0; i < 30; ++i) {
      auto r = store().Put("wp/live" + std::to_string(i), "v");
      if (r.ok()) last = r->revision;
    }
  });
  auto h = MustWatch(store(), "wp/", revs[2], io, rec);
  writer.join();
  ASSERT_TRUE(io.RunUntil([&] {
    auto ev = rec.Events();
    return !ev.empty() && ev.back().kv.mod_revision >= last.load();
  }));
  io.RunFor(200ms);
  auto ev = rec.Events();
  ASSERT_FALSE(ev.empty());
  // Only this test writes: every revision from revs[2] on is one put under wp/.
  EXPECT_EQ(ev.front().kv.key, "wp/2");
  ASSERT_EQ(ev.size(), static_cast<size_t>(last.load() - revs[2] + 1));
  for (size_t i = 0; i < ev.size(); ++i) {
    EXPECT_EQ(ev[i].kv.mod_revision, revs[2] + static_cast<Revision>(i)) << i;
  }
  for (const auto& b : rec.batches) EXPECT_FALSE(b.resync);
}

TEST_P(StateContractTest, WatchFromACompactedRevisionResyncsThenGoesLive) {
  Revision first = Must(store().Put("wc/a", "1")).revision;
  Must(store().Put("wc/b", "1"));
  Must(store().Put("wc/a", "2"));
  Must(store().Delete("wc/b"));
  Must(store().Put("wc/c", "3"));
  Revision now = Must(store().Put("wcx", "not mine")).revision;
  backend().Compact(now);
  TestIo io;
  WatchRecorder rec;
  auto h = MustWatch(store(), "wc/", first, io, rec);
  ASSERT_TRUE(io.RunUntil([&] { return !rec.batches.empty(); }));
  const WatchBatch& resync = rec.batches[0];
  EXPECT_TRUE(resync.resync);
  EXPECT_GE(resync.revision, now);
  ASSERT_EQ(resync.events.size(), 2u);  // the keys as they are now, as puts
  EXPECT_EQ(resync.events[0].kv.key, "wc/a");
  EXPECT_EQ(resync.events[0].kv.value, "2");
  EXPECT_EQ(resync.events[1].kv.key, "wc/c");
  for (const auto& e : resync.events) EXPECT_EQ(e.type, Event::Type::kPut);

  Revision live = Must(store().Put("wc/d", "4")).revision;
  ASSERT_TRUE(io.RunUntil([&] { return rec.batches.size() >= 2; }));
  io.RunFor(100ms);
  ASSERT_EQ(rec.batches.size(), 2u);
  EXPECT_FALSE(rec.batches[1].resync);
  ASSERT_EQ(rec.batches[1].events.size(), 1u);
  EXPECT_EQ(rec.batches[1].events[0].kv.key, "wc/d");
  EXPECT_EQ(rec.batches[1].events[0].kv.mod_revision, live);
}

TEST_P(StateContractTest, WatchSeesDeletesOfKeysAndPrefixes) {
  for (const char* k : {"wd/a", "wd/b/1", "wd/b/2"}) Must(store().Put(k, "v"));
  TestIo io;
  WatchRecorder rec;
  auto h = MustWatch(store(), "wd/", 0, io, rec);
  Revision r1 = Must(store().Delete("wd/a")).revision;
  Revision r2 = Must(store().Txn({}, {Op::DeletePrefix("wd/b/")})).revision;
  ASSERT_TRUE(io.RunUntil([&] { return rec.EventCount() >= 3; }));
  auto ev = rec.Events();
  ASSERT_EQ(ev.size(), 3u);
  const char* keys[] = {"wd/a", "wd/b/1", "wd/b/2"};
  const Revision revs[] = {r1, r2, r2};
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(ev[i].type, Event::Type::kDelete);
    EXPECT_EQ(ev[i].kv.key, keys[i]);
    EXPECT_EQ(ev[i].kv.mod_revision, revs[i]);
    EXPECT_TRUE(ev[i].kv.value.empty());
  }
}

TEST_P(StateContractTest, DestroyingTheHandleStopsCallbacks) {
  TestIo io;
  WatchRecorder rec;
  auto h = MustWatch(store(), "ws/", 0, io, rec);
  Must(store().Put("ws/1", "v"));
  ASSERT_TRUE(io.RunUntil([&] { return rec.EventCount() >= 1; }));
  // Queued but not yet run when the handle goes: it must not run either.
  Must(store().Put("ws/2", "v"));
  std::this_thread::sleep_for(100ms);
  h.reset();
  Must(store().Put("ws/3", "v"));
  io.RunFor(300ms);
  EXPECT_EQ(rec.EventCount(), 1u);
}

TEST_P(StateContractTest, AHandleMayBeDestroyedInsideItsCallback) {
  TestIo io;
  int calls = 0;
  std::unique_ptr<WatchHandle> h;
  auto w = store().Watch("wi/", 0, io.executor(), [&](WatchBatch) {
    ++calls;
    h.reset();
  });
  ASSERT_TRUE(w.ok());
  h = std::move(w).value();
  Must(store().Put("wi/1", "v"));
  Must(store().Put("wi/2", "v"));
  ASSERT_TRUE(io.RunUntil([&] { return calls >= 1; }));
  io.RunFor(300ms);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(h, nullptr);
}

TEST_P(StateContractTest, NoCallbackRunsAfterTheHandleDestructorReturns) {
  // Callbacks on another thread, slow, so the destructor meets one running.
  boost::asio::io_context ctx;
  auto guard = boost::asio::make_work_guard(ctx);
  std::thread runner([&] { ctx.run(); });
  std::atomic<bool> inside{false};
  std::atomic<int> calls{0};
  auto h = store().Watch("wt/", 0, ctx.get_executor(), [&](WatchBatch) {
    inside = true;
    std::this_thread::sleep_for(30ms);
    ++calls;
    inside = false;
  });
  ASSERT_TRUE(h.ok());
  for (int i = 0; i < 10; ++i) Must(store().Put("wt/" + std::to_string(i), "v"));
  for (int i = 0; i < 300 && calls.load() == 0; ++i) std::this_thread::sleep_for(10ms);
  ASSERT_GT(calls.load(), 0);
  h->reset();
  EXPECT_FALSE(inside.load());
  int after = calls.load();
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(calls.load(), after);
  guard.reset();
  ctx.stop();
  runner.join();
}

TEST_P(StateContractTest, ACallbackMayCallTheStore) {
  TestIo io;
  std::vector<std::string> seen;
  auto w = store().Watch("wcb/", 0, io.executor(), [&](WatchBatch b) {
    for (const auto& e : b.events) {
      auto kv = store().Get(e.kv.key);
      seen.push_back(kv.ok() ? kv->value : "?");
      EXPECT_TRUE(store().Put("wcb-echo/" + e.kv.key.substr(4), kv.ok() ? kv->value : "").ok());
    }
  });
  ASSERT_TRUE(w.ok());
  Must(store().Put("wcb/a", "1"));
  ASSERT_TRUE(io.RunUntil([&] { return seen.size() >= 1; }));
  EXPECT_EQ(seen[0], "1");
  EXPECT_EQ(Must(store().Get("wcb-echo/a")).value, "1");
}

TEST_P(StateContractTest, LeasedKeysLiveWhileKeptAliveAndGoWhenRevoked) {
  LeaseId lease = Must(store().GrantLease(60));
  ASSERT_NE(lease, 0);
  Must(store().Put("lr/a", "1", lease));
  Must(store().Put("lr/b", "2", lease));
  Must(store().Put("lr/keep", "3"));
  EXPECT_EQ(Must(store().Get("lr/a")).lease, lease);
  MustOk(store().KeepAlive(lease));
  EXPECT_TRUE(store().Get("lr/a").ok());

  TestIo io;
  WatchRecorder rec;
  auto h = MustWatch(store(), "lr/", 0, io, rec);
  Revision before = Must(store().CurrentRevision());
  MustOk(store().RevokeLease(lease));
  EXPECT_EQ(Must(store().CurrentRevision()), before + 1);  // both keys in one revision
  EXPECT_EQ(ErrorOf(store().Get("lr/a")), Errc::kNotFound);
  EXPECT_EQ(ErrorOf(store().Get("lr/b")), Errc::kNotFound);
  EXPECT_EQ(Must(store().Get("lr/keep")).value, "3");
  ASSERT_TRUE(io.RunUntil([&] { return rec.EventCount() >= 2; }));
  for (const auto& e : rec.Events()) {
    EXPECT_EQ(e.type, Event::Type::kDelete);
    EXPECT_EQ(e.kv.mod_revision, before + 1);
  }
  EXPECT_EQ(ErrorOf(store().KeepAlive(lease)), Errc::kNotFound);
  EXPECT_EQ(ErrorOf(store().RevokeLease(lease)), Errc::kNotFound);
  EXPECT_EQ(ErrorOf(store().Put("lr/a", "again", lease)), Errc::kNotFound);
}

TEST_P(StateContractTest, ExpiredLeaseDeletesItsKeysWithEvents) {
  LeaseId lease = Must(store().GrantLease(kTtl));
  Must(store().Put("le/a", "1", lease));
  Must(store().Put("le/b", "2", lease));
  Must(store().Put("le/stay", "3"));
  TestIo io;
  WatchRecorder rec;
  auto h = MustWatch(store(), "le/", 0, io, rec);
  backend().LetLeasesExpire(kTtl);
  // Nothing calls the store: the backend notices the expiry by itself.
  ASSERT_TRUE(io.RunUntil([&] { return rec.EventCount() >= 2; }));
  auto ev = rec.Events();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].type, Event::Type::kDelete);
  EXPECT_EQ(ev[1].type, Event::Type::kDelete);
  EXPECT_EQ(ev[0].kv.mod_revision, ev[1].kv.mod_revision);
  std::vector<std::string> keys{ev[0].kv.key, ev[1].kv.key};
  std::sort(keys.begin(), keys.end());
  EXPECT_EQ(keys, (std::vector<std::string>{"le/a", "le/b"}));
  EXPECT_EQ(ErrorOf(store().Get("le/a")), Errc::kNotFound);
  EXPECT_TRUE(store().Get("le/stay").ok());
  EXPECT_EQ(ErrorOf(store().KeepAlive(lease)), Errc::kNotFound);
  EXPECT_EQ(ErrorOf(store().RevokeLease(lease)), Errc::kNotFound);
}

TEST_P(StateContractTest, ExpiryIsSeenByTheNextCall) {
  LeaseId lease = Must(store().GrantLease(kTtl));
  Must(store().Put("lx/a", "1", lease));
  backend().LetLeasesExpire(kTtl);
  EXPECT_EQ(ErrorOf(store().Get("lx/a")), Errc::kNotFound);
  EXPECT_EQ(ErrorOf(store().Put("lx/b", "1", lease)), Errc::kNotFound);
}

TEST_P(StateContractTest, PutWithAnUnknownLeaseIsRefused) {
  Revision before = Must(store().CurrentRevision());
  EXPECT_EQ(ErrorOf(store().Put("lu/a", "1", 0x5eed1e55)), Errc::kNotFound);
  EXPECT_EQ(ErrorOf(store().KeepAlive(0x5eed1e55)), Errc::kNotFound);
  EXPECT_EQ(ErrorOf(store().RevokeLease(0x5eed1e55)), Errc::kNotFound);
  EXPECT_EQ(ErrorOf(store().GrantLease(0)), Errc::kInvalidArgument);
  EXPECT_EQ(ErrorOf(store().Get("lu/a")), Errc::kNotFound);
  EXPECT_EQ(Must(store().CurrentRevision()), before);
}

}  // namespace
}  // namespace alto::state::testing
