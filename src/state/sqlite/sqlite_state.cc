#include "state/sqlite/sqlite_state.h"

#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <iterator>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

#include "store/sqlite_util.h"

namespace alto::state {

namespace {

using sqlite::Stmt;

constexpr int64_t kMaxLeaseTtlSeconds = 9'000'000'000;  // etcd's MaxLeaseTTL
constexpr auto kReapInterval = std::chrono::milliseconds(500);
// A replay is cut into batches of about this many events (never splitting a revision), so a
// watch from far back does not build one huge vector.
constexpr size_t kReplayBatchEvents = 1000;

// Each entry moves the state_ schema from version i to i + 1. Entries are only ever appended:
// a released database may be at any of them.
constexpr const char* kMigrations[] = {
    // 1: the initial schema. The log keeps, per revision, every event with what a put event
    // carries, so a replay is identical to what live watchers received.
    "CREATE TABLE state_kv ("
    "  key BLOB PRIMARY KEY, value BLOB NOT NULL, create_rev INTEGER NOT NULL,"
    "  mod_rev INTEGER NOT NULL, version INTEGER NOT NULL, lease INTEGER NOT NULL);"
    "CREATE INDEX state_kv_lease ON state_kv (lease) WHERE lease != 0;"
    "CREATE TABLE state_log ("
    "  revision INTEGER NOT NULL, idx INTEGER NOT NULL, type INTEGER NOT NULL,"
    "  key BLOB NOT NULL, value BLOB NOT NULL, create_rev INTEGER NOT NULL,"
    "  version INTEGER NOT NULL, lease INTEGER NOT NULL, PRIMARY KEY (revision, idx));"
    "CREATE TABLE state_leases ("
    "  id INTEGER PRIMARY KEY, ttl_ms INTEGER NOT NULL, expires_at INTEGER NOT NULL);"
    "CREATE INDEX state_leases_expiry ON state_leases (expires_at);"
    // An empty etcd is at revision 1, so the first write is 2 on both backends.
    "INSERT INTO state_meta (name, value) VALUES ('revision', 1), ('oldest_log_revision', 1);",
};
static_assert(std::size(kMigrations) == kSqliteStateSchemaVersion);

// Resets a cached statement when the scope ends: the next use starts clean, and a finished
// read does not hold its snapshot open.
class Use {
 public:
  explicit Use(Stmt& s) : s_(s) {}
  ~Use() { s_.Reset(); }
  Use(const Use&) = delete;
  Use& operator=(const Use&) = delete;
  Stmt* operator->() { return &s_; }

 private:
  Stmt& s_;
};

// Keys are always bound as BLOBs so SQLite orders them bytewise, as etcd does. An empty
// string_view may have a null data pointer, which SQLite would bind as NULL.
void BindKey(Use& s, int i, std::string_view key) {
  s->BindBlob(i, key.empty() ? std::string_view("", 0) : key);
}

bool HasPrefix(std::string_view key, std::string_view prefix) { return key.starts_with(prefix); }

Status ValidateOps(const std::vector<Op>& ops) {
  if (ops.size() > kMaxTxnOps) {
    return MakeError(Errc::kTooLarge, "transaction of " + std::to_string(ops.size()) +
                                          " operations is over the limit of " +
                                          std::to_string(kMaxTxnOps));
  }
  for (const Op& op : ops) {
    if (op.kind == Op::Kind::kDeletePrefix) {
      if (op.key.empty()) {
        return MakeError(Errc::kInvalidArgument, "deleting an empty prefix (everything)");
      }
      if (op.key.size() > kMaxKeyBytes) return ValidateKey(op.key);
      continue;
    }
    if (auto st = ValidateKey(op.key); !st) return st;
    if (op.kind == Op::Kind::kPut && op.value.size() > kMaxValueBytes) {
      return MakeError(Errc::kTooLarge, "state value of " + std::to_string(op.value.size()) +
                                            " bytes is over the limit of " +
                                            std::to_string(kMaxValueBytes));
    }
  }
  // etcd refuses a branch that writes a key twice ("duplicate key given in txn request"); so
  // does this backend, so that such a transaction fails the same way on both.
  for (size_t i = 0; i < ops.size(); ++i) {
    if (ops[i].kind != Op::Kind::kPut) continue;
    for (size_t j = 0; j < ops.size(); ++j) {
      if (i == j) continue;
      const Op& o = ops[j];
      bool clash =
          o.kind == Op::Kind::kDeletePrefix ? HasPrefix(ops[i].key, o.key) : o.key == ops[i].key;
      if (clash) {
        return MakeError(Errc::kInvalidArgument,
                         "transaction writes key " + ops[i].key + " more than once");
      }
    }
  }
  return {};
}

// One watch: its filter and a queue of batches delivered by posting to its executor, one
// callback at a time.
class Watcher : public std::enable_shared_from_this<Watcher> {
 public:
  Watcher(std::string prefix, Revision min_revision, boost::asio::any_io_executor executor,
          std::function<void(WatchBatch)> on_batch)
      : prefix_(std::move(prefix)),
        min_revision_(min_revision),
        executor_(std::move(executor)),
        on_batch_(std::move(on_batch)) {}

