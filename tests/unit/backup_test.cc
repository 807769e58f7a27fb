#include "cli/backup.h"

#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <atomic>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "common/encoding.h"
#include "state/sqlite/sqlite_state.h"
#include "store/code_store.h"
#include "store/sqlite_util.h"

namespace alto::cli {
namespace {

namespace fs = std::filesystem;

std::string ReadAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteAll(const fs::path& p, const std::string& text, mode_t mode = 0600) {
  std::ofstream(p, std::ios::binary) << text;
  ::chmod(p.c_str(), mode);
}

std::string OneFileZip(const std::string& name, const std::string& data) {
  archive* a = archive_write_new();
  archive_write_set_format_zip(a);
  std::string out;
  archive_write_open(
      a, &out, nullptr,
      [](archive*, void* ctx, const void* buf, size_t n) -> la_ssize_t {
        static_cast<std::string*>(ctx)->append(static_cast<const char*>(buf), n);
        return static_cast<la_ssize_t>(n);
      },
      nullptr);
  archive_entry* e = archive_entry_new();
  archive_entry_set_pathname(e, name.c_str());
  archive_entry_set_filetype(e, AE_IFREG);
  archive_entry_set_perm(e, 0644);
  archive_entry_set_size(e, static_cast<la_int64_t>(data.size()));
  archive_write_header(a, e);
  archive_write_data(a, data.data(), data.size());
  archive_entry_free(e);
  archive_write_close(a);
  archive_write_free(a);
  return out;
}

int64_t Count(sqlite3* db, const char* sql) {
  sqlite::Stmt s(db, sql);
  EXPECT_TRUE(s.ok()) << sql;
  EXPECT_EQ(s.Step(), SQLITE_ROW) << sql;
  return s.Int(0);
}

// A data dir as a server leaves it: alto.db with state tables (a function record referring to
// a code package), a writer's tables, secret.key, credentials and code/.
class BackupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("alto-backup-test-" + RandomHex(6));
    data_ = root_ / "data";
    fs::create_directories(data_);
    ::chmod(data_.c_str(), 0711);
    auto db = sqlite::Open((data_ / "alto.db").string());
    ASSERT_TRUE(db.ok()) << db.error().message;
    db_ = *db;
    ASSERT_TRUE(sqlite::Exec(db_,
                             "CREATE TABLE state_meta (name TEXT PRIMARY KEY, value INTEGER);"
                             "INSERT INTO state_meta VALUES ('schema_version', 1), ('revision', 7);"
                             "CREATE TABLE state_kv (key BLOB PRIMARY KEY, value BLOB NOT NULL);"
                             "CREATE TABLE a (id INTEGER PRIMARY KEY, pad BLOB);"
                             "CREATE TABLE b (id INTEGER PRIMARY KEY);"
                             "CREATE TABLE counter (n INTEGER NOT NULL);"
                             "INSERT INTO counter VALUES (0);")
                    .ok());
    WriteAll(data_ / "secret.key", RandomHex(32));
    WriteAll(data_ / "credentials", "[alto]\naws_access_key_id = k\n");
    CodeStore code(data_ / "code");
    ASSERT_TRUE(code.Init().ok());
    auto used = code.Put(OneFileZip("app.py", "def handler(e, c):\n    return e\n"));
    ASSERT_TRUE(used.ok()) << used.error().message;
    used_ = used->sha256_hex;
    auto spare = code.Put(OneFileZip("other.py", "x = 1\n"));
    ASSERT_TRUE(spare.ok());
    spare_ = spare->sha256_hex;
    SetFunctionCode(used_);
  }

