// The AsyncStore on the state core, so that with an etcd state several nodes share one async queue
// and a node that dies leaves its events to the others. Keys, under A = /acct/<account>/async/:
//   A seq                        the last event/message id handed out (see NextId: hi/lo blocks)
//   A fn/<fn>/ev/<id>            an event's metadata (JSON: counters, next attempt, attempt_open)
//   A fn/<fn>/pl/<id>            its payload, raw (a value of its own: up to 1 MiB, and counter
//                                updates never rewrite it); past 1 MiB (a destination record
//                                carrying a large payload and response), the rest in parts
//                                A fn/<fn>/plx/<id>/<n>
//   A fn/<fn>/claim/<id>         an in-flight claim, attached to the claiming store's lease
//   A due/<ms>/<id>              the due index: every event once, at its next_attempt_ms; value: fn
//   A id/<id>                    fn, for Finish, which is given only the id
//   A node/<node>                the lease of the store running as <node> (not leased itself)
//   A q/<name>                   a queue (value: created ms)
//   A msg/<queue>/<ms>.<id>      a message: "<attributes length>:<parts>\n<attributes><body>", the
//                                part past 1 MiB in A msgx/<queue>/<ms>.<id>/<n>, n < parts
//   /acct/<account>/fn/<fn>/event-invoke-config   the function's config
// <id> and <ms> are zero-padded to 20 digits so key order is numeric order.
//
// Why the events are not under fn/<fn>/ with the function's other keys (DeleteFunction's
// one-transaction cascade): events are enqueued for functions that may not exist (destinations)
// and a group commit must not fail because one of its functions was deleted meanwhile, while
// everything under fn/<fn>/ may only be written while $LATEST exists (CreateFunction relies on an
// empty prefix). So events live under A fn/<fn>/, where DropFunctionEvents removes them with one
// DeletePrefix after DeleteFunction, and a delivery whose function is gone discards its event
// anyway. The config is the function's own and only written while it exists: it is under
// fn/<fn>/ and goes with the function in DeleteFunction's transaction.
//
// The global due index and id keys of dropped events are left dangling by that DeletePrefix; Due
// deletes a dangling due entry (and its id key) when it reaches it, NextDueMs may wake the
// dispatcher early for one, which costs one empty Due.
//
// Claims: RecordAttempt(handed_off) writes the claim key on this store's lease (one per store,
// kept alive by a thread every TTL/3) along with attempt_open in the metadata. Due skips an
// event whose claim key exists under another lease. When the claiming process dies its lease
// expires, the claim key vanishes, and the event, still attempt_open, is read back by any node
// with attempt_interrupted, as the SQLite store did after a restart. A restarted node revokes its
// previous incarnation's lease at open (A node/<node>), so its own claims do not wait for the TTL.
#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/json.h"
#include "state/state.h"
#include "store/async_store.h"
#include "store/sqlite_util.h"

