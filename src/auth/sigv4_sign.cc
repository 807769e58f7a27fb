// SigV4 crypto (SHA-256, the HMAC key chain, constant-time comparison) on OpenSSL libcrypto, the
// signing-key cache, and the client side: signing requests, presigning URLs, aws-chunked chunks.
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cstdlib>

#include "auth/sigv4.h"
#include "auth/sigv4_internal.h"
#include "common/encoding.h"

namespace alto::auth {

namespace {

// HMAC-SHA256 into a 32-byte array. HMAC() cannot fail for SHA-256 with in-memory inputs short
// of allocation failure, which nothing here could recover from either.
SigningKey Hmac(const unsigned char* key, size_t key_len, std::string_view data) {
  SigningKey out{};
  unsigned int len = 0;
  if (HMAC(EVP_sha256(), key, static_cast<int>(key_len),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data(),
           &len) == nullptr) {
    std::abort();
  }
  return out;
}

SigningKey Hmac(const SigningKey& key, std::string_view data) {
  return Hmac(key.data(), key.size(), data);
}

std::string Hex(const SigningKey& bytes) {
  return HexEncode(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

// botocore's SIGNED_HEADERS_BLACKLIST: headers proxies add, drop or rewrite.
bool IsUnsignable(std::string_view lower) {
  static constexpr std::array<std::string_view, 12> kSkip = {"expect",
                                                             "user-agent",
                                                             "x-amzn-trace-id",
                                                             "connection",
                                                             "keep-alive",
                                                             "proxy-authenticate",
                                                             "proxy-authorization",
                                                             "te",
                                                             "trailer",
                                                             "transfer-encoding",
                                                             "upgrade",
                                                             "authorization"};
  return std::find(kSkip.begin(), kSkip.end(), lower) != kSkip.end();
}

// RFC 9110 token characters: anything else cannot be listed in SignedHeaders unambiguously.
bool IsToken(std::string_view name) {
  static constexpr std::string_view kExtra = "!#$%&'*+-.^_`|~";
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           kExtra.find(c) != std::string_view::npos;
  });
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
  }
  return out;
}

void SetHeader(http::Request& req, std::string name, std::string value) {
  std::erase_if(req.headers, [&](const http::Header& h) { return http::IEquals(h.name, name); });
  req.headers.push_back({std::move(name), std::move(value)});
}

SigV4Claim ClientClaim(const Credentials& cr, std::string_view region, std::string_view service,
                       int64_t now_unix_s) {
  SigV4Claim c;
  c.access_key_id = cr.access_key_id;
  c.amz_date = FormatAmzDate(now_unix_s);
  c.request_time_s = now_unix_s;
  c.scope_date = c.amz_date.substr(0, 8);
  c.region = region;
  c.service = service;
  c.security_token = cr.session_token;
  return c;
}

std::string ChainSignature(const SigningKey& key, std::string_view algorithm, const SigV4Claim& c,
                           std::string_view previous_signature, std::string_view tail) {
  std::string sts(algorithm);
  sts += '\n';
  sts += c.amz_date;
  sts += '\n';
  sts += c.Scope();
  sts += '\n';
  sts += previous_signature;
  sts += '\n';
  sts += tail;
  return SignatureHex(key, sts);
}

}  // namespace

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  if (ctx_ == nullptr || EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr) != 1) std::abort();
}

Sha256::~Sha256() { EVP_MD_CTX_free(ctx_); }

void Sha256::Update(std::string_view data) {
  if (EVP_DigestUpdate(ctx_, data.data(), data.size()) != 1) std::abort();
}

std::string Sha256::FinishHex() {
  SigningKey md{};
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx_, md.data(), &len) != 1 ||
      EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr) != 1) {
    std::abort();
  }
  return Hex(md);
}

std::string Sha256Hex(std::string_view data) { return HexEncode(alto::Sha256(data)); }

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return a.empty() || CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

SigningKey DeriveSigningKey(std::string_view secret, std::string_view date, std::string_view region,
                            std::string_view service) {
  const std::string k = "AWS4" + std::string(secret);
  SigningKey key = Hmac(reinterpret_cast<const unsigned char*>(k.data()), k.size(), date);
  key = Hmac(key, region);
  key = Hmac(key, service);
  return Hmac(key, "aws4_request");
}

std::string SignatureHex(const SigningKey& key, std::string_view string_to_sign) {
  return Hex(Hmac(key, string_to_sign));
}

