#include "auth/authenticator.h"

namespace alto::auth {

namespace {

AuthFailure FromSigV4(const SigV4Error& e) {
  switch (e.fault) {
    case SigV4Fault::kMissing:
      return {AuthFailureKind::kMissingToken, "Missing Authentication Token"};
    case SigV4Fault::kSkewed:
    case SigV4Fault::kMismatch:
    case SigV4Fault::kBodyMismatch:
      return {AuthFailureKind::kInvalidSignature, e.message};
    case SigV4Fault::kExpired:
      return {AuthFailureKind::kExpired, e.message};
    default:
      return {AuthFailureKind::kIncomplete, e.message};
  }
}

constexpr std::string_view kInvalidToken = "The security token included in the request is invalid.";

}  // namespace

std::variant<Caller, AuthFailure> Authenticator::Authenticate(const http::Request& req,
                                                              std::string_view service,
                                                              PathStyle style) const {
  auto parsed = ParseSigV4(req);
  if (auto* e = std::get_if<SigV4Error>(&parsed)) return FromSigV4(*e);
  const auto& claim = std::get<SigV4Claim>(parsed);
  if (claim.service != service) {
    return AuthFailure{
        AuthFailureKind::kIncomplete,
        "Credential should be scoped to correct service: '" + std::string(service) + "'. "};
  }
  // The key before the time: an unknown key is refused as such whatever its clock says.
  auto key = keys_.Find(claim.access_key_id);
  if (!key || !key->active)
    return AuthFailure{AuthFailureKind::kUnknownKey, std::string(kInvalidToken)};
  if (!claim.security_token.empty()) {
    // Session credentials (sandboxes' roles) are not issued yet: a token cannot be valid.
    return AuthFailure{AuthFailureKind::kUnknownKey, std::string(kInvalidToken)};
  }
  if (auto e = CheckTime(claim, clock_.WallMillis() / 1000, options_.skew_s)) return FromSigV4(*e);
  SigningKey signing =
      cache_.Get(key->id, key->secret, claim.scope_date, claim.region, claim.service);
  if (auto e = Verify(req, claim, signing, style)) return FromSigV4(*e);
  Caller p;
  p.account_id = key->account_id;
  p.access_key_id = key->id;
  p.admin = key->policy_json.empty();
  p.policy = key->policy;
  return p;
}

std::string Authenticator::Presign(const Caller& p, std::string_view method, std::string_view host,
                                   std::string_view path, std::string_view query,
                                   std::string_view region, std::string_view service,
                                   int64_t expires_s) const {
  auto key = keys_.Find(p.access_key_id);
  if (!key) return {};
  Credentials cr{key->id, key->secret, {}};
  return PresignQuery(method, host, path, query, cr, region, service, clock_.WallMillis() / 1000,
                      expires_s, PathStyle::kDoubleEncoded);
}

}  // namespace alto::auth
