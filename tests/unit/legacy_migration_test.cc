// A data dir written before the state core (functions in tables of their own) is moved into the
// state core at the first start, losing nothing, and a second start moves nothing again.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>

#include "common/encoding.h"
#include "store/function_codec.h"
#include "store/function_url.h"
#include "store/provisioned.h"
#include "store/sqlite_util.h"
#include "store/store.h"
#include "support/test_state.h"

namespace alto {
namespace {

namespace fs = std::filesystem;

// The tables and rows as the Alto before the state core wrote them.
void WriteLegacyDataDir(const std::string& path, const SecretBox& box) {
  auto db = sqlite::Open(path);
  ASSERT_TRUE(db.ok());
  std::unique_ptr<sqlite3, decltype(&sqlite3_close_v2)> owner(*db, sqlite3_close_v2);
  ASSERT_TRUE(sqlite::Exec(*db,
                           "CREATE TABLE functions (name TEXT NOT NULL, version TEXT NOT NULL,"
                           " revision TEXT NOT NULL, code_sha256 TEXT NOT NULL, config TEXT NOT"
                           " NULL, PRIMARY KEY (name, version));"
                           "CREATE TABLE function_version_seq (name TEXT PRIMARY KEY, last INTEGER"
                           " NOT NULL);"
                           "CREATE TABLE aliases (function TEXT NOT NULL, name TEXT NOT NULL,"
                           " function_version TEXT NOT NULL, additional_version TEXT NOT NULL,"
                           " revision TEXT NOT NULL, config TEXT NOT NULL, PRIMARY KEY (function,"
                           " name));"
                           "CREATE TABLE function_tags (function TEXT NOT NULL, key TEXT NOT NULL,"
                           " value TEXT NOT NULL, PRIMARY KEY (function, key));"
                           "CREATE TABLE function_urls (url_id TEXT PRIMARY KEY, function TEXT NOT"
                           " NULL, qualifier TEXT NOT NULL, config TEXT NOT NULL);"
                           "CREATE TABLE provisioned_concurrency (function TEXT NOT NULL,"
                           " qualifier TEXT NOT NULL, requested INTEGER NOT NULL,"
                           " last_modified_ms INTEGER NOT NULL, PRIMARY KEY (function,"
                           " qualifier));")
                  .ok());
  FunctionConfig f;
  f.name = "old";
  f.runtime = "python3.12";
  f.handler = "app.handler";
  f.code_sha256_hex = "c0de";
  f.revision_id = "r-latest";
  f.environment = {{"PLAIN", "p"}, {"TOKEN", "s3cret"}};
  f.secret_names = {"TOKEN"};
  auto insert = [&](const FunctionConfig& v) {
    auto text = EncodeFunction(v, &box);
    ASSERT_TRUE(text.ok());
    sqlite::Stmt s(*db, "INSERT INTO functions VALUES(?,?,?,?,?)");
    s.Bind(1, v.name);
    s.Bind(2, v.version);
    s.Bind(3, v.revision_id);
    s.Bind(4, v.code_sha256_hex);
    s.Bind(5, *text);
    ASSERT_EQ(s.Step(), SQLITE_DONE);
  };
  insert(f);
  for (int n : {1, 3}) {  // version 2 was deleted: the next one must be 4
    FunctionConfig v = f;
    v.version = std::to_string(n);
    v.code_sha256_hex = "c0de" + std::to_string(n);
    insert(v);
  }
  FunctionUrlConfig u;
  u.url_id = "abcdefghijklmnopqrstuvwxyz012345";
  u.function = "old";
  u.auth_type = "AWS_IAM";
  ASSERT_TRUE(sqlite::Exec(*db, ("INSERT INTO function_version_seq VALUES('old', 3);"
                                 "INSERT INTO aliases VALUES('old', 'live', '3', '1', 'r-alias',"
                                 " '{\"description\":\"d\",\"additional_version\":\"1\","
                                 "\"additional_weight\":0.25}');"
                                 "INSERT INTO function_tags VALUES('old', 'team', 'a');"
                                 "INSERT INTO provisioned_concurrency VALUES('old', 'live', 2, 5);"
                                 "INSERT INTO function_urls VALUES('" +
                                 u.url_id + "', 'old', '', '" + SerializeFunctionUrl(u) + "');")
                                    .c_str())
                  .ok());
}

TEST(LegacyMigrationTest, MovesEverythingOnceAndDropsTheOldTables) {
  fs::path dir = fs::temp_directory_path() / ("alto-migrate-" + RandomHex(6));
  fs::create_directories(dir);
  const std::string db = (dir / "alto.db").string();
  auto box = std::make_shared<SecretBox>(std::string(32, 'k'));
  WriteLegacyDataDir(db, *box);
  {
    testing::TestState ts(dir / "alto.db");
    auto moved = MigrateLegacyFunctionTables(db, *ts.state(), "000000000000");
    ASSERT_TRUE(moved.ok()) << moved.error().message;
    EXPECT_EQ(*moved, 1);
    auto again = MigrateLegacyFunctionTables(db, *ts.state(), "000000000000");
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(*again, 0);

    auto store = OpenStateFunctionStore(ts.state(), "000000000000", box);
    auto latest = store->GetFunction("old");
    ASSERT_TRUE(latest.ok()) << latest.error().message;
    EXPECT_EQ(latest->environment.at("TOKEN"), "s3cret");
    EXPECT_EQ(latest->revision_id, "r-latest");
    auto versions = store->ListVersions("old");
    ASSERT_TRUE(versions.ok());
    ASSERT_EQ(versions->size(), 3u);
    EXPECT_EQ((*versions)[1].version, "1");
    EXPECT_EQ((*versions)[2].version, "3");
    auto alias = store->GetAlias("old", "live");
    ASSERT_TRUE(alias.ok());
    EXPECT_EQ(alias->function_version, "3");
    EXPECT_EQ(alias->additional_version, "1");
    EXPECT_DOUBLE_EQ(alias->additional_weight, 0.25);
    EXPECT_EQ(alias->description, "d");
    EXPECT_EQ(*store->ListTags("old"), (FunctionTags{{"team", "a"}}));
    // Version numbers continue after the highest ever given, not after the highest left.
    FunctionConfig changed = *latest;
    changed.code_sha256_hex = "new";
    changed.revision_id = "r2";
    ASSERT_TRUE(store->UpdateFunction(changed, "r-latest").ok());
    auto published = store->PublishVersion(changed, "r2");
    ASSERT_TRUE(published.ok());
    EXPECT_EQ(published->version, "4");

    auto urls = OpenStateFunctionUrlStore(ts.state(), "000000000000")->ListAll();
    ASSERT_TRUE(urls.ok());
    ASSERT_EQ(urls->size(), 1u);
    EXPECT_EQ((*urls)[0].auth_type, "AWS_IAM");
    EXPECT_EQ((*urls)[0].qualifier, "");
    auto provisioned = OpenStateProvisionedStore(ts.state(), "000000000000")->ListAll();
    ASSERT_TRUE(provisioned.ok());
    ASSERT_EQ(provisioned->size(), 1u);
    EXPECT_EQ((*provisioned)[0].requested, 2);

    // Deleting the function removes everything it owned, in one transaction.
    ASSERT_TRUE(store->DeleteFunction("old").ok());
    auto left = ts.state()->Range("/acct/");
    ASSERT_TRUE(left.ok());
    EXPECT_TRUE(left->kvs.empty()) << left->kvs.front().key;
  }
  auto raw = sqlite::Open(db);
  ASSERT_TRUE(raw.ok());
  sqlite::Stmt s(*raw,
                 "SELECT count(*) FROM sqlite_master WHERE name IN ('functions', 'aliases',"
                 " 'function_tags', 'function_version_seq', 'function_urls',"
                 " 'provisioned_concurrency')");
  ASSERT_EQ(s.Step(), SQLITE_ROW);
  EXPECT_EQ(s.Int(0), 0);
  s.Reset();
  sqlite3_close_v2(*raw);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace alto
