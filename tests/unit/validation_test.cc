#include "api/validation.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace alto {
namespace {

using nlohmann::json;

TEST(FunctionRef, AcceptsEveryLambdaForm) {
  struct {
    const char* raw;
    const char* name;
    const char* qualifier;
  } cases[] = {
      {"hello", "hello", ""},
      {"hello:$LATEST", "hello", "$LATEST"},
      {"hello:live", "hello", "live"},
      {"arn:aws:lambda:us-east-1:000000000000:function:hello", "hello", ""},
      {"arn:aws:lambda:us-east-1:000000000000:function:hello:7", "hello", "7"},
      {"000000000000:function:hello", "hello", ""},
  };
  for (const auto& c : cases) {
    auto r = ParseFunctionRef(c.raw);
    ASSERT_TRUE(r.ok()) << c.raw << ": " << r.error().message;
    EXPECT_EQ(r->name, c.name);
    EXPECT_EQ(r->qualifier, c.qualifier);
  }
}

TEST(FunctionRef, RejectsBadNames) {
  for (const char* raw :
       {"", "bad name", "bad/name", "a:b:c", "arn:aws:s3:us-east-1:000000000000:function:x",
        "arn:aws:lambda:us-east-1:123:function:x", "x:$NOPE"}) {
    auto r = ParseFunctionRef(raw);
    EXPECT_FALSE(r.ok()) << raw;
    if (!r.ok()) EXPECT_EQ(r.error().code, Errc::kInvalidArgument);
  }
  EXPECT_FALSE(ParseFunctionRef(std::string(65, 'a')).ok());
  EXPECT_TRUE(ParseFunctionRef(std::string(64, 'a')).ok());
}

TEST(Environment, RefusesReservedKeysAndOversize) {
  EXPECT_TRUE(ValidateEnvironment({{"GREETING", "hi"}}).ok());
  auto reserved = ValidateEnvironment({{"AWS_REGION", "x"}, {"OK_NAME", "y"}});
  ASSERT_FALSE(reserved.ok());
  EXPECT_NE(reserved.error().message.find("AWS_REGION"), std::string::npos);
  EXPECT_FALSE(ValidateEnvironment({{"1BAD", "x"}}).ok());
  EXPECT_FALSE(ValidateEnvironment({{"BAD-NAME", "x"}}).ok());
  // Lambda measures the JSON text {"BIG":"xx..."}: 10 bytes around the value.
  EXPECT_FALSE(ValidateEnvironment({{"BIG", std::string(4087, 'x')}}).ok());
  EXPECT_TRUE(ValidateEnvironment({{"BIG", std::string(4086, 'x')}}).ok());
}

json CreateBody() {
  return {{"FunctionName", "fn"},
          {"Runtime", "python3.12"},
          {"Handler", "app.handler"},
          {"Role", "arn:aws:iam::000000000000:role/any"},
          {"Code", {{"ZipFile", "UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA=="}}}};
}

TEST(CreateRequest, AppliesLambdaDefaults) {
  auto f = ConfigFromCreateRequest(CreateBody());
  ASSERT_TRUE(f.ok()) << f.error().message;
  EXPECT_EQ(f->memory_mb, 128);
  EXPECT_EQ(f->timeout_s, 3);
  EXPECT_EQ(f->ephemeral_storage_mb, 512);
  EXPECT_EQ(f->version, "$LATEST");
}

TEST(CreateRequest, EnforcesLimits) {
  struct {
    const char* field;
    json value;
  } bad[] = {
      {"MemorySize", 127},
      {"MemorySize", 10241},
      {"Timeout", 0},
      {"Timeout", 901},
      {"Runtime", "cobol"},
      {"Handler", ""},
      {"Handler", "a b"},
      {"MemorySize", "big"},
      {"Description", std::string(257, 'd')},
      {"Role", "not-a-role"},
      {"PackageType", "Image"},
      // Integers only, and only in range (1e300 was undefined behaviour; fuzz_api_validation).
      {"MemorySize", 128.5},
      {"MemorySize", 1e300},
      {"MemorySize", 4294967424ull},
      {"Timeout", -4294967293ll},
      {"EphemeralStorage", {{"Size", 4294967808ull}}}};
  for (const auto& b : bad) {
    json body = CreateBody();
    body[b.field] = b.value;
    auto f = ConfigFromCreateRequest(body);
    EXPECT_FALSE(f.ok()) << b.field << "=" << b.value.dump();
  }
  json ok = CreateBody();
  ok["MemorySize"] = 10240;
  ok["Timeout"] = 900;
  EXPECT_TRUE(ConfigFromCreateRequest(ok).ok());
}

TEST(UpdateRequest, LeavesConfigUntouchedOnError) {
  auto f = ConfigFromCreateRequest(CreateBody());
  ASSERT_TRUE(f.ok());
  FunctionConfig before = *f;
  EXPECT_FALSE(ApplyConfigUpdate(*f, {{"MemorySize", 64}, {"Timeout", 10}}).ok());
  EXPECT_EQ(f->timeout_s, before.timeout_s);
  EXPECT_TRUE(
      ApplyConfigUpdate(*f, {{"Timeout", 10}, {"Environment", {{"Variables", {{"A1", "b"}}}}}})
          .ok());
  EXPECT_EQ(f->timeout_s, 10);
  EXPECT_EQ(f->environment.at("A1"), "b");
}

}  // namespace
}  // namespace alto
