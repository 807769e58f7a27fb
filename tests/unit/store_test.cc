#include "store/store.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "common/encoding.h"
#include "store/code_store.h"
#include "support/test_state.h"

namespace alto {
namespace {

namespace fs = std::filesystem;

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("alto-store-" + RandomHex(6));
    fs::create_directories(dir_);
  }
  void TearDown() override {
    states_.clear();
    fs::remove_all(dir_);
  }
  // A store on a fresh connection to the test's state: each Open() is a restart.
  std::unique_ptr<MetadataStore> Open() {
    states_.push_back(std::make_unique<testing::TestState>(dir_ / "alto.db"));
    return OpenStateFunctionStore(states_.back()->Take(), "000000000000");
  }
  static FunctionConfig Fn(const std::string& name) {
    FunctionConfig f;
    f.name = name;
    f.runtime = "python3.12";
    f.handler = "app.handler";
    f.revision_id = NewUuid();
    f.code_sha256_hex = "ab";
    f.environment = {{"K", "v"}};
    return f;
  }
  fs::path dir_;
  std::vector<std::unique_ptr<testing::TestState>> states_;
};

TEST_F(StoreTest, CreateGetAndConflict) {
  auto s = Open();
  ASSERT_TRUE(s->CreateFunction(Fn("a")).ok());
  auto dup = s->CreateFunction(Fn("a"));
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().code, Errc::kConflict);
  auto got = s->GetFunction("a");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->handler, "app.handler");
  EXPECT_EQ(got->environment.at("K"), "v");
  EXPECT_EQ(s->GetFunction("zz").error().code, Errc::kNotFound);
}

TEST_F(StoreTest, ListsInPagesByName) {
  auto s = Open();
  for (const char* n : {"d", "b", "a", "e", "c"}) ASSERT_TRUE(s->CreateFunction(Fn(n)).ok());
  auto p1 = s->ListFunctions("", 2);
  ASSERT_TRUE(p1.ok());
  ASSERT_EQ(p1->size(), 2u);
  EXPECT_EQ((*p1)[0].name, "a");
  EXPECT_EQ((*p1)[1].name, "b");
  auto p2 = s->ListFunctions("b", 10);
  ASSERT_EQ(p2->size(), 3u);
  EXPECT_EQ((*p2)[2].name, "e");
}

TEST_F(StoreTest, UpdateChecksRevision) {
  auto s = Open();
  auto f = Fn("a");
  ASSERT_TRUE(s->CreateFunction(f).ok());
  auto old_rev = f.revision_id;
  f.timeout_s = 30;
  f.revision_id = NewUuid();
  ASSERT_TRUE(s->UpdateFunction(f, old_rev).ok());
  auto stale = s->UpdateFunction(f, old_rev);  // someone else's revision is current now
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.error().code, Errc::kConflict);
  EXPECT_EQ(s->GetFunction("a")->timeout_s, 30);
}

TEST_F(StoreTest, SurvivesReopenAndDeletes) {
  {
    auto s = Open();
    ASSERT_TRUE(s->CreateFunction(Fn("keep")).ok());
    ASSERT_TRUE(s->CreateFunction(Fn("gone")).ok());
    ASSERT_TRUE(s->DeleteFunction("gone").ok());
    EXPECT_EQ(s->DeleteFunction("gone").error().code, Errc::kNotFound);
  }
  auto s = Open();
  EXPECT_TRUE(s->GetFunction("keep").ok());
  EXPECT_FALSE(s->GetFunction("gone").ok());
  auto refs = s->ReferencedCode();
  ASSERT_TRUE(refs.ok());
  EXPECT_EQ(refs->size(), 1u);
}

TEST_F(StoreTest, CodeStoreIsContentAddressedAndCollects) {
  CodeStore code(dir_ / "code");
  ASSERT_TRUE(code.Init().ok());
  auto bad = code.Put("definitely not a zip");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, Errc::kInvalidArgument);
  // Nothing half-written is left behind by a failed upload.
  size_t entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir_ / "code")) ++entries;
  EXPECT_EQ(entries, 0u);
  // An empty zip (end-of-central-directory record only) is a valid package.
  std::string empty_zip("PK\x05\x06", 4);
  empty_zip.append(18, '\0');
  auto ok = code.Put(empty_zip);
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(ok->sha256_hex, HexEncode(Sha256(empty_zip)));
  EXPECT_TRUE(fs::is_directory(code.CodeDir(ok->sha256_hex)));
  code.GarbageCollect({});
  EXPECT_FALSE(fs::exists(code.CodeDir(ok->sha256_hex)));
}

}  // namespace
}  // namespace alto