  const std::string& prefix() const { return prefix_; }
  Revision min_revision() const { return min_revision_; }

  void Push(WatchBatch batch) {
    std::lock_guard lock(mu_);
    if (stopped_) return;
    queue_.push_back(std::move(batch));
    if (!scheduled_) {
      scheduled_ = true;
      boost::asio::post(executor_, [self = shared_from_this()] { self->RunOne(); });
    }
  }

  // No callback starts after this returns, and none is still running, unless it is this
  // thread's own (a handle destroyed from inside its callback).
  void Stop() {
    std::unique_lock lock(mu_);
    stopped_ = true;
    queue_.clear();
    if (running_on_ == std::this_thread::get_id()) return;
    idle_.wait(lock, [&] { return running_on_ == std::thread::id(); });
  }

 private:
  // One batch per posted handler, so a busy watch does not monopolize its executor.
  void RunOne() {
    std::unique_lock lock(mu_);
    if (stopped_ || queue_.empty()) {
      scheduled_ = false;
      return;
    }
    WatchBatch batch = std::move(queue_.front());
    queue_.pop_front();
    running_on_ = std::this_thread::get_id();
    lock.unlock();
    on_batch_(std::move(batch));
    lock.lock();
    running_on_ = std::thread::id();
    idle_.notify_all();
    if (stopped_ || queue_.empty()) {
      scheduled_ = false;
      return;
    }
    boost::asio::post(executor_, [self = shared_from_this()] { self->RunOne(); });
  }

  const std::string prefix_;
  const Revision min_revision_;  // live events before it are not this watch's
  boost::asio::any_io_executor executor_;
  std::function<void(WatchBatch)> on_batch_;

  std::mutex mu_;
  std::condition_variable idle_;
  std::deque<WatchBatch> queue_;
  bool scheduled_ = false;  // a RunOne is posted or running
  bool stopped_ = false;
  std::thread::id running_on_;  // the thread inside on_batch_, if any
};

}  // namespace

class SqliteState::Impl : public std::enable_shared_from_this<SqliteState::Impl> {
 public:
  Impl(sqlite3* db, std::string path, const Clock& clock,
       boost::asio::any_io_executor timer_executor, SqliteStateOptions options)
      : db_(db),
        path_(std::move(path)),
        clock_(clock),
        options_(options),
        timer_(std::move(timer_executor)),
        rng_(std::random_device{}()) {}

  ~Impl() {
    stmts_.reset();  // finalized before the connection closes
    sqlite3_close_v2(db_);
  }

  Status Init() {
    if (auto st = Migrate(); !st) return st;
    stmts_ = std::make_unique<Stmts>(db_);
    if (auto st = stmts_->Check(db_); !st) return st;
    std::lock_guard lock(mu_);
    auto rev = ReadMeta("revision");
    if (!rev) return rev.error();
    auto oldest = ReadMeta("oldest_log_revision");
    if (!oldest) return oldest.error();
    revision_ = *rev;
    oldest_ = *oldest;
    return RefreshNextExpiry();
  }

  void StartTimer() {
    std::lock_guard lock(mu_);
    ArmTimer();
  }

  // Called once, by SqliteState's destructor.
  void Close() {
    std::map<uint64_t, std::shared_ptr<Watcher>> watchers;
    {
      std::lock_guard lock(mu_);
      closed_ = true;
      timer_.cancel();
      watchers.swap(watchers_);
    }
    for (auto& [id, w] : watchers) w->Stop();
  }

  void Unregister(uint64_t id) {
    std::lock_guard lock(mu_);
    watchers_.erase(id);
  }

  Result<KeyValue> Get(std::string_view key) {
    std::lock_guard lock(mu_);
    if (auto st = Enter(); !st) return st.error();
    auto kv = Lookup(key);
    if (!kv) return kv.error();
    if (!*kv) return MakeError(Errc::kNotFound, "state key not found: " + std::string(key));
    return std::move(**kv);
  }

