#include "cli/backup.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "alto_version.h"
#include "common/encoding.h"
#include "common/json.h"
#include "common/time.h"
#include "state/sqlite/sqlite_state.h"
#include "store/code_store.h"
#include "store/sqlite_util.h"

namespace alto::cli {

namespace fs = std::filesystem;

namespace {

constexpr const char* kDatabase = "alto.db";
constexpr const char* kSecretKey = "secret.key";
constexpr const char* kCredentials = "credentials";
constexpr const char* kCodeDir = "code";
constexpr size_t kChunk = 1 << 20;

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  bool ok() const { return fd_ >= 0; }
  // Closes now, reporting what close(2) says (a deferred write error shows up here).
  Status Close(const fs::path& path) {
    int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) return SysError("close " + path.string());
    return {};
  }

 private:
  int fd_;
};

class Sha256Stream {
 public:
  Sha256Stream() : ctx_(EVP_MD_CTX_new(), EVP_MD_CTX_free) {
    EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr);
  }
  void Update(const char* p, size_t n) { EVP_DigestUpdate(ctx_.get(), p, n); }
  std::string Hex() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx_.get(), md, &len);
    return HexEncode(std::string_view(reinterpret_cast<const char*>(md), len));
  }

 private:
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx_;
};

// Bytes done of the total on stderr, so a long copy shows it is moving. Silent for copies that
// finish within a second, which is most of them.
class Progress {
 public:
  Progress(bool enabled, const char* verb)
      : enabled_(enabled), verb_(verb), tty_(::isatty(STDERR_FILENO) == 1) {}
  ~Progress() {
    if (printed_ && tty_) std::fputc('\n', stderr);
  }
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void AddTotal(int64_t n) { total_ += n; }
  // A phase without byte counts (checking, syncing), said only once the run is a long one.
  void Phase(const char* what) {
    if (!enabled_ || std::chrono::steady_clock::now() - start_ < std::chrono::seconds(1)) return;
    std::fprintf(stderr, "%salto %s: %s%s", tty_ ? "\r\033[K" : "", verb_, what, tty_ ? "" : "\n");
    std::fflush(stderr);
    printed_ = true;
  }
  void Add(int64_t n) {
    done_ += n;
    if (!enabled_) return;
    auto now = std::chrono::steady_clock::now();
    if (now - start_ < std::chrono::seconds(1)) return;
    // A terminal line is redrawn often; a log gets a line every few seconds.
    auto every = tty_ ? std::chrono::milliseconds(200) : std::chrono::milliseconds(3000);
    if (printed_ && now - last_ < every) return;
    last_ = now;
    printed_ = true;
    const double mib = 1024.0 * 1024.0;
    std::fprintf(stderr, "%salto %s: %.1f of %.1f MiB (%d%%)%s", tty_ ? "\r" : "", verb_,
                 static_cast<double>(done_) / mib, static_cast<double>(total_) / mib,
                 total_ > 0 ? static_cast<int>(100 * done_ / total_) : 100, tty_ ? "" : "\n");
    std::fflush(stderr);
  }

 private:
  bool enabled_;
  const char* verb_;
  bool tty_;
  bool printed_ = false;
  int64_t total_ = 0, done_ = 0;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now(), last_;
};

struct FileFacts {
  int64_t size = 0;
  std::string sha256_hex;
};

std::string ModeString(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

Result<mode_t> ParseMode(const nlohmann::json& j, mode_t fallback) {
  if (j.is_null()) return fallback;
  if (!j.is_string()) return MakeError(Errc::kInvalidArgument, "a mode is not a string");
  const std::string s = j.get<std::string>();
  if (s.empty() || s.size() > 4 || s.find_first_not_of("01234567") != std::string::npos) {
    return MakeError(Errc::kInvalidArgument, "mode " + s + " is not octal");
  }
  // Only permission bits: a manifest cannot make a restored file setuid.
  return static_cast<mode_t>(std::stoul(s, nullptr, 8) & 0777);
}

Status FsyncPath(const fs::path& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.ok()) return SysError("open " + path.string());
  if (::fsync(fd.get()) != 0) return SysError("fsync " + path.string());
  return fd.Close(path);
}

Status WriteAll(int fd, const char* p, size_t n, const fs::path& path) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return SysError("write " + path.string());
    p += w;
    n -= static_cast<size_t>(w);
  }
  return {};
}

