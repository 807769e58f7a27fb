// The etcd backend: the contract suite against a real etcd (a fresh one per test: ~0.3 s, and
// each test sees revisions from 1 as on a new store), and what only etcd has (endpoints, URLs,
// a server that dies and comes back, compaction under a live watch).
#include "state/etcd/etcd_state.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "common/json.h"
#include "contract.h"
#include "etcd_fixture.h"
#include "http/client.h"

namespace alto::state::testing {
namespace {

using namespace std::chrono_literals;

Result<http::Response> EtcdPost(const std::string& endpoint, const std::string& path,
                                const std::string& body) {
  auto ep = http::ParseEndpoint(endpoint);
  if (!ep) return ep.error();
  http::Request req;
  req.method = "POST";
  req.target = path;
  req.body = body;
  return http::Fetch(*ep, req);
}

class EtcdBackend final : public BackendUnderTest {
 public:
  EtcdBackend() {
    EXPECT_TRUE(etcd_.ok()) << etcd_.error();
    if (etcd_.ok()) Open();
  }
  bool ok() const { return store_ != nullptr; }
  StateStore& store() override { return *store_; }
  void Reopen() override {
    store_.reset();
    Open();
  }
  void Compact(Revision revision) override {
    auto st = etcd_.Compact(revision);
    ASSERT_TRUE(st.ok()) << st.error().message;
  }
  // etcd's leases follow its own clock: wait past the TTL, then until etcd has revoked every
  // lease that ran out (its lessor looks every 0.5 s and revokes through raft).
  void LetLeasesExpire(int64_t ttl_seconds) override {
    std::this_thread::sleep_for(std::chrono::seconds(ttl_seconds) + 200ms);
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline) {
      if (NoLeaseOverdue()) return;
      std::this_thread::sleep_for(50ms);
    }
    ADD_FAILURE() << "etcd did not revoke expired leases within 10 s";
  }

 private:
  void Open() {
    EtcdOptions options;
    options.endpoints = {etcd_.endpoint()};
    auto s = OpenEtcdState(options);
    EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message);
    store_ = s.ok() ? std::move(s).value() : nullptr;
  }
  bool NoLeaseOverdue() {
    auto list = EtcdPost(etcd_.endpoint(), "/v3/lease/leases", "{}");
    if (!list || list->status != 200) return false;
    auto j = ParseJson(list->body);
    if (!j || !j->is_object()) return false;
    for (const auto& l : j->value("leases", nlohmann::json::array())) {
      auto ttl = EtcdPost(etcd_.endpoint(), "/v3/lease/timetolive",
                          "{\"ID\":\"" + l.value("ID", std::string("0")) + "\"}");
      if (!ttl || ttl->status != 200) return false;
      auto t = ParseJson(ttl->body);
      if (!t || !t->is_object()) return false;
      // Absent TTL (0) or -1: expired and not yet revoked.
      std::string s = t->value("TTL", std::string("0"));
      if (std::stoll(s) <= 0) return false;
    }
    return true;
  }

  EtcdProcess etcd_;
  std::unique_ptr<StateStore> store_;
};

std::unique_ptr<BackendUnderTest> MakeEtcd() {
  auto b = std::make_unique<EtcdBackend>();
  if (!b->ok()) return nullptr;
  return b;
}

INSTANTIATE_TEST_SUITE_P(Etcd, StateContractTest,
                         ::testing::Values(BackendFactory{"etcd", MakeEtcd}), BackendName);

// --- etcd only ---

TEST(EtcdUrl, ParsesEndpoints) {
  auto o = ParseEtcdUrl("etcd://h1:2379,10.0.0.2:2380,[::1]:2379/");
  ASSERT_TRUE(o.ok()) << o.error().message;
  EXPECT_EQ(o->endpoints, (std::vector<std::string>{"h1:2379", "10.0.0.2:2380", "[::1]:2379"}));
  EXPECT_EQ(o->request_timeout, 5000ms);
}

