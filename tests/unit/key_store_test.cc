#include "auth/key_store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "auth/bootstrap.h"
#include "common/encoding.h"
#include "store/secret_box.h"
#include "store/sqlite_util.h"
#include "support/test_state.h"

namespace alto::auth {
namespace {

namespace fs = std::filesystem;

class KeyStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("alto-keys-" + RandomHex(6));
    fs::create_directories(dir_);
    auto box = SecretBox::LoadOrCreate(dir_ / "secret.key");
    ASSERT_TRUE(box.ok());
    box_ = *box;
    ts_ = std::make_unique<testing::TestState>(dir_ / "alto.db");
  }
  void TearDown() override {
    ts_.reset();
    fs::remove_all(dir_);
  }
  // A store on the test's state: several of them are nodes sharing one state core.
  Result<std::unique_ptr<KeyStore>> TryOpen() {
    return OpenStateKeyStore(ts_->state(), box_, ts_->io().get_executor(), 1000);
  }
  std::unique_ptr<KeyStore> Open() {
    auto s = TryOpen();
    EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message);
    return s.ok() ? std::move(s.value()) : nullptr;
  }
  // Runs the watches' callbacks until `done` holds, for at most five seconds.
  template <typename F>
  bool RunUntil(F done) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      ts_->io().restart();
      ts_->io().run_for(std::chrono::milliseconds(10));
    }
    return true;
  }
  static std::string Slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  fs::path dir_;
  std::shared_ptr<const SecretBox> box_;
  std::unique_ptr<testing::TestState> ts_;
};

TEST_F(KeyStoreTest, AdminAccountExistsFromTheStart) {
  auto s = Open();
  auto accounts = s->ListAccounts();
  ASSERT_TRUE(accounts.ok());
  ASSERT_EQ(accounts->size(), 1u);
  EXPECT_EQ((*accounts)[0].id, kAdminAccountId);
  EXPECT_EQ((*accounts)[0].name, "admin");
  EXPECT_TRUE(s->GetAccount("admin").ok());
  EXPECT_EQ(s->GetAccount("123456789012").error().code, Errc::kNotFound);
}

TEST_F(KeyStoreTest, CreatedKeysSurviveReopenWithTheirSecretsSealed) {
  std::string id, secret;
  {
    auto s = Open();
    auto k = s->CreateKey(std::string(kAdminAccountId), "", "first");
    ASSERT_TRUE(k.ok()) << k.error().message;
    id = k->id;
    secret = k->secret;
    EXPECT_EQ(id.size(), 20u);
    EXPECT_EQ(id.substr(0, 4), "AKIA");
    EXPECT_EQ(secret.size(), 40u);
    EXPECT_TRUE(s->Find(id)->active);
  }
  // The secret is not in the database file in clear.
  ts_->Reopen();
  EXPECT_EQ(Slurp(dir_ / "alto.db").find(secret), std::string::npos);
  EXPECT_EQ(Slurp(dir_ / "alto.db-wal").find(secret), std::string::npos);
  auto s = Open();
  auto k = s->Find(id);
  ASSERT_TRUE(k.has_value());
  EXPECT_EQ(k->secret, secret);
  EXPECT_EQ(k->description, "first");
  EXPECT_TRUE(k->policy_json.empty());
  EXPECT_FALSE(s->Find("AKIAUNKNOWN").has_value());
}

TEST_F(KeyStoreTest, ADifferentSecretKeyFileCannotOpenTheKeys) {
  {
    auto s = Open();
    ASSERT_TRUE(s->CreateKey(std::string(kAdminAccountId), "", "", "k1", "s1").ok());
  }
  fs::remove(dir_ / "secret.key");
  box_ = *SecretBox::LoadOrCreate(dir_ / "secret.key");
  auto s = TryOpen();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("secret.key"), std::string::npos) << s.error().message;
}