// Reads `path` through, hashing it; with `to`, writes the bytes there too (created, never
// overwritten, with `mode`, fsynced). kNotFound when `path` is missing.
Result<FileFacts> HashFile(const fs::path& path, Progress* progress, const fs::path* to = nullptr,
                           mode_t mode = 0600) {
  Fd in(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!in.ok()) {
    if (errno == ENOENT) return MakeError(Errc::kNotFound, path.string() + " is missing");
    return SysError("open " + path.string());
  }
  std::unique_ptr<Fd> out;
  if (to) {
    out = std::make_unique<Fd>(::open(to->c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode));
    if (!out->ok()) return SysError("create " + to->string());
    // Exactly the mode asked for, whatever the umask.
    if (::fchmod(out->get(), mode) != 0) return SysError("chmod " + to->string());
  }
  Sha256Stream sha;
  FileFacts facts;
  std::string buf(kChunk, '\0');
  for (;;) {
    ssize_t n = ::read(in.get(), buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return SysError("read " + path.string());
    if (n == 0) break;
    sha.Update(buf.data(), static_cast<size_t>(n));
    facts.size += n;
    if (out) {
      if (auto st = WriteAll(out->get(), buf.data(), static_cast<size_t>(n), *to); !st) {
        return st.error();
      }
    }
    if (progress) progress->Add(n);
  }
  if (out) {
    if (::fsync(out->get()) != 0) return SysError("fsync " + to->string());
    if (auto st = out->Close(*to); !st) return st.error();
  }
  facts.sha256_hex = sha.Hex();
  return facts;
}

bool IsSha256Hex(std::string_view s) {
  return s.size() == 64 && s.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

// kNotFound when absent, kConflict when there is something in it.
Status CheckEmptyOrAbsent(const fs::path& dir, const char* what) {
  std::error_code ec;
  auto st = fs::symlink_status(dir, ec);
  if (ec || st.type() == fs::file_type::not_found) {
    if (ec && ec != std::errc::no_such_file_or_directory) {
      return SysError("stat " + dir.string(), ec.value());
    }
    return MakeError(Errc::kNotFound, dir.string() + " does not exist");
  }
  if (st.type() != fs::file_type::directory) {
    return MakeError(Errc::kConflict,
                     what + std::string(" ") + dir.string() + " exists and is not a directory");
  }
  fs::directory_iterator it(dir, ec);
  if (ec) return SysError("list " + dir.string(), ec.value());
  if (it != fs::directory_iterator()) {
    return MakeError(Errc::kConflict, what + std::string(" ") + dir.string() +
                                          " is not empty: it must be a new or empty directory");
  }
  return {};
}

Error Prefixed(const Error& e, const std::string& context) {
  Error out = e;
  out.message = context + ": " + e.message;
  return out;
}

// ---- the database ------------------------------------------------------------------------------

class Db {
 public:
  Db() = default;
  ~Db() { sqlite3_close_v2(db_); }
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;
  Status Open(const fs::path& path, int flags) {
    if (sqlite3_open_v2(path.c_str(), &db_, flags | SQLITE_OPEN_NOMUTEX, nullptr) != SQLITE_OK) {
      std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
      return MakeError(Errc::kInternal, "open " + path.string() + ": " + msg);
    }
    // The server's writers hold the write lock for one commit at a time; a read transaction in
    // WAL mode waits only for a checkpoint or a recovery.
    sqlite3_busy_timeout(db_, 10000);
    return {};
  }
  sqlite3* get() const { return db_; }

 private:
  sqlite3* db_ = nullptr;
};

bool TableExists(sqlite3* db, const char* name) {
  sqlite::Stmt s(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1");
  if (!s.ok()) return false;
  s.Bind(1, std::string_view(name));
  return s.Step() == SQLITE_ROW;
}

// Copies the database at `from` into a new file `to`, as of one instant.
//
// Why the online backup API rather than VACUUM INTO: both read the source inside one read
// transaction, which in WAL mode (the server's) never blocks the server's writers, so neither
// stalls it; the backup API copies page by page, which lets this report progress on a large
// database, and it does not rebuild every index as VACUUM does. Stepping in chunks alone would
// not be enough: a write by another connection between two steps makes SQLite restart the copy
// from the first page, and under a steady stream of async invokes it would restart forever. So
// the source's read transaction is opened here and held across all steps: every step reads the
// same snapshot, no write restarts it, and the copy is the database as of that snapshot. The cost
// is that the server's checkpoints cannot pass the snapshot until the copy ends (its WAL grows
// meanwhile and is checkpointed afterwards).
Status CopyDatabase(const fs::path& from, const fs::path& to, int pages_per_step,
                    Progress& progress, int64_t& bytes_out) {
  Db src;
  if (auto st = src.Open(from, SQLITE_OPEN_READWRITE); !st) return st;
  if (auto st = sqlite::Exec(src.get(), "BEGIN"); !st) return st;
  int64_t page_count = 0, page_size = 0;
  {
    // The first read starts the transaction's snapshot.
    sqlite::Stmt s(src.get(), "PRAGMA page_count");
    if (!s.ok() || s.Step() != SQLITE_ROW) return sqlite::DbError(src.get(), "read page_count");
    page_count = s.Int(0);
    sqlite::Stmt z(src.get(), "PRAGMA page_size");
    if (!z.ok() || z.Step() != SQLITE_ROW) return sqlite::DbError(src.get(), "read page_size");
    page_size = z.Int(0);
  }
  progress.AddTotal(page_count * page_size);

  Db dst;
  if (auto st = dst.Open(to, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE); !st) return st;
  if (::chmod(to.c_str(), 0600) != 0) return SysError("chmod " + to.string());
  sqlite3_backup* b = sqlite3_backup_init(dst.get(), "main", src.get(), "main");
  if (!b) return sqlite::DbError(dst.get(), "backup init");
  int64_t copied = 0;
  int rc = SQLITE_OK;
  for (int busy = 0;;) {
    rc = sqlite3_backup_step(b, pages_per_step);
    int64_t now_copied = (sqlite3_backup_pagecount(b) - sqlite3_backup_remaining(b)) *
                         static_cast<int64_t>(page_size);
    progress.Add(now_copied - copied);
    copied = now_copied;
    if (rc == SQLITE_DONE) break;
    if (rc == SQLITE_OK) continue;
    // Busy can only come from the destination, which nobody else has open; still, bounded.
    if ((rc == SQLITE_BUSY || rc == SQLITE_LOCKED) && ++busy < 500) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      continue;
    }
    break;
  }
  int finish = sqlite3_backup_finish(b);
  if (rc != SQLITE_DONE) {
    return MakeError(Errc::kInternal, std::string("copying the database: ") + sqlite3_errstr(rc));
  }
  if (finish != SQLITE_OK) return sqlite::DbError(dst.get(), "finish the database copy");
  (void)sqlite::Exec(src.get(), "COMMIT");
  progress.Phase("checking the database copy (integrity_check)");
  // The copy's header says WAL like the source's. Back to a rollback journal, so the copy is
  // one self-contained file; the server switches it to WAL again when it opens it.
  if (auto st = sqlite::Exec(dst.get(), "PRAGMA journal_mode=DELETE"); !st) return st;
  {
    sqlite::Stmt s(dst.get(), "PRAGMA integrity_check");
    if (!s.ok() || s.Step() != SQLITE_ROW) return sqlite::DbError(dst.get(), "integrity_check");
    if (std::string r = s.Text(0); r != "ok") {
      return MakeError(Errc::kInternal, "the database copy fails integrity_check: " + r);
    }
  }
  bytes_out = page_count * page_size;
  return {};
}

struct DbFacts {
  bool has_state = false;
  int64_t schema_version = 0;
  int64_t revision = 0;
  std::map<std::string, std::string> referenced;  // code sha256 hex -> a key that refers to it
};

// What the copy says: the state's schema version and revision, and the code it refers to.
// Function records ($LATEST under /acct/<a>/functions/ and versions under /acct/<a>/fn/<f>/v/)
// are JSON with "code_sha256"; so were the rows of the tables earlier Altos kept functions in,
// which a data dir not yet opened by this build still has.
Result<DbFacts> ReadDbFacts(const fs::path& path) {
  Db db;
  if (auto st = db.Open(path, SQLITE_OPEN_READONLY); !st) return st.error();
  DbFacts facts;
  auto note_ref = [&](const std::string& where, const std::string& value) -> Status {
    auto j = ParseJson(value, kApiJsonDepth);
    if (!j || !j->is_object() || !j->contains("code_sha256")) return {};
    const auto& sha = (*j)["code_sha256"];
    if (!sha.is_string() || sha.get<std::string>().empty()) return {};
    if (!IsSha256Hex(sha.get<std::string>())) {
      return MakeError(Errc::kInternal,
                       where + " refers to code \"" + sha.get<std::string>() + "\", not a digest");
    }
    facts.referenced.emplace(sha.get<std::string>(), where);
    return {};
  };
  if (TableExists(db.get(), "state_meta")) {
    facts.has_state = true;
    sqlite::Stmt s(db.get(), "SELECT name, value FROM state_meta");
    if (!s.ok()) return sqlite::DbError(db.get(), "read state_meta");
    while (s.Step() == SQLITE_ROW) {
      std::string name = s.Text(0);
      if (name == "schema_version") facts.schema_version = s.Int(1);
      if (name == "revision") facts.revision = s.Int(1);
    }
  }
  if (TableExists(db.get(), "state_kv")) {
    sqlite::Stmt s(db.get(), "SELECT key, value FROM state_kv");
    if (!s.ok()) return sqlite::DbError(db.get(), "read state_kv");
    int rc;
    while ((rc = s.Step()) == SQLITE_ROW) {
      std::string key = s.Text(0);
      if (!key.starts_with("/acct/")) continue;
      if (key.find("/functions/") == std::string::npos && key.find("/v/") == std::string::npos) {
        continue;
      }
      if (auto st = note_ref(key, s.Text(1)); !st) return st.error();
    }
    if (rc != SQLITE_DONE) return sqlite::DbError(db.get(), "read state_kv");
  }
  if (TableExists(db.get(), "functions")) {
    sqlite::Stmt s(db.get(), "SELECT name, version, config FROM functions");
    if (s.ok()) {
      while (s.Step() == SQLITE_ROW) {
        if (auto st = note_ref("functions table row " + s.Text(0) + ":" + s.Text(1), s.Text(2));
            !st) {
          return st.error();
        }
      }
    }
  }
  return facts;
}

// The code packages in `dir`: <sha256 hex>.zip. Extracted trees are left out (restore extracts
// the packages again) and so are the leftovers of interrupted uploads.
Result<std::vector<std::string>> ListCode(const fs::path& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return out;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (!name.ends_with(".zip")) continue;
    std::string hex = name.substr(0, name.size() - 4);
    if (IsSha256Hex(hex) && it->is_regular_file(ec)) out.push_back(hex);
  }
  if (ec) return SysError("list " + dir.string(), ec.value());
  std::sort(out.begin(), out.end());
  return out;
}

// Writes `text` to dir/name through a temporary file, fsyncs it and the directory.
Status WriteFileAtomically(const fs::path& dir, const std::string& name, const std::string& text) {
  fs::path tmp = dir / (name + ".tmp");
  fs::path path = dir / name;
  {
    Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!fd.ok()) return SysError("create " + tmp.string());
    if (auto st = WriteAll(fd.get(), text.data(), text.size(), tmp); !st) return st;
    if (::fsync(fd.get()) != 0) return SysError("fsync " + tmp.string());
    if (auto st = fd.Close(tmp); !st) return st;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) return SysError("rename " + tmp.string());
  return FsyncPath(dir);
}