namespace alto {
namespace {

using state::Compare;
using state::KeyValue;
using state::LeaseId;
using state::Op;
using state::Revision;

constexpr int kMaxAttempts = 64;  // lost compare-and-swap races before giving up
// Ids are reserved from A seq in blocks: one compare-and-swap per block, not per event, so that
// nodes enqueuing at the same time do not all race on one key. Each block is handed out by exactly
// one successful CAS, so ids are unique across nodes; they are not ordered across nodes, which
// nothing needs: Due orders by (next_attempt_ms, id), queues by (sent_ms, id).
constexpr int64_t kIdBlock = 1000;
constexpr size_t kPage = 256;         // keys per Range
constexpr size_t kMaxDueScan = 8192;  // due index entries one Due looks at, at most
// Per ReadMessages: a consuming read compares and deletes each message in one transaction.
constexpr size_t kMaxReadMessages = state::kMaxTxnOps;

std::string Pad(int64_t n) {
  std::string digits = std::to_string(n);
  if (digits.size() < 20) digits.insert(0, 20 - digits.size(), '0');
  return digits;
}

Error Busy(std::string_view what) {
  return MakeError(Errc::kConflict, std::string(what) + ": too many concurrent writers; retry");
}

struct Meta {
  AsyncEvent e;  // without payload
  bool open = false;
  size_t payload_parts = 0;  // A fn/<fn>/plx/<id>/<n>
};

std::string EncodeMeta(const AsyncEvent& e, bool open, size_t payload_parts) {
  return DumpJson({{"pn", payload_parts},
                   {"r", e.request_id},
                   {"f", e.function},
                   {"q", e.qualifier},
                   {"v", e.version},
                   {"e", e.enqueued_ms},
                   {"n", e.next_attempt_ms},
                   {"ru", e.retries_used},
                   {"ic", e.invoke_count},
                   {"h", e.hop},
                   {"o", open}});
}

Result<Meta> DecodeMeta(const std::string& text, int64_t id) {
  auto j = ParseJson(text, kApiJsonDepth);
  if (!j || !j->is_object()) return MakeError(Errc::kInternal, "corrupt async event record");
  Meta m;
  m.e.id = id;
  m.e.request_id = j->value("r", "");
  m.e.function = j->value("f", "");
  m.e.qualifier = j->value("q", "");
  m.e.version = j->value("v", "$LATEST");
  if (m.e.version.empty()) m.e.version = "$LATEST";
  m.e.enqueued_ms = j->value("e", int64_t{0});
  m.e.next_attempt_ms = j->value("n", int64_t{0});
  m.e.retries_used = j->value("ru", 0);
  m.e.invoke_count = j->value("ic", 0);
  m.e.hop = j->value("h", 0);
  m.open = j->value("o", false);
  m.payload_parts = j->value("pn", size_t{0});
  return m;
}

int64_t ParseNumber(std::string_view digits) {
  if (digits.empty()) return -1;
  int64_t n = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return -1;
    n = n * 10 + (c - '0');
  }
  return n;
}

// A value past kMaxValueBytes: the first kMaxValueBytes stay in the main key, the rest go to
// parts (key prefix + n). Returns the parts, the main value shortened in place.
std::vector<std::string> SplitValue(std::string& value) {
  std::vector<std::string> parts;
  for (size_t at = state::kMaxValueBytes; at < value.size(); at += state::kMaxValueBytes)
    parts.push_back(value.substr(at, state::kMaxValueBytes));
  if (value.size() > state::kMaxValueBytes) value.resize(state::kMaxValueBytes);
  return parts;
}

// "<attributes length>:<parts>\n<attributes>", what a message's value starts with.
std::string EncodeMessageHead(const QueueMessage& m, size_t parts) {
  std::string_view attrs = m.attributes.empty() ? std::string_view("{}") : m.attributes;
  return std::to_string(attrs.size()) + ":" + std::to_string(parts) + "\n" + std::string(attrs);
}

bool DecodeMessage(const std::string& value, QueueMessage& m, size_t& parts) {
  size_t colon = value.find(':');
  size_t nl = value.find('\n');
  if (colon == std::string::npos || nl == std::string::npos || colon > nl) return false;
  int64_t n = ParseNumber(std::string_view(value).substr(0, colon));
  int64_t p = ParseNumber(std::string_view(value).substr(colon + 1, nl - colon - 1));
  if (n < 0 || p < 0 || nl + 1 + static_cast<size_t>(n) > value.size()) return false;
  parts = static_cast<size_t>(p);
  m.attributes = value.substr(nl + 1, n);
  m.body = value.substr(nl + 1 + n);
  return true;
}

class StateAsyncStore final : public AsyncStore {
 public:
  StateAsyncStore(std::shared_ptr<state::StateStore> state, std::string account,
                  StateAsyncOptions options)
      : owner_(std::move(state)),
        state_(*owner_),
        acct_("/acct/" + account + "/"),
        a_(acct_ + "async/"),
        options_(std::move(options)) {
    if (options_.lease_ttl_s < 1) options_.lease_ttl_s = 1;
  }

  ~StateAsyncStore() override {
    {
      std::lock_guard lock(lease_mu_);
      stopping_ = true;
    }
    lease_cv_.notify_all();
    if (keeper_.joinable()) keeper_.join();
    // A clean stop hands this node's claims over at once instead of after the TTL. (A crash
    // cannot: then the lease expires.)
    if (lease_ != 0 && options_.revoke_at_close) (void)state_.RevokeLease(lease_);
  }

  Status Init() {
    if (!options_.node.empty()) {
      // The previous incarnation of this node died with its claims: release them now.
      auto previous = state_.Get(NodeKey());
      if (previous) {
        LeaseId old = ParseNumber(previous->value);
        if (old > 0) {
          auto st = state_.RevokeLease(old);
          if (!st && st.error().code != Errc::kNotFound) return st;
        }
      } else if (previous.error().code != Errc::kNotFound) {
        return previous.error();
      }
    }
    if (auto st = Regrant(); !st) return st;
    keeper_ = std::thread([this] { KeepLeaseAlive(); });
    return {};
  }

  LeaseId lease() {
    std::lock_guard lock(lease_mu_);
    return lease_;
  }
  Result<int64_t> AllocateId() { return NextId(); }

  Status Enqueue(std::vector<AsyncEvent>& events) override {
    for (auto& e : events) {
      auto id = NextId();
      if (!id) return id.error();
      e.id = *id;
    }
    return WriteEvents(events, /*keep_open=*/false);
  }

  // One transaction for the batch while it fits the state's limits (kMaxTxnOps, kMaxTxnBytes);
  // a batch past them is split into as few transactions as fit, each durable before the next.
  // keep_open: write attempt_interrupted as an open attempt (the legacy migration).
  Status WriteEvents(const std::vector<AsyncEvent>& events, bool keep_open) {
    std::vector<std::vector<Op>> groups;
    groups.reserve(events.size());
    for (const auto& e : events) groups.push_back(EventPuts(e, keep_open && e.attempt_interrupted));
    return WriteGroups(groups);
  }