TEST_F(KeyStoreTest, DisableAndDeleteShowAtOnce) {
  auto s = Open();
  ASSERT_TRUE(s->CreateKey(std::string(kAdminAccountId), "", "", "k1", "s1").ok());
  ASSERT_TRUE(s->SetActive("k1", false).ok());
  EXPECT_FALSE(s->Find("k1")->active);
  ASSERT_TRUE(s->SetActive("k1", true).ok());
  EXPECT_TRUE(s->Find("k1")->active);
  ASSERT_TRUE(s->DeleteKey("k1").ok());
  EXPECT_FALSE(s->Find("k1").has_value());
  EXPECT_EQ(s->DeleteKey("k1").error().code, Errc::kNotFound);
  EXPECT_EQ(s->SetActive("k1", true).error().code, Errc::kNotFound);
}

TEST_F(KeyStoreTest, RefusesBadIdsDuplicatesUnknownAccountsAndBadPolicies) {
  auto s = Open();
  EXPECT_EQ(s->CreateKey(std::string(kAdminAccountId), "", "", "has/slash", "x").error().code,
            Errc::kInvalidArgument);
  EXPECT_EQ(s->CreateKey(std::string(kAdminAccountId), "", "", "ok", "has space").error().code,
            Errc::kInvalidArgument);
  ASSERT_TRUE(s->CreateKey(std::string(kAdminAccountId), "", "", "dup", "x").ok());
  EXPECT_EQ(s->CreateKey(std::string(kAdminAccountId), "", "", "dup", "y").error().code,
            Errc::kConflict);
  EXPECT_EQ(s->CreateKey("999999999999", "", "").error().code, Errc::kNotFound);
  EXPECT_EQ(s->CreateKey(std::string(kAdminAccountId), "{not json", "").error().code,
            Errc::kInvalidArgument);
  auto listed = s->ListKeys(std::string(kAdminAccountId));
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->size(), 1u);  // only "dup": nothing refused was stored
}

TEST_F(KeyStoreTest, PolicyKeysKeepTheirParsedPolicy) {
  auto s = Open();
  std::string doc =
      R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"lambda:Get*","Resource":"*"}]})";
  auto k = s->CreateKey(std::string(kAdminAccountId), doc, "ro");
  ASSERT_TRUE(k.ok()) << k.error().message;
  EXPECT_NE(k->policy, nullptr);
  auto again = Open()->Find(k->id);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->policy_json, doc);
  EXPECT_NE(again->policy, nullptr);
}

