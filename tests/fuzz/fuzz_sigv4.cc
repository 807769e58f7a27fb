// SigV4 (src/auth/sigv4.h) on requests built from the input: the claim parser, the clock checks,
// canonicalisation in both path styles and verification with a fixed secret, checking what the
// parser promises about a claim it accepts. Then the invariant that matters to clients: a
// well-formed version of the same request, signed by SignRequest (and presigned by
// PresignQuery), always parses and verifies.
//
// Input: one flags byte, then "METHOD\nPATH\nQUERY\nName:value\n...\n\nBODY". Flags: bit 0 the
// path style (S3's), bit 1 send X-Amz-Content-SHA256, bit 2 also presign, the rest move the
// clock.
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "auth/sigv4.h"
#include "check.h"
#include "common/encoding.h"

namespace {

using alto::auth::PathStyle;
using alto::auth::SigV4Claim;
using alto::auth::SigV4Error;
namespace http = alto::http;

constexpr std::string_view kSecret = "fuzz-secret";
constexpr int64_t kNow = 1767225600;  // 2026-01-01T00:00:00Z

http::Request Build(std::string_view in) {
  http::Request req;
  auto line = [&in]() {
    const size_t nl = in.find('\n');
    std::string_view l = in.substr(0, nl);
    in.remove_prefix(nl == std::string_view::npos ? in.size() : nl + 1);
    return std::string(l);
  };
  req.method = line();
  req.path = line();
  req.query = line();
  req.target = req.path + (req.query.empty() ? "" : "?" + req.query);
  while (!in.empty()) {
    std::string l = line();
    if (l.empty()) break;
    const size_t colon = l.find(':');
    req.headers.push_back(
        {l.substr(0, colon), colon == std::string::npos ? std::string() : l.substr(colon + 1)});
  }
  req.body = in;
  return req;
}

bool IsLowerHex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string_view Trim(std::string_view s) {
  const size_t b = s.find_first_not_of(" \t\r\n\v\f");
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(" \t\r\n\v\f") - b + 1);
}

// Drops the query pairs whose decoded names start with "X-Amz-": they would make the request
// look presigned, or duplicate the parameters PresignQuery adds.
std::string WithoutAmzParams(std::string_view query) {
  std::string out;
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query.remove_prefix(amp == std::string_view::npos ? query.size() : amp + 1);
    if (alto::PercentDecode(pair.substr(0, pair.find('='))).starts_with("X-Amz-")) continue;
    if (!out.empty()) out += '&';
    out += pair;
  }
  return out;
}

void CheckClaim(const http::Request& req, const SigV4Claim& c, PathStyle style, int64_t now) {
  FUZZ_CHECK(c.signature.size() == 64 && IsLowerHex(c.signature), "a 64-digit hex signature");
  FUZZ_CHECK(!c.access_key_id.empty() && !c.region.empty() && !c.service.empty(),
             "non-empty scope parts");
  FUZZ_CHECK(c.scope_date == c.amz_date.substr(0, 8), "the scope date is the request's date");
  FUZZ_CHECK(alto::auth::ParseAmzDate(c.amz_date) == c.request_time_s,
             "amz_date is the request time");
  for (const std::string& h : c.signed_headers) {
    FUZZ_CHECK(!h.empty(), "signed header names are not empty");
    for (char ch : h) FUZZ_CHECK(!(ch >= 'A' && ch <= 'Z'), "signed header names are lower case");
  }
  FUZZ_CHECK(!c.presigned || (c.expires_s >= 1 && c.expires_s <= 604800), "X-Amz-Expires range");
  FUZZ_CHECK(!alto::auth::CheckTime(c, c.request_time_s, 0), "a request is valid at its time");
  (void)alto::auth::CheckTime(c, now, 300);

  static alto::auth::SigningKeyCache cache;  // the harness's, as a server holds one
  const auto key = cache.Get(c.access_key_id, kSecret, c.scope_date, c.region, c.service);
  FUZZ_CHECK(key == alto::auth::DeriveSigningKey(kSecret, c.scope_date, c.region, c.service),
             "the cache gives the derived key");
  const std::string payload = alto::auth::PayloadHash(req, c);
  for (PathStyle s : {PathStyle::kDoubleEncoded, PathStyle::kAsSent}) {
    (void)alto::auth::StringToSign(c, alto::auth::CanonicalRequest(req, c, payload, s));
  }
  (void)alto::auth::Verify(req, c, key, style);
  (void)alto::auth::Verify(req, c, key, style, alto::auth::BodyCheck::kDeferred);
  const std::string chunk = alto::auth::ChunkSignature(key, c, c.signature, req.body);
  (void)alto::auth::TrailerSignature(key, c, chunk, req.body);
}

