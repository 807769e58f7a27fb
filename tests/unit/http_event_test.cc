// The pure conversions behind function URLs: request -> payload format 2.0 event, function
// result -> HTTP response, CORS, host names.
#include "api/http_event.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "api/event_stream.h"
#include "api/routes.h"
#include "common/encoding.h"
#include "store/function_url.h"

namespace alto {
namespace {

using nlohmann::json;

http::Request MakeRequest(std::string method, std::string path, std::string query,
                          std::vector<http::Header> headers, std::string body = {}) {
  http::Request r;
  r.method = std::move(method);
  r.path = std::move(path);
  r.query = std::move(query);
  r.target = r.path + (r.query.empty() ? "" : "?" + r.query);
  r.headers = std::move(headers);
  r.body = std::move(body);
  r.remote_ip = "127.0.0.1";
  return r;
}

UrlEventContext Ctx() {
  return {"000000000000", "abcdef0123456789abcdef0123456789", "us-east-1", "req-1",
          1587481701000};  // 2020-04-21T15:08:21Z
}

TEST(HttpEvent, GetWithQueryHeadersAndCookies) {
  auto req = MakeRequest("GET", "/my/path", "a=1&b=x%20y&a=2&flag&c=d+e",
                         {{"Host", "h"},
                          {"User-Agent", "curl/8"},
                          {"X-Multi", "one"},
                          {"x-multi", "two"},
                          {"Cookie", "s=1; theme=dark"}});
  auto ev = json::parse(BuildUrlEvent(req, "/my/path", Ctx()));
  EXPECT_EQ(ev["version"], "2.0");
  EXPECT_EQ(ev["routeKey"], "$default");
  EXPECT_EQ(ev["rawPath"], "/my/path");
  EXPECT_EQ(ev["rawQueryString"], "a=1&b=x%20y&a=2&flag&c=d+e");
  EXPECT_EQ(ev["headers"]["x-multi"], "one,two");
  EXPECT_EQ(ev["headers"]["user-agent"], "curl/8");
  EXPECT_FALSE(ev["headers"].contains("cookie"));
  EXPECT_EQ(ev["cookies"], json({"s=1", "theme=dark"}));
  EXPECT_EQ(ev["queryStringParameters"]["a"], "1,2");
  EXPECT_EQ(ev["queryStringParameters"]["b"], "x y");
  EXPECT_EQ(ev["queryStringParameters"]["flag"], "");
  EXPECT_EQ(ev["queryStringParameters"]["c"], "d e");
  EXPECT_FALSE(ev.contains("body"));
  EXPECT_EQ(ev["isBase64Encoded"], false);
  const auto& rc = ev["requestContext"];
  EXPECT_EQ(rc["apiId"], "abcdef0123456789abcdef0123456789");
  EXPECT_EQ(rc["domainName"], "abcdef0123456789abcdef0123456789.lambda-url.us-east-1.localhost");
  EXPECT_EQ(rc["domainPrefix"], "abcdef0123456789abcdef0123456789");
  EXPECT_EQ(rc["http"]["method"], "GET");
  EXPECT_EQ(rc["http"]["path"], "/my/path");
  EXPECT_EQ(rc["http"]["protocol"], "HTTP/1.1");
  EXPECT_EQ(rc["http"]["sourceIp"], "127.0.0.1");
  EXPECT_EQ(rc["http"]["userAgent"], "curl/8");
  EXPECT_EQ(rc["requestId"], "req-1");
  EXPECT_EQ(rc["stage"], "$default");
  EXPECT_EQ(rc["time"], "21/Apr/2020:15:08:21 +0000");
  EXPECT_EQ(rc["timeEpoch"], 1587481701000);
}

TEST(HttpEvent, NoQueryMeansNoParameters) {
  auto ev = json::parse(BuildUrlEvent(MakeRequest("GET", "/", "", {}), "", Ctx()));
  EXPECT_EQ(ev["rawPath"], "/");
  EXPECT_EQ(ev["rawQueryString"], "");
  EXPECT_FALSE(ev.contains("queryStringParameters"));
  EXPECT_FALSE(ev.contains("cookies"));
}

TEST(HttpEvent, TextBodyIsAStringBinaryIsBase64) {
  auto text = MakeRequest("POST", "/", "", {{"Content-Type", "application/json; charset=utf-8"}},
                          R"({"k":1})");
  auto ev = json::parse(BuildUrlEvent(text, "/", Ctx()));
  EXPECT_EQ(ev["body"], R"({"k":1})");
  EXPECT_EQ(ev["isBase64Encoded"], false);

  std::string bytes("\x00\xff\x10png", 6);
  auto bin = MakeRequest("POST", "/", "", {{"Content-Type", "application/octet-stream"}}, bytes);
  ev = json::parse(BuildUrlEvent(bin, "/", Ctx()));
  EXPECT_EQ(ev["isBase64Encoded"], true);
  EXPECT_EQ(*Base64Decode(ev["body"].get<std::string>()), bytes);

  EXPECT_TRUE(IsTextContentType("text/plain"));
  EXPECT_TRUE(IsTextContentType("application/vnd.api+json"));
  EXPECT_FALSE(IsTextContentType("image/png"));
  EXPECT_FALSE(IsTextContentType("application/x-www-form-urlencoded"));
  EXPECT_FALSE(IsTextContentType(""));
}

TEST(HttpEvent, InvalidUtf8InATextBodyDoesNotThrow) {
  auto req = MakeRequest("POST", "/", "", {{"Content-Type", "text/plain"}}, "ok\xff\xfe");
  EXPECT_NO_THROW(json::parse(BuildUrlEvent(req, "/", Ctx())));
}

TEST(UrlResult, StructuredResponse) {
  auto r = InterpretUrlResult(R"({"statusCode":302,"headers":{"Location":"/next","X-N":5},
      "cookies":["a=1; Path=/","b=2"],"body":"moved"})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 302);
  EXPECT_EQ(r->HeaderValue("Location"), "/next");
  EXPECT_EQ(r->HeaderValue("X-N"), "5");
  EXPECT_EQ(r->HeaderValue("Content-Type"), "application/json");
  EXPECT_EQ(r->body, "moved");
  std::vector<std::string> cookies;
  for (const auto& h : r->headers) {
    if (h.name == "Set-Cookie") cookies.push_back(h.value);
  }
  EXPECT_EQ(cookies, (std::vector<std::string>{"a=1; Path=/", "b=2"}));
}