  Result<std::vector<AsyncEvent>> Due(int64_t now_ms, size_t per_function) override {
    std::vector<AsyncEvent> out;
    std::map<std::string, size_t> taken;
    const LeaseId mine = lease();
    const std::string base = a_ + "due/";
    std::string after;
    size_t scanned = 0;
    while (scanned < kMaxDueScan) {
      auto range = state_.Range(base, after, kPage);
      if (!range) return range.error();
      for (const auto& kv : range->kvs) {
        ++scanned;
        after = kv.key;
        std::string_view rest = std::string_view(kv.key).substr(base.size());
        if (rest.size() != 41) continue;
        const int64_t ms = ParseNumber(rest.substr(0, 20));
        const int64_t id = ParseNumber(rest.substr(21));
        if (ms > now_ms) return out;
        const std::string& fn = kv.value;
        if (taken[fn] >= per_function) continue;
        auto meta = state_.Get(EventKey(fn, id));
        if (!meta) {
          if (meta.error().code != Errc::kNotFound) return meta.error();
          // Dropped with its function (DropFunctionEvents): the index entry is all that is left.
          auto r = state_.Txn({Compare{EventKey(fn, id), 0}},
                              {Op::Delete(kv.key), Op::Delete(IdKey(id))});
          if (!r) return r.error();
          continue;
        }
        auto m = DecodeMeta(meta->value, id);
        if (!m) return m.error();
        if (m->e.next_attempt_ms > now_ms) continue;  // rescheduled since the index was read
        if (m->open) {
          auto claim = state_.Get(ClaimKey(fn, id));
          if (claim && claim->lease != mine) continue;  // in a sandbox on another node
          if (!claim && claim.error().code != Errc::kNotFound) return claim.error();
          // No live claim: the node that handed it off died (or this one, in flight: the
          // invoker skips its own in-flight ids).
          m->e.attempt_interrupted = true;
        }
        auto payload = state_.Get(PayloadKey(fn, id));
        if (!payload) {
          if (payload.error().code == Errc::kNotFound) continue;  // finished meanwhile
          return payload.error();
        }
        m->e.payload = std::move(payload->value);
        bool whole = true;
        for (size_t n = 0; n < m->payload_parts && whole; ++n) {
          auto part = state_.Get(PayloadPartPrefix(fn, id) + std::to_string(n));
          if (!part) {
            if (part.error().code != Errc::kNotFound) return part.error();
            whole = false;  // finished meanwhile
          } else {
            m->e.payload += part->value;
          }
        }
        if (!whole) continue;
        out.push_back(std::move(m->e));
        ++taken[fn];
      }
      if (!range->more) break;
    }
    return out;
  }

  Result<int64_t> NextDueMs() override {
    const std::string base = a_ + "due/";
    auto range = state_.Range(base, {}, 1);
    if (!range) return range.error();
    if (range->kvs.empty()) return int64_t{0};
    return ParseNumber(std::string_view(range->kvs[0].key).substr(base.size(), 20));
  }

  Status Reschedule(const AsyncEvent& e) override {
    for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
      auto kv = state_.Get(EventKey(e.function, e.id));
      if (!kv) {
        if (kv.error().code == Errc::kNotFound) return {};  // finished or dropped
        return kv.error();
      }
      auto m = DecodeMeta(kv->value, e.id);
      if (!m) return m.error();
      AsyncEvent next = m->e;
      next.next_attempt_ms = e.next_attempt_ms;
      next.retries_used = e.retries_used;
      next.invoke_count = e.invoke_count;
      std::vector<Op> ops{
          Op::Put(EventKey(e.function, e.id), EncodeMeta(next, false, m->payload_parts)),
          Op::Delete(ClaimKey(e.function, e.id))};
      if (m->e.next_attempt_ms != next.next_attempt_ms) {
        ops.push_back(Op::Delete(DueKey(m->e.next_attempt_ms, e.id)));
        ops.push_back(Op::Put(DueKey(next.next_attempt_ms, e.id), e.function));
      }
      auto r = state_.Txn({Compare{EventKey(e.function, e.id), kv->mod_revision}}, ops);
      if (!r) return r.error();
      if (r->succeeded) return {};
    }
    return Busy("reschedule");
  }

