// SigV4: the aws-c-auth signing test suite (read at run time, see tests/data/sigv4/README.md),
// every signed element of each of its requests tampered with in turn, the aws-chunked vectors,
// the parser's failure table and client-side round trips.
#include "auth/sigv4.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

namespace alto::auth {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
constexpr int64_t kSuiteTime = 1440938160;  // 2015-08-30T12:36:00Z, every suite case's clock

fs::path SuiteDir() {
  // NOLINTNEXTLINE(concurrency-mt-unsafe): read before any test starts a thread
  if (const char* env = std::getenv("ALTO_SIGV4_SUITE")) return env;
#ifdef ALTO_SIGV4_SUITE_DIR
  return ALTO_SIGV4_SUITE_DIR;
#else
  return {};
#endif
}

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// request.txt as aws-c-auth's runner reads it: "METHOD URI HTTP/1.1", "Name:value" lines (a line
// starting with whitespace continues the previous value), an empty line, then the body.
http::Request ParseRequestText(std::string_view text) {
  std::vector<std::string_view> lines;
  for (size_t start = 0;;) {
    size_t nl = text.find('\n', start);
    lines.push_back(text.substr(start, nl == std::string_view::npos ? nl : nl - start));
    if (nl == std::string_view::npos) break;
    start = nl + 1;
  }
  http::Request req;
  std::string_view first = lines[0];
  req.method = first.substr(0, first.find(' '));
  req.target = first.substr(req.method.size() + 1, first.size() - req.method.size() - 1 - 9);
  const size_t q = req.target.find('?');
  req.path = req.target.substr(0, q);
  if (q != std::string::npos) req.query = req.target.substr(q + 1);
  size_t i = 1;
  for (; i < lines.size() && !lines[i].empty(); ++i) {
    if (std::isspace(static_cast<unsigned char>(lines[i][0])) && !req.headers.empty()) {
      req.headers.back().value += "\n" + std::string(lines[i]);
      continue;
    }
    const size_t colon = lines[i].find(':');
    req.headers.push_back(
        {std::string(lines[i].substr(0, colon)), std::string(lines[i].substr(colon + 1))});
  }
  if (i + 1 < lines.size()) {
    req.body = std::string(text.substr(lines[i + 1].data() - text.data()));
  }
  return req;
}

struct SuiteCase {
  std::string name;
  fs::path dir;
  std::string akid, secret, token, region, service;
  int64_t expires = 0;
  bool normalize = true, sign_body = false, omit_token = false;
  PathStyle Style() const { return normalize ? PathStyle::kDoubleEncoded : PathStyle::kAsSent; }
  std::string File(const std::string& f) const { return ReadFile(dir / f); }
};

SuiteCase LoadCase(const fs::path& dir) {
  auto j = nlohmann::json::parse(ReadFile(dir / "context.json"));
  SuiteCase c;
  c.name = dir.filename().string();
  c.dir = dir;
  c.akid = j["credentials"]["access_key_id"];
  c.secret = j["credentials"]["secret_access_key"];
  c.token = j["credentials"].value("token", "");
  c.region = j["region"];
  c.service = j["service"];
  c.expires = j["expiration_in_seconds"];
  c.normalize = j["normalize"];
  c.sign_body = j["sign_body"];
  c.omit_token = j.value("omit_session_token", false);
  EXPECT_EQ(j["timestamp"], "2015-08-30T12:36:00Z") << c.name;
  return c;
}

std::vector<SuiteCase> LoadSuite() {
  std::vector<SuiteCase> cases;
  const fs::path dir = SuiteDir();
  if (dir.empty() || !fs::is_directory(dir)) return cases;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (fs::exists(e.path() / "context.json")) cases.push_back(LoadCase(e.path()));
  }
  std::sort(cases.begin(), cases.end(),
            [](const SuiteCase& a, const SuiteCase& b) { return a.name < b.name; });
  return cases;
}

// A server's whole check: parse, clock, key lookup by access key id, signature.
std::optional<SigV4Error> ServerCheck(const http::Request& req, std::string_view akid,
                                      std::string_view secret, int64_t now, PathStyle style) {
  auto parsed = ParseSigV4(req);
  if (auto* e = std::get_if<SigV4Error>(&parsed)) return *e;
  const SigV4Claim& c = std::get<SigV4Claim>(parsed);
  if (auto e = CheckTime(c, now, 300)) return e;
  if (c.access_key_id != akid) return SigV4Error{SigV4Fault::kMismatch, "unknown access key"};
  return Verify(req, c, DeriveSigningKey(secret, c.scope_date, c.region, c.service), style);
}

std::optional<SigV4Fault> FaultOf(const std::optional<SigV4Error>& e) {
  if (!e) return std::nullopt;
  return e->fault;
}

// A different last byte that keeps a hex digit a hex digit, so a signature stays well formed.
void ChangeLastByte(std::string& s) {
  if (s.empty()) {
    s = "x";
    return;
  }
  char& c = s.back();
  if (c >= '0' && c <= '9') {
    c = static_cast<char>('0' + (c - '0' + 1) % 10);
  } else if (c >= 'a' && c <= 'f') {
    c = static_cast<char>('a' + (c - 'a' + 1) % 6);
  } else {
    c = c == 'x' ? 'y' : 'x';
  }
}

http::Header* FindHeader(http::Request& req, std::string_view name) {
  for (auto& h : req.headers) {
    if (http::IEquals(h.name, name)) return &h;
  }
  return nullptr;
}