TEST(EtcdUrl, RefusesMalformed) {
  for (const char* bad :
       {"http://h1:2379", "etcd://", "etcd://h1", "etcd://h1:0", "etcd://h1:65536",
        "etcd://h1:2379,,h2:2379", "etcd://h1:abc", "etcd://:2379", "etcd://h1:2379,",
        "etcd://u@h1:2379", "etcd://[::1:2379"}) {
    auto o = ParseEtcdUrl(bad);
    ASSERT_FALSE(o.ok()) << bad;
    EXPECT_EQ(o.error().code, Errc::kInvalidArgument) << bad;
    EXPECT_NE(o.error().message.find(bad), std::string::npos) << o.error().message;
  }
}

// Ports nobody listens on: bound, then closed.
std::string DeadEndpoint() {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor a(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  return "127.0.0.1:" + std::to_string(a.local_endpoint().port());
}

TEST(EtcdOpen, UnreachableEndpointsAreUnavailableAndNamed) {
  EtcdOptions options;
  options.endpoints = {DeadEndpoint(), DeadEndpoint()};
  options.request_timeout = 1000ms;
  auto start = std::chrono::steady_clock::now();
  auto s = OpenEtcdState(options);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Errc::kUnavailable);
  for (const auto& e : options.endpoints) {
    EXPECT_NE(s.error().message.find(e), std::string::npos) << s.error().message;
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1500ms);
}

TEST(EtcdOpen, ADeadEndpointBeforeALiveOneIsSkipped) {
  EtcdProcess etcd;
  ASSERT_TRUE(etcd.ok()) << etcd.error();
  EtcdOptions options;
  options.endpoints = {DeadEndpoint(), etcd.endpoint()};
  auto s = OpenEtcdState(options);
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_TRUE((*s)->Put("k", "v").ok());
  EXPECT_EQ((*s)->Describe(), "etcd://" + options.endpoints[0] + "," + options.endpoints[1]);
}

// Batches delivered on a thread of their own, with a wait for "at least n events".
class Collector {
 public:
  Collector() : thread_([this] { io_.run(); }) {}
  ~Collector() {
    guard_.reset();
    io_.stop();
    thread_.join();
  }
  boost::asio::any_io_executor executor() { return io_.get_executor(); }
  std::function<void(WatchBatch)> Callback() {
    return [this](WatchBatch b) {
      std::lock_guard lock(mu_);
      batches_.push_back(std::move(b));
      cv_.notify_all();
    };
  }
  bool WaitEvents(size_t n, std::chrono::milliseconds max = 20s) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, max, [&] { return CountLocked() >= n; });
  }
  bool WaitBatches(size_t n, std::chrono::milliseconds max = 20s) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, max, [&] { return batches_.size() >= n; });
  }
  std::vector<WatchBatch> Batches() {
    std::lock_guard lock(mu_);
    return batches_;
  }
  std::vector<Event> Events() {
    std::vector<Event> out;
    for (auto& b : Batches()) out.insert(out.end(), b.events.begin(), b.events.end());
    return out;
  }

 private:
  size_t CountLocked() {
    size_t n = 0;
    for (auto& b : batches_) n += b.events.size();
    return n;
  }
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_{
      io_.get_executor()};
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<WatchBatch> batches_;
  std::thread thread_;
};

std::unique_ptr<StateStore> MustOpen(const EtcdProcess& etcd,
                                     std::chrono::milliseconds timeout = 5000ms) {
  EtcdOptions options;
  options.endpoints = {etcd.endpoint()};
  options.request_timeout = timeout;
  auto s = OpenEtcdState(options);
  EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message);
  return s.ok() ? std::move(s).value() : nullptr;
}

TEST(EtcdWatch, ResumesAfterARestartWithoutLossOrDuplicates) {
  EtcdProcess etcd;
  ASSERT_TRUE(etcd.ok()) << etcd.error();
  auto store = MustOpen(etcd);
  ASSERT_TRUE(store);
  Collector got;
  auto h = store->Watch("r/", 0, got.executor(), got.Callback());
  ASSERT_TRUE(h.ok()) << h.error().message;
  std::vector<Revision> written;
  for (int i = 0; i < 3; ++i)
    written.push_back(store->Put("r/" + std::to_string(i), "x")->revision);
  ASSERT_TRUE(got.WaitEvents(3));
  ASSERT_TRUE(etcd.Restart().ok()) << etcd.error();
  // Written while the watch is still reconnecting (its backoff): resumed from, not lost.
  for (int i = 3; i < 6; ++i) {
    auto r = store->Put("r/" + std::to_string(i), "x");
    ASSERT_TRUE(r.ok()) << r.error().message;
    written.push_back(r->revision);
  }
  ASSERT_TRUE(store->Delete("r/0").ok());
  ASSERT_TRUE(got.WaitEvents(7));
  std::this_thread::sleep_for(300ms);  // nothing more (no duplicate) arrives
  auto events = got.Events();
  ASSERT_EQ(events.size(), 7u);
  for (size_t i = 0; i < 6; ++i) {
    EXPECT_EQ(events[i].kv.key, "r/" + std::to_string(i));
    EXPECT_EQ(events[i].kv.mod_revision, written[i]);
    EXPECT_EQ(events[i].type, Event::Type::kPut);
  }
  EXPECT_EQ(events[6].type, Event::Type::kDelete);
  for (auto& b : got.Batches()) EXPECT_FALSE(b.resync);
}