  Result<bool> RecordAttempt(const AsyncEvent& e, bool handed_off) override {
    for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
      auto kv = state_.Get(EventKey(e.function, e.id));
      if (!kv) {
        if (kv.error().code == Errc::kNotFound) return false;
        return kv.error();
      }
      auto m = DecodeMeta(kv->value, e.id);
      if (!m) return m.error();
      if (m->e.invoke_count != e.invoke_count - 1) return false;  // claimed by another attempt
      m->e.invoke_count = e.invoke_count;
      std::vector<Op> ops{
          Op::Put(EventKey(e.function, e.id), EncodeMeta(m->e, handed_off, m->payload_parts))};
      const LeaseId lease = this->lease();
      if (handed_off) {
        ops.push_back(Op::Put(ClaimKey(e.function, e.id), options_.node, lease));
      } else {
        ops.push_back(Op::Delete(ClaimKey(e.function, e.id)));
      }
      auto r = state_.Txn({Compare{EventKey(e.function, e.id), kv->mod_revision}}, ops);
      if (!r) {
        if (r.error().code != Errc::kNotFound) return r.error();
        // Our lease ran out (the state was unreachable for a TTL): take a new one and retry.
        if (auto st = RenewIfStill(lease); !st) return st.error();
        continue;
      }
      if (r->succeeded) return true;
    }
    return Busy("record attempt");
  }

  Status Finish(int64_t event_id, EventFinish finish) override {
    // Ids for what it sends, once: a retry below must not hand out others.
    std::vector<std::vector<Op>> sends;
    size_t send_ops = 0, send_bytes = 0;
    for (auto& m : finish.messages) {
      auto id = NextId();
      if (!id) return id.error();
      m.id = *id;
      sends.push_back(MessagePuts(m, m.id));
    }
    if (finish.follow_up) {
      auto id = NextId();
      if (!id) return id.error();
      finish.follow_up->id = *id;
      sends.push_back(EventPuts(*finish.follow_up, false));
    }
    for (const auto& group : sends) {
      send_ops += group.size();
      for (const auto& op : group) send_bytes += op.key.size() + op.value.size();
    }
    // What cannot go in the transaction that deletes the event (past the state's limits) is sent
    // first; a crash between sends it again with the next attempt (at least once, as every
    // delivery).
    if (send_ops + 8 > state::kMaxTxnOps || send_bytes + 8 * 1024 > state::kMaxTxnBytes) {
      if (auto st = WriteGroups(sends); !st) return st;
      sends.clear();
    }
    for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
      std::vector<Compare> compares;
      std::vector<Op> ops;
      auto fn = state_.Get(IdKey(event_id));
      if (fn) {
        auto kv = state_.Get(EventKey(fn->value, event_id));
        if (kv) {
          auto m = DecodeMeta(kv->value, event_id);
          if (!m) return m.error();
          compares.push_back(Compare{EventKey(fn->value, event_id), kv->mod_revision});
          ops.push_back(Op::Delete(EventKey(fn->value, event_id)));
          ops.push_back(Op::Delete(PayloadKey(fn->value, event_id)));
          if (m->payload_parts > 0)
            ops.push_back(Op::DeletePrefix(PayloadPartPrefix(fn->value, event_id)));
          ops.push_back(Op::Delete(ClaimKey(fn->value, event_id)));
          ops.push_back(Op::Delete(DueKey(m->e.next_attempt_ms, event_id)));
        } else if (kv.error().code != Errc::kNotFound) {
          return kv.error();
        }
        ops.push_back(Op::Delete(IdKey(event_id)));
      } else if (fn.error().code != Errc::kNotFound) {
        return fn.error();
      }
      for (const auto& group : sends) ops.insert(ops.end(), group.begin(), group.end());
      if (ops.empty()) return {};  // gone already (finished elsewhere, or dropped and cleaned)
      auto r = state_.Txn(compares, ops);
      if (!r) return r.error();
      if (r->succeeded) return {};
    }
    return Busy("finish");
  }

  Result<QueueStats> Stats(std::string_view function) override {
    QueueStats stats;
    const std::string base = FnBase(function) + "ev/";
    std::string after;
    for (;;) {
      auto range = state_.Range(base, after, kPage);
      if (!range) return range.error();
      for (const auto& kv : range->kvs) {
        auto m = DecodeMeta(kv.value, 0);
        if (!m) return m.error();
        ++stats.depth;
        if (stats.oldest_enqueued_ms == 0 || m->e.enqueued_ms < stats.oldest_enqueued_ms)
          stats.oldest_enqueued_ms = m->e.enqueued_ms;
        after = kv.key;
      }
      if (!range->more) break;
    }
    return stats;
  }

  Status DropFunctionEvents(std::string_view function) override {
    auto r = state_.Txn({}, {Op::DeletePrefix(FnBase(function)), Op::Delete(ConfigKey(function))});
    if (!r) return r.error();
    return {};
  }

  Status PutConfig(const EventInvokeConfig& c) override {
    const std::string text = DumpJson({{"max_retry_attempts", c.max_retry_attempts},
                                       {"max_event_age_s", c.max_event_age_s},
                                       {"on_success", c.on_success},
                                       {"on_failure", c.on_failure},
                                       {"last_modified_ms", c.last_modified_ms}});
    for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
      // Under fn/<name>/ only while the function exists (see the top of the file).
      auto latest = state_.Get(acct_ + "functions/" + c.function);
      if (!latest) {
        if (latest.error().code == Errc::kNotFound) return MakeError(Errc::kNotFound, c.function);
        return latest.error();
      }
      auto r = state_.Txn({Compare{latest->key, latest->mod_revision}},
                          {Op::Put(ConfigKey(c.function), text)});
      if (!r) return r.error();
      if (r->succeeded) return {};
    }
    return Busy("put event invoke config");
  }

  Result<EventInvokeConfig> GetConfig(std::string_view function) override {
    auto kv = state_.Get(ConfigKey(function));
    if (!kv) {
      if (kv.error().code == Errc::kNotFound)
        return MakeError(Errc::kNotFound, std::string(function));
      return kv.error();
    }
    auto j = ParseJson(kv->value, kApiJsonDepth);
    if (!j || !j->is_object()) return MakeError(Errc::kInternal, "corrupt event invoke config");
    EventInvokeConfig c;
    c.function = std::string(function);
    c.max_retry_attempts = j->value("max_retry_attempts", 2);
    c.max_event_age_s = j->value("max_event_age_s", 21600);
    c.on_success = j->value("on_success", "");
    c.on_failure = j->value("on_failure", "");
    c.last_modified_ms = j->value("last_modified_ms", int64_t{0});
    return c;
  }

  Status DeleteConfig(std::string_view function) override {
    for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
      auto kv = state_.Get(ConfigKey(function));
      if (!kv) {
        if (kv.error().code == Errc::kNotFound)
          return MakeError(Errc::kNotFound, std::string(function));
        return kv.error();
      }
      auto r = state_.Txn({Compare{kv->key, kv->mod_revision}}, {Op::Delete(kv->key)});
      if (!r) return r.error();
      if (r->succeeded) return {};
    }
    return Busy("delete event invoke config");
  }

  Status CreateQueue(std::string_view name) override {
    const std::string key = a_ + "q/" + std::string(name);
    const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    auto r = state_.Txn({Compare{key, 0}}, {Op::Put(key, std::to_string(now))});
    if (!r) return r.error();
    return {};  // not succeeded: it exists already
  }

  Result<bool> QueueExists(std::string_view name) override {
    auto kv = state_.Get(a_ + "q/" + std::string(name));
    if (kv) return true;
    if (kv.error().code == Errc::kNotFound) return false;
    return kv.error();
  }

  Result<std::vector<std::string>> ListQueues() override {
    const std::string base = a_ + "q/";
    std::vector<std::string> out;
    std::string after;
    for (;;) {
      auto range = state_.Range(base, after, kPage);
      if (!range) return range.error();
      for (const auto& kv : range->kvs) {
        out.push_back(kv.key.substr(base.size()));
        after = kv.key;
      }
      if (!range->more) break;
    }
    return out;
  }

  Status SendMessage(const QueueMessage& message) override {
    auto id = NextId();
    if (!id) return id.error();
    return WriteGroups({MessagePuts(message, *id)});
  }

  Result<std::vector<QueueMessage>> ReadMessages(std::string_view queue, size_t max,
                                                 bool consume) override {
    const std::string base = a_ + "msg/" + std::string(queue) + "/";
    const size_t limit = std::min(max, kMaxReadMessages);
    if (limit == 0) return std::vector<QueueMessage>{};
    for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
      auto range = state_.Range(base, {}, limit);
      if (!range) return range.error();
      std::vector<QueueMessage> out;
      std::vector<Compare> compares;
      std::vector<Op> deletes;
      size_t bytes = 0;
      bool raced = false;
      for (const auto& kv : range->kvs) {
        std::string_view rest = std::string_view(kv.key).substr(base.size());
        QueueMessage m;
        m.queue = std::string(queue);
        m.sent_ms = rest.size() == 41 ? ParseNumber(rest.substr(0, 20)) : 0;
        m.id = rest.size() == 41 ? ParseNumber(rest.substr(21)) : 0;
        size_t parts = 0;
        if (!DecodeMessage(kv.value, m, parts)) {
          return MakeError(Errc::kInternal, "corrupt message " + kv.key);
        }
        // A reply stays within what a transaction could carry, the first message whatever its
        // size; deletes and compares within kMaxTxnOps.
        if (!out.empty() && (bytes + kv.value.size() > state::kMaxTxnBytes ||
                             deletes.size() + 2 > state::kMaxTxnOps))
          break;
        for (size_t n = 0; n < parts; ++n) {
          auto part = state_.Get(MessagePartPrefix(kv.key) + std::to_string(n));
          if (!part) {
            if (part.error().code != Errc::kNotFound) return part.error();
            raced = true;  // consumed by another reader meanwhile
            break;
          }
          m.body += part->value;
        }
        if (raced) break;
        bytes += kv.value.size() + m.body.size();
        out.push_back(std::move(m));
        compares.push_back(Compare{kv.key, kv.mod_revision});
        deletes.push_back(Op::Delete(kv.key));
        if (parts > 0) deletes.push_back(Op::DeletePrefix(MessagePartPrefix(kv.key)));
      }
      if (raced && out.empty()) continue;
      if (!consume || out.empty()) return out;
      // Consumed exactly once: another reader that took any of them makes this one read again.
      auto r = state_.Txn(compares, deletes);
      if (!r) return r.error();
      if (r->succeeded) return out;
    }
    return Busy("read messages");
  }

 private:
  std::string FnBase(std::string_view fn) const { return a_ + "fn/" + std::string(fn) + "/"; }
  std::string EventKey(std::string_view fn, int64_t id) const {
    return FnBase(fn) + "ev/" + Pad(id);
  }
  std::string PayloadKey(std::string_view fn, int64_t id) const {
    return FnBase(fn) + "pl/" + Pad(id);
  }
  std::string ClaimKey(std::string_view fn, int64_t id) const {
    return FnBase(fn) + "claim/" + Pad(id);
  }
  std::string DueKey(int64_t ms, int64_t id) const {
    return a_ + "due/" + Pad(std::max<int64_t>(ms, 0)) + "/" + Pad(id);
  }
  std::string PayloadPartPrefix(std::string_view fn, int64_t id) const {
    return FnBase(fn) + "plx/" + Pad(id) + "/";
  }
  std::string MessagePartPrefix(const std::string& message_key) const {
    // A msg/<queue>/<ms>.<id> -> A msgx/<queue>/<ms>.<id>/
    return a_ + "msgx/" + message_key.substr(a_.size() + 4) + "/";
  }
  std::string IdKey(int64_t id) const { return a_ + "id/" + Pad(id); }
  std::string NodeKey() const { return a_ + "node/" + options_.node; }
  std::string ConfigKey(std::string_view fn) const {
    return acct_ + "fn/" + std::string(fn) + "/event-invoke-config";
  }
  std::string MessageKey(std::string_view queue, int64_t ms, int64_t id) const {
    return a_ + "msg/" + std::string(queue) + "/" + Pad(std::max<int64_t>(ms, 0)) + "." + Pad(id);
  }

  // In the order a write split over several transactions must follow (WriteGroups): parts, then
  // the payload and the record, the due index entry last (Due drops an entry without a record).
  std::vector<Op> EventPuts(const AsyncEvent& e, bool open) const {
    std::string payload = e.payload;
    std::vector<std::string> parts = SplitValue(payload);
    std::vector<Op> ops;
    for (size_t n = 0; n < parts.size(); ++n)
      ops.push_back(Op::Put(PayloadPartPrefix(e.function, e.id) + std::to_string(n), parts[n]));
    ops.push_back(Op::Put(PayloadKey(e.function, e.id), std::move(payload)));
    ops.push_back(Op::Put(EventKey(e.function, e.id), EncodeMeta(e, open, parts.size())));
    ops.push_back(Op::Put(IdKey(e.id), e.function));
    ops.push_back(Op::Put(DueKey(e.next_attempt_ms, e.id), e.function));
    return ops;
  }

  std::vector<Op> MessagePuts(const QueueMessage& m, int64_t id) const {
    const std::string key = MessageKey(m.queue, m.sent_ms, id);
    // The header holds the parts' count, so its length and the count depend on each other: a few
    // rounds settle them (the count only grows, by a digit at most).
    size_t parts = 0;
    std::string head;
    for (;;) {
      head = EncodeMessageHead(m, parts);
      const size_t first = state::kMaxValueBytes - std::min(head.size(), state::kMaxValueBytes);
      const size_t rest = m.body.size() > first ? m.body.size() - first : 0;
      const size_t need = (rest + state::kMaxValueBytes - 1) / state::kMaxValueBytes;
      if (need == parts) break;
      parts = need;
    }
    std::string value = head + m.body;
    std::vector<std::string> rest = SplitValue(value);
    std::vector<Op> ops;
    for (size_t n = 0; n < rest.size(); ++n)
      ops.push_back(Op::Put(MessagePartPrefix(key) + std::to_string(n), std::move(rest[n])));
    ops.push_back(Op::Put(key, std::move(value)));
    return ops;
  }

  // Writes groups of ops, each group atomically when it fits one transaction, packing as many
  // groups per transaction as the limits allow. A group past the limits on its own is written op
  // by op, in its order (so its last op, the one that makes it visible, goes last).
  Status WriteGroups(const std::vector<std::vector<Op>>& groups) {
    std::vector<Op> ops;
    size_t bytes = 0;
    auto flush = [&]() -> Status {
      if (ops.empty()) return {};
      auto r = state_.Txn({}, ops);
      if (!r) return r.error();
      ops.clear();
      bytes = 0;
      return {};
    };
    for (const auto& group : groups) {
      size_t size = 0;
      for (const auto& op : group) size += op.key.size() + op.value.size();
      if (group.size() > state::kMaxTxnOps || size > state::kMaxTxnBytes) {
        if (auto st = flush(); !st) return st;
        for (const auto& op : group) {
          auto r = state_.Txn({}, {op});
          if (!r) return r.error();
        }
        continue;
      }
      if (ops.size() + group.size() > state::kMaxTxnOps || bytes + size > state::kMaxTxnBytes) {
        if (auto st = flush(); !st) return st;
      }
      ops.insert(ops.end(), group.begin(), group.end());
      bytes += size;
    }
    return flush();
  }

  Result<int64_t> NextId() {
    std::lock_guard lock(id_mu_);
    if (next_id_ < id_limit_) return next_id_++;
    const std::string key = a_ + "seq";
    for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
      int64_t last = 0;
      Revision revision = 0;
      if (auto kv = state_.Get(key); kv) {
        last = ParseNumber(kv->value);
        revision = kv->mod_revision;
      } else if (kv.error().code != Errc::kNotFound) {
        return kv.error();
      }
      auto r =
          state_.Txn({Compare{key, revision}}, {Op::Put(key, std::to_string(last + kIdBlock))});
      if (!r) return r.error();
      if (r->succeeded) {
        next_id_ = last + 1;
        id_limit_ = last + kIdBlock + 1;
        return next_id_++;
      }
    }
    return Busy("id sequence");
  }

  Status Regrant() {
    auto lease = state_.GrantLease(options_.lease_ttl_s);
    if (!lease) return lease.error();
    if (!options_.node.empty()) {
      auto r = state_.Put(NodeKey(), std::to_string(*lease));
      if (!r) return r.error();
    }
    std::lock_guard lock(lease_mu_);
    lease_ = *lease;
    return {};
  }

  // A new lease unless another thread already replaced `stale`.
  Status RenewIfStill(LeaseId stale) {
    std::lock_guard renew(renew_mu_);
    if (lease() != stale) return {};
    spdlog::warn("async: lease {} expired; in-flight claims of this node were released", stale);
    return Regrant();
  }

  void KeepLeaseAlive() {
    const auto period = std::chrono::milliseconds(options_.lease_ttl_s * 1000 / 3);
    std::unique_lock lock(lease_mu_);
    while (!lease_cv_.wait_for(lock, period, [this] { return stopping_; })) {
      const LeaseId lease = lease_;
      lock.unlock();
      auto st = state_.KeepAlive(lease);
      if (!st) {
        if (st.error().code == Errc::kNotFound) {
          if (auto renewed = RenewIfStill(lease); !renewed)
            spdlog::warn("async: new lease: {}", renewed.error().message);
        } else {
          spdlog::warn("async: keeping lease {} alive: {}", lease, st.error().message);
        }
      }
      lock.lock();
    }
  }

  std::shared_ptr<state::StateStore> owner_;
  state::StateStore& state_;
  const std::string acct_;  // /acct/<account>/
  const std::string a_;     // /acct/<account>/async/
  StateAsyncOptions options_;

  std::mutex id_mu_;
  int64_t next_id_ = 0, id_limit_ = 0;

  std::mutex renew_mu_;
  std::mutex lease_mu_;
  std::condition_variable lease_cv_;
  bool stopping_ = false;
  LeaseId lease_ = 0;
  std::thread keeper_;
};