TEST_F(KeyStoreTest, BootstrapMakesOneAdminKeyAndWritesIt0600) {
  auto s = Open();
  auto first = EnsureAdminKey(*s, "", "", dir_ / "credentials");
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_TRUE(first->created);
  struct stat st {};
  ASSERT_EQ(::stat((dir_ / "credentials").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::string text = Slurp(dir_ / "credentials");
  EXPECT_NE(text.find("[alto]"), std::string::npos);
  EXPECT_NE(text.find(first->access_key_id), std::string::npos);
  EXPECT_NE(text.find(s->Find(first->access_key_id)->secret), std::string::npos);
  auto second = EnsureAdminKey(*s, "other", "other", dir_ / "credentials");
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(second->created);  // the env pair applies at the first start only
  EXPECT_EQ(second->access_key_id, first->access_key_id);
  EXPECT_FALSE(s->Find("other").has_value());
}

TEST_F(KeyStoreTest, BootstrapTakesTheEnvironmentPairAndRefusesHalfOfIt) {
  auto s = Open();
  auto half = EnsureAdminKey(*s, "test", "", dir_ / "credentials");
  EXPECT_FALSE(half.ok());
  auto made = EnsureAdminKey(*s, "test", "test", dir_ / "credentials");
  ASSERT_TRUE(made.ok());
  EXPECT_EQ(made->access_key_id, "test");
  EXPECT_EQ(s->Find("test")->secret, "test");
}

TEST_F(KeyStoreTest, AnotherNodeSeesKeysCreatedDisabledAndDeleted) {
  auto a = Open();
  auto b = Open();
  ASSERT_TRUE(a->CreateKey(std::string(kAdminAccountId), "", "from a", "k1", "s1").ok());
  EXPECT_TRUE(a->Find("k1").has_value());  // at once where it was made
  ASSERT_TRUE(RunUntil([&] { return b->Find("k1").has_value(); }));
  EXPECT_EQ(b->Find("k1")->secret, "s1");
  EXPECT_EQ(b->Find("k1")->description, "from a");
  EXPECT_EQ(b->ListKeys(std::string(kAdminAccountId))->size(), 1u);

  ASSERT_TRUE(a->SetActive("k1", false).ok());
  ASSERT_TRUE(RunUntil([&] { return !b->Find("k1")->active; }));
  ASSERT_TRUE(b->SetActive("k1", true).ok());  // and back, from the other side
  ASSERT_TRUE(RunUntil([&] { return a->Find("k1")->active; }));
  EXPECT_TRUE(b->Find("k1")->active);

  ASSERT_TRUE(a->DeleteKey("k1").ok());
  ASSERT_TRUE(RunUntil([&] { return !b->Find("k1").has_value(); }));
  EXPECT_FALSE(a->Find("k1").has_value());
  EXPECT_EQ(b->DeleteKey("k1").error().code, Errc::kNotFound);
}

TEST_F(KeyStoreTest, TheWatchCatchingUpDoesNotUndoALocalWrite) {
  auto a = Open();
  auto b = Open();
  ASSERT_TRUE(a->CreateKey(std::string(kAdminAccountId), "", "", "k1", "s1").ok());
  ASSERT_TRUE(b->SetActive("k1", false).ok());
  ASSERT_TRUE(a->DeleteKey("k1").ok());
  // The watches now deliver the create, the disable and the delete, one batch at a time; the
  // older ones must never bring back the key a deleted locally.
  int handlers = 0;
  for (; handlers < 1000 && ts_->io().poll_one() > 0; ++handlers) {
    EXPECT_FALSE(a->Find("k1").has_value()) << "after handler " << handlers;
  }
  EXPECT_GE(handlers, 3);  // the three batches reached a's watch one by one
  EXPECT_FALSE(a->Find("k1").has_value());
  EXPECT_FALSE(b->Find("k1").has_value());
}

TEST_F(KeyStoreTest, AccountNamesAreUniqueAndAccountsReachOtherNodes) {
  auto a = Open();
  auto b = Open();
  auto team = a->CreateAccount("team-a");
  ASSERT_TRUE(team.ok()) << team.error().message;
  EXPECT_EQ(team->id.size(), 12u);
  EXPECT_NE(team->id, kAdminAccountId);
  EXPECT_EQ(a->GetAccount("team-a")->id, team->id);
  EXPECT_EQ(a->GetAccount(team->id)->name, "team-a");
  EXPECT_EQ(a->CreateAccount("team-a").error().code, Errc::kConflict);
  // b has not seen team-a yet, but the state refuses the name all the same.
  EXPECT_EQ(b->CreateAccount("team-a").error().code, Errc::kConflict);
  EXPECT_EQ(b->CreateAccount("admin").error().code, Errc::kConflict);
  EXPECT_EQ(a->CreateAccount("").error().code, Errc::kInvalidArgument);
  EXPECT_EQ(a->CreateAccount("123456789012").error().code, Errc::kInvalidArgument);
  EXPECT_EQ(a->CreateAccount("has space").error().code, Errc::kInvalidArgument);
  ASSERT_TRUE(RunUntil([&] { return b->GetAccount("team-a").ok(); }));
  EXPECT_EQ(b->ListAccounts()->size(), 2u);
  // Keys can be made for it on either node: the account is checked in the state.
  auto k = b->CreateKey(team->id, "", "");
  ASSERT_TRUE(k.ok()) << k.error().message;
  EXPECT_EQ(k->account_id, team->id);
}

TEST_F(KeyStoreTest, DeletingAnAccountTakesItsKeysAndNeverItsResources) {
  auto a = Open();
  auto b = Open();
  EXPECT_EQ(a->DeleteAccount(std::string(kAdminAccountId)).error().code, Errc::kInvalidArgument);
  EXPECT_EQ(a->DeleteAccount("admin").error().code, Errc::kInvalidArgument);
  EXPECT_EQ(a->DeleteAccount("nobody").error().code, Errc::kNotFound);
  auto team = a->CreateAccount("team-d");
  ASSERT_TRUE(team.ok()) << team.error().message;
  auto k1 = a->CreateKey(team->id, "", "");
  auto k2 = a->CreateKey(team->id, "", "");
  ASSERT_TRUE(k1.ok() && k2.ok());
  ASSERT_TRUE(RunUntil([&] { return b->Find(k2->id).has_value(); }));
  // A resource of the account blocks the delete, and nothing is deleted.
  const std::string owned = "/acct/" + team->id + "/functions/f";
  ASSERT_TRUE(ts_->state()->Put(owned, "{}").ok());
  EXPECT_EQ(a->DeleteAccount("team-d").error().code, Errc::kPreconditionFailed);
  EXPECT_TRUE(a->Find(k1->id).has_value());
  ASSERT_TRUE(ts_->state()->Delete(owned).ok());
  ASSERT_TRUE(a->DeleteAccount("team-d").ok());
  EXPECT_FALSE(a->Find(k1->id).has_value());
  EXPECT_FALSE(a->GetAccount("team-d").ok());
  EXPECT_EQ(a->DeleteAccount(team->id).error().code, Errc::kNotFound);
  // The other node follows; the name is free again.
  ASSERT_TRUE(RunUntil([&] { return !b->Find(k2->id).has_value(); }));
  EXPECT_FALSE(b->GetAccount(team->id).ok());
  EXPECT_TRUE(b->CreateAccount("team-d").ok());
}

TEST_F(KeyStoreTest, NodesStartingTogetherCreateTheAdminAccountOnce) {
  constexpr int kNodes = 6;
  std::vector<std::unique_ptr<KeyStore>> stores(kNodes);
  std::vector<std::string> errors(kNodes);
  {
    std::vector<std::thread> threads;
    for (int i = 0; i < kNodes; ++i) {
      threads.emplace_back([&, i] {
        auto s = TryOpen();
        if (s) {
          stores[i] = std::move(*s);
        } else {
          errors[i] = s.error().message;
        }
      });
    }
    for (auto& t : threads) t.join();
  }
  for (int i = 0; i < kNodes; ++i) {
    ASSERT_TRUE(stores[i]) << errors[i];
    auto accounts = stores[i]->ListAccounts();
    ASSERT_EQ(accounts->size(), 1u);
    EXPECT_EQ((*accounts)[0].id, kAdminAccountId);
  }
  auto admin = ts_->state()->Get("/accounts/" + std::string(kAdminAccountId));
  ASSERT_TRUE(admin.ok());
  EXPECT_EQ(admin->version, 1);  // written once
  auto name = ts_->state()->Get("/account-names/admin");
  ASSERT_TRUE(name.ok());
  EXPECT_EQ(name->value, kAdminAccountId);
  EXPECT_EQ(name->version, 1);
}

TEST_F(KeyStoreTest, LegacyTablesMoveIntoTheStateOnceAndAreDropped) {
  const std::string db = (dir_ / "alto.db").string();
  const std::string sealed = *box_->Seal("old-secret", "access-key:AKIAOLD");
  {
    auto raw = sqlite::Open(db);
    ASSERT_TRUE(raw.ok());
    std::unique_ptr<sqlite3, decltype(&sqlite3_close_v2)> owner(*raw, sqlite3_close_v2);
    // The tables and rows as the Alto before the state core wrote them.
    ASSERT_TRUE(sqlite::Exec(*raw,
                             "CREATE TABLE accounts (id TEXT PRIMARY KEY, name TEXT NOT NULL"
                             " UNIQUE, created_ms INTEGER NOT NULL);"
                             "CREATE TABLE access_keys (id TEXT PRIMARY KEY, account TEXT NOT"
                             " NULL, secret BLOB NOT NULL, active INTEGER NOT NULL, policy TEXT"
                             " NOT NULL, description TEXT NOT NULL, created_ms INTEGER NOT NULL);"
                             "INSERT INTO accounts VALUES('000000000000', 'admin', 5);"
                             "INSERT INTO accounts VALUES('123456789012', 'team', 6);")
                    .ok());
    const std::string policy =
        R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"lambda:Get*","Resource":"*"}]})";
    sqlite::Stmt ins(*raw, "INSERT INTO access_keys VALUES(?,?,?,?,?,?,?)");
    auto insert = [&](const std::string& id, const std::string& account, std::string_view secret,
                      int64_t active, const std::string& pol) {
      ins.Reset();
      ins.Bind(1, id);
      ins.Bind(2, account);
      ins.BindBlob(3, secret);
      ins.Bind(4, active);
      ins.Bind(5, pol);
      ins.Bind(6, std::string_view("old key"));
      ins.Bind(7, int64_t{7});
      ASSERT_EQ(ins.Step(), SQLITE_DONE);
    };
    insert("AKIAOLD", "000000000000", sealed, 1, "");
    insert("AKIAOFF", "123456789012", *box_->Seal("off-secret", "access-key:AKIAOFF"), 0, policy);
  }
  auto moved = MigrateLegacyKeyTables(db, *ts_->state());
  ASSERT_TRUE(moved.ok()) << moved.error().message;
  EXPECT_EQ(*moved, 4);  // two accounts, two keys
  auto again = MigrateLegacyKeyTables(db, *ts_->state());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, 0);

  auto s = Open();
  auto accounts = s->ListAccounts();
  ASSERT_TRUE(accounts.ok());
  ASSERT_EQ(accounts->size(), 2u);
  EXPECT_EQ((*accounts)[0].created_ms, 5);  // the moved admin account, not a new one
  EXPECT_EQ(s->GetAccount("team")->id, "123456789012");
  EXPECT_EQ(s->CreateAccount("team").error().code, Errc::kConflict);  // the name index moved too
  auto old = s->Find("AKIAOLD");
  ASSERT_TRUE(old.has_value());
  EXPECT_EQ(old->secret, "old-secret");
  EXPECT_TRUE(old->active);
  EXPECT_EQ(old->description, "old key");
  EXPECT_EQ(old->created_ms, 7);
  auto off = s->Find("AKIAOFF");
  ASSERT_TRUE(off.has_value());
  EXPECT_EQ(off->secret, "off-secret");
  EXPECT_FALSE(off->active);
  EXPECT_EQ(off->account_id, "123456789012");
  EXPECT_NE(off->policy, nullptr);

  // The sealed bytes were copied as they were, not sealed again.
  auto stored = ts_->state()->Get("/access-keys/AKIAOLD");
  ASSERT_TRUE(stored.ok());
  EXPECT_NE(stored->value.find(Base64Encode(sealed)), std::string::npos);

  auto raw = sqlite::Open(db);
  ASSERT_TRUE(raw.ok());
  {
    sqlite::Stmt q(*raw,
                   "SELECT count(*) FROM sqlite_master WHERE name IN ('accounts', 'access_keys')");
    ASSERT_EQ(q.Step(), SQLITE_ROW);
    EXPECT_EQ(q.Int(0), 0);
  }
  sqlite3_close_v2(*raw);
}

TEST_F(KeyStoreTest, NoLegacyTablesMovesNothing) {
  auto moved = MigrateLegacyKeyTables((dir_ / "alto.db").string(), *ts_->state());
  ASSERT_TRUE(moved.ok()) << moved.error().message;
  EXPECT_EQ(*moved, 0);
}

TEST(AccessKeyShapes, GeneratedIdsAndSecretsAreValidAndDistinct) {
  std::set<std::string> seen;
  for (int i = 0; i < 200; ++i) {
    std::string id = NewAccessKeyId();
    EXPECT_TRUE(ValidKeyId(id)) << id;
    EXPECT_TRUE(ValidSecret(NewSecretAccessKey()));
    EXPECT_TRUE(seen.insert(id).second);
  }
  EXPECT_FALSE(ValidKeyId(""));
  EXPECT_FALSE(ValidKeyId(std::string(129, 'A')));
  EXPECT_FALSE(ValidSecret("a\tb"));
}

}  // namespace
}  // namespace alto::auth