TEST(UrlResult, Base64BodyIsDecoded) {
  std::string bytes("\x01\x02\x00\xfe", 4);
  auto r = InterpretUrlResult(json{
      {"statusCode", 200},
      {"headers", {{"content-type", "image/png"}}},
      {"body", Base64Encode(bytes)},
      {"isBase64Encoded", true}}.dump());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->body, bytes);
  EXPECT_EQ(r->HeaderValue("Content-Type"), "image/png");
}

TEST(UrlResult, PlainValuesAre200JsonVerbatim) {
  for (std::string out : {R"("Hello")", R"({"message":"hi"})", "[1,2]", "42", "null"}) {
    auto r = InterpretUrlResult(out);
    ASSERT_TRUE(r.ok()) << out;
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->HeaderValue("Content-Type"), "application/json");
    EXPECT_EQ(r->body, out);
  }
}

TEST(UrlResult, InvalidOutputIsAnError) {
  EXPECT_FALSE(InterpretUrlResult("not json").ok());
  // A CR or LF in a header would split the response (fuzz_http_event found it).
  EXPECT_FALSE(
      InterpretUrlResult(R"({"statusCode":200,"headers":{"X-A":"a\r\nSet-Cookie: x=1"}})").ok());
  EXPECT_FALSE(InterpretUrlResult(R"({"statusCode":200,"headers":{"X A":"1"}})").ok());
  EXPECT_FALSE(InterpretUrlResult(R"({"statusCode":200,"headers":{"":"1"}})").ok());
  EXPECT_FALSE(InterpretUrlResult(R"({"statusCode":200,"cookies":["a=1\nb"]})").ok());
  EXPECT_FALSE(InterpretStreamedResult(std::string(R"({"headers":{"X":"\r\n"}})") +
                                       std::string(kStreamPreludeDelimiter) + "body")
                   .has_value());
  EXPECT_FALSE(InterpretUrlResult(R"({"statusCode":"200"})").ok());
  EXPECT_FALSE(InterpretUrlResult(R"({"statusCode":42})").ok());
  EXPECT_FALSE(InterpretUrlResult(R"({"statusCode":200,"body":"%%","isBase64Encoded":true})").ok());
  EXPECT_FALSE(InterpretUrlResult(R"({"statusCode":200,"cookies":"a=1"})").ok());
}