// The first endpoint of an etcd:// URL as etcdctl takes it: `snapshot save` asks one member.
std::string FirstEtcdEndpoint(const std::string& url) {
  std::string rest = url.substr(std::string_view("etcd://").size());
  return "http://" + rest.substr(0, rest.find_first_of(",/"));
}

// Removes a partial backup: the files written into `target`, or `target` if this run made it.
void RemovePartial(const fs::path& target, bool created) {
  std::error_code ec;
  if (created) {
    fs::remove_all(target, ec);
    return;
  }
  for (fs::directory_iterator it(target, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code ec2;
    fs::remove_all(it->path(), ec2);
  }
}

Result<BackupSummary> BackupInto(const BackupOptions& o, const fs::path& target) {
  const auto start = std::chrono::steady_clock::now();
  BackupSummary sum;
  const bool etcd = o.state_url.starts_with("etcd://");
  if (!etcd && !o.state_url.empty() && o.state_url != "sqlite") {
    return MakeError(Errc::kInvalidArgument,
                     "--state " + o.state_url + ": expected sqlite or etcd://host:port[,...][/ns]");
  }
  const fs::path db_path = o.data_dir / kDatabase;
  struct stat data_st {};
  if (::stat(o.data_dir.c_str(), &data_st) != 0) return SysError("stat " + o.data_dir.string());

  nlohmann::json files = nlohmann::json::array();
  auto add_file = [&](const std::string& rel, const std::string& kind, const FileFacts& f,
                      mode_t mode) {
    files.push_back({{"path", rel},
                     {"kind", kind},
                     {"size", f.size},
                     {"sha256", f.sha256_hex},
                     {"mode", ModeString(mode)}});
    sum.bytes += f.size;
  };

  Progress progress(o.progress, "backup");
  // 1. The database, as of one instant.
  const fs::path db_copy = target / kDatabase;
  if (auto st = CopyDatabase(db_path, db_copy, std::max(1, o.pages_per_step), progress,
                             sum.database_bytes);
      !st) {
    return Prefixed(st.error(), "copying " + db_path.string());
  }
  auto facts = ReadDbFacts(db_copy);
  if (!facts) return Prefixed(facts.error(), "reading the database copy");
  sum.state_schema_version = facts->schema_version;
  sum.state_revision = facts->revision;
  progress.Phase("syncing and hashing the database copy");
  if (auto st = FsyncPath(db_copy); !st) return st.error();
  // Its size and digest now that it is closed for good (journal mode and all).
  auto db_facts = HashFile(db_copy, nullptr);
  if (!db_facts) return db_facts.error();
  add_file(kDatabase, "database", *db_facts, 0600);

  // 2. The key that seals the secrets in the database, and the admin credentials.
  for (const char* name : {kSecretKey, kCredentials}) {
    struct stat st {};
    const fs::path from = o.data_dir / name;
    if (::stat(from.c_str(), &st) != 0) {
      if (errno == ENOENT && name == std::string_view(kCredentials)) continue;
      if (errno == ENOENT) {
        return MakeError(Errc::kNotFound,
                         from.string() +
                             " is missing: without it the database's secrets and "
                             "access keys cannot be read, so a backup would be useless");
      }
      return SysError("stat " + from.string());
    }
    const fs::path to = target / name;
    auto f = HashFile(from, nullptr, &to, st.st_mode & 0777);
    if (!f) return f.error();
    add_file(name, name == std::string_view(kSecretKey) ? "secret-key" : "credentials", *f,
             st.st_mode & 0777);
  }

  // 3. The code: every package the copied database refers to, and every other one present now.
  // Packages are immutable and named by their digest, so copying them after the database
  // snapshot is safe; one the snapshot refers to cannot be collected while the server runs (the
  // server only collects at its start, and only unreferenced ones).
  const fs::path code_from = o.data_dir / kCodeDir;
  auto listed = ListCode(code_from);
  if (!listed) return listed.error();
  std::set<std::string> wanted(listed->begin(), listed->end());
  for (const auto& [hex, _] : facts->referenced) wanted.insert(hex);
  if (o.before_code_copy) o.before_code_copy();
  sum.referenced_packages = static_cast<int64_t>(facts->referenced.size());
  const fs::path code_to = target / kCodeDir;
  if (::mkdir(code_to.c_str(), 0700) != 0) return SysError("mkdir " + code_to.string());
  for (const auto& hex : wanted) {
    struct stat st {};
    if (::stat((code_from / (hex + ".zip")).c_str(), &st) == 0) progress.AddTotal(st.st_size);
  }
  std::vector<std::string> missing;
  int vanished = 0;
  for (const auto& hex : wanted) {
    const std::string rel = std::string(kCodeDir) + "/" + hex + ".zip";
    const fs::path from = code_from / (hex + ".zip");
    const fs::path to = target / rel;
    struct stat st {};
    mode_t mode = ::stat(from.c_str(), &st) == 0 ? (st.st_mode & 0777) : 0644;
    auto f = HashFile(from, &progress, &to, mode);
    if (!f && f.error().code == Errc::kNotFound) {
      if (auto ref = facts->referenced.find(hex); ref != facts->referenced.end()) {
        missing.push_back(hex + " (referenced by " + ref->second + ")");
      } else {
        ++vanished;  // unreferenced and collected since it was listed: not needed
      }
      continue;
    }
    if (!f) return f.error();
    if (f->sha256_hex != hex) {
      return MakeError(Errc::kInternal, "code package " + from.string() + " is corrupt: its " +
                                            "SHA-256 is " + f->sha256_hex);
    }
    add_file(rel, "code", *f, mode);
    ++sum.code_packages;
  }
  if (!missing.empty()) {
    std::string list;
    for (size_t i = 0; i < missing.size() && i < 5; ++i) list += "\n  " + missing[i];
    if (missing.size() > 5) list += "\n  ...";
    return MakeError(Errc::kNotFound, std::to_string(missing.size()) +
                                          " code package(s) the state refers to " +
                                          "are missing from " + code_from.string() + ":" + list);
  }
  if (vanished > 0) {
    sum.notes.push_back(std::to_string(vanished) +
                        " unreferenced code package(s) were removed while the backup ran and "
                        "are not in it");
  }
  if (auto st = FsyncPath(code_to); !st) return st.error();

  // 4. The manifest, last: its presence says the backup is whole.
  nlohmann::json state = {{"backend", etcd ? "etcd" : "sqlite"}};
  if (etcd) {
    state["url"] = o.state_url;
    state["in_backup"] = false;
  } else {
    state["in_backup"] = facts->has_state;
    state["schema_version"] = facts->schema_version;
    state["revision"] = facts->revision;
  }
  const int64_t now_ms = SystemClock().WallMillis();
  nlohmann::json manifest = {{"format", "alto-backup"},
                             {"format_version", kBackupFormatVersion},
                             {"alto_version", ALTO_VERSION},
                             {"created", FormatIsoMillis(now_ms)},
                             {"created_ms", now_ms},
                             {"source_data_dir", fs::absolute(o.data_dir).string()},
                             {"data_dir_mode", ModeString(data_st.st_mode)},
                             {"state", state},
                             {"files", files}};
  if (auto st = WriteFileAtomically(target, kManifestName, manifest.dump(2) + "\n"); !st) {
    return st.error();
  }
  if (auto parent = fs::absolute(target).parent_path(); !parent.empty()) {
    if (auto st = FsyncPath(parent); !st) return st.error();
  }

  if (etcd) {
    sum.notes.push_back(
        "the state is in etcd (" + o.state_url +
        "), so functions, versions, aliases, URLs, tags, pending async events and Alto queues are "
        "NOT in this backup. Save them "
        "with an etcd snapshot taken just before `alto backup` (every code package it refers to "
        "is then in this backup's code/):\n  ETCDCTL_API=3 etcdctl --endpoints=" +
        FirstEtcdEndpoint(o.state_url) + " snapshot save " +
        (fs::absolute(target).parent_path() / (target.filename().string() + "-etcd.db")).string() +
        "\n(https:// and --cacert/--cert/--key when etcd speaks TLS; a snapshot holds the whole "
        "etcd keyspace, every namespace in it; see docs/backup.md)");
  } else if (!facts->has_state) {
    sum.notes.push_back(
        "alto.db holds no state tables: if the server runs with --state etcd://..., pass the "
        "same --state to `alto backup` (its state is then not in this copy)");
  }
  sum.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return sum;
}

// ---- restore
// -------------------------------------------------------------------------------------

struct ManifestFile {
  std::string path, kind, sha256_hex;
  int64_t size = 0;
  mode_t mode = 0600;
};

struct Manifest {
  std::vector<ManifestFile> files;
  mode_t data_dir_mode = 0755;
  std::string backend, url;
  int64_t schema_version = 0;
  std::string alto_version, created;
};

// Only the names a backup writes: a tampered manifest cannot send a file outside the data dir.
bool AllowedPath(const std::string& path, const std::string& kind) {
  if (kind == "database") return path == kDatabase;
  if (kind == "secret-key") return path == kSecretKey;
  if (kind == "credentials") return path == kCredentials;
  if (kind == "code") {
    const std::string prefix = std::string(kCodeDir) + "/";
    return path.starts_with(prefix) && path.ends_with(".zip") &&
           IsSha256Hex(path.substr(prefix.size(), path.size() - prefix.size() - 4));
  }
  return false;
}

Result<Manifest> ReadManifest(const fs::path& dir) {
  const fs::path path = dir / kManifestName;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return MakeError(Errc::kNotFound, dir.string() + " is not a directory");
  }
  if (!fs::exists(path, ec)) {
    return MakeError(Errc::kNotFound, dir.string() + " has no " + kManifestName +
                                          ": not an alto backup, or one that did not finish");
  }
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.ok()) return SysError("open " + path.string());
  std::string text;
  std::string buf(65536, '\0');
  for (;;) {
    ssize_t n = ::read(fd.get(), buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return SysError("read " + path.string());
    if (n == 0) break;
    text.append(buf.data(), static_cast<size_t>(n));
    if (text.size() > (64 << 20)) return MakeError(Errc::kTooLarge, path.string() + " is too big");
  }
  auto j = ParseJson(text, kApiJsonDepth);
  auto bad = [&](const std::string& why) {
    return MakeError(Errc::kInvalidArgument, path.string() + ": " + why);
  };
  if (!j) return bad(j.error().message);
  if (!j->is_object() || j->value("format", "") != "alto-backup") {
    return bad("not an alto backup manifest");
  }
  try {
    Manifest m;
    const int64_t format = j->value("format_version", int64_t{0});
    if (format < 1 || format > kBackupFormatVersion) {
      return MakeError(Errc::kUnsupported, "the backup's format version " + std::to_string(format) +
                                               " is newer than this build knows (" +
                                               std::to_string(kBackupFormatVersion) +
                                               "): restore with a newer alto");
    }
    m.alto_version = j->value("alto_version", "");
    m.created = j->value("created", "");
    auto mode = ParseMode(j->value("data_dir_mode", nlohmann::json()), 0755);
    if (!mode) return bad(mode.error().message);
    m.data_dir_mode = *mode;
    const auto& state = j->at("state");
    m.backend = state.value("backend", "sqlite");
    m.url = state.value("url", "");
    m.schema_version = state.value("schema_version", int64_t{0});
    std::set<std::string> seen;
    for (const auto& f : j->at("files")) {
      ManifestFile mf;
      mf.path = f.at("path").get<std::string>();
      mf.kind = f.at("kind").get<std::string>();
      mf.size = f.at("size").get<int64_t>();
      mf.sha256_hex = f.at("sha256").get<std::string>();
      auto fmode = ParseMode(f.value("mode", nlohmann::json()), 0600);
      if (!fmode) return bad(fmode.error().message);
      mf.mode = *fmode;
      if (!AllowedPath(mf.path, mf.kind)) return bad("unexpected file " + mf.path);
      if (!IsSha256Hex(mf.sha256_hex) || mf.size < 0) return bad("bad entry for " + mf.path);
      if (!seen.insert(mf.path).second) return bad(mf.path + " is listed twice");
      m.files.push_back(std::move(mf));
    }
    for (const char* required : {kDatabase, kSecretKey}) {
      if (!seen.count(required)) return bad(std::string("it lists no ") + required);
    }
    return m;
  } catch (const nlohmann::json::exception& e) {
    return bad(e.what());
  }
}