  Result<RangeResult> Range(std::string_view prefix, std::string_view start_after, size_t limit) {
    std::lock_guard lock(mu_);
    if (auto st = Enter(); !st) return st.error();
    // "Strictly after start_after" is ">= start_after + NUL" in bytewise order.
    std::string from(prefix);
    if (!start_after.empty()) {
      std::string after = std::string(start_after) + '\0';
      if (after > from) from = std::move(after);
    }
    RangeResult out;
    out.revision = revision_;
    // One past the limit tells whether there are more; -1 is SQLite's "no limit".
    int64_t fetch = limit == 0 || limit >= static_cast<size_t>(std::numeric_limits<int64_t>::max())
                        ? -1
                        : static_cast<int64_t>(limit) + 1;
    auto rows = Scan(from, PrefixEnd(prefix), fetch, out.kvs);
    if (!rows) return rows.error();
    if (limit != 0 && out.kvs.size() > limit) {
      out.kvs.resize(limit);
      out.more = true;
    }
    return out;
  }

  Result<TxnResult> Txn(const std::vector<Compare>& compares, const std::vector<Op>& then,
                        const std::vector<Op>& otherwise) {
    if (compares.size() > kMaxTxnOps) {
      return MakeError(Errc::kTooLarge, "transaction of " + std::to_string(compares.size()) +
                                            " compares is over the limit of " +
                                            std::to_string(kMaxTxnOps));
    }
    for (const Compare& c : compares) {
      if (auto st = ValidateKey(c.key); !st) return st.error();
    }
    if (auto st = ValidateOps(then); !st) return st.error();
    if (auto st = ValidateOps(otherwise); !st) return st.error();
    if (auto st = ValidateTxnBytes(compares, then, otherwise); !st) return st.error();

    std::lock_guard lock(mu_);
    if (auto st = Enter(); !st) return st.error();
    sqlite::Tx tx(db_);
    if (!tx.ok()) return sqlite::DbError(db_, "begin state txn");
    TxnResult result;
    result.succeeded = true;
    for (const Compare& c : compares) {
      auto kv = Lookup(c.key);
      if (!kv) return kv.error();
      Revision mod = *kv ? (*kv)->mod_revision : 0;
      if (mod != c.mod_revision) {
        result.succeeded = false;
        break;
      }
    }
    const Revision rev = revision_ + 1;
    std::vector<Event> events;
    for (const Op& op : result.succeeded ? then : otherwise) {
      Status st;
      switch (op.kind) {
        case Op::Kind::kPut:
          st = ApplyPut(op, rev, events);
          break;
        case Op::Kind::kDelete:
          st = ApplyDelete(op.key, rev, events);
          break;
        case Op::Kind::kDeletePrefix:
          st = ApplyDeletePrefix(op.key, rev, events);
          break;
      }
      if (!st) return st.error();
    }
    if (auto st = CommitChange(tx, rev, events); !st) return st.error();
    result.revision = revision_;
    return result;
  }

  Result<std::unique_ptr<WatchHandle>> Watch(std::string prefix, Revision from_revision,
                                             boost::asio::any_io_executor executor,
                                             std::function<void(WatchBatch)> on_batch);

  Result<LeaseId> GrantLease(int64_t ttl_seconds) {
    if (ttl_seconds < 1 || ttl_seconds > kMaxLeaseTtlSeconds) {
      return MakeError(Errc::kInvalidArgument, "lease TTL must be 1 to " +
                                                   std::to_string(kMaxLeaseTtlSeconds) +
                                                   " seconds, not " + std::to_string(ttl_seconds));
    }
    std::lock_guard lock(mu_);
    if (auto st = Enter(); !st) return st.error();
    const int64_t ttl_ms = ttl_seconds * 1000;
    const int64_t expires_at = clock_.WallMillis() + ttl_ms;
    // Random like etcd's, so an id is not reused after a revoke, even across restarts.
    std::uniform_int_distribution<LeaseId> dist(1, std::numeric_limits<LeaseId>::max());
    for (int attempt = 0; attempt < 8; ++attempt) {
      LeaseId id = dist(rng_);
      auto existing = LeaseTtl(id);
      if (!existing) return existing.error();
      if (*existing) continue;
      Use s(stmts_->lease_insert);
      s->Bind(1, id);
      s->Bind(2, ttl_ms);
      s->Bind(3, expires_at);
      if (s->Step() != SQLITE_DONE) return sqlite::DbError(db_, "grant lease");
      next_expiry_ = std::min(next_expiry_, expires_at);
      return id;
    }
    return MakeError(Errc::kInternal, "no free lease id");
  }