// Every tampering of a signed request: each must be refused.
std::vector<std::pair<std::string, http::Request>> Tamperings(const http::Request& signed_req,
                                                              const SigV4Claim& c) {
  std::vector<std::pair<std::string, http::Request>> out;
  auto add = [&](std::string what, const std::function<void(http::Request&)>& change) {
    http::Request r = signed_req;
    change(r);
    out.emplace_back(std::move(what), std::move(r));
  };
  add("method", [](http::Request& r) { r.method[0] = static_cast<char>(r.method[0] ^ 1); });
  add("path", [](http::Request& r) { ChangeLastByte(r.path); });
  // Each query value in turn (for presigned requests: the X-Amz-* ones and the signature too).
  size_t start = 0;
  while (start < signed_req.query.size()) {
    size_t end = signed_req.query.find('&', start);
    if (end == std::string::npos) end = signed_req.query.size();
    const std::string pair = signed_req.query.substr(start, end - start);
    add("query " + pair.substr(0, pair.find('=')), [&](http::Request& r) {
      std::string v = pair;
      ChangeLastByte(v);
      r.query.replace(start, end - start, v);
    });
    start = end + 1;
  }
  for (const std::string& name : c.signed_headers) {
    add("header " + name, [&](http::Request& r) {
      if (http::Header* h = FindHeader(r, name)) ChangeLastByte(h->value);
    });
  }
  add("body", [](http::Request& r) { ChangeLastByte(r.body); });
  if (!c.presigned) {
    add("signature",
        [](http::Request& r) { ChangeLastByte(FindHeader(r, "authorization")->value); });
    add("date", [&](http::Request& r) {
      FindHeader(r, "x-amz-date")->value = FormatAmzDate(c.request_time_s + 1);
    });
  } else {
    add("date", [&](http::Request& r) {
      const std::string from = "X-Amz-Date=" + c.amz_date;
      r.query.replace(r.query.find(from), from.size(),
                      "X-Amz-Date=" + FormatAmzDate(c.request_time_s + 1));
    });
  }
  return out;
}

struct Tally {
  int accepted = 0;  // genuine signed requests verified
  int rejected = 0;  // tampered requests and late clocks refused
  std::map<SigV4Fault, int> by_fault;
  void Reject(SigV4Fault f) {
    ++rejected;
    ++by_fault[f];
  }
};

const char* FaultName(SigV4Fault f) {
  switch (f) {
    case SigV4Fault::kMissing:
      return "missing";
    case SigV4Fault::kMalformed:
      return "malformed";
    case SigV4Fault::kBadAlgorithm:
      return "bad-algorithm";
    case SigV4Fault::kBadScope:
      return "bad-scope";
    case SigV4Fault::kBadDate:
      return "bad-date";
    case SigV4Fault::kSkewed:
      return "skewed";
    case SigV4Fault::kExpired:
      return "expired";
    case SigV4Fault::kBadExpires:
      return "bad-expires";
    case SigV4Fault::kSignedHeaderAbsent:
      return "signed-header-absent";
    case SigV4Fault::kMismatch:
      return "mismatch";
    case SigV4Fault::kBodyMismatch:
      return "body-mismatch";
  }
  return "?";
}

void CheckVariant(const SuiteCase& sc, bool query, Tally& tally) {
  SCOPED_TRACE(sc.name + (query ? " (query)" : " (header)"));
  const std::string prefix = query ? "query-" : "header-";
  http::Request req = ParseRequestText(sc.File(prefix + "signed-request.txt"));
  auto parsed = ParseSigV4(req);
  ASSERT_TRUE(std::holds_alternative<SigV4Claim>(parsed)) << std::get<SigV4Error>(parsed).message;
  const SigV4Claim c = std::get<SigV4Claim>(parsed);
  EXPECT_EQ(c.presigned, query);
  EXPECT_EQ(c.access_key_id, sc.akid);
  EXPECT_EQ(c.region, sc.region);
  EXPECT_EQ(c.service, sc.service);
  EXPECT_EQ(c.request_time_s, kSuiteTime);
  EXPECT_EQ(c.signature, sc.File(prefix + "signature.txt"));
  // The suite signs the body's hash for query signing too (as botocore does for non-S3).
  const std::string payload = query ? Sha256Hex(req.body) : PayloadHash(req, c);
  http::Request canonical_req = req;
  if (query && sc.omit_token) {
    // "post-sts-header-after": the token was added to the URL after signing. Its canonical
    // request is ours without the token; the URL itself cannot verify, since every query
    // parameter but the signature is signed.
    const size_t at = canonical_req.query.find("&X-Amz-Security-Token=");
    const size_t end = canonical_req.query.find('&', at + 1);
    canonical_req.query.erase(at, end - at);
  }
  const std::string cr = CanonicalRequest(canonical_req, c, payload, sc.Style());
  EXPECT_EQ(cr, sc.File(prefix + "canonical-request.txt"));
  const std::string sts = StringToSign(c, cr);
  EXPECT_EQ(sts, sc.File(prefix + "string-to-sign.txt"));
  const SigningKey key = DeriveSigningKey(sc.secret, c.scope_date, c.region, c.service);
  EXPECT_EQ(SignatureHex(key, sts), sc.File(prefix + "signature.txt"));

  auto verdict = ServerCheck(req, sc.akid, sc.secret, kSuiteTime, sc.Style());
  if (query && sc.omit_token) {
    ASSERT_TRUE(verdict.has_value());
    EXPECT_EQ(verdict->fault, SigV4Fault::kMismatch);
    tally.Reject(verdict->fault);
    return;
  }
  ASSERT_FALSE(verdict.has_value()) << verdict->message;
  ++tally.accepted;
  for (auto& [what, bad] : Tamperings(req, c)) {
    auto v = ServerCheck(bad, sc.akid, sc.secret, kSuiteTime, sc.Style());
    EXPECT_TRUE(v.has_value()) << "accepted after changing the " << what;
    if (v) tally.Reject(v->fault);
  }
  // A clock past the skew (header) or past the expiry (presigned).
  const int64_t late = query ? kSuiteTime + sc.expires + 1 : kSuiteTime + 301;
  auto v = ServerCheck(req, sc.akid, sc.secret, late, sc.Style());
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->fault, query ? SigV4Fault::kExpired : SigV4Fault::kSkewed);
  tally.Reject(v->fault);
}