TEST(EtcdTxn, UnavailableWithinTheTimeoutWhileEtcdIsDownThenWorksAgain) {
  EtcdProcess etcd;
  ASSERT_TRUE(etcd.ok()) << etcd.error();
  auto store = MustOpen(etcd, 1000ms);
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->Put("d/a", "1").ok());
  etcd.Stop();
  auto start = std::chrono::steady_clock::now();
  auto r = store->Txn({{"d/a", 0}}, {Op::Put("d/a", "2")});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kUnavailable) << r.error().message;
  EXPECT_NE(r.error().message.find(etcd.endpoint()), std::string::npos) << r.error().message;
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1500ms);
  EXPECT_EQ(store->Get("d/a").error().code, Errc::kUnavailable);
  ASSERT_TRUE(etcd.Start().ok()) << etcd.error();
  auto a = store->Get("d/a");
  ASSERT_TRUE(a.ok()) << a.error().message;
  auto t = store->Txn({{"d/a", a->mod_revision}}, {Op::Put("d/a", "2")});
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_TRUE(t->succeeded);
}

TEST(EtcdWatch, CompactionUnderALaggingWatchResyncs) {
  EtcdProcess etcd;
  ASSERT_TRUE(etcd.ok()) << etcd.error();
  auto store = MustOpen(etcd);
  ASSERT_TRUE(store);
  Revision first = store->Put("c/a", "1")->revision;
  ASSERT_TRUE(store->Put("c/b", "2").ok());
  ASSERT_TRUE(store->Delete("c/a").ok());
  Revision now = store->Put("c/c", "3")->revision;
  ASSERT_TRUE(etcd.Compact(now).ok());
  Collector got;
  auto h = store->Watch("c/", first, got.executor(), got.Callback());
  ASSERT_TRUE(h.ok()) << h.error().message;
  ASSERT_TRUE(got.WaitBatches(1));
  auto b = got.Batches()[0];
  EXPECT_TRUE(b.resync);
  EXPECT_EQ(b.revision, now);
  ASSERT_EQ(b.events.size(), 2u);
  EXPECT_EQ(b.events[0].kv.key, "c/b");
  EXPECT_EQ(b.events[1].kv.key, "c/c");
  EXPECT_EQ(b.events[1].kv.value, "3");
  Revision next = store->Put("c/d", "4")->revision;
  ASSERT_TRUE(got.WaitBatches(2));
  auto live = got.Batches()[1];
  EXPECT_FALSE(live.resync);
  ASSERT_EQ(live.events.size(), 1u);
  EXPECT_EQ(live.events[0].kv.key, "c/d");
  EXPECT_EQ(live.revision, next);
}

TEST(EtcdLease, TinyTtlsAreRaisedNotShortened) {
  EtcdProcess etcd;
  ASSERT_TRUE(etcd.ok()) << etcd.error();
  auto store = MustOpen(etcd);
  ASSERT_TRUE(store);
  auto lease = store->GrantLease(1);
  ASSERT_TRUE(lease.ok()) << lease.error().message;
  ASSERT_TRUE(store->Put("l/a", "1", *lease).ok());
  EXPECT_TRUE(store->KeepAlive(*lease).ok());
  EXPECT_EQ(store->Get("l/a")->lease, *lease);
  EXPECT_TRUE(store->RevokeLease(*lease).ok());
  EXPECT_EQ(store->Get("l/a").error().code, Errc::kNotFound);
}

}  // namespace
}  // namespace alto::state::testing
