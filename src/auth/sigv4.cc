// SigV4 server side without crypto: the claim a request makes (Authorization header or presigned
// query), its time checks, and dates. Canonicalisation and verification are in
// sigv4_canonical.cc, hashing and signing in sigv4_sign.cc.
#include "auth/sigv4.h"

#include <algorithm>
#include <array>
#include <cstdio>

#include "auth/sigv4_internal.h"
#include "common/encoding.h"

namespace alto::auth {

namespace {

constexpr std::string_view kTerminator = "aws4_request";
constexpr std::string_view kOnlyOneAuth =
    "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query "
    "string parameter or the Authorization header should be specified";
constexpr std::string_view kQueryRequires =
    "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, "
    "X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.";

SigV4Error Fail(SigV4Fault fault, std::string message) { return {fault, std::move(message)}; }

bool IsDigits(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

int Num(std::string_view digits) {
  int n = 0;
  for (char c : digits) n = n * 10 + (c - '0');
  return n;
}

bool IsLeap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int DaysInMonth(int64_t y, int m) {
  static constexpr std::array<int, 12> kDays = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeap(y) ? 29 : kDays[m - 1];
}

// Howard Hinnant's days_from_civil / civil_from_days: exact for every proleptic Gregorian date.
int64_t DaysFromCivil(int64_t y, int m, int d) {
  y -= m <= 2 ? 1 : 0;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

struct Civil {
  int64_t y;
  int m, d;
};

Civil CivilFromDays(int64_t z) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int d = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  const int m = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  return {yoe + era * 400 + (m <= 2 ? 1 : 0), m, d};
}

std::optional<int64_t> ToUnix(int64_t y, int mo, int d, int h, int mi, int s) {
  if (mo < 1 || mo > 12 || d < 1 || d > DaysInMonth(y, mo) || h > 23 || mi > 59 || s > 59) {
    return std::nullopt;
  }
  return DaysFromCivil(y, mo, d) * 86400 + int64_t{h} * 3600 + int64_t{mi} * 60 + s;
}

// RFC 1123, the form a Date header takes: "Fri, 24 May 2013 00:00:00 GMT".
std::optional<int64_t> ParseHttpDate(std::string_view t) {
  static constexpr std::array<std::string_view, 12> kMonths = {
      "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  if (t.size() != 29 || t.substr(3, 2) != ", " || t[7] != ' ' || t[11] != ' ' || t[16] != ' ' ||
      t[19] != ':' || t[22] != ':' || t.substr(25) != " GMT") {
    return std::nullopt;
  }
  auto month = std::find(kMonths.begin(), kMonths.end(), t.substr(8, 3));
  if (month == kMonths.end()) return std::nullopt;
  std::string_view day = t.substr(5, 2), year = t.substr(12, 4), hh = t.substr(17, 2),
                   mm = t.substr(20, 2), ss = t.substr(23, 2);
  if (!IsDigits(day) || !IsDigits(year) || !IsDigits(hh) || !IsDigits(mm) || !IsDigits(ss)) {
    return std::nullopt;
  }
  return ToUnix(Num(year), static_cast<int>(month - kMonths.begin()) + 1, Num(day), Num(hh),
                Num(mm), Num(ss));
}

bool IsLowerHex(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
  }
  return out;
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    size_t at = s.find(sep, start);
    parts.push_back(
        s.substr(start, at == std::string_view::npos ? std::string_view::npos : at - start));
    if (at == std::string_view::npos) return parts;
    start = at + 1;
  }
}

// Credential (AKID/date/region/service/aws4_request) and SignedHeaders and Signature, common
// to both forms. amz_date is already known, so the scope date can be checked here.
std::optional<SigV4Error> FillCommon(SigV4Claim& c, std::string_view credential,
                                     std::string_view signed_headers, std::string_view signature) {
  std::vector<std::string_view> parts = Split(credential, '/');
  if (parts.size() != 5 || parts[0].empty()) {
    return Fail(SigV4Fault::kMalformed,
                "Credential must have exactly 5 slash-delimited elements, e.g. "
                "keyid/date/region/service/term, got '" +
                    std::string(credential) + "'");
  }
  if (parts[1] != std::string_view(c.amz_date).substr(0, 8)) {
    return Fail(SigV4Fault::kBadScope,
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
                "from HTTP: '" +
                    std::string(parts[1]) + "' != '" + c.amz_date.substr(0, 8) + "', from '" +
                    c.amz_date + "'.");
  }
  if (parts[2].empty()) {
    return Fail(SigV4Fault::kBadScope, "Credential should be scoped to a valid region, not ''. ");
  }
  if (parts[3].empty()) {
    return Fail(SigV4Fault::kBadScope, "Credential should be scoped to a valid service, not ''. ");
  }
  if (parts[4] != kTerminator) {
    return Fail(SigV4Fault::kBadScope,
                "Credential should be scoped with a valid terminator: 'aws4_request', not '" +
                    std::string(parts[4]) + "'. ");
  }
  c.access_key_id = parts[0];
  c.scope_date = parts[1];
  c.region = parts[2];
  c.service = parts[3];
  for (std::string_view name : Split(signed_headers, ';')) {
    if (name.empty()) {
      return Fail(SigV4Fault::kMalformed,
                  "SignedHeaders has an empty header name: '" + std::string(signed_headers) + "'");
    }
    c.signed_headers.push_back(Lower(name));
  }
  c.signature = Lower(signature);
  if (c.signature.size() != 64 || !IsLowerHex(c.signature)) {
    return Fail(SigV4Fault::kMalformed, "Signature must be 64 hexadecimal characters, got '" +
                                            std::string(signature) + "'");
  }
  return std::nullopt;
}

void FillHeaders(const http::Request& req, SigV4Claim& c, bool token_from_header) {
  if (token_from_header && req.HasHeader("x-amz-security-token")) {
    c.security_token = internal::Trim(req.HeaderValue("x-amz-security-token"));
  }
  if (req.HasHeader("x-amz-content-sha256")) {
    c.content_sha256 = internal::Trim(req.HeaderValue("x-amz-content-sha256"));
  }
}

// Header auth: "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...". Like AWS,
// the parameters may be separated by commas, spaces or both.
SigV4Result<SigV4Claim> ParseHeader(const http::Request& req, std::string_view value) {
  const size_t sp = value.find_first_of(" \t,");
  const std::string_view algorithm = value.substr(0, sp);
  if (algorithm != kAlgorithm) {
    return Fail(SigV4Fault::kBadAlgorithm,
                "Unsupported AWS 'algorithm': '" + std::string(algorithm) + "'");
  }
  const std::string who = " Authorization=" + std::string(value);
  static constexpr std::array<std::string_view, 3> kNames = {"Credential", "Signature",
                                                             "SignedHeaders"};
  std::array<std::optional<std::string_view>, 3> found;
  std::string_view rest = sp == std::string_view::npos ? "" : value.substr(sp);
  while (!rest.empty()) {
    const size_t start = rest.find_first_not_of(" \t,");
    if (start == std::string_view::npos) break;
    rest.remove_prefix(start);
    const size_t end = rest.find_first_of(" \t,");
    const std::string_view token = rest.substr(0, end);
    rest.remove_prefix(token.size());
    const size_t eq = token.find('=');
    if (eq == std::string_view::npos) {
      return Fail(
          SigV4Fault::kMalformed,
          "'" + std::string(token) +
              "' not a valid key=value pair (missing equal-sign) in Authorization header: '" +
              std::string(value) + "'.");
    }
    for (size_t i = 0; i < kNames.size(); ++i) {
      if (token.substr(0, eq) != kNames[i]) continue;
      if (found[i]) {
        return Fail(SigV4Fault::kMalformed, "Authorization header has duplicate '" +
                                                std::string(kNames[i]) + "' parameter." + who);
      }
      found[i] = token.substr(eq + 1);
    }
  }
  const bool has_amz_date = req.HasHeader("x-amz-date");
  const std::string_view date_value =
      internal::Trim(req.HeaderValue(has_amz_date ? "x-amz-date" : "date"));
  std::string missing;
  for (size_t i = 0; i < kNames.size(); ++i) {
    if (!found[i] || found[i]->empty()) {
      missing += "Authorization header requires '" + std::string(kNames[i]) + "' parameter. ";
    }
  }
  const std::string no_date =
      "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.";
  if (!missing.empty()) {
    if (date_value.empty()) missing += no_date;
    while (!missing.empty() && missing.back() == ' ') missing.pop_back();
    return Fail(SigV4Fault::kMalformed, missing + who);
  }
  if (date_value.empty()) return Fail(SigV4Fault::kBadDate, no_date + who);

  SigV4Claim c;
  std::optional<int64_t> t = ParseAmzDate(date_value);
  if (!t && !has_amz_date) t = ParseHttpDate(date_value);
  if (!t) {
    return Fail(SigV4Fault::kBadDate, "Date must be in ISO-8601 'basic format'. Got '" +
                                          std::string(date_value) +
                                          "'. See http://en.wikipedia.org/wiki/ISO_8601");
  }
  c.request_time_s = *t;
  c.amz_date = FormatAmzDate(*t);
  if (auto e = FillCommon(c, *found[0], *found[2], *found[1])) return *e;
  FillHeaders(req, c, /*token_from_header=*/true);
  return c;
}

// The X-Amz-* parameters of a presigned query, decoded as http::Request::QueryParam decodes.
struct PresignParams {
  static constexpr std::array<std::string_view, 7> kNames = {
      "X-Amz-Algorithm",     "X-Amz-Credential", "X-Amz-Signature",     "X-Amz-Date",
      "X-Amz-SignedHeaders", "X-Amz-Expires",    "X-Amz-Security-Token"};
  std::array<std::string, 7> value;
  std::array<int, 7> count{};
  bool Any() const { return count[0] + count[1] + count[2] > 0; }
};

PresignParams ScanQuery(std::string_view query) {
  PresignParams p;
  internal::ForEachQueryPair(query, [&](const std::string& key, std::string value) {
    for (size_t i = 0; i < PresignParams::kNames.size(); ++i) {
      if (key != PresignParams::kNames[i]) continue;
      if (p.count[i]++ == 0) p.value[i] = std::move(value);
      break;
    }
  });
  return p;
}

SigV4Result<SigV4Claim> ParsePresigned(const http::Request& req, const PresignParams& p) {
  for (size_t i = 0; i < p.kNames.size(); ++i) {
    if (p.count[i] > 1) {
      return Fail(SigV4Fault::kMalformed, std::string(p.kNames[i]) +
                                              " must appear only once in the query string. " +
                                              std::string(kQueryRequires));
    }
    if (i < 6 && p.value[i].empty()) {
      return Fail(SigV4Fault::kMalformed, std::string(kQueryRequires));
    }
  }
  if (p.value[0] != kAlgorithm) {
    return Fail(SigV4Fault::kBadAlgorithm, "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"");
  }
  SigV4Claim c;
  c.presigned = true;
  std::optional<int64_t> t = ParseAmzDate(p.value[3]);
  if (!t) {
    return Fail(SigV4Fault::kBadDate,
                "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"");
  }
  c.request_time_s = *t;
  c.amz_date = p.value[3];
  const std::string& expires = p.value[5];
  if (!expires.empty() && expires[0] == '-' && expires.size() > 1 &&
      IsDigits(std::string_view(expires).substr(1))) {
    return Fail(SigV4Fault::kBadExpires, "X-Amz-Expires must be non-negative");
  }
  if (!IsDigits(expires)) return Fail(SigV4Fault::kBadExpires, "X-Amz-Expires should be a number");
  const size_t first = std::min(expires.find_first_not_of('0'), expires.size());
  // More than 7 digits is more than a week whatever they are; fewer cannot overflow.
  c.expires_s = expires.size() - first > 7 ? kMaxPresignExpires + 1 : Num(expires.substr(first));
  if (auto e = internal::CheckExpires(c.expires_s)) return *e;
  if (auto e = FillCommon(c, p.value[1], p.value[4], p.value[2])) return *e;
  c.security_token = p.value[6];
  FillHeaders(req, c, /*token_from_header=*/false);
  return c;
}

int64_t SatAdd(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) return b > 0 ? INT64_MAX : INT64_MIN;
  return r;
}

std::string SkewText(int64_t skew_s) {
  return skew_s % 60 == 0 ? std::to_string(skew_s / 60) + " min" : std::to_string(skew_s) + " sec";
}

}  // namespace

namespace internal {

std::string_view Trim(std::string_view s) {
  const size_t b = s.find_first_not_of(" \t\r\n\v\f");
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(" \t\r\n\v\f") - b + 1);
}

void ForEachQueryPair(std::string_view query,
                      const std::function<void(std::string, std::string)>& fn) {
  for (std::string_view pair : Split(query, '&')) {
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    std::string value(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1));
    std::replace(value.begin(), value.end(), '+', ' ');
    fn(PercentDecode(pair.substr(0, eq)), PercentDecode(value));
  }
}

