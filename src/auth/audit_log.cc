// The audit log on the state core, so that every node of a cluster appends to one log and
// `alto audit` on any node reads all of it.
//
// Layout: /audit/seq holds the last sequence number; entry n is /audit/e/<n / kBucket>/<n>, both
// zero-padded so key order is sequence order. An append bumps the counter and writes the entry in
// one transaction that compares the counter's revision (nodes appending at once retry, and no
// two entries get one number). Retention is by whole buckets: the append that opens a bucket
// deletes the bucket kKeptBuckets back, so the newest 100,000 or so entries are kept and etcd's
// keyspace stays bounded.
#include "auth/audit_log.h"

#include <charconv>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "common/json.h"
#include "state/state.h"

namespace alto::auth {

namespace {

using state::Compare;
using state::Op;

constexpr std::string_view kSeqKey = "/audit/seq";
constexpr std::string_view kEntriesPrefix = "/audit/e/";
constexpr int64_t kBucket = 10'000;
constexpr int64_t kKeptBuckets = 10;
constexpr int kMaxAttempts = 200;
// A read scans at most this many entries for one page (filters may skip most of them); the
// caller continues from NextAfter.
constexpr size_t kMaxScan = 20'000;

std::string BucketPrefix(int64_t bucket) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%08lld/", static_cast<long long>(bucket));
  return std::string(kEntriesPrefix) + buf;
}

std::string EntryKey(int64_t seq) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%016lld", static_cast<long long>(seq));
  return BucketPrefix(seq / kBucket) + buf;
}

int64_t ParseSeq(std::string_view text) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  return ec == std::errc() && p == text.data() + text.size() && v >= 0 ? v : -1;
}

int64_t SeqOf(std::string_view key) { return ParseSeq(key.substr(key.rfind('/') + 1)); }

std::string Encode(const AuditEntry& e) {
  return DumpJson(nlohmann::json{{"t", e.time_ms},
                                 {"account", e.account_id},
                                 {"key", e.access_key_id},
                                 {"action", e.action},
                                 {"resource", e.resource},
                                 {"source", e.source_ip},
                                 {"status", e.status},
                                 {"error", e.error_type}});
}

std::optional<AuditEntry> Decode(int64_t seq, std::string_view text) {
  auto j = ParseJson(text, kApiJsonDepth);
  if (!j || !j->is_object()) return std::nullopt;
  AuditEntry e;
  e.seq = seq;
  e.time_ms = j->value("t", int64_t{0});
  e.account_id = j->value("account", "");
  e.access_key_id = j->value("key", "");
  e.action = j->value("action", "");
  e.resource = j->value("resource", "");
  e.source_ip = j->value("source", "");
  e.status = j->value("status", 0);
  e.error_type = j->value("error", "");
  return e;
}

class StateAuditLog final : public AuditLog {
 public:
  explicit StateAuditLog(std::shared_ptr<state::StateStore> state) : state_(std::move(state)) {}

  Status Append(const AuditEntry& e) override {
    auto r = AppendBatch({e}, {});
    if (!r) return r.error();
    return {};
  }

  Result<int64_t> AppendBatch(const std::vector<AuditEntry>& entries,
                              const std::vector<Op>& extra) override {
    for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
      int64_t last = 0;
      state::Revision seq_revision = 0;
      auto current = state_->Get(kSeqKey);
      if (current) {
        last = ParseSeq(current->value);
        if (last < 0) return MakeError(Errc::kInternal, "the audit log's counter is corrupt");
        seq_revision = current->mod_revision;
      } else if (current.error().code != Errc::kNotFound) {
        return current.error();
      }
      std::vector<Op> ops = extra;
      int64_t seq = last;
      for (const auto& e : entries) {
        ++seq;
        ops.push_back(Op::Put(EntryKey(seq), Encode(e)));
        // Opening a bucket retires the oldest kept one.
        if (seq % kBucket == 0 && seq / kBucket >= kKeptBuckets)
          ops.push_back(Op::DeletePrefix(BucketPrefix(seq / kBucket - kKeptBuckets)));
      }
      ops.push_back(Op::Put(std::string(kSeqKey), std::to_string(seq)));
      auto r = state_->Txn({Compare{std::string(kSeqKey), seq_revision}}, ops);
      if (!r) return r.error();
      if (r->succeeded) return seq;
    }
    return MakeError(Errc::kUnavailable, "the audit log is too busy to append; retry");
  }

  Result<AuditPage> Read(const AuditQuery& q) const override {
    AuditPage result;
    std::string after = q.after_seq > 0 ? EntryKey(q.after_seq) : std::string();
    size_t scanned = 0;
    while (true) {
      auto page = state_->Range(kEntriesPrefix, after, 500);
      if (!page) return page.error();
      for (const auto& kv : page->kvs) {
        ++scanned;
        after = kv.key;
        const int64_t seq = SeqOf(kv.key);
        auto e = seq < 0 ? std::nullopt : Decode(seq, kv.value);
        if (e && e->time_ms >= q.since_ms &&
            (q.account_id.empty() || e->account_id == q.account_id))
          result.entries.push_back(std::move(*e));
        // At the limit, or the scan bound: the caller continues after the last entry looked at.
        if (result.entries.size() >= q.limit || scanned >= kMaxScan) {
          result.next_after = seq;
          return result;
        }
      }
      if (!page->more) return result;
    }
  }

 private:
  std::shared_ptr<state::StateStore> state_;
};

}  // namespace

std::unique_ptr<AuditLog> OpenStateAuditLog(std::shared_ptr<state::StateStore> state) {
  return std::make_unique<StateAuditLog>(std::move(state));
}

}  // namespace alto::auth
