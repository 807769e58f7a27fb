// SigV4 canonicalisation (botocore's SigV4Auth rules, aws-apis.md 8.1) and the server-side
// verification built on it.
#include <algorithm>
#include <utility>

#include "auth/sigv4.h"
#include "auth/sigv4_internal.h"
#include "common/encoding.h"

namespace alto::auth {

namespace {

constexpr std::string_view kMismatch =
    "The request signature we calculated does not match the signature you provided. Check your "
    "AWS Secret Access Key and signing method. Consult the service documentation for details.";

bool IsUnreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.' || c == '~';
}

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

bool IsHex64(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
         });
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
           return lower(x) == lower(y);
         });
}

// botocore's ' '.join(value.split()): trimmed, inner whitespace runs collapsed to one space.
void AppendTrimAll(std::string& out, std::string_view value) {
  bool pending_space = false;
  bool any = false;
  for (char c : value) {
    if (IsSpace(c)) {
      pending_space = any;
      continue;
    }
    if (pending_space) out += ' ';
    pending_space = false;
    any = true;
    out += c;
  }
}

// botocore's remove_dot_segments, which also drops empty segments (AWS collapses "//").
std::string NormalizePath(std::string_view path) {
  if (path.empty()) return "/";
  std::vector<std::string_view> kept;
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    std::string_view seg = path.substr(start, slash - start);
    if (seg == "..") {
      if (!kept.empty()) kept.pop_back();
    } else if (!seg.empty() && seg != ".") {
      kept.push_back(seg);
    }
    start = slash + 1;
  }
  std::string out = path.front() == '/' ? "/" : "";
  for (size_t i = 0; i < kept.size(); ++i) {
    if (i > 0) out += '/';
    out += kept[i];
  }
  if (path.back() == '/' && !kept.empty()) out += '/';
  return out;
}

std::string CanonicalUri(std::string_view path, PathStyle style) {
  if (style == PathStyle::kDoubleEncoded) return UriEncode(NormalizePath(path), true);
  return UriEncode(PercentDecode(path.empty() ? std::string_view("/") : path), true);
}

std::string CanonicalQuery(std::string_view query, bool presigned) {
  std::vector<std::pair<std::string, std::string>> pairs;
  internal::ForEachQueryPair(query, [&](const std::string& name, const std::string& value) {
    // (a string_view comparison: GCC 12 warns falsely on std::string == literal here)
    if (presigned && std::string_view(name) == std::string_view("X-Amz-Signature")) return;
    pairs.emplace_back(UriEncode(name, false), UriEncode(value, false));
  });
  std::sort(pairs.begin(), pairs.end());
  std::string out;
  for (const auto& [name, value] : pairs) {
    if (!out.empty()) out += '&';
    out += name;
    out += '=';
    out += value;
  }
  return out;
}

bool Matches(const http::Request& req, const SigV4Claim& c, const SigningKey& key,
             std::string_view payload_hash, PathStyle style) {
  const std::string sts = StringToSign(c, CanonicalRequest(req, c, payload_hash, style));
  return ConstantTimeEquals(SignatureHex(key, sts), c.signature);
}

}  // namespace

std::string UriEncode(std::string_view bytes, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(bytes.size());
  for (unsigned char c : bytes) {
    if (IsUnreserved(c) || (keep_slash && c == '/')) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

bool IsPayloadSentinel(std::string_view v) {
  return v == kUnsignedPayload || v == "STREAMING-UNSIGNED-PAYLOAD-TRAILER" ||
         v == "STREAMING-AWS4-HMAC-SHA256-PAYLOAD" ||
         v == "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER";
}

std::string PayloadHash(const http::Request& req, const SigV4Claim& c) {
  if (req.HasHeader("x-amz-content-sha256")) {
    return std::string(internal::Trim(req.HeaderValue("x-amz-content-sha256")));
  }
  if (c.presigned) return std::string(kUnsignedPayload);
  return Sha256Hex(req.body);
}

std::string CanonicalRequest(const http::Request& req, const SigV4Claim& c,
                             std::string_view payload_hash, PathStyle style) {
  std::string out = req.method;
  out += '\n';
  out += CanonicalUri(req.path, style);
  out += '\n';
  out += CanonicalQuery(req.query, c.presigned);
  out += '\n';
  for (const std::string& name : c.signed_headers) {
    out += name;
    out += ':';
    bool first = true;
    for (const auto& h : req.headers) {
      if (!http::IEquals(h.name, name)) continue;
      if (!first) out += ',';
      first = false;
      AppendTrimAll(out, h.value);
    }
    out += '\n';
  }
  out += '\n';
  for (size_t i = 0; i < c.signed_headers.size(); ++i) {
    if (i > 0) out += ';';
    out += c.signed_headers[i];
  }
  out += '\n';
  out += payload_hash;
  return out;
}

std::string StringToSign(const SigV4Claim& c, std::string_view canonical_request) {
  return std::string(kAlgorithm) + "\n" + c.amz_date + "\n" + c.Scope() + "\n" +
         Sha256Hex(canonical_request);
}

std::optional<SigV4Error> Verify(const http::Request& req, const SigV4Claim& c,
                                 const SigningKey& key, PathStyle style) {
  return Verify(req, c, key, style, BodyCheck::kNow);
}

std::optional<SigV4Error> Verify(const http::Request& req, const SigV4Claim& c,
                                 const SigningKey& key, PathStyle style, BodyCheck body) {
  if (std::find(c.signed_headers.begin(), c.signed_headers.end(), "host") ==
      c.signed_headers.end()) {
    return SigV4Error{SigV4Fault::kSignedHeaderAbsent,
                      "'Host' must be a 'SignedHeader' in the AWS Authorization."};
  }
  for (const std::string& name : c.signed_headers) {
    if (!req.HasHeader(name)) {
      return SigV4Error{SigV4Fault::kSignedHeaderAbsent,
                        "The header '" + name + "' is listed in SignedHeaders but is not present"};
    }
  }
  const bool has_sha = req.HasHeader("x-amz-content-sha256");
  if (has_sha) {
    const std::string_view sent = internal::Trim(req.HeaderValue("x-amz-content-sha256"));
    if (!IsPayloadSentinel(sent)) {
      if (!IsHex64(sent)) {
        return SigV4Error{SigV4Fault::kBodyMismatch,
                          "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, "
                          "STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, "
                          "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, or a valid sha256 value."};
      }
      if (body == BodyCheck::kNow && !EqualsIgnoreCase(sent, Sha256Hex(req.body))) {
        return SigV4Error{SigV4Fault::kBodyMismatch,
                          "The provided 'x-amz-content-sha256' header does not match what was "
                          "computed."};
      }
    }
  }
  const std::string payload = PayloadHash(req, c);
  if (Matches(req, c, key, payload, style)) return std::nullopt;
  if (c.presigned) {
    // A presigned URL is signed before its request exists: S3's over UNSIGNED-PAYLOAD even when
    // the request later carries x-amz-content-sha256, other services' over the body's hash
    // (botocore's SigV4QueryAuth). Trying each is safe: the signature covers what was signed.
    if (payload != kUnsignedPayload && Matches(req, c, key, kUnsignedPayload, style)) {
      return std::nullopt;
    }
    if (!has_sha && Matches(req, c, key, Sha256Hex(req.body), style)) return std::nullopt;
  }
  return SigV4Error{SigV4Fault::kMismatch, std::string(kMismatch)};
}

}  // namespace alto::auth
