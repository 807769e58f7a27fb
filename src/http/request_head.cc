#include "http/request_head.h"

#include <algorithm>
#include <cctype>

namespace alto::http {

namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool StartsWithNoCase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && IEquals(s.substr(0, prefix.size()), prefix);
}

// The codings of every Transfer-Encoding field, in order. Empty list elements are allowed and
// skipped (RFC 9110 5.6.1); a field with no coding at all is an error (returns false).
bool TransferCodings(const std::vector<Header>& fields, std::vector<std::string_view>& codings) {
  for (const auto& f : fields) {
    if (!IEquals(f.name, "Transfer-Encoding")) continue;
    std::string_view rest = f.value;
    size_t before = codings.size();
    while (!rest.empty()) {
      size_t comma = rest.find(',');
      std::string_view item = Trim(rest.substr(0, comma));
      if (!item.empty()) codings.push_back(item);
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
    if (codings.size() == before) return false;
  }
  return true;
}

// Host = uri-host [ ":" port ] (RFC 9112 3.2, RFC 3986 3.2.2): an IP literal in brackets or a
// reg-name of unreserved, sub-delims and pct-encoded characters; empty is allowed.
bool ValidHost(std::string_view host) {
  std::string_view port;
  if (!host.empty() && host.front() == '[') {
    size_t close = host.find(']');
    if (close == std::string_view::npos) return false;
    for (char c : host.substr(1, close - 1)) {
      if (!std::isxdigit(static_cast<unsigned char>(c)) && c != ':' && c != '.') return false;
    }
    std::string_view rest = host.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') return false;
    port = rest.empty() ? rest : rest.substr(1);
  } else {
    size_t colon = host.rfind(':');
    std::string_view name = host.substr(0, colon);
    if (colon != std::string_view::npos) port = host.substr(colon + 1);
    static constexpr std::string_view kAllowed = "-._~!$&'()*+,;=%";
    for (char c : name) {
      if (!std::isalnum(static_cast<unsigned char>(c)) &&
          kAllowed.find(c) == std::string_view::npos)
        return false;
    }
  }
  if (port.size() > 5) return false;
  for (char c : port) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

}  // namespace

HeadVerdict CheckRequestHead(unsigned version, std::string_view method, std::string& target,
                             const std::vector<Header>& fields, const HeadLimits& limits) {
  if (version / 10 != 1) return {505, "HTTP Version Not Supported"};
  if (method.size() + target.size() + 10 > limits.request_line) return {414, "URI Too Long"};
  if (fields.size() > limits.fields) {
    return {431, "too many header fields (limit " + std::to_string(limits.fields) + ")"};
  }

  // One pass over the fields; a name is compared only when its length matches (this runs for
  // every request).
  const Header* host = nullptr;
  const Header* length = nullptr;
  size_t hosts = 0, lengths = 0, encodings = 0;
  for (const auto& f : fields) {
    if (f.name.size() == 4 && IEquals(f.name, "Host")) {
      ++hosts;
      host = &f;
    } else if (f.name.size() == 14 && IEquals(f.name, "Content-Length")) {
      ++lengths;
      length = &f;
    } else if (f.name.size() == 17 && IEquals(f.name, "Transfer-Encoding")) {
      ++encodings;
    }
  }
  if (hosts > 1) return {400, "more than one Host header"};
  if (hosts == 0 && version >= 11) return {400, "missing Host header"};
  if (host && !ValidHost(host->value)) return {400, "invalid Host header"};
  // RFC 9112 6.3 lets a recipient take "5, 5" or two equal fields as one; nginx refuses them, and
  // so does Alto: whoever sends two lengths may be smuggling a second request past a proxy.
  if (lengths > 1) return {400, "more than one Content-Length"};
  if (length &&
      (length->value.empty() || length->value.find_first_not_of("0123456789") != std::string::npos))
    return {400, "invalid Content-Length"};

  // Request target: origin-form, or absolute-form (rewritten), or '*' for OPTIONS only.
  if (target.empty()) return {400, "empty request target"};
  if (target.front() != '/') {
    if (target == "*") {
      if (method != "OPTIONS") return {400, "'*' is a target for OPTIONS only"};
    } else if (StartsWithNoCase(target, "http://") || StartsWithNoCase(target, "https://")) {
      size_t authority = target.find("://") + 3;
      size_t path = target.find_first_of("/?", authority);
      if (path == authority) return {400, "absolute-form target without a host"};
      std::string origin = path == std::string::npos ? "/" : target.substr(path);
      if (origin.front() == '?') origin.insert(0, "/");
      target = std::move(origin);
    } else {
      return {400, "request target must start with '/'"};
    }
  }

  if (encodings > 0) {
    // Both framings at once is how requests are smuggled: refuse rather than pick one.
    if (lengths > 0) return {400, "both Content-Length and Transfer-Encoding"};
    if (version < 11) return {400, "Transfer-Encoding in an HTTP/1.0 request"};
    std::vector<std::string_view> codings;
    if (!TransferCodings(fields, codings)) return {400, "empty Transfer-Encoding"};
    for (auto c : codings) {
      if (!IEquals(c, "chunked")) {
        return {501, "transfer coding '" + std::string(c.substr(0, 32)) + "' is not supported"};
      }
    }
    if (codings.size() > 1) return {400, "chunked applied more than once"};
  }
  return {};
}

int RequestLineVerdict(std::string_view buffered, size_t request_line_limit) {
  const size_t lf = buffered.substr(0, request_line_limit + 2).find('\n');
  if (lf == std::string_view::npos) return buffered.size() > request_line_limit + 1 ? 414 : -1;
  std::string_view line = buffered.substr(0, lf);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.size() > request_line_limit) return 414;
  const size_t sp1 = line.find(' ');
  const size_t sp2 = line.rfind(' ');
  if (sp1 == std::string_view::npos || sp1 == 0 || sp2 == sp1 || sp2 == sp1 + 1) return 400;
  const std::string_view version = line.substr(sp2 + 1);
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  if (version.size() != 8 || !version.starts_with("HTTP/") || !digit(version[5]) ||
      version[6] != '.' || !digit(version[7]))
    return 400;
  return version[5] == '1' ? 0 : 505;
}

}  // namespace alto::http
