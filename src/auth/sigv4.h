// AWS Signature Version 4 (AWS4-HMAC-SHA256): parsing a request's claim, canonicalisation,
// verification once the secret is known, signing for the client side, and the aws-chunked
// chunk/trailer signatures. Pure: no I/O, no clock (callers pass the time), no globals.
// Wire facts: /work/shared/reference/aws-apis.md section 8, lambda-api.md section 2.2.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

#include "http/message.h"

struct evp_md_ctx_st;  // OpenSSL's EVP_MD_CTX, kept out of this header

namespace alto::auth {

inline constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";
inline constexpr std::string_view kUnsignedPayload = "UNSIGNED-PAYLOAD";
// The longest X-Amz-Expires AWS accepts (7 days).
inline constexpr int64_t kMaxPresignExpires = 604800;

enum class SigV4Fault {
  kMissing,             // neither an Authorization header nor presigned X-Amz-* parameters
  kMalformed,           // a part missing, duplicated or unparsable (IncompleteSignature)
  kBadAlgorithm,        // not AWS4-HMAC-SHA256
  kBadScope,            // scope date != the request's, terminator, empty region/service
  kBadDate,             // X-Amz-Date (or Date) missing or not YYYYMMDDTHHMMSSZ
  kSkewed,              // request time outside the allowed skew
  kExpired,             // presigned URL past X-Amz-Date + X-Amz-Expires
  kBadExpires,          // X-Amz-Expires not an integer in 1..604800
  kSignedHeaderAbsent,  // a SignedHeaders name absent from the request, or host not signed
  kMismatch,            // the signature does not match
  kBodyMismatch,        // x-amz-content-sha256 not the body's digest (nor a sentinel)
};

struct SigV4Error {
  SigV4Fault fault;
  std::string message;  // AWS's wording where AWS has one
};

struct SigV4Claim {
  bool presigned = false;
  std::string access_key_id;
  std::string scope_date;  // YYYYMMDD
  std::string region;
  std::string service;
  std::vector<std::string> signed_headers;  // lowercase, as listed
  std::string signature;                    // lowercase hex, as sent
  std::string amz_date;                     // YYYYMMDDTHHMMSSZ
  int64_t request_time_s = 0;               // amz_date as Unix seconds
  int64_t expires_s = 0;                    // presigned only
  std::string security_token;               // X-Amz-Security-Token (header or query); may be empty
  std::string content_sha256;               // x-amz-content-sha256 header value; empty when absent
  std::string Scope() const;                // date/region/service/aws4_request
};

template <class T>
using SigV4Result = std::variant<T, SigV4Error>;

// Parses the Authorization header, or the presigned query when there is no header. No crypto.
// A request carrying both (an Authorization header and X-Amz-Algorithm in the query) is
// kMalformed, as S3 refuses it. When X-Amz-Date is absent the Date header is used (RFC 1123 or
// the ISO 8601 basic form); amz_date is then its ISO 8601 basic form, which is what the string
// to sign carries.
SigV4Result<SigV4Claim> ParseSigV4(const http::Request& req);

// Header auth: the request time within +-skew_s of now ("Signature expired: ..." /
// "Signature not yet current: ..."). Presigned: X-Amz-Expires in 1..7 days (kBadExpires),
// now <= date + expires (kExpired), and the date at most skew_s in the future (kSkewed).
std::optional<SigV4Error> CheckTime(const SigV4Claim& c, int64_t now_unix_s, int64_t skew_s);

// kDoubleEncoded: every service but S3 (botocore: normalise . .. // and percent-encode the wire
// path again, so %3A becomes %253A). kAsSent: S3 (decode once and re-encode with unreserved
// A-Za-z0-9-_.~ and '/', no normalisation).
enum class PathStyle { kDoubleEncoded, kAsSent };

// The payload hash a header-signed request's signature covers: x-amz-content-sha256 when sent
// (including UNSIGNED-PAYLOAD and the STREAMING-* sentinels), else hex sha256 of req.body.
// Presigned: UNSIGNED-PAYLOAD unless x-amz-content-sha256 is present.
std::string PayloadHash(const http::Request& req, const SigV4Claim& c);

// The canonical request for the claim's SignedHeaders (in the order listed). The query is
// decoded exactly as http::Request::QueryParam decodes it ('+' is a space in values, literal in
// names), then re-encoded with the unreserved set: what is verified is what handlers read.
// Presigned claims leave X-Amz-Signature out.
std::string CanonicalRequest(const http::Request& req, const SigV4Claim& c,
                             std::string_view payload_hash, PathStyle style);
std::string StringToSign(const SigV4Claim& c, std::string_view canonical_request);

using SigningKey = std::array<unsigned char, 32>;
SigningKey DeriveSigningKey(std::string_view secret, std::string_view date, std::string_view region,
                            std::string_view service);
std::string SignatureHex(const SigningKey& key, std::string_view string_to_sign);
// Constant time in the contents (a length difference returns at once).
bool ConstantTimeEquals(std::string_view a, std::string_view b);
std::string Sha256Hex(std::string_view data);

// Incremental SHA-256, for bodies read piece by piece. FinishHex resets it for reuse.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void Update(std::string_view data);
  std::string FinishHex();