  void TearDown() override {
    sqlite3_close_v2(db_);
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  void SetFunctionCode(const std::string& hex) {
    sqlite::Stmt s(db_, "INSERT OR REPLACE INTO state_kv VALUES (?1, ?2)");
    s.BindBlob(1, "/acct/000000000000/functions/f");
    s.Bind(2, nlohmann::json{{"name", "f"}, {"code_sha256", hex}}.dump());
    ASSERT_EQ(s.Step(), SQLITE_DONE);
  }

  // Committed write transactions: each adds one row to a and one to b and counts it.
  void WriteOnce() {
    sqlite::Tx tx(db_);
    ASSERT_TRUE(tx.ok());
    ASSERT_TRUE(sqlite::Exec(db_,
                             "INSERT INTO a (pad) VALUES (randomblob(3000));"
                             "INSERT INTO b DEFAULT VALUES;"
                             "UPDATE counter SET n = n + 1;")
                    .ok());
    ASSERT_TRUE(tx.Commit().ok());
  }

  BackupOptions Options(const fs::path& target) {
    BackupOptions o;
    o.data_dir = data_;
    o.target = target;
    o.progress = false;
    return o;
  }

  fs::path root_, data_;
  sqlite3* db_ = nullptr;
  std::string used_, spare_;
};

TEST_F(BackupTest, CopyUnderConcurrentWritesIsOnePointInTime) {
  // Enough pages that the copy takes many small steps while the writer commits.
  ASSERT_TRUE(sqlite::Exec(db_, "PRAGMA synchronous=OFF").ok());  // commit fast
  for (int i = 0; i < 3000; ++i) WriteOnce();

  std::atomic<int64_t> committed{3000};
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    while (!stop) {
      WriteOnce();
      ++committed;
    }
  });
  // Wait for the writer to be going, then copy in steps of 4 pages (about 3 rows each).
  while (committed < 3050) std::this_thread::yield();
  auto o = Options(root_ / "backup");
  o.pages_per_step = 4;
  const int64_t before = committed;
  auto sum = Backup(o);
  const int64_t after = committed;
  stop = true;
  writer.join();
  ASSERT_TRUE(sum.ok()) << sum.error().message;
  EXPECT_GT(after, before) << "the writer committed nothing while the copy ran";

  sqlite3* copy = nullptr;
  ASSERT_EQ(
      sqlite3_open_v2((root_ / "backup/alto.db").c_str(), &copy, SQLITE_OPEN_READONLY, nullptr),
      SQLITE_OK);
  {
    sqlite::Stmt s(copy, "PRAGMA integrity_check");
    ASSERT_EQ(s.Step(), SQLITE_ROW);
    EXPECT_EQ(s.Text(0), "ok");
  }
  const int64_t n = Count(copy, "SELECT n FROM counter");
  EXPECT_EQ(Count(copy, "SELECT count(*) FROM a"), n);
  EXPECT_EQ(Count(copy, "SELECT count(*) FROM b"), n);
  // One instant between the call and its return (the counter is read before the call, so a
  // commit racing with that read may already be in).
  EXPECT_GE(n, before - 1);
  EXPECT_LE(n, after);
  std::printf("rows: %lld committed before the copy, %lld in it, %lld by its end\n",
              static_cast<long long>(before), static_cast<long long>(n),
              static_cast<long long>(after));
  sqlite3_close_v2(copy);
  // The copy is a single file, not a WAL database with side files.
  EXPECT_FALSE(fs::exists(root_ / "backup/alto.db-wal"));
  EXPECT_EQ(sum->state_schema_version, 1);
  EXPECT_EQ(sum->state_revision, 7);
}