TEST(UrlResult, FramingHeadersFromTheFunctionAreDropped) {
  auto r = InterpretUrlResult(
      R"({"statusCode":200,"headers":{"Content-Length":"999","Transfer-Encoding":"chunked"},"body":"x"})");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->HeaderValue("Content-Length").empty());
  EXPECT_TRUE(r->HeaderValue("Transfer-Encoding").empty());
}

TEST(UrlResult, StreamedPrelude) {
  std::string out =
      R"({"statusCode":201,"headers":{"content-type":"text/plain"},"cookies":["c=1"]})";
  out += std::string(kStreamPreludeDelimiter);
  out += "chunk1chunk2";
  auto r = InterpretStreamedResult(out);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 201);
  EXPECT_EQ(r->HeaderValue("content-type"), "text/plain");
  EXPECT_EQ(r->HeaderValue("Set-Cookie"), "c=1");
  EXPECT_EQ(r->body, "chunk1chunk2");
  EXPECT_FALSE(InterpretStreamedResult(R"({"statusCode":200})").has_value());
}

CorsConfig Cors() {
  CorsConfig c;
  c.present = true;
  c.allow_origins = {"https://app.example"};
  c.allow_methods = {"GET", "POST"};
  c.allow_headers = {"content-type", "x-custom"};
  c.expose_headers = {"x-trace"};
  c.max_age = 600;
  c.allow_credentials = true;
  return c;
}

TEST(Cors, PreflightAnsweredFromConfig) {
  auto req =
      MakeRequest("OPTIONS", "/", "",
                  {{"Origin", "https://app.example"}, {"Access-Control-Request-Method", "POST"}});
  auto cors = Cors();
  ASSERT_TRUE(IsCorsPreflight(cors, req));
  auto r = CorsPreflightResponse(cors, req);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.HeaderValue("Access-Control-Allow-Origin"), "https://app.example");
  EXPECT_EQ(r.HeaderValue("Access-Control-Allow-Methods"), "GET, POST");
  EXPECT_EQ(r.HeaderValue("Access-Control-Allow-Headers"), "content-type, x-custom");
  EXPECT_EQ(r.HeaderValue("Access-Control-Max-Age"), "600");
  EXPECT_EQ(r.HeaderValue("Access-Control-Allow-Credentials"), "true");

  auto other =
      MakeRequest("OPTIONS", "/", "",
                  {{"Origin", "https://evil.example"}, {"Access-Control-Request-Method", "POST"}});
  EXPECT_TRUE(
      CorsPreflightResponse(cors, other).HeaderValue("Access-Control-Allow-Origin").empty());

  CorsConfig none;
  EXPECT_FALSE(IsCorsPreflight(none, req));  // no Cors config: OPTIONS goes to the function
  EXPECT_FALSE(IsCorsPreflight(cors, MakeRequest("OPTIONS", "/", "", {{"Origin", "x"}})));
}

TEST(Cors, ActualResponseHeaders) {
  auto cors = Cors();
  auto req = MakeRequest("GET", "/", "", {{"Origin", "https://app.example"}});
  http::Response res;
  res.Set("Access-Control-Allow-Origin", "https://function.example");
  AddCorsHeaders(cors, req, res);
  EXPECT_EQ(res.HeaderValue("Access-Control-Allow-Origin"), "https://app.example");
  EXPECT_EQ(res.HeaderValue("Access-Control-Expose-Headers"), "x-trace");
  EXPECT_EQ(res.HeaderValue("Access-Control-Allow-Credentials"), "true");

  CorsConfig star;
  star.present = true;
  star.allow_origins = {"*"};
  http::Response r2;
  AddCorsHeaders(star, req, r2);
  EXPECT_EQ(r2.HeaderValue("Access-Control-Allow-Origin"), "*");

  http::Response r3;  // no Origin: not a CORS request
  AddCorsHeaders(star, MakeRequest("GET", "/", "", {}), r3);
  EXPECT_TRUE(r3.headers.empty());
}

