// The state core: a small key-value store with revisions, the one place where Alto's control-plane
// state lives. Typed resource stores (functions, versions, aliases, URLs, configs, accounts) sit on
// top of it; nodes watch it and react. Two backends with identical semantics, proven by one
// contract test suite (tests/unit/state/): SQLite, the embedded default (src/state/sqlite/), and
// etcd v3 for clusters (src/state/etcd/). The model is etcd's, so the etcd backend is a thin
// translation and the SQLite backend reproduces it:
//   - one revision counter for the whole store, raised by every write transaction that changes
//     something; each key remembers the revision that created it and the one that last changed it;
//   - a transaction compares keys' modification revisions and then applies puts and deletes
//     atomically (optimistic concurrency: read, compute, Txn with compares, retry on failure);
//   - a watch delivers every change under a prefix after a given revision, in revision order;
//   - a lease is a TTL that ephemeral keys are attached to: when it is not kept alive, it expires
//     and its keys are deleted (with delete events to watchers).
// Reads, writes and lease calls block: callers on an I/O thread run them on the blocking pool.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace alto::state {

using Revision = int64_t;
using LeaseId = int64_t;

// Limits both backends enforce (kTooLarge), equal to etcd's defaults so that a state that works
// on SQLite also works on etcd: keys up to 1 KiB of printable ASCII, values up to 1 MiB (etcd
// refuses requests over 1.5 MiB), at most 128 operations in one transaction.
inline constexpr size_t kMaxKeyBytes = 1024;
inline constexpr size_t kMaxValueBytes = 1024 * 1024;
inline constexpr size_t kMaxTxnOps = 128;  // each of compares, then and otherwise, as etcd counts
// Keys and values of one transaction together: etcd refuses a request over 1.5 MiB, so two
// values of 1 MiB each cannot go in one transaction on either backend.
inline constexpr size_t kMaxTxnBytes = 1024 * 1024 + 256 * 1024;

struct KeyValue {
  std::string key;
  std::string value;
  Revision create_revision = 0;
  Revision mod_revision = 0;
  int64_t version = 0;  // 1 at creation, +1 on each put since
  LeaseId lease = 0;    // 0: none
};

struct RangeResult {
  std::vector<KeyValue> kvs;  // in key order (bytewise)
  bool more = false;          // more keys matched past the limit
  Revision revision = 0;      // the store's revision the read was served at
};

// A condition of a transaction: the key's modification revision equals mod_revision, with 0
// meaning "the key does not exist".
struct Compare {
  std::string key;
  Revision mod_revision = 0;
};

struct Op {
  enum class Kind { kPut, kDelete, kDeletePrefix };
  Kind kind = Kind::kPut;
  std::string key;  // the prefix for kDeletePrefix (never empty: deleting everything is refused)
  std::string value;
  LeaseId lease = 0;  // kPut only; 0: the key outlives every lease

  static Op Put(std::string key, std::string value, LeaseId lease = 0) {
    return Op{Kind::kPut, std::move(key), std::move(value), lease};
  }
  static Op Delete(std::string key) { return Op{Kind::kDelete, std::move(key), {}, 0}; }
  static Op DeletePrefix(std::string prefix) {
    return Op{Kind::kDeletePrefix, std::move(prefix), {}, 0};
  }
};

struct TxnResult {
  bool succeeded = false;  // every compare held, so `then` was applied (else `otherwise`)
  Revision revision = 0;   // the store's revision after the transaction
};

struct Event {
  enum class Type { kPut, kDelete };
  Type type = Type::kPut;
  KeyValue kv;  // for a delete: the key and the deleting revision as mod_revision, no value
};

// What a watch callback receives: the changes of one or more revisions, in order. resync: the
// watch could not resume from where it was (the revision was compacted away, on etcd or in the
// SQLite change log), so `events` is instead every key under the prefix now, as puts, and the
// consumer must replace whatever it derived from earlier events.
struct WatchBatch {
  std::vector<Event> events;
  Revision revision = 0;  // the newest revision this batch covers
  bool resync = false;
};

// Destroying it stops the watch: no callback runs after the destructor returns.
class WatchHandle {
 public:
  virtual ~WatchHandle() = default;
};

class StateStore {
 public:
  virtual ~StateStore() = default;

  // kNotFound when the key is absent.
  virtual Result<KeyValue> Get(std::string_view key) = 0;
  // Keys that start with prefix and sort strictly after start_after (empty: from the first), at
  // most limit of them (0: no limit), in key order.
  virtual Result<RangeResult> Range(std::string_view prefix, std::string_view start_after = {},
                                    size_t limit = 0) = 0;
  // If every compare holds, applies `then`, else `otherwise`, atomically and durably (on disk, or
  // on an etcd quorum, before it returns). A transaction that changes nothing does not raise the
  // revision. kInvalidArgument for an empty key or prefix, kTooLarge past the limits above,
  // kNotFound when a put names a lease that does not exist (or expired), kUnavailable when the
  // backend cannot be reached: then the transaction may or may not have been applied (etcd may
  // have committed a write whose answer was lost), so a caller retrying it must re-read first,
  // as the optimistic read-compare-write loops of the typed stores do.
  virtual Result<TxnResult> Txn(const std::vector<Compare>& compares, const std::vector<Op>& then,
                                const std::vector<Op>& otherwise = {}) = 0;
  // An unconditional single put or delete.
  Result<TxnResult> Put(std::string key, std::string value, LeaseId lease = 0) {
    return Txn({}, {Op::Put(std::move(key), std::move(value), lease)});
  }
  Result<TxnResult> Delete(std::string key) { return Txn({}, {Op::Delete(std::move(key))}); }

  // Every change under prefix with a revision >= from_revision (0: from now on, i.e. the next
  // revision), delivered in order by posting `on_batch` to `executor`; one callback at a time.
  // The watch resumes by itself after a lost connection, from the last revision delivered.
  virtual Result<std::unique_ptr<WatchHandle>> Watch(std::string prefix, Revision from_revision,
                                                     boost::asio::any_io_executor executor,
                                                     std::function<void(WatchBatch)> on_batch) = 0;

  // A lease of ttl_seconds (at least 1): kept while KeepAlive is called within each TTL.
  virtual Result<LeaseId> GrantLease(int64_t ttl_seconds) = 0;
  // kNotFound when the lease expired or was revoked: its keys are gone.
  virtual Status KeepAlive(LeaseId lease) = 0;
  // Deletes the lease's keys now. kNotFound when it no longer exists.
  virtual Status RevokeLease(LeaseId lease) = 0;

  // The store's current revision.
  virtual Result<Revision> CurrentRevision() = 0;
  // A description for logs and errors: "sqlite:/var/lib/alto/state.db", "etcd://h1:2379,h2:2379".
  virtual std::string Describe() const = 0;
};

// The smallest key that sorts after every key starting with prefix ("" when there is none): the
// end of a prefix range, as etcd's range_end.
std::string PrefixEnd(std::string_view prefix);

// Checks a key against the limits both backends share.
Status ValidateKey(std::string_view key);
// kTooLarge when the keys and values of a transaction's branches pass kMaxTxnBytes.
Status ValidateTxnBytes(const std::vector<Compare>& compares, const std::vector<Op>& then,
                        const std::vector<Op>& otherwise);

}  // namespace alto::state