TEST(SigV4Suite, AwsCAuthVectors) {
  const std::vector<SuiteCase> cases = LoadSuite();
  if (cases.empty()) {
    GTEST_SKIP() << "no aws-signing-test-suite/v4 at '" << SuiteDir().string()
                 << "' (set ALTO_SIGV4_SUITE; see tests/data/sigv4/README.md)";
  }
  Tally tally;
  for (const SuiteCase& sc : cases) {
    CheckVariant(sc, false, tally);
    CheckVariant(sc, true, tally);
    // Our signer reproduces the suite's header signature from the unsigned request.
    http::Request req = ParseRequestText(sc.File("request.txt"));
    const Credentials cr{sc.akid, sc.secret, sc.omit_token ? "" : sc.token};
    SignRequest(req, cr, sc.region, sc.service, kSuiteTime, sc.Style(), sc.sign_body);
    const http::Request expected = ParseRequestText(sc.File("header-signed-request.txt"));
    EXPECT_EQ(req.HeaderValue("authorization"), expected.HeaderValue("authorization")) << sc.name;
  }
  std::cout << "[sigv4 suite] " << cases.size() << " cases: accepted " << tally.accepted
            << " signed requests, rejected " << tally.rejected << " tampered or late ones (";
  for (const auto& [fault, n] : tally.by_fault) std::cout << " " << FaultName(fault) << "=" << n;
  std::cout << " )\n";
  RecordProperty("accepted", tally.accepted);
  RecordProperty("rejected", tally.rejected);
}

