#include "common/json.h"

#include <gtest/gtest.h>

#include "invoke/async_record.h"

namespace alto {
namespace {

using nlohmann::json;

std::string Nested(int depth, char open = '[', const std::string& inner = "1") {
  const char close = open == '[' ? ']' : '}';
  std::string s;
  for (int i = 0; i < depth; ++i) s += open == '[' ? "[" : "{\"a\":";
  s += inner;
  s.append(depth, close);
  return s;
}

TEST(JsonDepth, CountsArraysAndObjects) {
  EXPECT_EQ(JsonDepth("1"), 0);
  EXPECT_EQ(JsonDepth("\"x\""), 0);
  EXPECT_EQ(JsonDepth("{}"), 1);
  EXPECT_EQ(JsonDepth(R"({"a":[1,{"b":[]}],"c":{}})"), 4);
  EXPECT_EQ(JsonDepth(Nested(1000)), 1000);
  EXPECT_EQ(JsonDepth(Nested(1000, '{')), 1000);
}

TEST(JsonDepth, IgnoresBracketsInsideStrings) {
  EXPECT_EQ(JsonDepth(R"(["[[[[{{{{"])"), 1);
  EXPECT_EQ(JsonDepth(R"({"k[[[":"]]]]}}}"})"), 1);
  // An escaped quote does not end the string; an escaped backslash before a quote does.
  EXPECT_EQ(JsonDepth(R"(["a\"[[[", [2]])"), 2);
  EXPECT_EQ(JsonDepth(R"(["a\\", [[2]]])"), 3);
  EXPECT_EQ(JsonDepth(R"(["\\\"[[", "\u005b"])"), 1);
}

TEST(Json, NulByteMakesTextMalformed) {
  const std::string text("1\0garbage", 9);
  EXPECT_FALSE(IsJson(text));
  EXPECT_FALSE(ParseJson(text).ok());
  EXPECT_EQ(JsonOrString(text), "\"1\\u0000garbage\"");
  EXPECT_TRUE(IsJson("\"a\\u0000b\""));
}

TEST(JsonDepth, StopsEarly) { EXPECT_EQ(JsonDepth(Nested(100000), 64), 65); }

TEST(ParseJson, DepthLimitExactBoundary) {
  auto ok = ParseJson(Nested(64), 64);
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_TRUE(ok->is_array());
  auto deep = ParseJson(Nested(65), 64);
  ASSERT_FALSE(deep.ok());
  EXPECT_EQ(deep.error().code, Errc::kInvalidArgument);
  EXPECT_NE(deep.error().message.find("64"), std::string::npos) << deep.error().message;
  EXPECT_TRUE(ParseJson(Nested(65, '{'), 65).ok());
  EXPECT_FALSE(ParseJson(Nested(66, '{'), 65).ok());
  EXPECT_TRUE(ParseJson(Nested(64)).ok());  // the default is the API limit
  EXPECT_FALSE(ParseJson(Nested(65)).ok());
}

TEST(ParseJson, DeepTextIsRefusedWithoutBuildingADom) {
  // 100,000 levels: refused by the scan; a DOM this deep would overflow the stack when copied.
  for (char open : {'[', '{'}) {
    auto r = ParseJson(Nested(100000, open), kFunctionJsonDepth);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find(std::to_string(kFunctionJsonDepth)), std::string::npos);
  }
}

TEST(ParseJson, BracketsInStringsDoNotCount) {
  const std::string brackets(10000, '[');
  auto r = ParseJson(R"({"s":")" + brackets + R"("})", 1);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ((*r)["s"].get<std::string>(), brackets);
}

TEST(ParseJson, HandlesEscapes) {
  auto r = ParseJson(R"({"q":"a\"b\\","u":"\u00e9\ud83d\ude00","n":[1]})", 2);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ((*r)["q"].get<std::string>(), "a\"b\\");
  EXPECT_EQ((*r)["u"].get<std::string>(), "\xc3\xa9\xf0\x9f\x98\x80");
}

TEST(ParseJson, MalformedIsAnErrorNotAThrow) {
  for (std::string_view bad : {"", "{", "{\"a\":1,}", "[1] x", "nul", "\"\xff\"", "// c\n1"}) {
    auto r = ParseJson(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) EXPECT_EQ(r.error().code, Errc::kInvalidArgument);
  }
}

TEST(IsJson, AnyDepthWithoutADom) {
  EXPECT_TRUE(IsJson(Nested(100000)));
  EXPECT_TRUE(IsJson(Nested(100000, '{')));
  EXPECT_FALSE(IsJson(Nested(100000).substr(1)));
  EXPECT_TRUE(IsJson(" 1 "));
  EXPECT_FALSE(IsJson(""));
  EXPECT_FALSE(IsJson("\"\xff\xfe\""));  // strings must be UTF-8
}

TEST(DumpJson, InvalidUtf8IsReplacedNotThrown) {
  json j = {{"Message", std::string("bad \xff\xfe name")}};
  std::string out;
  ASSERT_NO_THROW(out = DumpJson(j));
  EXPECT_TRUE(IsJson(out));
  EXPECT_NE(out.find("\xef\xbf\xbd"), std::string::npos);
}

TEST(JsonOrString, SplicesJsonAndQuotesTheRest) {
  EXPECT_EQ(JsonOrString(R"( {"a": [1, 2]} )"), R"( {"a": [1, 2]} )");
  EXPECT_EQ(JsonOrString("not json"), R"("not json")");
  EXPECT_EQ(JsonOrString(""), R"("")");
  EXPECT_TRUE(IsJson(JsonOrString("\xff{")));
}

AsyncRecordContext Context() {
  AsyncRecordContext c;
  c.timestamp_ms = 1700000000123;
  c.request_id = "rid-1";
  c.function_arn = "arn:aws:lambda:us-east-1:000000000000:function:f:$LATEST";
  c.condition = "Success";
  c.approximate_invoke_count = 2;
  c.executed_version = "$LATEST";
  return c;
}

TEST(AsyncRecord, IsValidJsonWithLambdasFields) {
  auto c = Context();
  c.condition = "RetriesExhausted";
  c.function_error = true;
  std::string rec = AsyncRecordJson(c, R"({"id":7})", R"({"errorMessage":"boom"})");
  auto j = ParseJson(rec);
  ASSERT_TRUE(j.ok()) << rec;
  EXPECT_EQ((*j)["version"], "1.0");
  EXPECT_EQ((*j)["timestamp"], "2023-11-14T22:13:20.123Z");
  EXPECT_EQ((*j)["requestContext"]["requestId"], "rid-1");
  EXPECT_EQ((*j)["requestContext"]["condition"], "RetriesExhausted");
  EXPECT_EQ((*j)["requestContext"]["approximateInvokeCount"], 2);
  EXPECT_EQ((*j)["requestContext"]["functionArn"], c.function_arn);
  EXPECT_EQ((*j)["responseContext"]["functionError"], "Unhandled");
  EXPECT_EQ((*j)["responseContext"]["statusCode"], 200);
  EXPECT_EQ((*j)["requestPayload"]["id"], 7);
  EXPECT_EQ((*j)["responsePayload"]["errorMessage"], "boom");
}

TEST(AsyncRecord, PayloadBytesArePreservedExactly) {
  const std::string payload = "  {\"b\" : [1,2 ,3], \"a\":\"\\u00e9\"}\n";
  std::string rec = AsyncRecordJson(Context(), payload, "");
  EXPECT_NE(rec.find("\"requestPayload\":" + payload), std::string::npos) << rec;
  EXPECT_EQ(rec.find("responsePayload"), std::string::npos);
  EXPECT_TRUE(IsJson(rec));
}

TEST(AsyncRecord, DeepPayloadIsSplicedNotParsed) {
  const std::string payload = Nested(100000, '{');
  const std::string response = Nested(100000, '[');
  std::string rec = AsyncRecordJson(Context(), payload, response);
  EXPECT_TRUE(IsJson(rec));
  EXPECT_NE(rec.find(payload), std::string::npos);
  EXPECT_NE(rec.find(response), std::string::npos);
  EXPECT_EQ(JsonDepth(rec), 100001);
}

TEST(AsyncRecord, NonJsonPayloadAndResponseBecomeStrings) {
  std::string rec = AsyncRecordJson(Context(), "plain \xff text", "{oops");
  auto j = ParseJson(rec);
  ASSERT_TRUE(j.ok()) << rec;
  EXPECT_TRUE((*j)["requestPayload"].is_string());
  EXPECT_EQ((*j)["requestPayload"], "plain \xef\xbf\xbd text");
  EXPECT_EQ((*j)["responsePayload"], "{oops");
}

}  // namespace
}  // namespace alto
