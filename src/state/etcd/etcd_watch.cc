// A watch of the etcd backend: one coroutine per watch, on a strand of the caller's executor,
// holding a streamed POST /v3/watch. It delivers each WatchResponse as one batch (etcd keeps the
// events of one revision in one response), reconnects after a lost stream from the revision after
// the last one delivered, and resyncs from a Range when etcd says that revision was compacted.
#include <boost/asio.hpp>
#include <boost/asio/as_tuple.hpp>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "common/encoding.h"
#include "common/json.h"
#include "state/etcd/etcd_ops.h"

namespace alto::state::etcd {

namespace asio = boost::asio;
using json = nlohmann::json;

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr std::chrono::milliseconds kFirstBackoff{100};
constexpr std::chrono::milliseconds kMaxBackoff{3000};

struct WatchState {
  WatchState(std::shared_ptr<EtcdClient> c, std::string p, Revision from,
             asio::any_io_executor executor, std::function<void(WatchBatch)> cb)
      : client(std::move(c)),
        prefix(std::move(p)),
        next(from),
        strand(asio::make_strand(executor)),
        on_batch(std::move(cb)),
        timer(strand) {}

  std::shared_ptr<EtcdClient> client;
  std::string prefix;
  Revision next;  // the first revision not yet delivered
  asio::strand<asio::any_io_executor> strand;
  std::function<void(WatchBatch)> on_batch;
  // On the strand only.
  std::unique_ptr<EtcdConn> conn;
  asio::steady_timer timer;

  // The gate between callbacks and the handle's destructor.
  std::mutex mu;
  std::condition_variable idle;
  bool stopped = false;
  std::thread::id in_callback;  // the thread running on_batch, if one is

  bool Stopped() {
    std::lock_guard lock(mu);
    return stopped;
  }

  void Deliver(WatchBatch batch) {
    {
      std::lock_guard lock(mu);
      if (stopped) return;
      in_callback = std::this_thread::get_id();
    }
    on_batch(std::move(batch));
    std::lock_guard lock(mu);
    in_callback = {};
    idle.notify_all();
  }

  // From the handle's destructor, on any thread, possibly inside on_batch itself: after it
  // returns no callback starts, and one running on another thread has finished.
  void Stop(const std::shared_ptr<WatchState>& self) {
    {
      std::unique_lock lock(mu);
      stopped = true;
      if (in_callback != std::thread::id() && in_callback != std::this_thread::get_id()) {
        idle.wait(lock, [&] { return in_callback == std::thread::id(); });
      }
    }
    // Wake the coroutine wherever it waits; it sees `stopped` and ends.
    asio::post(strand, [self] {
      if (self->conn) self->conn->Close();
      self->timer.cancel();
    });
  }
};

class EtcdWatchHandle final : public WatchHandle {
 public:
  explicit EtcdWatchHandle(std::shared_ptr<WatchState> state) : state_(std::move(state)) {}
  ~EtcdWatchHandle() override { state_->Stop(state_); }

 private:
  std::shared_ptr<WatchState> state_;
};

json CreateRequest(const WatchState& s) {
  std::string end = PrefixEnd(s.prefix);
  if (end.empty()) end.assign(1, '\0');
  std::string key = s.prefix.empty() ? std::string(1, '\0') : s.prefix;
  return json{{"create_request",
               {{"key", Base64Encode(key)},
                {"range_end", Base64Encode(end)},
                {"start_revision", std::to_string(s.next)}}}};
}

// Every key under the prefix now, as one resync batch; then the watch goes on after it.
asio::awaitable<Status> Resync(WatchState& s) {
  EtcdConn conn(s.strand, s.client->tls());
  auto range = co_await RangeOn(*s.client, conn, s.prefix, {}, 0, s.client->NewDeadline());
  if (!range) co_return range.error();
  WatchBatch batch;
  batch.resync = true;
  batch.revision = range->revision;
  for (auto& kv : range->kvs) batch.events.push_back(Event{Event::Type::kPut, std::move(kv)});
  s.next = range->revision + 1;
  s.Deliver(std::move(batch));
  co_return Status{};
}

// One stream, until it fails or the watch stops. Returns whether it delivered anything (then
// the next reconnection starts without backoff).
asio::awaitable<bool> Stream(WatchState& s) {
  bool progressed = false;
  auto deadline = s.client->NewDeadline();
  auto st = co_await s.client->ConnectAny(*s.conn, deadline, true);
  if (!st || s.Stopped()) co_return false;
  auto status = co_await s.conn->StartStream("/v3/watch", DumpJson(CreateRequest(s)),
                                             s.client->Token(), deadline);
  if (!status || *status != 200 || s.Stopped()) co_return false;
  for (;;) {
    auto line = co_await s.conn->NextLine();
    if (!line || s.Stopped()) co_return progressed;
    auto parsed = ParseJson(*line);
    if (!parsed || !parsed->is_object() || !parsed->contains("result")) {
      co_return progressed;  // {"error": ...}: the stream is over; reconnect
    }
    const json& r = (*parsed)["result"];
    if (r.value("canceled", false)) {
      if (JsonInt(r, "compact_revision") > 0) {
        s.conn->Close();
        auto resynced = co_await Resync(s);
        co_return resynced.ok();
      }
      co_return progressed;
    }
    auto events = r.find("events");
    if (events == r.end() || !events->is_array() || events->empty()) continue;
    WatchBatch batch;
    for (const auto& e : *events) {
      auto kv = ParseKeyValue(e.value("kv", json::object()));
      if (!kv) co_return progressed;
      if (kv->mod_revision < s.next) continue;  // never twice, whatever the server resends
      Event event;
      event.type =
          e.value("type", std::string()) == "DELETE" ? Event::Type::kDelete : Event::Type::kPut;
      event.kv = std::move(*kv);
      batch.revision = event.kv.mod_revision;
      batch.events.push_back(std::move(event));
    }
    if (batch.events.empty()) continue;
    s.next = batch.revision + 1;
    progressed = true;
    s.Deliver(std::move(batch));
    if (s.Stopped()) co_return progressed;
  }
}

asio::awaitable<void> Run(std::shared_ptr<WatchState> s) {
  auto backoff = kFirstBackoff;
  while (!s->Stopped()) {
    s->conn = std::make_unique<EtcdConn>(s->strand, s->client->tls());
    bool progressed = co_await Stream(*s);
    s->conn->Close();
    if (s->Stopped()) break;
    if (progressed) backoff = kFirstBackoff;
    s->timer.expires_after(backoff);
    co_await s->timer.async_wait(kTuple);
    backoff = std::min(backoff * 2, kMaxBackoff);
  }
  s->conn.reset();
}

}  // namespace

std::unique_ptr<WatchHandle> StartWatch(std::shared_ptr<EtcdClient> client, std::string prefix,
                                        Revision from_revision, asio::any_io_executor executor,
                                        std::function<void(WatchBatch)> on_batch) {
  auto state = std::make_shared<WatchState>(std::move(client), std::move(prefix), from_revision,
                                            std::move(executor), std::move(on_batch));
  asio::co_spawn(state->strand, Run(state), asio::detached);
  return std::make_unique<EtcdWatchHandle>(std::move(state));
}

}  // namespace alto::state::etcd