  Status KeepAlive(LeaseId lease) {
    std::lock_guard lock(mu_);
    if (auto st = Enter(); !st) return st;
    auto ttl = LeaseTtl(lease);
    if (!ttl) return ttl.error();
    if (!*ttl) return LeaseNotFound(lease);
    Use s(stmts_->lease_extend);
    s->Bind(1, clock_.WallMillis() + **ttl);
    s->Bind(2, lease);
    if (s->Step() != SQLITE_DONE) return sqlite::DbError(db_, "keep lease alive");
    return RefreshNextExpiry();
  }

  Status RevokeLease(LeaseId lease) {
    std::lock_guard lock(mu_);
    if (auto st = Enter(); !st) return st;
    auto ttl = LeaseTtl(lease);
    if (!ttl) return ttl.error();
    if (!*ttl) return LeaseNotFound(lease);
    return DropLeases({lease});
  }

  Result<Revision> CurrentRevision() {
    std::lock_guard lock(mu_);
    if (auto st = Enter(); !st) return st.error();
    return revision_;
  }

  Status Compact(Revision revision) {
    std::lock_guard lock(mu_);
    if (auto st = Enter(); !st) return st;
    if (revision > revision_) {
      return MakeError(Errc::kInvalidArgument, "compacting revision " + std::to_string(revision) +
                                                   " past the current " +
                                                   std::to_string(revision_));
    }
    if (revision <= oldest_) return {};
    sqlite::Tx tx(db_);
    if (!tx.ok()) return sqlite::DbError(db_, "begin state compact");
    if (auto st = TrimLog(revision); !st) return st;
    if (auto st = Commit(tx); !st) return st;
    oldest_ = revision;
    return {};
  }

  const std::string& path() const { return path_; }

 private:
  // Every statement, prepared once at open.
  struct Stmts {
    explicit Stmts(sqlite3* db)
        : get(db, "SELECT value, create_rev, mod_rev, version, lease FROM state_kv WHERE key = ?1"),
          scan_to(db,
                  "SELECT key, value, create_rev, mod_rev, version, lease FROM state_kv "
                  "WHERE key >= ?1 AND key < ?2 ORDER BY key LIMIT ?3"),
          scan_from(db,
                    "SELECT key, value, create_rev, mod_rev, version, lease FROM state_kv "
                    "WHERE key >= ?1 ORDER BY key LIMIT ?2"),
          upsert(db,
                 "INSERT INTO state_kv (key, value, create_rev, mod_rev, version, lease) "
                 "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (key) DO UPDATE SET "
                 "value = excluded.value, create_rev = excluded.create_rev, "
                 "mod_rev = excluded.mod_rev, version = excluded.version, lease = excluded.lease"),
          remove(db, "DELETE FROM state_kv WHERE key = ?1"),
          lease_keys(db, "SELECT key FROM state_kv WHERE lease = ?1 ORDER BY key"),
          log_insert(db,
                     "INSERT INTO state_log (revision, idx, type, key, value, create_rev, version, "
                     "lease) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"),
          log_trim(db, "DELETE FROM state_log WHERE revision < ?1"),
          log_read(db,
                   "SELECT revision, type, key, value, create_rev, version, lease FROM state_log "
                   "WHERE revision >= ?1 AND substr(key, 1, ?3) = ?2 ORDER BY revision, idx"),
          meta_get(db, "SELECT value FROM state_meta WHERE name = ?1"),
          meta_set(db,
                   "INSERT INTO state_meta (name, value) VALUES (?1, ?2) "
                   "ON CONFLICT (name) DO UPDATE SET value = excluded.value"),
          lease_get(db, "SELECT ttl_ms, expires_at FROM state_leases WHERE id = ?1"),
          lease_insert(db, "INSERT INTO state_leases (id, ttl_ms, expires_at) VALUES (?1, ?2, ?3)"),
          lease_extend(db, "UPDATE state_leases SET expires_at = ?1 WHERE id = ?2"),
          lease_delete(db, "DELETE FROM state_leases WHERE id = ?1"),
          lease_expired(db, "SELECT id FROM state_leases WHERE expires_at <= ?1 ORDER BY id"),
          lease_next(db,
                     "SELECT COALESCE(MIN(expires_at), 9223372036854775807) FROM state_leases") {}

    Status Check(sqlite3* db) const {
      for (const Stmt* s : {&get, &scan_to, &scan_from, &upsert, &remove, &lease_keys, &log_insert,
                            &log_trim, &log_read, &meta_get, &meta_set, &lease_get, &lease_insert,
                            &lease_extend, &lease_delete, &lease_expired, &lease_next}) {
        if (!s->ok()) return sqlite::DbError(db, "prepare state statement");
      }
      return {};
    }