// Moves the finished staging tree into place.
Status MoveIntoPlace(const fs::path& staging, const fs::path& data_dir, bool staged_inside) {
  if (!staged_inside) {
    // Onto an absent or empty directory: one rename, so the data dir is whole or untouched.
    if (::rename(staging.c_str(), data_dir.c_str()) != 0) {
      return SysError("rename " + staging.string() + " to " + data_dir.string());
    }
    return FsyncPath(fs::absolute(data_dir).parent_path());
  }
  // The data dir is a mount point: entries one by one, the database last, since a server started
  // on a data dir without alto.db would begin an empty one.
  for (const char* name : {kCodeDir, kCredentials, kSecretKey, kDatabase}) {
    const fs::path from = staging / name;
    if (!fs::exists(from)) continue;
    if (::rename(from.c_str(), (data_dir / name).c_str()) != 0) {
      return SysError("rename " + from.string());
    }
  }
  if (::rmdir(staging.c_str()) != 0) return SysError("rmdir " + staging.string());
  return FsyncPath(data_dir);
}

Result<RestoreSummary> RestoreFrom(const RestoreOptions& o, const Manifest& m,
                                   const fs::path& staging, bool staged_inside) {
  RestoreSummary sum;
  sum.state_backend = m.backend;
  sum.state_url = m.url;
  sum.state_schema_version = m.schema_version;
  Progress progress(o.progress, "restore");
  for (const auto& f : m.files) progress.AddTotal(f.size);

  CodeStore code(staging / kCodeDir);
  if (auto st = code.Init(); !st) return st.error();
  for (const auto& f : m.files) {
    const fs::path from = o.source / f.path;
    if (f.kind == "code") {
      // Through the code store, which writes the package and extracts its tree as the server
      // expects to find it.
      std::string bytes;
      {
        Fd fd(::open(from.c_str(), O_RDONLY | O_CLOEXEC));
        if (!fd.ok()) return SysError("open " + from.string());
        std::string buf(kChunk, '\0');
        for (;;) {
          ssize_t n = ::read(fd.get(), buf.data(), buf.size());
          if (n < 0 && errno == EINTR) continue;
          if (n < 0) return SysError("read " + from.string());
          if (n == 0) break;
          bytes.append(buf.data(), static_cast<size_t>(n));
          progress.Add(n);
        }
      }
      auto stored = code.Put(bytes);
      if (!stored) return Prefixed(stored.error(), "restoring " + f.path);
      if (stored->sha256_hex != f.sha256_hex) {
        return MakeError(Errc::kConflict, f.path + " changed while it was being restored");
      }
    } else {
      const fs::path to = staging / f.path;
      auto got = HashFile(from, &progress, &to, f.mode);
      if (!got) return got.error();
      // Verified before; checked again in case the backup changed since.
      if (got->sha256_hex != f.sha256_hex || got->size != f.size) {
        return MakeError(Errc::kConflict, f.path + " changed while it was being restored");
      }
    }
    sum.bytes += f.size;
    ++sum.files;
  }
  if (auto st = FsyncPath(staging / kCodeDir); !st) return st.error();
  if (auto st = FsyncPath(staging); !st) return st.error();
  if (auto st = MoveIntoPlace(staging, o.data_dir, staged_inside); !st) return st.error();
  return sum;
}

}  // namespace