TEST_F(BackupTest, RoundTripKeepsFilesAndModes) {
  auto sum = Backup(Options(root_ / "backup"));
  ASSERT_TRUE(sum.ok()) << sum.error().message;
  EXPECT_EQ(sum->code_packages, 2);  // the referenced one and the spare present at copy time
  EXPECT_EQ(sum->referenced_packages, 1);
  ASSERT_TRUE(fs::exists(root_ / "backup" / kManifestName));
  auto manifest = nlohmann::json::parse(ReadAll(root_ / "backup" / kManifestName));
  EXPECT_EQ(manifest["state"]["schema_version"], 1);
  EXPECT_EQ(manifest["files"].size(), 5u);

  RestoreOptions r{root_ / "backup", root_ / "restored", false};
  auto restored = Restore(r);
  ASSERT_TRUE(restored.ok()) << restored.error().message;
  const fs::path d = root_ / "restored";
  EXPECT_EQ(ReadAll(d / "secret.key"), ReadAll(data_ / "secret.key"));
  EXPECT_EQ(ReadAll(d / "credentials"), ReadAll(data_ / "credentials"));
  struct stat st {};
  ASSERT_EQ(::stat((d / "secret.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat(d.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0711u);  // the data dir's mode, recorded in the manifest
  // The packages, extracted as the server expects them.
  EXPECT_EQ(ReadAll(d / "code" / (used_ + ".zip")), ReadAll(data_ / "code" / (used_ + ".zip")));
  EXPECT_TRUE(fs::exists(d / "code" / used_ / "app.py"));
  EXPECT_TRUE(fs::exists(d / "code" / spare_ / "other.py"));
  // Nothing left next to it.
  for (const auto& e : fs::directory_iterator(root_)) {
    EXPECT_TRUE(e.path().filename() == "data" || e.path().filename() == "backup" ||
                e.path().filename() == "restored")
        << e.path();
  }
}

TEST_F(BackupTest, NonEmptyTargetsAreRefused) {
  fs::create_directories(root_ / "busy");
  WriteAll(root_ / "busy" / "keep", "mine");
  auto sum = Backup(Options(root_ / "busy"));
  ASSERT_FALSE(sum.ok());
  EXPECT_NE(sum.error().message.find("not empty"), std::string::npos) << sum.error().message;
  EXPECT_EQ(ReadAll(root_ / "busy" / "keep"), "mine");

  ASSERT_TRUE(Backup(Options(root_ / "backup")).ok());
  auto restored = Restore({root_ / "backup", root_ / "busy", false});
  ASSERT_FALSE(restored.ok());
  EXPECT_NE(restored.error().message.find("not empty"), std::string::npos);
  EXPECT_EQ(std::distance(fs::directory_iterator(root_ / "busy"), fs::directory_iterator()), 1);
}

TEST_F(BackupTest, TamperedBackupIsRefusedBeforeAnythingIsWritten) {
  ASSERT_TRUE(Backup(Options(root_ / "backup")).ok());
  const fs::path manifest = root_ / "backup" / kManifestName;
  const std::string original = ReadAll(manifest);
  auto refused = [&](const std::string& needle) {
    auto r = Restore({root_ / "backup", root_ / "restored", false});
    EXPECT_FALSE(r.ok());
    if (!r.ok()) {
      EXPECT_NE(r.error().message.find(needle), std::string::npos) << r.error().message;
    }
    EXPECT_FALSE(fs::exists(root_ / "restored"));
  };

  // A file whose bytes changed.
  const std::string key = ReadAll(root_ / "backup/secret.key");
  WriteAll(root_ / "backup/secret.key", key.substr(0, key.size() - 1) + "x");
  refused("secret.key: SHA-256");
  WriteAll(root_ / "backup/secret.key", key);

  // The manifest edited: a digest, then a size.
  auto j = nlohmann::json::parse(original);
  j["files"][0]["sha256"] = std::string(64, '0');
  WriteAll(manifest, j.dump());
  refused("does not match its manifest");
  j = nlohmann::json::parse(original);
  j["files"][0]["size"] = 1;
  WriteAll(manifest, j.dump());
  refused("the manifest says 1");

  // A file gone.
  fs::rename(root_ / "backup/credentials", root_ / "credentials.aside");
  WriteAll(manifest, original);
  refused("credentials: missing");
  fs::rename(root_ / "credentials.aside", root_ / "backup/credentials");

  // A path out of the data dir.
  j = nlohmann::json::parse(original);
  j["files"][1]["path"] = "../escape";
  WriteAll(manifest, j.dump());
  refused("unexpected file");

  // No manifest: a backup that did not finish.
  fs::remove(manifest);
  refused("no manifest.json");

  WriteAll(manifest, original);
  EXPECT_TRUE(Restore({root_ / "backup", root_ / "restored", false}).ok());
}

TEST_F(BackupTest, NewerStateSchemaIsRefusedNamingBothVersions) {
  ASSERT_TRUE(
      sqlite::Exec(db_, "UPDATE state_meta SET value = 99 WHERE name = 'schema_version'").ok());
  ASSERT_TRUE(Backup(Options(root_ / "backup")).ok());
  auto r = Restore({root_ / "backup", root_ / "restored", false});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("99"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("(" + std::to_string(state::kSqliteStateSchemaVersion) + ")"),
            std::string::npos)
      << r.error().message;
  EXPECT_FALSE(fs::exists(root_ / "restored"));
}

TEST_F(BackupTest, MissingReferencedPackageFailsAndLeavesNoBackup) {
  SetFunctionCode(std::string(64, 'a'));
  auto sum = Backup(Options(root_ / "backup"));
  ASSERT_FALSE(sum.ok());
  EXPECT_NE(sum.error().message.find(std::string(64, 'a')), std::string::npos)
      << sum.error().message;
  EXPECT_NE(sum.error().message.find("/acct/000000000000/functions/f"), std::string::npos);
  EXPECT_FALSE(fs::exists(root_ / "backup"));
}

TEST_F(BackupTest, UnreferencedPackageCollectedDuringTheBackupIsNoError) {
  auto o = Options(root_ / "backup");
  // Listed, then collected before it is copied.
  o.before_code_copy = [&] {
    std::error_code ec;
    fs::remove(data_ / "code" / (spare_ + ".zip"), ec);
  };
  auto sum = Backup(o);
  ASSERT_TRUE(sum.ok()) << sum.error().message;
  EXPECT_EQ(sum->code_packages, 1);
  ASSERT_EQ(sum->notes.size(), 1u);
  EXPECT_NE(sum->notes[0].find("removed while the backup ran"), std::string::npos);
}

TEST_F(BackupTest, MissingSecretKeyFails) {
  fs::remove(data_ / "secret.key");
  auto sum = Backup(Options(root_ / "backup"));
  ASSERT_FALSE(sum.ok());
  EXPECT_NE(sum.error().message.find("secret.key"), std::string::npos);
}

}  // namespace
}  // namespace alto::cli
