#include "api/routes.h"

#include <gtest/gtest.h>

#include <utility>

namespace alto {
namespace {

struct Case {
  const char* method;
  const char* path;
  Op op;
  const char* fn;
};

TEST(Routes, MatchesEveryOperation) {
  const Case cases[] = {
      {"POST", "/2015-03-31/functions", Op::kCreateFunction, ""},
      {"GET", "/2015-03-31/functions/", Op::kListFunctions, ""},
      {"GET", "/2015-03-31/functions/hello", Op::kGetFunction, "hello"},
      {"DELETE", "/2015-03-31/functions/hello", Op::kDeleteFunction, "hello"},
      {"GET", "/2015-03-31/functions/hello/configuration", Op::kGetFunctionConfiguration, "hello"},
      {"PUT", "/2015-03-31/functions/hello/configuration", Op::kUpdateFunctionConfiguration,
       "hello"},
      {"PUT", "/2015-03-31/functions/hello/code", Op::kUpdateFunctionCode, "hello"},
      {"POST", "/2015-03-31/functions/hello/invocations", Op::kInvoke, "hello"},
      {"GET", "/2016-08-19/account-settings", Op::kGetAccountSettings, ""},
      {"GET", "/v1/functions/hello/logs", Op::kNativeFunctionLogs, "hello"},
      {"GET", "/healthz", Op::kHealth, ""},
  };
  for (const auto& c : cases) {
    auto r = MatchRoute(c.method, c.path);
    ASSERT_TRUE(r.match.has_value()) << c.method << " " << c.path;
    EXPECT_EQ(r.match->op, c.op) << c.path;
    EXPECT_EQ(r.match->name, c.fn) << c.path;
  }
}

TEST(Routes, DecodesArnFunctionNames) {
  auto r = MatchRoute("POST",
                      "/2015-03-31/functions/"
                      "arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Ahi/invocations");
  ASSERT_TRUE(r.match);
  EXPECT_EQ(r.match->name, "arn:aws:lambda:us-east-1:000000000000:function:hi");
}

TEST(Routes, TagOperationsTakeTheEncodedArn) {
  const char* path =
      "/2017-03-31/tags/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Ahi";
  const std::pair<const char*, Op> cases[] = {
      {"POST", Op::kTagResource}, {"DELETE", Op::kUntagResource}, {"GET", Op::kListTags}};
  for (const auto& [method, op] : cases) {
    auto r = MatchRoute(method, path);
    ASSERT_TRUE(r.match) << method;
    EXPECT_EQ(r.match->op, op);
    EXPECT_EQ(r.match->name, "arn:aws:lambda:us-east-1:000000000000:function:hi");
  }
  // The IAM actions Lambda's authorization reference names.
  EXPECT_EQ(OpName(Op::kTagResource), "TagResource");
  EXPECT_EQ(OpName(Op::kUntagResource), "UntagResource");
  EXPECT_EQ(OpName(Op::kListTags), "ListTags");
}

TEST(Routes, TellsWrongMethodFromUnknownPath) {
  EXPECT_EQ(MatchRoute("PATCH", "/2015-03-31/functions/x").miss, RouteMiss::kWrongMethod);
  EXPECT_FALSE(MatchRoute("PATCH", "/2015-03-31/functions/x").match);
  EXPECT_EQ(MatchRoute("GET", "/2015-03-31/nothing").miss, RouteMiss::kNoPath);
  EXPECT_FALSE(MatchRoute("GET", "/2015-03-31/functions/a/b/c").match);
}

}  // namespace
}  // namespace alto