Result<BackupSummary> Backup(const BackupOptions& o) {
  // Checked before the target is made, so a wrong --data-dir leaves nothing behind.
  std::error_code ec;
  if (!fs::is_regular_file(o.data_dir / kDatabase, ec)) {
    return MakeError(Errc::kNotFound, (o.data_dir / kDatabase).string() + " not found: is " +
                                          o.data_dir.string() + " an alto data dir (--data-dir)?");
  }
  bool created = false;
  if (auto st = CheckEmptyOrAbsent(o.target, "the backup directory"); !st) {
    if (st.error().code != Errc::kNotFound) return st.error();
    fs::create_directories(o.target.parent_path().empty() ? "." : o.target.parent_path(), ec);
    // 0700: the backup holds secret.key and the admin credentials.
    if (::mkdir(o.target.c_str(), 0700) != 0) return SysError("mkdir " + o.target.string());
    created = true;
  }
  auto sum = BackupInto(o, o.target);
  if (!sum) {
    RemovePartial(o.target, created);
    Error e = sum.error();
    e.message += created ? " (" + o.target.string() + " was removed)"
                         : " (what was written into " + o.target.string() + " was removed)";
    return e;
  }
  return sum;
}

Result<RestoreSummary> Restore(const RestoreOptions& o) {
  // Every check before anything is written: the target, the manifest, then every file.
  bool target_exists = true;
  if (auto st = CheckEmptyOrAbsent(o.data_dir, "the data dir"); !st) {
    if (st.error().code != Errc::kNotFound) return st.error();
    target_exists = false;
  }
  auto m = ReadManifest(o.source);
  if (!m) return m.error();
  if (m->schema_version > state::kSqliteStateSchemaVersion) {
    return MakeError(
        Errc::kUnsupported,
        "the backup's state schema version is " + std::to_string(m->schema_version) +
            " (written by alto " + m->alto_version + "), newer than this build knows (" +
            std::to_string(state::kSqliteStateSchemaVersion) + "): restore with a newer alto");
  }
  {
    Progress progress(o.progress, "restore: verifying");
    for (const auto& f : m->files) progress.AddTotal(f.size);
    std::vector<std::string> problems;
    for (const auto& f : m->files) {
      const fs::path path = o.source / f.path;
      std::error_code ec;
      auto size = fs::file_size(path, ec);
      if (ec) {
        problems.push_back(f.path + ": missing");
        continue;
      }
      if (static_cast<int64_t>(size) != f.size) {
        problems.push_back(f.path + ": " + std::to_string(size) + " bytes, the manifest says " +
                           std::to_string(f.size));
        continue;
      }
      auto got = HashFile(path, &progress);
      if (!got) return got.error();
      if (got->sha256_hex != f.sha256_hex) {
        problems.push_back(f.path + ": SHA-256 " + got->sha256_hex + ", the manifest says " +
                           f.sha256_hex);
      }
    }
    if (!problems.empty()) {
      std::string list;
      for (size_t i = 0; i < problems.size() && i < 10; ++i) list += "\n  " + problems[i];
      if (problems.size() > 10) list += "\n  ...";
      return MakeError(Errc::kInvalidArgument, "the backup in " + o.source.string() +
                                                   " does not match its manifest; nothing was "
                                                   "restored:" +
                                                   list);
    }
  }

  // Staged next to the data dir and renamed into place, unless the data dir is a mount point
  // (a rename cannot cross into it): then staged inside it.
  const fs::path data_dir = fs::absolute(o.data_dir).lexically_normal();
  fs::path parent = data_dir.parent_path();
  bool staged_inside = false;
  mode_t mode = m->data_dir_mode;
  if (target_exists) {
    struct stat d {
    }, p{};
    if (::stat(data_dir.c_str(), &d) != 0) return SysError("stat " + data_dir.string());
    if (::stat(parent.c_str(), &p) != 0) return SysError("stat " + parent.string());
    staged_inside = d.st_dev != p.st_dev;
    mode = d.st_mode & 07777;  // an existing directory keeps its mode
  } else {
    std::error_code ec;
    fs::create_directories(parent, ec);
    if (ec) return SysError("mkdir " + parent.string(), ec.value());
  }
  const fs::path staging =
      staged_inside
          ? data_dir / (".alto-restore-" + RandomHex(4))
          : parent / ("." + data_dir.filename().string() + ".alto-restore-" + RandomHex(4));
  if (::mkdir(staging.c_str(), 0700) != 0) return SysError("mkdir " + staging.string());
  if (!staged_inside && ::chmod(staging.c_str(), mode) != 0) {
    return SysError("chmod " + staging.string());
  }
  RestoreOptions with_abs = o;
  with_abs.data_dir = data_dir;
  auto sum = RestoreFrom(with_abs, *m, staging, staged_inside);
  if (!sum) {
    std::error_code ec;
    fs::remove_all(staging, ec);
  }
  return sum;
}