    Stmt get, scan_to, scan_from, upsert, remove, lease_keys, log_insert, log_trim, log_read,
        meta_get, meta_set, lease_get, lease_insert, lease_extend, lease_delete, lease_expired,
        lease_next;
  };

  // Creates or upgrades the state_ tables, all or nothing.
  Status Migrate() {
    sqlite::Tx tx(db_);
    if (!tx.ok()) return sqlite::DbError(db_, "begin state migration");
    if (auto st = sqlite::Exec(db_,
                               "CREATE TABLE IF NOT EXISTS state_meta ("
                               "  name TEXT PRIMARY KEY, value INTEGER NOT NULL)");
        !st) {
      return st;
    }
    int64_t version = 0;
    {
      Stmt s(db_, "SELECT value FROM state_meta WHERE name = 'schema_version'");
      if (!s.ok()) return sqlite::DbError(db_, "prepare schema version");
      if (s.Step() == SQLITE_ROW) version = s.Int(0);
    }
    if (version > kSqliteStateSchemaVersion) {
      return MakeError(Errc::kUnsupported,
                       "state schema version " + std::to_string(version) + " in " + path_ +
                           " is newer than this build knows (" +
                           std::to_string(kSqliteStateSchemaVersion) + "): run a newer alto");
    }
    for (int64_t v = version; v < kSqliteStateSchemaVersion; ++v) {
      if (auto st = sqlite::Exec(db_, kMigrations[v]); !st) {
        return MakeError(Errc::kInternal, "state schema migration to version " +
                                              std::to_string(v + 1) + ": " + st.error().message);
      }
    }
    if (version != kSqliteStateSchemaVersion) {
      Stmt s(db_, "INSERT OR REPLACE INTO state_meta (name, value) VALUES ('schema_version', ?)");
      if (!s.ok()) return sqlite::DbError(db_, "prepare schema version");
      s.Bind(1, kSqliteStateSchemaVersion);
      if (s.Step() != SQLITE_DONE) return sqlite::DbError(db_, "write schema version");
    }
    return Commit(tx);
  }

  // The start of every call: refuse after close, then reap the leases that ran out, so the call
  // sees the store as the clock says it is.
  Status Enter() {
    if (closed_) return MakeError(Errc::kUnavailable, "state store is closed");
    return ReapLocked();
  }

  Status ReapLocked() {
    const int64_t now = clock_.WallMillis();
    if (now < next_expiry_) return {};
    std::vector<LeaseId> expired;
    {
      Use s(stmts_->lease_expired);
      s->Bind(1, now);
      int rc;
      while ((rc = s->Step()) == SQLITE_ROW) expired.push_back(s->Int(0));
      if (rc != SQLITE_DONE) return sqlite::DbError(db_, "read expired leases");
    }
    if (expired.empty()) return RefreshNextExpiry();
    return DropLeases(expired);
  }

  // Deletes leases and their keys in one transaction, raising the revision if any key goes.
  Status DropLeases(const std::vector<LeaseId>& leases) {
    sqlite::Tx tx(db_);
    if (!tx.ok()) return sqlite::DbError(db_, "begin lease drop");
    std::vector<std::string> keys;
    for (LeaseId lease : leases) {
      Use s(stmts_->lease_keys);
      s->Bind(1, lease);
      int rc;
      while ((rc = s->Step()) == SQLITE_ROW) keys.push_back(s->Text(0));
      if (rc != SQLITE_DONE) return sqlite::DbError(db_, "read lease keys");
    }
    std::sort(keys.begin(), keys.end());
    const Revision rev = revision_ + 1;
    std::vector<Event> events;
    for (const std::string& key : keys) {
      if (auto st = ApplyDelete(key, rev, events); !st) return st;
    }
    for (LeaseId lease : leases) {
      Use s(stmts_->lease_delete);
      s->Bind(1, lease);
      if (s->Step() != SQLITE_DONE) return sqlite::DbError(db_, "delete lease");
    }
    if (auto st = CommitChange(tx, rev, events); !st) return st;
    return RefreshNextExpiry();
  }

  Status RefreshNextExpiry() {
    Use s(stmts_->lease_next);
    if (s->Step() != SQLITE_ROW) return sqlite::DbError(db_, "read next lease expiry");
    next_expiry_ = s->Int(0);
    return {};
  }

  // The lease's TTL in ms, or nullopt when it does not exist or has run out.
  Result<std::optional<int64_t>> LeaseTtl(LeaseId lease) {
    Use s(stmts_->lease_get);
    s->Bind(1, lease);
    int rc = s->Step();
    if (rc == SQLITE_DONE) return std::optional<int64_t>();
    if (rc != SQLITE_ROW) return sqlite::DbError(db_, "read lease");
    if (s->Int(1) <= clock_.WallMillis()) return std::optional<int64_t>();
    return std::optional<int64_t>(s->Int(0));
  }