bool TableExists(sqlite3* db, const char* name) {
  sqlite::Stmt s(db, "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?");
  s.Bind(1, name);
  return s.Step() == SQLITE_ROW;
}

bool HasColumn(sqlite3* db, const char* table, std::string_view column) {
  sqlite::Stmt s(db, (std::string("PRAGMA table_info(") + table + ")").c_str());
  while (s.Step() == SQLITE_ROW) {
    if (s.Text(1) == column) return true;
  }
  return false;
}

// Moves the rows of the old tables, oldest first, deleting each chunk from its table once it is in
// the state: a crash between the two moves that chunk again at the next start (a duplicate, never
// a loss: delivery is at least once anyway).
Result<int> MoveLegacy(sqlite3* db, StateAsyncStore& store) {
  int moved = 0;
  if (TableExists(db, "event_invoke_configs")) {
    sqlite::Stmt s(db,
                   "SELECT function, max_retry_attempts, max_event_age_s, on_success, on_failure,"
                   " last_modified_ms FROM event_invoke_configs");
    if (!s.ok()) return sqlite::DbError(db, "read legacy event invoke configs");
    while (s.Step() == SQLITE_ROW) {
      EventInvokeConfig c;
      c.function = s.Text(0);
      c.max_retry_attempts = static_cast<int>(s.Int(1));
      c.max_event_age_s = static_cast<int>(s.Int(2));
      c.on_success = s.Text(3);
      c.on_failure = s.Text(4);
      c.last_modified_ms = s.Int(5);
      auto st = store.PutConfig(c);
      if (!st && st.error().code != Errc::kNotFound) return st.error();  // kNotFound: fn gone
      if (st) ++moved;
    }
  }
  if (TableExists(db, "queues")) {
    sqlite::Stmt s(db, "SELECT name FROM queues");
    if (!s.ok()) return sqlite::DbError(db, "read legacy queues");
    while (s.Step() == SQLITE_ROW) {
      if (auto st = store.CreateQueue(s.Text(0)); !st) return st.error();
      ++moved;
    }
  }
  if (TableExists(db, "async_events")) {
    const std::string qualifier = HasColumn(db, "async_events", "qualifier") ? "qualifier" : "''";
    const std::string version = HasColumn(db, "async_events", "version") ? "version" : "''";
    const std::string open = HasColumn(db, "async_events", "attempt_open") ? "attempt_open" : "0";
    const std::string sql =
        "SELECT id, request_id, function, payload, enqueued_ms, next_attempt_ms, retries_used,"
        " invoke_count, hop, " +
        qualifier + ", " + version + ", " + open +
        " FROM async_events WHERE id > ? ORDER BY id LIMIT 32";
    int64_t after = 0;
    for (;;) {
      std::vector<AsyncEvent> chunk;
      {
        sqlite::Stmt s(db, sql.c_str());
        if (!s.ok()) return sqlite::DbError(db, "read legacy async events");
        s.Bind(1, after);
        while (s.Step() == SQLITE_ROW) {
          AsyncEvent& e = chunk.emplace_back();
          after = s.Int(0);
          e.request_id = s.Text(1);
          e.function = s.Text(2);
          e.payload = s.Text(3);
          e.enqueued_ms = s.Int(4);
          e.next_attempt_ms = s.Int(5);
          e.retries_used = static_cast<int>(s.Int(6));
          e.invoke_count = static_cast<int>(s.Int(7));
          e.hop = static_cast<int>(s.Int(8));
          e.qualifier = s.Text(9);
          e.version = s.Text(10);
          if (e.version.empty()) e.version = "$LATEST";
          e.attempt_interrupted = s.Int(11) != 0;  // written back as an open attempt
        }
      }
      if (chunk.empty()) break;
      for (auto& e : chunk) {
        auto id = store.AllocateId();
        if (!id) return id.error();
        e.id = *id;
      }
      if (auto st = store.WriteEvents(chunk, /*keep_open=*/true); !st) return st.error();
      sqlite::Stmt d(db, "DELETE FROM async_events WHERE id <= ?");
      d.Bind(1, after);
      if (d.Step() != SQLITE_DONE) return sqlite::DbError(db, "delete moved async events");
      moved += static_cast<int>(chunk.size());
    }
  }
  if (TableExists(db, "queue_messages")) {
    for (;;) {
      QueueMessage m;
      {
        sqlite::Stmt s(
            db,
            "SELECT id, queue, body, attributes, sent_ms FROM queue_messages ORDER BY id "
            "LIMIT 1");
        if (!s.ok()) return sqlite::DbError(db, "read legacy queue messages");
        if (s.Step() != SQLITE_ROW) break;
        m = QueueMessage{s.Int(0), s.Text(1), s.Text(2), s.Text(3), s.Int(4)};
      }
      if (auto st = store.SendMessage(m); !st) return st.error();
      sqlite::Stmt d(db, "DELETE FROM queue_messages WHERE id = ?");
      d.Bind(1, m.id);
      if (d.Step() != SQLITE_DONE) return sqlite::DbError(db, "delete moved queue message");
      ++moved;
    }
  }
  return moved;
}

}  // namespace

