// The auth gate every API request passes before a handler runs: SigV4 (header or presigned
// query) checked against the key store, answering a verified Caller or why not. Protocol
// neutral: each API turns an AuthFailure into its own error shape (Lambda's rest-json, S3's XML).
#pragma once

#include <string>
#include <string_view>
#include <variant>

#include "auth/caller.h"
#include "auth/key_store.h"
#include "auth/sigv4.h"
#include "common/time.h"
#include "http/message.h"

namespace alto::auth {

enum class AuthFailureKind {
  kMissingToken,      // no signature at all
  kUnknownKey,        // key id unknown, disabled or deleted
  kIncomplete,        // the Authorization header or presigned query is malformed
  kInvalidSignature,  // the signature does not match, or the request time is outside the window
  kExpired,           // a presigned URL past its expiry
};

struct AuthFailure {
  AuthFailureKind kind;
  std::string message;
};

struct AuthOptions {
  int64_t skew_s = 300;  // Lambda refuses requests more than 5 minutes off
};

class Authenticator {
 public:
  Authenticator(const KeyStore& keys, const Clock& clock, AuthOptions options = {})
      : keys_(keys), clock_(clock), options_(options) {}

  // `service`: the service the credential scope must name (e.g. "lambda"); `style`: how the
  // service canonicalises paths (S3 differs from every other service).
  std::variant<Caller, AuthFailure> Authenticate(const http::Request& req, std::string_view service,
                                                 PathStyle style) const;

  // A presigned URL query for `path` on `host`, signed with the principal's own key (so it stops
  // working when the key does), valid for `expires_s`.
  std::string Presign(const Caller& p, std::string_view method, std::string_view host,
                      std::string_view path, std::string_view query, std::string_view region,
                      std::string_view service, int64_t expires_s) const;

  // Drops cached signing keys of a key disabled or deleted.
  void Forget(std::string_view access_key_id) { cache_.Forget(access_key_id); }

 private:
  const KeyStore& keys_;
  const Clock& clock_;
  AuthOptions options_;
  mutable SigningKeyCache cache_;
};

}  // namespace alto::auth