  static Error LeaseNotFound(LeaseId lease) {
    return MakeError(Errc::kNotFound, "lease " + std::to_string(lease) + " not found or expired");
  }

  Result<std::optional<KeyValue>> Lookup(std::string_view key) {
    Use s(stmts_->get);
    BindKey(s, 1, key);
    int rc = s->Step();
    if (rc == SQLITE_DONE) return std::optional<KeyValue>();
    if (rc != SQLITE_ROW) return sqlite::DbError(db_, "read state key");
    return std::optional<KeyValue>(
        KeyValue{std::string(key), s->Text(0), s->Int(1), s->Int(2), s->Int(3), s->Int(4)});
  }

  // Appends the keys in [from, end) (end "" = unbounded), at most limit (-1: all), to out.
  Status Scan(std::string_view from, std::string_view end, int64_t limit,
              std::vector<KeyValue>& out) {
    Use s(end.empty() ? stmts_->scan_from : stmts_->scan_to);
    BindKey(s, 1, from);
    if (end.empty()) {
      s->Bind(2, limit);
    } else {
      BindKey(s, 2, end);
      s->Bind(3, limit);
    }
    int rc;
    while ((rc = s->Step()) == SQLITE_ROW) {
      out.push_back(KeyValue{s->Text(0), s->Text(1), s->Int(2), s->Int(3), s->Int(4), s->Int(5)});
    }
    if (rc != SQLITE_DONE) return sqlite::DbError(db_, "scan state keys");
    return {};
  }

  Status ApplyPut(const Op& op, Revision rev, std::vector<Event>& events) {
    if (op.lease != 0) {
      auto ttl = LeaseTtl(op.lease);
      if (!ttl) return ttl.error();
      if (!*ttl) return LeaseNotFound(op.lease);
    }
    auto old = Lookup(op.key);
    if (!old) return old.error();
    KeyValue kv{op.key,
                op.value,
                *old ? (*old)->create_revision : rev,
                rev,
                *old ? (*old)->version + 1 : 1,
                op.lease};
    Use s(stmts_->upsert);
    BindKey(s, 1, kv.key);
    s->BindBlob(2, kv.value.empty() ? std::string_view("", 0) : std::string_view(kv.value));
    s->Bind(3, kv.create_revision);
    s->Bind(4, kv.mod_revision);
    s->Bind(5, kv.version);
    s->Bind(6, kv.lease);
    if (s->Step() != SQLITE_DONE) return sqlite::DbError(db_, "write state key");
    events.push_back(Event{Event::Type::kPut, std::move(kv)});
    return {};
  }

  // Deleting an absent key changes nothing and makes no event.
  Status ApplyDelete(const std::string& key, Revision rev, std::vector<Event>& events) {
    Use s(stmts_->remove);
    BindKey(s, 1, key);
    if (s->Step() != SQLITE_DONE) return sqlite::DbError(db_, "delete state key");
    if (sqlite3_changes(db_) == 0) return {};
    Event e;
    e.type = Event::Type::kDelete;
    e.kv.key = key;
    e.kv.mod_revision = rev;
    events.push_back(std::move(e));
    return {};
  }

  Status ApplyDeletePrefix(const std::string& prefix, Revision rev, std::vector<Event>& events) {
    std::vector<KeyValue> kvs;
    if (auto st = Scan(prefix, PrefixEnd(prefix), -1, kvs); !st) return st;
    for (const KeyValue& kv : kvs) {
      if (auto st = ApplyDelete(kv.key, rev, events); !st) return st;
    }
    return {};
  }

  Status Commit(sqlite::Tx& tx) {
    if (auto st = tx.Commit(); !st) {
      // A failed COMMIT can leave the transaction open; end it so the connection stays usable.
      (void)sqlite::Exec(db_, "ROLLBACK");
      return st;
    }
    return {};
  }