Result<std::unique_ptr<AsyncStore>> OpenStateAsyncStore(std::shared_ptr<state::StateStore> state,
                                                        std::string account,
                                                        StateAsyncOptions options) {
  auto store =
      std::make_unique<StateAsyncStore>(std::move(state), std::move(account), std::move(options));
  if (auto st = store->Init(); !st) return st.error();
  return std::unique_ptr<AsyncStore>(std::move(store));
}

}  // namespace alto

namespace alto {

Result<int> MigrateLegacyAsyncTables(const std::string& db_path,
                                     std::shared_ptr<state::StateStore> state,
                                     const std::string& account) {
  auto db = sqlite::Open(db_path);
  if (!db) return db.error();
  std::unique_ptr<sqlite3, decltype(&sqlite3_close_v2)> owner(*db, sqlite3_close_v2);
  if (!TableExists(*db, "async_events") && !TableExists(*db, "event_invoke_configs") &&
      !TableExists(*db, "queues") && !TableExists(*db, "queue_messages")) {
    return 0;
  }
  // A store without a lease (no Init): the move claims nothing.
  StateAsyncStore store(std::move(state), account, StateAsyncOptions{});
  auto moved = MoveLegacy(*db, store);
  if (!moved) {
    return MakeError(moved.error().code, "moving async events and queues into the state core: " +
                                             moved.error().message);
  }
  // Everything is in the state core (durably: each Txn is): the old tables can go.
  if (auto st = sqlite::Exec(*db,
                             "BEGIN IMMEDIATE;"
                             "DROP TABLE IF EXISTS async_events;"
                             "DROP TABLE IF EXISTS event_invoke_configs;"
                             "DROP TABLE IF EXISTS queues;"
                             "DROP TABLE IF EXISTS queue_messages;"
                             "COMMIT;");
      !st) {
    (void)sqlite::Exec(*db, "ROLLBACK");
    return st.error();
  }
  return *moved;
}

}  // namespace alto