// The request as a client would send it: a Host, no presigned parameters, and an
// x-amz-content-sha256 only when it is a sentinel or the body's digest.
http::Request WellFormed(const http::Request& raw) {
  http::Request w = raw;
  w.query = WithoutAmzParams(raw.query);
  const std::string digest = alto::auth::Sha256Hex(w.body);
  std::erase_if(w.headers, [&](const http::Header& h) {
    if (!http::IEquals(h.name, "x-amz-content-sha256")) return false;
    const std::string_view v = Trim(h.value);
    return !(alto::auth::IsPayloadSentinel(v) || v == digest);
  });
  if (!w.HasHeader("host")) w.headers.push_back({"Host", "example.com"});
  return w;
}

void SignAndVerify(const http::Request& raw, PathStyle style, bool send_sha, bool presign,
                   int64_t now, uint8_t flags) {
  const alto::auth::Credentials cr{"AKIDFUZZ", std::string(kSecret), flags & 8 ? "token" : ""};
  const auto key = alto::auth::DeriveSigningKey(
      kSecret, alto::auth::FormatAmzDate(now).substr(0, 8), "us-east-1", "lambda");
  http::Request w = WellFormed(raw);
  alto::auth::SignRequest(w, cr, "us-east-1", "lambda", now, style, send_sha);
  auto parsed = alto::auth::ParseSigV4(w);
  FUZZ_CHECK(std::holds_alternative<SigV4Claim>(parsed), "a signed request parses");
  const SigV4Claim& c = std::get<SigV4Claim>(parsed);
  FUZZ_CHECK(!alto::auth::CheckTime(c, now, 0), "a signed request is current");
  FUZZ_CHECK(!alto::auth::Verify(w, c, key, style), "a signed request verifies");
  if (!presign) return;

  http::Request p;
  p.method = w.method;
  p.path = w.path;
  p.body = w.body;
  const std::string host(w.HeaderValue("host"));
  p.query = alto::auth::PresignQuery(w.method, host, w.path, w.query, cr, "us-east-1", "lambda",
                                     now, 1 + flags * 2000, style);
  p.headers.push_back({"Host", host});
  auto presigned = alto::auth::ParseSigV4(p);
  FUZZ_CHECK(std::holds_alternative<SigV4Claim>(presigned), "a presigned request parses");
  const SigV4Claim& pc = std::get<SigV4Claim>(presigned);
  FUZZ_CHECK(pc.presigned && !alto::auth::CheckTime(pc, now, 0), "a presigned request is current");
  FUZZ_CHECK(!alto::auth::Verify(p, pc, key, style), "a presigned request verifies");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t flags = data[0];
  const http::Request req =
      Build(std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1));
  const PathStyle style = flags & 1 ? PathStyle::kAsSent : PathStyle::kDoubleEncoded;
  const int64_t now = kNow + static_cast<int64_t>(flags >> 4) * 3600 * 24 * 400;

  auto parsed = alto::auth::ParseSigV4(req);
  if (const auto* c = std::get_if<SigV4Claim>(&parsed)) {
    CheckClaim(req, *c, style, now);
  } else {
    FUZZ_CHECK(!std::get<SigV4Error>(parsed).message.empty(), "a refusal says why");
  }
  SignAndVerify(req, style, flags & 2, flags & 4, now, flags);
  return 0;
}