int BackupCommand(const BackupOptions& o) {
  auto sum = Backup(o);
  if (!sum) {
    std::fprintf(stderr, "alto: error: backup failed: %s\n", sum.error().message.c_str());
    return 1;
  }
  for (const auto& n : sum->notes) std::fprintf(stderr, "alto: note: %s\n", n.c_str());
  std::printf(
      "backup %s: alto.db %.1f MiB (state schema %lld, revision %lld), %lld code package(s) "
      "(%lld referenced), %.1f MiB in all, %.2f s\n",
      o.target.string().c_str(), static_cast<double>(sum->database_bytes) / (1024.0 * 1024.0),
      static_cast<long long>(sum->state_schema_version),
      static_cast<long long>(sum->state_revision), static_cast<long long>(sum->code_packages),
      static_cast<long long>(sum->referenced_packages),
      static_cast<double>(sum->bytes) / (1024.0 * 1024.0), sum->seconds);
  return 0;
}

int RestoreCommand(const RestoreOptions& o) {
  auto sum = Restore(o);
  if (!sum) {
    std::fprintf(stderr, "alto: error: restore failed: %s\n", sum.error().message.c_str());
    return 1;
  }
  std::printf("restored %lld file(s), %.1f MiB, into %s\n", static_cast<long long>(sum->files),
              static_cast<double>(sum->bytes) / (1024.0 * 1024.0), o.data_dir.string().c_str());
  if (sum->state_backend == "etcd") {
    std::fprintf(stderr,
                 "alto: note: the backup was taken with the state in etcd (%s): restore etcd from "
                 "the snapshot taken with it (etcdctl snapshot restore; etcdutl from etcd 3.5) and "
                 "start the server with --state %s\n",
                 sum->state_url.c_str(), sum->state_url.c_str());
  }
  return 0;
}

}  // namespace alto::cli