  // Ends a writing transaction: with no events nothing changed, so it rolls back and the
  // revision stays; otherwise it logs the events at rev, moves the counter, trims the log,
  // commits and hands the events to the watchers.
  Status CommitChange(sqlite::Tx& tx, Revision rev, std::vector<Event>& events) {
    if (events.empty()) return Commit(tx);  // may hold lease deletions
    for (size_t i = 0; i < events.size(); ++i) {
      const KeyValue& kv = events[i].kv;
      Use s(stmts_->log_insert);
      s->Bind(1, rev);
      s->Bind(2, static_cast<int64_t>(i));
      s->Bind(3, static_cast<int64_t>(events[i].type == Event::Type::kPut ? 0 : 1));
      BindKey(s, 4, kv.key);
      s->BindBlob(5, kv.value.empty() ? std::string_view("", 0) : std::string_view(kv.value));
      s->Bind(6, kv.create_revision);
      s->Bind(7, kv.version);
      s->Bind(8, kv.lease);
      if (s->Step() != SQLITE_DONE) return sqlite::DbError(db_, "write state log");
    }
    if (auto st = WriteMeta("revision", rev); !st) return st;
    const Revision oldest = std::max(oldest_, rev - options_.history + 1);
    if (oldest != oldest_) {
      if (auto st = TrimLog(oldest); !st) return st;
    }
    if (auto st = Commit(tx); !st) return st;
    revision_ = rev;
    oldest_ = oldest;
    Dispatch(rev, events);
    return {};
  }

  Status TrimLog(Revision oldest) {
    {
      Use s(stmts_->log_trim);
      s->Bind(1, oldest);
      if (s->Step() != SQLITE_DONE) return sqlite::DbError(db_, "trim state log");
    }
    return WriteMeta("oldest_log_revision", oldest);
  }

  Result<int64_t> ReadMeta(const char* name) {
    Use s(stmts_->meta_get);
    s->Bind(1, std::string_view(name));
    if (s->Step() != SQLITE_ROW) return sqlite::DbError(db_, "read state meta");
    return s->Int(0);
  }

  Status WriteMeta(const char* name, int64_t value) {
    Use s(stmts_->meta_set);
    s->Bind(1, std::string_view(name));
    s->Bind(2, value);
    if (s->Step() != SQLITE_DONE) return sqlite::DbError(db_, "write state meta");
    return {};
  }

  // Under mu_, right after the commit: watchers see revisions in commit order.
  void Dispatch(Revision rev, const std::vector<Event>& events) {
    for (auto& [id, w] : watchers_) {
      if (rev < w->min_revision()) continue;
      WatchBatch batch;
      batch.revision = rev;
      for (const Event& e : events) {
        if (HasPrefix(e.kv.key, w->prefix())) batch.events.push_back(e);
      }
      if (!batch.events.empty()) w->Push(std::move(batch));
    }
  }

  // Queues the log's events under prefix from `from` on, in batches.
  Status Replay(Watcher& w, Revision from) {
    Use s(stmts_->log_read);
    s->Bind(1, from);
    BindKey(s, 2, w.prefix());
    s->Bind(3, static_cast<int64_t>(w.prefix().size()));
    WatchBatch batch;
    int rc;
    while ((rc = s->Step()) == SQLITE_ROW) {
      Revision rev = s->Int(0);
      if (batch.events.size() >= kReplayBatchEvents && rev != batch.revision) {
        w.Push(std::move(batch));
        batch = WatchBatch();
      }
      Event e;
      e.type = s->Int(1) == 0 ? Event::Type::kPut : Event::Type::kDelete;
      e.kv.key = s->Text(2);
      e.kv.mod_revision = rev;
      if (e.type == Event::Type::kPut) {
        e.kv.value = s->Text(3);
        e.kv.create_revision = s->Int(4);
        e.kv.version = s->Int(5);
        e.kv.lease = s->Int(6);
      }
      batch.revision = rev;
      batch.events.push_back(std::move(e));
    }
    if (rc != SQLITE_DONE) return sqlite::DbError(db_, "read state log");
    if (!batch.events.empty()) w.Push(std::move(batch));
    return {};
  }

  void ArmTimer() {
    timer_.expires_after(kReapInterval);
    timer_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
      if (ec) return;
      auto self = weak.lock();
      if (!self) return;
      std::lock_guard lock(self->mu_);
      if (self->closed_) return;
      if (auto st = self->ReapLocked(); !st) {
        spdlog::warn("state {}: reaping expired leases: {}", self->path_, st.error().message);
      }
      self->ArmTimer();
    });
  }

  sqlite3* const db_;
  const std::string path_;
  const Clock& clock_;
  const SqliteStateOptions options_;

  // One connection, one writer: every call holds mu_ for its whole transaction, and watch
  // registration takes it too, so a watch sees each commit either in its replay or live.
  std::mutex mu_;
  std::unique_ptr<Stmts> stmts_;
  bool closed_ = false;
  Revision revision_ = 1;
  Revision oldest_ = 1;  // the log holds every event of the revisions from here on
  int64_t next_expiry_ = std::numeric_limits<int64_t>::max();  // earliest lease expiry
  std::map<uint64_t, std::shared_ptr<Watcher>> watchers_;
  uint64_t next_watch_id_ = 1;
  boost::asio::steady_timer timer_;  // touched under mu_ only
  std::mt19937_64 rng_;
};