std::optional<SigV4Error> CheckExpires(int64_t expires_s) {
  if (expires_s > kMaxPresignExpires) {
    return Fail(SigV4Fault::kBadExpires,
                "X-Amz-Expires must be less than a week (in seconds); that is, the given "
                "X-Amz-Expires must be less than 604800 seconds");
  }
  if (expires_s < 1) {
    return Fail(SigV4Fault::kBadExpires, "X-Amz-Expires must be at least 1 second");
  }
  return std::nullopt;
}

}  // namespace internal

std::string SigV4Claim::Scope() const {
  return scope_date + "/" + region + "/" + service + "/" + std::string(kTerminator);
}

std::optional<int64_t> ParseAmzDate(std::string_view t) {
  if (t.size() != 16 || t[8] != 'T' || t[15] != 'Z' || !IsDigits(t.substr(0, 8)) ||
      !IsDigits(t.substr(9, 6))) {
    return std::nullopt;
  }
  return ToUnix(Num(t.substr(0, 4)), Num(t.substr(4, 2)), Num(t.substr(6, 2)), Num(t.substr(9, 2)),
                Num(t.substr(11, 2)), Num(t.substr(13, 2)));
}

std::string FormatAmzDate(int64_t unix_s) {
  int64_t days = unix_s / 86400;
  int64_t secs = unix_s % 86400;
  if (secs < 0) {
    secs += 86400;
    --days;
  }
  const Civil c = CivilFromDays(days);
  std::array<char, 64> buf{};
  (void)std::snprintf(buf.data(), buf.size(), "%04lld%02d%02dT%02d%02d%02dZ",
                      static_cast<long long>(c.y), c.m, c.d, static_cast<int>(secs / 3600),
                      static_cast<int>(secs / 60 % 60), static_cast<int>(secs % 60));
  return buf.data();
}