TEST(UrlHost, ParsesUrlIdFromHost) {
  EXPECT_EQ(UrlIdFromHost("abc123.lambda-url.us-east-1.localhost:9000"), "abc123");
  EXPECT_EQ(UrlIdFromHost("ABC123.lambda-url.us-east-1.on.aws"), "abc123");
  EXPECT_FALSE(UrlIdFromHost("127.0.0.1:9000").has_value());
  EXPECT_FALSE(UrlIdFromHost(".lambda-url.us-east-1.localhost").has_value());
  EXPECT_FALSE(UrlIdFromHost("a-b.lambda-url.us-east-1.localhost").has_value());
  EXPECT_FALSE(UrlIdFromHost("abc.lambda-url.").has_value());
  EXPECT_EQ(FunctionUrlFor("abc", "us-east-1", 9000),
            "http://abc.lambda-url.us-east-1.localhost:9000/");
  EXPECT_EQ(FunctionUrlFor("abc", "us-east-1", 9000, /*https=*/true),
            "https://abc.lambda-url.us-east-1.localhost:9000/");
}

TEST(UrlStore, SerializationRoundTrip) {
  FunctionUrlConfig u;
  u.url_id = "abc";
  u.function = "fn";
  u.qualifier = "live";
  u.auth_type = "AWS_IAM";
  u.invoke_mode = "RESPONSE_STREAM";
  u.cors = Cors();
  u.creation_ms = 1;
  u.last_modified_ms = 2;
  FunctionUrlConfig back;
  ASSERT_TRUE(DeserializeFunctionUrl(SerializeFunctionUrl(u), back));
  EXPECT_EQ(back.qualifier, "live");
  EXPECT_EQ(back.auth_type, "AWS_IAM");
  EXPECT_EQ(back.invoke_mode, "RESPONSE_STREAM");
  EXPECT_TRUE(back.cors.present);
  EXPECT_EQ(back.cors.allow_origins, u.cors.allow_origins);
  EXPECT_EQ(back.cors.max_age, 600);
  EXPECT_EQ(back.last_modified_ms, 2);
}

TEST(UrlRoutes, ConfigOperationsAreRouted) {
  EXPECT_EQ(MatchRoute("POST", "/2021-10-31/functions/f/url").match->op,
            Op::kCreateFunctionUrlConfig);
  EXPECT_EQ(MatchRoute("GET", "/2021-10-31/functions/f/url").match->op, Op::kGetFunctionUrlConfig);
  EXPECT_EQ(MatchRoute("PUT", "/2021-10-31/functions/f/url").match->op,
            Op::kUpdateFunctionUrlConfig);
  EXPECT_EQ(MatchRoute("DELETE", "/2021-10-31/functions/f/url").match->op,
            Op::kDeleteFunctionUrlConfig);
  EXPECT_EQ(MatchRoute("GET", "/2021-10-31/functions/f/urls").match->op,
            Op::kListFunctionUrlConfigs);
  EXPECT_EQ(MatchRoute("POST", "/2021-11-15/functions/f/response-streaming-invocations").match->op,
            Op::kInvokeWithResponseStream);
}

// AWS's event-stream test vector "empty_message": a message with no headers and no payload.
TEST(EventStreamTest, EmptyMessageMatchesTheSpecVector) {
  std::string m = EncodeEventStreamMessage({}, "");
  const unsigned char expected[] = {0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00,
                                    0x05, 0xc2, 0x48, 0xeb, 0x7d, 0x98, 0xc8, 0xff};
  ASSERT_EQ(m.size(), sizeof expected);
  EXPECT_EQ(m, std::string(reinterpret_cast<const char*>(expected), sizeof expected));
}

TEST(EventStreamTest, StringHeadersAndPayloadAreLaidOutInOrder) {
  std::string m = EncodeEventStreamMessage({{":event-type", "PayloadChunk"}}, "hello");
  // 1 name length + 11 name + 1 type + 2 value length + 12 value = 27 header bytes.
  const std::string headers = std::string("\x0b:event-type\x07\x00\x0cPayloadChunk", 27);
  ASSERT_EQ(m.size(), 12 + headers.size() + 5 + 4);
  EXPECT_EQ(static_cast<unsigned char>(m[3]), m.size());
  EXPECT_EQ(static_cast<unsigned char>(m[7]), headers.size());
  EXPECT_EQ(m.substr(12, headers.size()), headers);
  EXPECT_EQ(m.substr(12 + headers.size(), 5), "hello");
}

}  // namespace
}  // namespace alto