// A few of the suite's published results inline, so that the canonicalisation is checked even
// where the suite's files are not installed.
TEST(SigV4Suite, InlineVectors) {
  http::Request req = ParseRequestText(
      "GET /?Param-3=Value3&Param=Value2&%E1%88%B4=Value1 HTTP/1.1\nHost:example.amazonaws.com\n"
      "X-Amz-Date:20150830T123600Z\n");
  SigV4Claim c;
  c.scope_date = "20150830";
  c.region = "us-east-1";
  c.service = "service";
  c.amz_date = "20150830T123600Z";
  c.signed_headers = {"host", "x-amz-date"};
  const SigningKey key = DeriveSigningKey(kSecret, c.scope_date, c.region, c.service);
  EXPECT_EQ(SignatureHex(key, StringToSign(c, CanonicalRequest(req, c, Sha256Hex(""),
                                                               PathStyle::kDoubleEncoded))),
            "371d3713e185cc334048618a97f809c9ffe339c62934c032af5a0e595648fcac");
  req.query.clear();
  EXPECT_EQ(SignatureHex(key, StringToSign(c, CanonicalRequest(req, c, Sha256Hex(""),
                                                               PathStyle::kDoubleEncoded))),
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
}

// Requests signed by botocore 1.43's own signers (SigV4Auth for Lambda, S3SigV4Auth,
// S3SigV4QueryAuth, SigV4QueryAuth for STS) at 2026-01-01T00:00:00Z with secret "fuzz-secret".
TEST(SigV4Interop, BotocoreSignedRequestsVerify) {
  struct Signed {
    const char* name;
    const char* method;
    const char* path;
    const char* query;
    std::vector<http::Header> headers;
    const char* body;
    PathStyle style;
  };
  const std::vector<Signed> cases = {
      {"lambda_arn",
       "POST",
       "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Amy-fn/"
       "invocations",
       "Qualifier=%24LATEST",
       {{"Content-Type", "application/json"},
        {"X-Amz-Invocation-Type", "Event"},
        {"User-Agent", "aws-cli/1"},
        {"Host", "localhost:9000"},
        {"X-Amz-Date", "20260101T000000Z"},
        {"Authorization",
         "AWS4-HMAC-SHA256 Credential=AKIDFUZZ/20260101/us-east-1/lambda/aws4_request, "
         "SignedHeaders=content-type;host;x-amz-date;x-amz-invocation-type, "
         "Signature=789d8ff2c11b0778d4f60ad0adbe86a49fdac9ef89343cfdc067a57f3d9aae05"}},
       "{\"a\": 1}",
       PathStyle::kDoubleEncoded},
      {"lambda_dots",
       "GET",
       "/a/./b/../c//d",
       "z=1&a=%20x&a=%2B&b=",
       {{"X-Custom", "  a   b  "},
        {"Host", "h:1"},
        {"X-Amz-Date", "20260101T000000Z"},
        {"X-Amz-Security-Token", "tok/en+=="},
        {"Authorization",
         "AWS4-HMAC-SHA256 Credential=AKIDFUZZ/20260101/eu-west-1/lambda/aws4_request, "
         "SignedHeaders=host;x-amz-date;x-amz-security-token;x-custom, "
         "Signature=cf595085e702360d00f903b1736d1079dc85efe3c8a288db04ba2d3c1f95ed06"}},
       "",
       PathStyle::kDoubleEncoded},
      {"s3_put",
       "PUT",
       "/bucket/a%20key%2Bwith/odd~chars%3A",
       "x-id=PutObject",
       {{"Host", "s3.localhost:9000"},
        {"X-Amz-Date", "20260101T000000Z"},
        {"X-Amz-Content-SHA256",
         "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"},
        {"Authorization",
         "AWS4-HMAC-SHA256 Credential=AKIDFUZZ/20260101/us-east-1/s3/aws4_request, "
         "SignedHeaders=host;x-amz-content-sha256;x-amz-date, "
         "Signature=6f7cbfa8fe63049c31af95a0c611f31a523a00a2e016e1336e9255a916c4251d"}},
       "hello",
       PathStyle::kAsSent},
      {"s3_presign",
       "GET",
       "/bucket/some%20key",
       "versionId=3&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDFUZZ%2F20260101%2Fus-"
       "east-1%2Fs3%2Faws4_request&X-Amz-Date=20260101T000000Z&X-Amz-Expires=3600&X-Amz-"
       "SignedHeaders=host&X-Amz-Security-Token=tok%2Fen%2B%3D%3D&X-Amz-Signature="
       "e073621dd0782332794939b6375516879e1fbbb10029025505602a815bb87aad",
       {{"Host", "s3.localhost:9000"}},
       "",
       PathStyle::kAsSent},
      {"sts_presign",
       "GET",
       "/",
       "Action=GetCallerIdentity&Version=2011-06-15&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-"
       "Credential=AKIDFUZZ%2F20260101%2Fus-east-1%2Fsts%2Faws4_request&X-Amz-Date="
       "20260101T000000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature="
       "4d20b8e552869d5874b7b1912580316f84e67ae99660414a3fc82e3a738cb7d3",
       {{"Host", "sts.localhost"}},
       "",
       PathStyle::kDoubleEncoded},
  };
  const int64_t t = *ParseAmzDate("20260101T000000Z");
  for (const Signed& s : cases) {
    http::Request req;
    req.method = s.method;
    req.path = s.path;
    req.query = s.query;
    req.headers = s.headers;
    req.body = s.body;
    auto verdict = ServerCheck(req, "AKIDFUZZ", "fuzz-secret", t, s.style);
    EXPECT_FALSE(verdict) << s.name << ": " << verdict->message;
    // Another body is refused, except by the presigned S3 URL, which does not sign it.
    ChangeLastByte(req.body);
    EXPECT_EQ(ServerCheck(req, "AKIDFUZZ", "fuzz-secret", t, s.style).has_value(),
              std::string_view(s.name) != "s3_presign")
        << s.name;
  }
}

// S3's aws-chunked example (aws-c-auth tests/test_chunked_signing.c; the S3 docs' secret has
// '/' where the suite's has '+').
TEST(SigV4Chunked, S3ExampleChain) {
  http::Request req;
  req.method = "PUT";
  req.path = "/examplebucket/chunkObject.txt";
  req.headers = {{"Host", "s3.amazonaws.com"},
                 {"x-amz-storage-class", "REDUCED_REDUNDANCY"},
                 {"Content-Encoding", "aws-chunked"},
                 {"x-amz-decoded-content-length", "66560"},
                 {"Content-Length", "66824"},
                 {"x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"}};
  const Credentials cr{"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""};
  const int64_t t = *ParseAmzDate("20130524T000000Z");
  SignRequest(req, cr, "us-east-1", "s3", t, PathStyle::kAsSent);
  EXPECT_EQ(req.HeaderValue("authorization"),
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
            "SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;"
            "x-amz-decoded-content-length;x-amz-storage-class, "
            "Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9");
  auto parsed = ParseSigV4(req);
  ASSERT_TRUE(std::holds_alternative<SigV4Claim>(parsed));
  const SigV4Claim c = std::get<SigV4Claim>(parsed);
  EXPECT_EQ(c.content_sha256, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD");
  const SigningKey key = DeriveSigningKey(cr.secret_access_key, "20130524", "us-east-1", "s3");
  // The sentinel is signed as-is; the (not yet read) body is not hashed.
  EXPECT_FALSE(Verify(req, c, key, PathStyle::kAsSent).has_value());

  const std::string chunk1 = ChunkSignature(key, c, c.signature, std::string(65536, 'a'));
  EXPECT_EQ(chunk1, "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648");
  const std::string chunk2 = ChunkSignature(key, c, chunk1, std::string(1024, 'a'));
  EXPECT_EQ(chunk2, "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497");
  const std::string last = ChunkSignature(key, c, chunk2, "");
  EXPECT_EQ(last, "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9");
  EXPECT_EQ(TrailerSignature(key, c, last, "first:1st\nsecond:2nd\nthird:3rd\n"),
            "df5735bd9f3295cd9386572292562fefc93ba94e80a0a1ddcbd652c4e0a75e6c");
}

TEST(SigV4Hash, IncrementalMatchesOneShot) {
  Sha256 h;
  h.Update("hello ");
  h.Update("world");
  EXPECT_EQ(h.FinishHex(), Sha256Hex("hello world"));
  EXPECT_EQ(h.FinishHex(), Sha256Hex(""));  // reset for reuse
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "ab"));
}

TEST(SigV4Dates, RoundTripAndRefusals) {
  EXPECT_EQ(ParseAmzDate("20150830T123600Z"), kSuiteTime);
  EXPECT_EQ(FormatAmzDate(kSuiteTime), "20150830T123600Z");
  EXPECT_EQ(FormatAmzDate(0), "19700101T000000Z");
  EXPECT_EQ(FormatAmzDate(-1), "19691231T235959Z");
  EXPECT_EQ(ParseAmzDate("20240229T000000Z"), 1709164800);
  EXPECT_EQ(ParseAmzDate(FormatAmzDate(253402300799)), 253402300799);  // 9999-12-31T23:59:59Z
  for (std::string_view bad :
       {"20230229T000000Z", "20151330T000000Z", "20150830T246000Z", "20150830T123600",
        "2015-08-30T12:36:00Z", "20150830t123600z", "2015083OT123600Z", ""}) {
    EXPECT_FALSE(ParseAmzDate(bad).has_value()) << bad;
  }
}

// A request the failure table starts from: header-signed, valid at kSuiteTime.
http::Request SignedGet() {
  http::Request req;
  req.method = "GET";
  req.path = "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A1%3Afunction%3Af";
  req.query = "Qualifier=%24LATEST";
  req.headers = {{"Host", "localhost:9000"}, {"User-Agent", "test"}};
  SignRequest(req, {"AKIDEXAMPLE", std::string(kSecret), ""}, "us-east-1", "lambda", kSuiteTime,
              PathStyle::kDoubleEncoded);
  return req;
}

std::string& Authorization(http::Request& req) { return FindHeader(req, "authorization")->value; }

SigV4Fault ParseFault(const http::Request& req) {
  auto r = ParseSigV4(req);
  EXPECT_TRUE(std::holds_alternative<SigV4Error>(r));
  return std::holds_alternative<SigV4Error>(r) ? std::get<SigV4Error>(r).fault
                                               : SigV4Fault::kMismatch;
}

std::string ParseMessage(const http::Request& req) {
  auto r = ParseSigV4(req);
  return std::holds_alternative<SigV4Error>(r) ? std::get<SigV4Error>(r).message : "";
}

void Replace(std::string& s, std::string_view from, std::string_view to) {
  const size_t at = s.find(from);
  ASSERT_NE(at, std::string::npos) << from << " in " << s;
  s.replace(at, from.size(), to);
}

TEST(SigV4Parse, FailureTable) {
  const http::Request good = SignedGet();
  ASSERT_FALSE(ServerCheck(good, "AKIDEXAMPLE", kSecret, kSuiteTime, PathStyle::kDoubleEncoded));
  // Lambda's ARN path is signed double-encoded.
  auto claim = std::get<SigV4Claim>(ParseSigV4(good));
  EXPECT_NE(CanonicalRequest(good, claim, Sha256Hex(""), PathStyle::kDoubleEncoded)
                .find("/2015-03-31/functions/arn%253Aaws%253Alambda"),
            std::string::npos);

  http::Request r = good;
  r.headers.erase(r.headers.end() - 1);
  EXPECT_EQ(ParseFault(r), SigV4Fault::kMissing);

  r = good;
  Authorization(r) = "AWS4-HMAC-SHA256 SignedHeaders=host";
  EXPECT_EQ(ParseFault(r), SigV4Fault::kMalformed);
  EXPECT_EQ(ParseMessage(r),
            "Authorization header requires 'Credential' parameter. Authorization header requires "
            "'Signature' parameter. Authorization=AWS4-HMAC-SHA256 SignedHeaders=host");

  r = good;
  Authorization(r) = "AWS4-HMAC-SHA256 Credential=, SignedHeaders=host, Signature=00";
  EXPECT_EQ(ParseFault(r), SigV4Fault::kMalformed);  // empty Credential

  r = good;
  Authorization(r) += ", Credential=AKIDEXAMPLE/20150830/us-east-1/lambda/aws4_request";
  EXPECT_EQ(ParseFault(r), SigV4Fault::kMalformed);  // duplicate Credential

  r = good;
  Replace(Authorization(r), "Credential=AKIDEXAMPLE", "Credential= AKIDEXAMPLE");
  EXPECT_EQ(ParseFault(r), SigV4Fault::kMalformed);  // "... not a valid key=value pair"

  r = good;
  Replace(Authorization(r), "AWS4-HMAC-SHA256", "AWS4-HMAC-SHA512");
  EXPECT_EQ(ParseFault(r), SigV4Fault::kBadAlgorithm);
  Authorization(r) = "Bearer abc";
  EXPECT_EQ(ParseFault(r), SigV4Fault::kBadAlgorithm);

  r = good;
  Replace(Authorization(r), "/us-east-1/lambda/", "/us-east-1/");
  EXPECT_EQ(ParseFault(r), SigV4Fault::kMalformed);  // scope with 4 parts

  r = good;
  Replace(Authorization(r), "/20150830/", "/20150831/");
  EXPECT_EQ(ParseFault(r), SigV4Fault::kBadScope);  // date mismatch
  EXPECT_EQ(ParseMessage(r),
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from "
            "HTTP: '20150831' != '20150830', from '20150830T123600Z'.");

  r = good;
  Replace(Authorization(r), "/aws4_request", "/aws5_request");
  EXPECT_EQ(ParseFault(r), SigV4Fault::kBadScope);

  r = good;
  Replace(Authorization(r), "/us-east-1/", "//");
  EXPECT_EQ(ParseFault(r), SigV4Fault::kBadScope);  // empty region

  r = good;
  Authorization(r).back() = 'g';
  EXPECT_EQ(ParseFault(r), SigV4Fault::kMalformed);  // non-hex signature

  r = good;
  Replace(Authorization(r), "SignedHeaders=host;", "SignedHeaders=host;;");
  EXPECT_EQ(ParseFault(r), SigV4Fault::kMalformed);

  r = good;
  FindHeader(r, "x-amz-date")->value = "2015-08-30T12:36:00Z";
  EXPECT_EQ(ParseFault(r), SigV4Fault::kBadDate);
  std::erase_if(r.headers,
                [](const http::Header& h) { return http::IEquals(h.name, "x-amz-date"); });
  EXPECT_EQ(ParseFault(r), SigV4Fault::kBadDate);  // neither X-Amz-Date nor Date

  r = good;
  r.headers.push_back(r.headers.back());
  EXPECT_EQ(ParseFault(r), SigV4Fault::kMalformed);  // two Authorization headers

  r = good;
  r.query += "&X-Amz-Algorithm=AWS4-HMAC-SHA256";
  EXPECT_EQ(ParseFault(r), SigV4Fault::kMalformed);  // two auth mechanisms
}

TEST(SigV4Parse, DateHeaderInsteadOfXAmzDate) {
  http::Request req;
  req.method = "GET";
  req.path = "/";
  req.headers = {{"Host", "example.amazonaws.com"}, {"Date", "Sun, 30 Aug 2015 12:36:00 GMT"}};
  SigV4Claim c;
  c.amz_date = "20150830T123600Z";
  c.scope_date = "20150830";
  c.region = "us-east-1";
  c.service = "service";
  c.signed_headers = {"date", "host"};
  const SigningKey key = DeriveSigningKey(kSecret, "20150830", "us-east-1", "service");
  const std::string sig = SignatureHex(
      key, StringToSign(c, CanonicalRequest(req, c, Sha256Hex(""), PathStyle::kDoubleEncoded)));
  req.headers.push_back({"Authorization",
                         "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/"
                         "aws4_request,SignedHeaders=date;host,Signature=" +
                             sig});
  auto parsed = ParseSigV4(req);
  ASSERT_TRUE(std::holds_alternative<SigV4Claim>(parsed)) << std::get<SigV4Error>(parsed).message;
  EXPECT_EQ(std::get<SigV4Claim>(parsed).amz_date, "20150830T123600Z");
  EXPECT_FALSE(ServerCheck(req, "AKIDEXAMPLE", kSecret, kSuiteTime, PathStyle::kDoubleEncoded));
}

TEST(SigV4Time, SkewAndExpiry) {
  const http::Request good = SignedGet();
  const SigV4Claim c = std::get<SigV4Claim>(ParseSigV4(good));
  EXPECT_FALSE(CheckTime(c, kSuiteTime + 4 * 60, 300));
  EXPECT_FALSE(CheckTime(c, kSuiteTime - 4 * 60, 300));
  auto late = CheckTime(c, kSuiteTime + 16 * 60, 300);
  ASSERT_TRUE(late);
  EXPECT_EQ(late->fault, SigV4Fault::kSkewed);
  EXPECT_EQ(late->message,
            "Signature expired: 20150830T123600Z is now earlier than 20150830T124700Z "
            "(20150830T125200Z - 5 min.)");
  auto early = CheckTime(c, kSuiteTime - 16 * 60, 900);
  ASSERT_TRUE(early);
  EXPECT_EQ(early->fault, SigV4Fault::kSkewed);
  EXPECT_EQ(early->message,
            "Signature not yet current: 20150830T123600Z is still later than 20150830T123500Z "
            "(20150830T122000Z + 15 min.)");
  EXPECT_TRUE(CheckTime(c, INT64_MIN, INT64_MAX));  // saturates instead of overflowing
}

// A presigned request for the failure table, signed with the given X-Amz-Expires.
http::Request Presigned(int64_t expires) {
  http::Request req;
  req.method = "GET";
  req.path = "/bucket/key";
  req.query = PresignQuery("GET", "s3.localhost", req.path, "versionId=1",
                           {"AKIDEXAMPLE", std::string(kSecret), "tok/en+="}, "us-east-1", "s3",
                           kSuiteTime, expires, PathStyle::kAsSent);
  req.headers = {{"Host", "s3.localhost"}};
  return req;
}

TEST(SigV4Presigned, RoundTripAndFailures) {
  const http::Request good = Presigned(3600);
  ASSERT_FALSE(ServerCheck(good, "AKIDEXAMPLE", kSecret, kSuiteTime + 3600, PathStyle::kAsSent));
  const SigV4Claim c = std::get<SigV4Claim>(ParseSigV4(good));
  EXPECT_EQ(c.security_token, "tok/en+=");
  EXPECT_EQ(c.expires_s, 3600);
  auto expired = ServerCheck(good, "AKIDEXAMPLE", kSecret, kSuiteTime + 3601, PathStyle::kAsSent);
  ASSERT_TRUE(expired);
  EXPECT_EQ(expired->fault, SigV4Fault::kExpired);
  auto early = CheckTime(c, kSuiteTime - 301, 300);
  ASSERT_TRUE(early);
  EXPECT_EQ(early->fault, SigV4Fault::kSkewed);

  // An upload through the URL that names its body's hash still verifies (signed over
  // UNSIGNED-PAYLOAD), but the hash must be right.
  http::Request upload = good;
  upload.body = "data";
  upload.headers.push_back({"x-amz-content-sha256", Sha256Hex("data")});
  EXPECT_FALSE(ServerCheck(upload, "AKIDEXAMPLE", kSecret, kSuiteTime, PathStyle::kAsSent));
  upload.body = "date";
  EXPECT_EQ(FaultOf(ServerCheck(upload, "AKIDEXAMPLE", kSecret, kSuiteTime, PathStyle::kAsSent)),
            SigV4Fault::kBodyMismatch);

  for (std::string_view bad : {"604801", "0", "abc", "-5", "99999999999999999999"}) {
    http::Request r = good;
    Replace(r.query, "X-Amz-Expires=3600", "X-Amz-Expires=" + std::string(bad));
    EXPECT_EQ(ParseFault(r), SigV4Fault::kBadExpires) << bad;
  }
  EXPECT_FALSE(std::holds_alternative<SigV4Error>(ParseSigV4(Presigned(604800))));

  http::Request r = good;
  Replace(r.query, "X-Amz-Algorithm=AWS4-HMAC-SHA256", "X-Amz-Algorithm=AWS4-HMAC-SHA1");
  EXPECT_EQ(ParseFault(r), SigV4Fault::kBadAlgorithm);
  r = good;
  Replace(r.query, "&X-Amz-SignedHeaders=host", "");
  EXPECT_EQ(ParseFault(r), SigV4Fault::kMalformed);
  r = good;
  r.query += "&X-Amz-Credential=x";
  EXPECT_EQ(ParseFault(r), SigV4Fault::kMalformed);
  r = good;
  Replace(r.query, "X-Amz-Date=20150830T123600Z", "X-Amz-Date=20150830");
  EXPECT_EQ(ParseFault(r), SigV4Fault::kBadDate);
  r = good;
  Replace(r.query, "versionId=1", "versionId=2");
  EXPECT_EQ(FaultOf(ServerCheck(r, "AKIDEXAMPLE", kSecret, kSuiteTime, PathStyle::kAsSent)),
            SigV4Fault::kMismatch);
  r = good;
  Replace(r.query, "X-Amz-SignedHeaders=host", "X-Amz-SignedHeaders=content-type");
  EXPECT_EQ(FaultOf(ServerCheck(r, "AKIDEXAMPLE", kSecret, kSuiteTime, PathStyle::kAsSent)),
            SigV4Fault::kSignedHeaderAbsent);  // host not signed
}

TEST(SigV4Verify, SignedHeadersAndBody) {
  http::Request req;
  req.method = "PUT";
  req.path = "/b/a key+with%2Fodd~chars";
  req.body = "payload";
  req.headers = {{"Host", "localhost"}, {"X-Custom", "  a   b  "}, {"Connection", "close"}};
  const Credentials cr{"AKIDEXAMPLE", std::string(kSecret), "session"};
  SignRequest(req, cr, "us-east-1", "s3", kSuiteTime, PathStyle::kAsSent, true);
  const SigV4Claim c = std::get<SigV4Claim>(ParseSigV4(req));
  EXPECT_EQ(c.signed_headers,
            (std::vector<std::string>{"host", "x-amz-content-sha256", "x-amz-date",
                                      "x-amz-security-token", "x-custom"}));
  EXPECT_EQ(c.security_token, "session");
  EXPECT_EQ(c.content_sha256, Sha256Hex("payload"));
  const SigningKey key = DeriveSigningKey(kSecret, c.scope_date, c.region, c.service);
  EXPECT_FALSE(Verify(req, c, key, PathStyle::kAsSent));
  // Unsigned headers may change; whitespace inside signed values is canonicalised away.
  http::Request r = req;
  FindHeader(r, "connection")->value = "keep-alive";
  FindHeader(r, "x-custom")->value = "a b";
  EXPECT_FALSE(Verify(r, c, key, PathStyle::kAsSent));

  r = req;
  r.body = "payloaD";
  EXPECT_EQ(FaultOf(Verify(r, c, key, PathStyle::kAsSent)), SigV4Fault::kBodyMismatch);
  // A streamed body is hashed by the caller as it arrives.
  EXPECT_FALSE(Verify(r, c, key, PathStyle::kAsSent, BodyCheck::kDeferred));
  FindHeader(r, "x-amz-content-sha256")->value = "not-a-digest";
  EXPECT_EQ(FaultOf(Verify(r, c, key, PathStyle::kAsSent)), SigV4Fault::kBodyMismatch);

  r = req;
  std::erase_if(r.headers, [](const http::Header& h) { return http::IEquals(h.name, "x-custom"); });
  EXPECT_EQ(FaultOf(Verify(r, c, key, PathStyle::kAsSent)), SigV4Fault::kSignedHeaderAbsent);

  SigV4Claim no_host = c;
  no_host.signed_headers.erase(no_host.signed_headers.begin());
  EXPECT_EQ(FaultOf(Verify(req, no_host, key, PathStyle::kAsSent)),
            SigV4Fault::kSignedHeaderAbsent);

  // Another key, or the other path style, does not verify.
  EXPECT_EQ(FaultOf(Verify(req, c, DeriveSigningKey("other", c.scope_date, c.region, c.service),
                           PathStyle::kAsSent)),
            SigV4Fault::kMismatch);
  EXPECT_EQ(FaultOf(Verify(req, c, key, PathStyle::kDoubleEncoded)), SigV4Fault::kMismatch);
}

TEST(SigV4Canonical, QueryDecodingMatchesQueryParam) {
  // '+' is a space in values (as QueryParam reads it), so "a+b" and "a%20b" sign alike, while a
  // literal plus must be sent as %2B; names keep '+'.
  http::Request a;
  a.method = "GET";
  a.path = "/";
  a.headers = {{"Host", "h"}};
  SigV4Claim c;
  c.signed_headers = {"host"};
  a.query = "k+1=a+b&z=";
  http::Request b = a;
  b.query = "k%2B1=a%20b&z";
  EXPECT_EQ(CanonicalRequest(a, c, "h", PathStyle::kAsSent),
            CanonicalRequest(b, c, "h", PathStyle::kAsSent));
  EXPECT_NE(CanonicalRequest(a, c, "h", PathStyle::kAsSent).find("\nk%2B1=a%20b&z=\n"),
            std::string::npos);
  EXPECT_EQ(a.QueryParam("k+1"), b.QueryParam("k+1"));
  b.query = "k+1=a%2Bb&z=";
  EXPECT_NE(CanonicalRequest(a, c, "h", PathStyle::kAsSent),
            CanonicalRequest(b, c, "h", PathStyle::kAsSent));
}

TEST(SigV4Canonical, PathStyles) {
  http::Request req;
  req.method = "GET";
  req.path = "/a/./b/../c//d%3A%2F%20e/";
  SigV4Claim c;
  auto uri = [&](PathStyle s) {
    std::string cr = CanonicalRequest(req, c, "", s);
    return cr.substr(4, cr.find('\n', 4) - 4);
  };
  EXPECT_EQ(uri(PathStyle::kDoubleEncoded), "/a/c/d%253A%252F%2520e/");
  EXPECT_EQ(uri(PathStyle::kAsSent), "/a/./b/../c//d%3A/%20e/");
  req.path = "";
  EXPECT_EQ(uri(PathStyle::kDoubleEncoded), "/");
  EXPECT_EQ(uri(PathStyle::kAsSent), "/");
}

TEST(SigV4Sign, RoundTripsBothStyles) {
  for (PathStyle style : {PathStyle::kDoubleEncoded, PathStyle::kAsSent}) {
    for (bool send_sha : {false, true}) {
      http::Request req;
      req.method = "POST";
      req.path = "/2015-03-31/functions/my%3Afn/invocations";
      req.query = "a=1&b=%E1%88%B4&c";
      req.body = R"({"k":"v"})";
      req.headers = {{"Host", "localhost:9000"},
                     {"Content-Type", "application/json"},
                     {"User-Agent", "aws-cli/2"},
                     {"X-Amz-Invocation-Type", "Event"}};
      SignRequest(req, {"AKIDEXAMPLE", std::string(kSecret), "tok"}, "eu-west-1", "lambda",
                  kSuiteTime, style, send_sha);
      EXPECT_FALSE(ServerCheck(req, "AKIDEXAMPLE", kSecret, kSuiteTime, style));
      const SigV4Claim c = std::get<SigV4Claim>(ParseSigV4(req));
      EXPECT_EQ(std::find(c.signed_headers.begin(), c.signed_headers.end(), "user-agent"),
                c.signed_headers.end());
      // Signing again replaces the previous signature's headers rather than adding to them.
      SignRequest(req, {"AKIDEXAMPLE", std::string(kSecret), "tok"}, "eu-west-1", "lambda",
                  kSuiteTime + 60, style, send_sha);
      EXPECT_FALSE(ServerCheck(req, "AKIDEXAMPLE", kSecret, kSuiteTime + 60, style));
    }
  }
}

TEST(SigV4Cache, CachesPerScopeAndSecret) {
  SigningKeyCache cache;
  const SigningKey k1 = cache.Get("AK", "s1", "20150830", "us-east-1", "lambda");
  EXPECT_EQ(k1, DeriveSigningKey("s1", "20150830", "us-east-1", "lambda"));
  EXPECT_EQ(cache.Get("AK", "s1", "20150830", "us-east-1", "lambda"), k1);
  EXPECT_EQ(cache.Size(), 1u);
  // A changed secret is never answered with the old key.
  EXPECT_EQ(cache.Get("AK", "s2", "20150830", "us-east-1", "lambda"),
            DeriveSigningKey("s2", "20150830", "us-east-1", "lambda"));
  cache.Get("AK", "s2", "20150830", "us-east-1", "s3");
  cache.Get("AK2", "s", "20150830", "us-east-1", "s3");
  EXPECT_EQ(cache.Size(), 3u);
  cache.Forget("AK");
  EXPECT_EQ(cache.Size(), 1u);
  // Bounded: it never grows past its limit.
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&cache, t] {
      for (int i = 0; i < 1500; ++i) {
        cache.Get("K" + std::to_string(t) + "-" + std::to_string(i), "s", "20150830", "r", "s");
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_LE(cache.Size(), SigningKeyCache::kMaxEntries);
}

}  // namespace
}  // namespace alto::auth