SigningKey SigningKeyCache::Get(std::string_view access_key_id, std::string_view secret,
                                std::string_view date, std::string_view region,
                                std::string_view service) {
  // NUL cannot occur in any of these on the wire, so the joined key is unambiguous.
  std::string id(access_key_id);
  for (std::string_view part : {date, region, service}) {
    id += '\0';
    id += part;
  }
  {
    std::lock_guard lock(mu_);
    auto it = entries_.find(id);
    if (it != entries_.end() && ConstantTimeEquals(it->second.secret, secret)) {
      return it->second.key;
    }
  }
  const SigningKey key = DeriveSigningKey(secret, date, region, service);
  std::lock_guard lock(mu_);
  // Dropping everything when full is crude but bounded, and keys are cheap to derive again.
  if (entries_.size() >= kMaxEntries) entries_.clear();
  entries_[id] = Entry{std::string(secret), key};
  return key;
}

void SigningKeyCache::Forget(std::string_view access_key_id) {
  std::string prefix(access_key_id);
  prefix += '\0';
  std::lock_guard lock(mu_);
  std::erase_if(entries_, [&](const auto& e) { return e.first.starts_with(prefix); });
}

size_t SigningKeyCache::Size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

void SignRequest(http::Request& req, const Credentials& cr, std::string_view region,
                 std::string_view service, int64_t now_unix_s, PathStyle style,
                 bool send_content_sha256) {
  SigV4Claim c = ClientClaim(cr, region, service, now_unix_s);
  std::erase_if(req.headers,
                [](const http::Header& h) { return http::IEquals(h.name, "authorization"); });
  SetHeader(req, "X-Amz-Date", c.amz_date);
  if (!cr.session_token.empty()) SetHeader(req, "X-Amz-Security-Token", cr.session_token);
  if (send_content_sha256) SetHeader(req, "X-Amz-Content-SHA256", Sha256Hex(req.body));
  for (const auto& h : req.headers) {
    std::string name = Lower(h.name);
    if (IsToken(name) && !IsUnsignable(name)) c.signed_headers.push_back(std::move(name));
  }
  std::sort(c.signed_headers.begin(), c.signed_headers.end());
  c.signed_headers.erase(std::unique(c.signed_headers.begin(), c.signed_headers.end()),
                         c.signed_headers.end());
  const SigningKey key = DeriveSigningKey(cr.secret_access_key, c.scope_date, region, service);
  const std::string sig =
      SignatureHex(key, StringToSign(c, CanonicalRequest(req, c, PayloadHash(req, c), style)));
  std::string signed_list;
  for (const std::string& name : c.signed_headers) {
    if (!signed_list.empty()) signed_list += ';';
    signed_list += name;
  }
  req.headers.push_back(
      {"Authorization", std::string(kAlgorithm) + " Credential=" + cr.access_key_id + "/" +
                            c.Scope() + ", SignedHeaders=" + signed_list + ", Signature=" + sig});
}

std::string PresignQuery(std::string_view method, std::string_view host, std::string_view path,
                         std::string_view query, const Credentials& cr, std::string_view region,
                         std::string_view service, int64_t now_unix_s, int64_t expires_s,
                         PathStyle style) {
  SigV4Claim c = ClientClaim(cr, region, service, now_unix_s);
  c.presigned = true;
  c.expires_s = expires_s;
  c.signed_headers = {"host"};
  std::string q(query);
  auto add = [&q](std::string_view name, std::string_view value) {
    if (!q.empty()) q += '&';
    q += name;
    q += '=';
    q += UriEncode(value, false);
  };
  add("X-Amz-Algorithm", kAlgorithm);
  add("X-Amz-Credential", cr.access_key_id + "/" + c.Scope());
  add("X-Amz-Date", c.amz_date);
  add("X-Amz-Expires", std::to_string(expires_s));
  add("X-Amz-SignedHeaders", "host");
  if (!cr.session_token.empty()) add("X-Amz-Security-Token", cr.session_token);
  http::Request req;
  req.method = method;
  req.path = path;
  req.query = q;
  req.headers.push_back({"Host", std::string(host)});
  const SigningKey key = DeriveSigningKey(cr.secret_access_key, c.scope_date, region, service);
  add("X-Amz-Signature",
      SignatureHex(key, StringToSign(c, CanonicalRequest(req, c, kUnsignedPayload, style))));
  return q;
}

std::string ChunkSignature(const SigningKey& key, const SigV4Claim& c,
                           std::string_view previous_signature, std::string_view chunk_data) {
  return ChainSignature(key, "AWS4-HMAC-SHA256-PAYLOAD", c, previous_signature,
                        Sha256Hex("") + "\n" + Sha256Hex(chunk_data));
}

std::string TrailerSignature(const SigningKey& key, const SigV4Claim& c,
                             std::string_view previous_signature, std::string_view trailer_lines) {
  return ChainSignature(key, "AWS4-HMAC-SHA256-TRAILER", c, previous_signature,
                        Sha256Hex(trailer_lines));
}

}  // namespace alto::auth