 private:
  evp_md_ctx_st* ctx_;
};

// How Verify treats a hex x-amz-content-sha256.
enum class BodyCheck {
  kNow,       // compare it with sha256(req.body) now
  kDeferred,  // the body is streamed (req.body_source): the caller hashes it as it arrives
              // (Sha256) and must refuse the request unless the digest equals c.content_sha256
};

// The whole check once the secret is known: signed headers present (host required), payload
// hash (a sent x-amz-content-sha256 that is a hex digest must equal sha256(req.body) ->
// kBodyMismatch; sentinels are accepted as-is), canonical request, signature compared in
// constant time. A presigned request is also accepted when it was signed over UNSIGNED-PAYLOAD
// (S3, and what PresignQuery makes) though it carries x-amz-content-sha256, or, without that
// header, over sha256(req.body) (botocore's SigV4QueryAuth for every service but S3, and the
// aws-c-auth test suite).
// Header-signed requests without x-amz-content-sha256 (Lambda) are hashed from req.body, so
// their bodies must be read whole first. Time is CheckTime's business, not Verify's.
std::optional<SigV4Error> Verify(const http::Request& req, const SigV4Claim& c,
                                 const SigningKey& key, PathStyle style);
std::optional<SigV4Error> Verify(const http::Request& req, const SigV4Claim& c,
                                 const SigningKey& key, PathStyle style, BodyCheck body);

// Signing keys cached per (access key id, date, region, service), thread-safe and bounded, so
// a warm request does one HMAC, not five. An entry remembers the secret it came from, so a
// changed secret never gets the old key.
class SigningKeyCache {
 public:
  static constexpr size_t kMaxEntries = 4096;
  SigningKey Get(std::string_view access_key_id, std::string_view secret, std::string_view date,
                 std::string_view region, std::string_view service);
  void Forget(std::string_view access_key_id);  // a key deleted or disabled
  size_t Size() const;

 private:
  struct Entry {
    std::string secret;
    SigningKey key;
  };
  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;
};

// Client side (the alto CLI and Code.Location presigned URLs use these).
struct Credentials {
  std::string access_key_id, secret_access_key, session_token;
};

// Adds X-Amz-Date, X-Amz-Security-Token (when a token is set), X-Amz-Content-SHA256 only if
// `send_content_sha256`, and Authorization (each replacing any already there). `req.headers`
// must already hold Host. Signs every header present except the botocore blacklist
// (user-agent, connection, expect, ...) and names that are not HTTP tokens. An
// x-amz-content-sha256 the caller set (UNSIGNED-PAYLOAD, STREAMING-...) is kept and signed.
void SignRequest(http::Request& req, const Credentials& cr, std::string_view region,
                 std::string_view service, int64_t now_unix_s, PathStyle style,
                 bool send_content_sha256 = false);

// Returns the query string (without '?') of a presigned URL for method+host+path(+existing raw
// query), signed host only, UNSIGNED-PAYLOAD.
std::string PresignQuery(std::string_view method, std::string_view host, std::string_view path,
                         std::string_view query, const Credentials& cr, std::string_view region,
                         std::string_view service, int64_t now_unix_s, int64_t expires_s,
                         PathStyle style);

// aws-chunked (S3 uploads): per-chunk and trailer signatures. The seed previous_signature is the
// request's signature; the final chunk is the empty one. trailer_lines are the canonical trailer
// headers, each "name:value\n".
std::string ChunkSignature(const SigningKey& key, const SigV4Claim& c,
                           std::string_view previous_signature, std::string_view chunk_data);
std::string TrailerSignature(const SigningKey& key, const SigV4Claim& c,
                             std::string_view previous_signature, std::string_view trailer_lines);

// Helpers the above are made of, public for callers and tests.
// YYYYMMDDTHHMMSSZ <-> Unix seconds (years 0000..9999).
std::optional<int64_t> ParseAmzDate(std::string_view text);
std::string FormatAmzDate(int64_t unix_s);
// Percent-encodes every byte but A-Za-z0-9-_.~ (and '/' when keep_slash), hex upper case.
std::string UriEncode(std::string_view bytes, bool keep_slash);
// UNSIGNED-PAYLOAD and the STREAMING-* values x-amz-content-sha256 may carry instead of a digest.
bool IsPayloadSentinel(std::string_view value);

}  // namespace alto::auth