namespace {

class SqliteWatchHandle final : public WatchHandle {
 public:
  SqliteWatchHandle(std::weak_ptr<SqliteState::Impl> impl, uint64_t id,
                    std::shared_ptr<Watcher> watcher)
      : impl_(std::move(impl)), id_(id), watcher_(std::move(watcher)) {}
  ~SqliteWatchHandle() override {
    if (auto impl = impl_.lock()) impl->Unregister(id_);
    watcher_->Stop();
  }

 private:
  std::weak_ptr<SqliteState::Impl> impl_;
  uint64_t id_;
  std::shared_ptr<Watcher> watcher_;
};

}  // namespace

Result<std::unique_ptr<WatchHandle>> SqliteState::Impl::Watch(
    std::string prefix, Revision from_revision, boost::asio::any_io_executor executor,
    std::function<void(WatchBatch)> on_batch) {
  if (from_revision < 0) {
    return MakeError(Errc::kInvalidArgument,
                     "watch from negative revision " + std::to_string(from_revision));
  }
  if (!executor || !on_batch) {
    return MakeError(Errc::kInvalidArgument, "watch needs an executor and a callback");
  }
  std::lock_guard lock(mu_);
  if (auto st = Enter(); !st) return st.error();
  const Revision live_from =
      from_revision > revision_ ? from_revision : revision_ + 1;  // 0 lands here too
  auto w = std::make_shared<Watcher>(std::move(prefix), live_from, std::move(executor),
                                     std::move(on_batch));
  if (from_revision != 0 && from_revision <= revision_) {
    if (from_revision >= oldest_) {
      if (auto st = Replay(*w, from_revision); !st) return st.error();
    } else {
      WatchBatch batch;
      batch.resync = true;
      batch.revision = revision_;
      std::vector<KeyValue> kvs;
      if (auto st = Scan(w->prefix(), PrefixEnd(w->prefix()), -1, kvs); !st) return st.error();
      for (KeyValue& kv : kvs) batch.events.push_back(Event{Event::Type::kPut, std::move(kv)});
      w->Push(std::move(batch));
    }
  }
  uint64_t id = next_watch_id_++;
  watchers_.emplace(id, w);
  return std::unique_ptr<WatchHandle>(
      std::make_unique<SqliteWatchHandle>(weak_from_this(), id, std::move(w)));
}

SqliteState::SqliteState(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
SqliteState::~SqliteState() { impl_->Close(); }

Result<KeyValue> SqliteState::Get(std::string_view key) { return impl_->Get(key); }
Result<RangeResult> SqliteState::Range(std::string_view prefix, std::string_view start_after,
                                       size_t limit) {
  return impl_->Range(prefix, start_after, limit);
}
Result<TxnResult> SqliteState::Txn(const std::vector<Compare>& compares,
                                   const std::vector<Op>& then, const std::vector<Op>& otherwise) {
  return impl_->Txn(compares, then, otherwise);
}
Result<std::unique_ptr<WatchHandle>> SqliteState::Watch(std::string prefix, Revision from_revision,
                                                        boost::asio::any_io_executor executor,
                                                        std::function<void(WatchBatch)> on_batch) {
  return impl_->Watch(std::move(prefix), from_revision, std::move(executor), std::move(on_batch));
}
Result<LeaseId> SqliteState::GrantLease(int64_t ttl_seconds) {
  return impl_->GrantLease(ttl_seconds);
}
Status SqliteState::KeepAlive(LeaseId lease) { return impl_->KeepAlive(lease); }
Status SqliteState::RevokeLease(LeaseId lease) { return impl_->RevokeLease(lease); }
Result<Revision> SqliteState::CurrentRevision() { return impl_->CurrentRevision(); }
std::string SqliteState::Describe() const { return "sqlite:" + impl_->path(); }
Status SqliteState::Compact(Revision revision) { return impl_->Compact(revision); }

Result<std::unique_ptr<SqliteState>> OpenSqliteState(const std::string& path, const Clock& clock,
                                                     boost::asio::any_io_executor timer_executor,
                                                     SqliteStateOptions options) {
  if (options.history < 1) {
    return MakeError(Errc::kInvalidArgument, "state history must keep at least one revision");
  }
  auto db = sqlite::Open(path);
  if (!db) return db.error();
  auto impl =
      std::make_shared<SqliteState::Impl>(*db, path, clock, std::move(timer_executor), options);
  if (auto st = impl->Init(); !st) return st.error();
  impl->StartTimer();
  return std::make_unique<SqliteState>(std::move(impl));
}

}  // namespace alto::state
