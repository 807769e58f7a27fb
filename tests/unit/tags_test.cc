#include "api/tags.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "common/encoding.h"
#include "store/store.h"
#include "support/test_state.h"

namespace alto {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

FunctionTags ManyTags(size_t n, const std::string& prefix = "k") {
  FunctionTags t;
  for (size_t i = 0; i < n; ++i) t[prefix + std::to_string(i)] = "v";
  return t;
}

TEST(Tags, AcceptsLambdasLimits) {
  EXPECT_TRUE(ValidateTags({}).ok());
  EXPECT_TRUE(ValidateTags({{"team", ""}}).ok());  // values may be empty
  EXPECT_TRUE(ValidateTags({{std::string(128, 'k'), std::string(256, 'v')}}).ok());
  EXPECT_TRUE(ValidateTags(ManyTags(50)).ok());
  // Characters, not bytes: 128 two-byte characters are a valid key.
  std::string wide;
  for (int i = 0; i < 128; ++i) wide += "\xc3\xa9";
  EXPECT_TRUE(ValidateTags({{wide, wide}}).ok());
  EXPECT_TRUE(ValidateTags({{"awsome", "x"}, {"my:aws:", "x"}}).ok());  // only the prefix
}

TEST(Tags, RefusesWhatLambdaRefuses) {
  const FunctionTags bad[] = {
      {{"", "v"}},
      {{std::string(129, 'k'), "v"}},
      {{"k", std::string(257, 'v')}},
      {{"aws:team", "x"}},
      {{"AWS:team", "x"}},
      {{"Aws:", "x"}},
      ManyTags(51),
  };
  for (const auto& tags : bad) {
    auto st = ValidateTags(tags);
    ASSERT_FALSE(st.ok()) << tags.begin()->first;
    EXPECT_EQ(st.error().code, Errc::kInvalidArgument);
  }
  EXPECT_NE(ValidateTagKey("aWs:x").error().message.find("aws:"), std::string::npos);
  EXPECT_NE(CheckTagCount(ManyTags(51)).error().message.find("limit"), std::string::npos);
}

TEST(Tags, ReadsARequestMap) {
  auto ok = TagsFromJson(json{{"a", "1"}, {"b", nullptr}});
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, (FunctionTags{{"a", "1"}, {"b", ""}}));
  EXPECT_FALSE(TagsFromJson(json::array()).ok());
  EXPECT_FALSE(TagsFromJson(json{{"a", 1}}).ok());
  EXPECT_FALSE(TagsFromJson(json{{"a", json::object()}}).ok());
  EXPECT_FALSE(TagsFromJson(json{{"aws:x", "1"}}).ok());
}

class TagStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("alto-tags-" + RandomHex(6));
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
    return f;
  }
  fs::path dir_;
  std::vector<std::unique_ptr<testing::TestState>> states_;
};

TEST_F(TagStoreTest, CreatedWithTheFunctionAndDurable) {
  {
    auto s = Open();
    ASSERT_TRUE(s->CreateFunction(Fn("f"), {{"team", "a"}, {"env", "dev"}}).ok());
    // A failed create (the name is taken) leaves the first function's tags alone.
    EXPECT_EQ(s->CreateFunction(Fn("f"), {{"other", "x"}}).error().code, Errc::kConflict);
  }
  auto s = Open();
  auto tags = s->ListTags("f");
  ASSERT_TRUE(tags.ok());
  EXPECT_EQ(*tags, (FunctionTags{{"team", "a"}, {"env", "dev"}}));
  EXPECT_EQ(s->ListTags("nope").error().code, Errc::kNotFound);
}

TEST_F(TagStoreTest, ChangesMergeAndCheckTheResult) {
  auto s = Open();
  ASSERT_TRUE(s->CreateFunction(Fn("f"), ManyTags(49)).ok());
  const auto revision = s->GetFunction("f")->revision_id;
  ASSERT_TRUE(s->ChangeTags("f", {{"k0", "new"}, {"extra", "1"}}, {}, CheckTagCount).ok());
  EXPECT_EQ(s->ListTags("f")->size(), 50u);
  EXPECT_EQ(s->ListTags("f")->at("k0"), "new");
  // A 51st tag is refused and nothing changes.
  auto over = s->ChangeTags("f", {{"one-more", "x"}, {"k1", "changed"}}, {}, CheckTagCount);
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.error().code, Errc::kInvalidArgument);
  EXPECT_EQ(s->ListTags("f")->size(), 50u);
  EXPECT_EQ(s->ListTags("f")->at("k1"), "v");
  // Removing (absent keys too) makes room.
  ASSERT_TRUE(s->ChangeTags("f", {}, {"k2", "k3", "absent"}, CheckTagCount).ok());
  ASSERT_TRUE(s->ChangeTags("f", {{"one-more", "x"}}, {}, CheckTagCount).ok());
  EXPECT_EQ(s->ListTags("f")->size(), 49u);
  // Tags are not the function's configuration: its revision stays.
  EXPECT_EQ(s->GetFunction("f")->revision_id, revision);
  EXPECT_EQ(s->ChangeTags("nope", {{"a", "b"}}, {}, CheckTagCount).error().code, Errc::kNotFound);
}

TEST_F(TagStoreTest, GoneWithTheFunctionAndNotInherited) {
  auto s = Open();
  ASSERT_TRUE(s->CreateFunction(Fn("f"), {{"team", "a"}}).ok());
  ASSERT_TRUE(s->DeleteFunction("f").ok());
  EXPECT_EQ(s->ListTags("f").error().code, Errc::kNotFound);
  // A new function of the same name starts untagged.
  ASSERT_TRUE(s->CreateFunction(Fn("f")).ok());
  EXPECT_TRUE(s->ListTags("f")->empty());
}

}  // namespace
}  // namespace alto
