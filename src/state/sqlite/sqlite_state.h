// The SQLite backend of the state core: the embedded default, one file shared with the other
// SQLite stores (its tables are prefixed state_). It reproduces etcd's model in-process: a
// revision counter in state_meta, keys with their revisions in state_kv, a change log of recent
// revisions in state_log that watches from a past revision replay, and leases whose expiry is an
// absolute wall-clock time (so they survive a restart) in state_leases.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <cstdint>
#include <memory>
#include <string>

#include "common/result.h"
#include "common/time.h"
#include "state/state.h"

namespace alto::state {

struct SqliteStateOptions {
  Revision history = 100000;  // change-log revisions kept for watches
};

// The version of the state_ tables this build writes. A database with a newer one is refused
// rather than misread.
inline constexpr int64_t kSqliteStateSchemaVersion = 1;

class SqliteState final : public StateStore {
 public:
  class Impl;
  explicit SqliteState(std::shared_ptr<Impl> impl);
  // Stops the lease timer and every watch (waiting for a callback running on another thread).
  ~SqliteState() override;
  SqliteState(const SqliteState&) = delete;
  SqliteState& operator=(const SqliteState&) = delete;

  Result<KeyValue> Get(std::string_view key) override;
  Result<RangeResult> Range(std::string_view prefix, std::string_view start_after = {},
                            size_t limit = 0) override;
  Result<TxnResult> Txn(const std::vector<Compare>& compares, const std::vector<Op>& then,
                        const std::vector<Op>& otherwise = {}) override;
  Result<std::unique_ptr<WatchHandle>> Watch(std::string prefix, Revision from_revision,
                                             boost::asio::any_io_executor executor,
                                             std::function<void(WatchBatch)> on_batch) override;
  Result<LeaseId> GrantLease(int64_t ttl_seconds) override;
  Status KeepAlive(LeaseId lease) override;
  Status RevokeLease(LeaseId lease) override;
  Result<Revision> CurrentRevision() override;
  std::string Describe() const override;

  // Discards the change log before `revision` (etcd's compaction: that revision itself stays),
  // so a watch from an earlier revision resyncs. kInvalidArgument past the current revision.
  Status Compact(Revision revision);

 private:
  std::shared_ptr<Impl> impl_;
};

// Opens (creating or migrating) the state tables in the SQLite file at path. Expired leases are
// reaped at the start of every call and every 500 ms by a timer on timer_executor, whose
// execution context must outlive the store.
Result<std::unique_ptr<SqliteState>> OpenSqliteState(const std::string& path, const Clock& clock,
                                                     boost::asio::any_io_executor timer_executor,
                                                     SqliteStateOptions options = {});

}  // namespace alto::state