SigV4Result<SigV4Claim> ParseSigV4(const http::Request& req) {
  const http::Header* auth = nullptr;
  for (const auto& h : req.headers) {
    if (!http::IEquals(h.name, "authorization")) continue;
    if (auth) return Fail(SigV4Fault::kMalformed, "Only one Authorization header is allowed");
    auth = &h;
  }
  const std::string_view value = auth ? internal::Trim(auth->value) : std::string_view();
  const PresignParams p = ScanQuery(req.query);
  if (!value.empty()) {
    if (p.count[0] > 0) return Fail(SigV4Fault::kMalformed, std::string(kOnlyOneAuth));
    return ParseHeader(req, value);
  }
  if (p.Any()) return ParsePresigned(req, p);
  return Fail(SigV4Fault::kMissing, "Missing Authentication Token");
}

std::optional<SigV4Error> CheckTime(const SigV4Claim& c, int64_t now_unix_s, int64_t skew_s) {
  skew_s = std::max<int64_t>(skew_s, 0);
  const int64_t earliest = SatAdd(now_unix_s, -skew_s);
  const int64_t latest = SatAdd(now_unix_s, skew_s);
  if (!c.presigned) {
    if (c.request_time_s < earliest) {
      return Fail(SigV4Fault::kSkewed, "Signature expired: " + c.amz_date +
                                           " is now earlier than " + FormatAmzDate(earliest) +
                                           " (" + FormatAmzDate(now_unix_s) + " - " +
                                           SkewText(skew_s) + ".)");
    }
    if (c.request_time_s > latest) {
      return Fail(SigV4Fault::kSkewed, "Signature not yet current: " + c.amz_date +
                                           " is still later than " + FormatAmzDate(latest) + " (" +
                                           FormatAmzDate(now_unix_s) + " + " + SkewText(skew_s) +
                                           ".)");
    }
    return std::nullopt;
  }
  if (auto e = internal::CheckExpires(c.expires_s)) return e;
  if (c.request_time_s > latest) return Fail(SigV4Fault::kSkewed, "Request is not valid yet");
  if (now_unix_s > SatAdd(c.request_time_s, c.expires_s)) {
    return Fail(SigV4Fault::kExpired, "Request has expired");
  }
  return std::nullopt;
}

}  // namespace alto::auth
