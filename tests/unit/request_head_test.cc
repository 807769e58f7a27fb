// The request-head rules the server applies before any handler (RFC 9112), case by case.
#include "http/request_head.h"

#include <gtest/gtest.h>

namespace alto::http {
namespace {

HeadVerdict Check(unsigned version, std::string method, std::string target,
                  std::vector<Header> fields, std::string* rewritten = nullptr) {
  auto verdict = CheckRequestHead(version, method, target, fields, HeadLimits{});
  if (rewritten) *rewritten = target;
  return verdict;
}

const Header kHost{"Host", "x"};

TEST(RequestHead, AcceptsAnOrdinaryRequest) {
  EXPECT_TRUE(Check(11, "GET", "/a?b=c", {kHost}).ok());
  EXPECT_TRUE(Check(10, "GET", "/", {}).ok()) << "HTTP/1.0 needs no Host";
  EXPECT_TRUE(Check(11, "POST", "/", {kHost, {"Transfer-Encoding", "chunked"}}).ok());
  EXPECT_TRUE(Check(11, "POST", "/", {kHost, {"Transfer-Encoding", " , chunked"}}).ok());
  EXPECT_TRUE(Check(11, "OPTIONS", "*", {kHost}).ok());
}

TEST(RequestHead, HostMustBeThereOnceInHttp11) {
  EXPECT_EQ(Check(11, "GET", "/", {}).status, 400);
  EXPECT_EQ(Check(11, "GET", "/", {kHost, {"host", "y"}}).status, 400);
  EXPECT_EQ(Check(10, "GET", "/", {kHost, kHost}).status, 400);
}

TEST(RequestHead, VersionOtherThanOneIsNotSupported) {
  EXPECT_EQ(Check(20, "GET", "/", {kHost}).status, 505);
  EXPECT_EQ(Check(9, "GET", "/", {kHost}).status, 505);
  EXPECT_TRUE(Check(12, "GET", "/", {kHost}).ok()) << "a higher minor version is 1.1's";
}

TEST(RequestHead, TargetForms) {
  std::string t;
  EXPECT_TRUE(Check(11, "GET", "http://example.com/p?q=1", {kHost}, &t).ok());
  EXPECT_EQ(t, "/p?q=1");
  EXPECT_TRUE(Check(11, "GET", "HTTPS://example.com", {kHost}, &t).ok());
  EXPECT_EQ(t, "/");
  EXPECT_TRUE(Check(11, "GET", "http://example.com?x", {kHost}, &t).ok());
  EXPECT_EQ(t, "/?x");
  EXPECT_EQ(Check(11, "GET", "http:///p", {kHost}).status, 400);
  EXPECT_EQ(Check(11, "GET", "p", {kHost}).status, 400);
  EXPECT_EQ(Check(11, "GET", "*", {kHost}).status, 400);
  EXPECT_EQ(Check(11, "CONNECT", "example.com:443", {kHost}).status, 400);
  EXPECT_EQ(Check(11, "GET", "/" + std::string(9000, 'a'), {kHost}).status, 414);
}

TEST(RequestHead, TransferEncodingRules) {
  auto te = [](std::string v) { return std::vector<Header>{kHost, {"Transfer-Encoding", v}}; };
  EXPECT_EQ(Check(11, "POST", "/", te("gzip")).status, 501);
  EXPECT_EQ(Check(11, "POST", "/", te("xchunked")).status, 501);
  EXPECT_EQ(Check(11, "POST", "/", te("chunked, identity")).status, 501);
  EXPECT_EQ(Check(11, "POST", "/", te("gzip, chunked")).status, 501);
  EXPECT_EQ(Check(11, "POST", "/", te("chunked, chunked")).status, 400);
  EXPECT_EQ(Check(11, "POST", "/", te("")).status, 400);
  EXPECT_EQ(Check(11, "POST", "/", te(" , ")).status, 400);
  EXPECT_EQ(Check(10, "POST", "/", {{"Transfer-Encoding", "chunked"}}).status, 400);
  EXPECT_EQ(
      Check(11, "POST", "/", {kHost, {"Content-Length", "3"}, {"Transfer-Encoding", "chunked"}})
          .status,
      400);
  // Two fields are one list: chunked twice.
  EXPECT_EQ(Check(11, "POST", "/",
                  {kHost, {"Transfer-Encoding", "chunked"}, {"Transfer-Encoding", "chunked"}})
                .status,
            400);
}

TEST(RequestHead, TooManyFields) {
  std::vector<Header> fields{kHost};
  for (int i = 0; i < 200; ++i) fields.push_back({"X-" + std::to_string(i), "v"});
  EXPECT_EQ(Check(11, "GET", "/", fields).status, 431);
  fields.pop_back();
  EXPECT_TRUE(Check(11, "GET", "/", fields).ok());
}

TEST(RequestHead, RequestLineVerdict) {
  EXPECT_EQ(RequestLineVerdict("GET /" + std::string(100, 'a'), 8192), -1) << "incomplete";
  EXPECT_EQ(RequestLineVerdict("GET /" + std::string(9000, 'a'), 8192), 414);
  EXPECT_EQ(RequestLineVerdict("GET /" + std::string(9000, 'a') + " HTTP/1.1\r\n", 8192), 414);
  EXPECT_EQ(RequestLineVerdict("GET / HTTP/1.1\r\nX: " + std::string(9000, 'a'), 8192), 0);
  EXPECT_EQ(RequestLineVerdict("GET / HTTP/1.1\n", 8192), 0) << "a bare LF ends a line";
  EXPECT_EQ(RequestLineVerdict("GET /\r\n", 8192), 400) << "HTTP/0.9";
  EXPECT_EQ(RequestLineVerdict("GET / HTTP/2.0\r\n", 8192), 505);
  EXPECT_EQ(RequestLineVerdict("PRI * HTTP/2.0\r\n", 8192), 505);
  EXPECT_EQ(RequestLineVerdict("GET / HTTP/1.10\r\n", 8192), 400);
  EXPECT_EQ(RequestLineVerdict("GET / FTP/1.1\r\n", 8192), 400);
  EXPECT_EQ(RequestLineVerdict(" / HTTP/1.1\r\n", 8192), 400);
  EXPECT_EQ(RequestLineVerdict("GET  HTTP/1.1\r\n", 8192), 400);
}

}  // namespace
}  // namespace alto::http
