#include "cluster/peer_code.h"

#include <spdlog/spdlog.h>

#include <charconv>

#include "cluster/node_registry.h"
#include "common/blocking.h"
#include "common/encoding.h"
#include "common/json.h"

namespace alto::cluster {

namespace {

constexpr int64_t kTokenLifetimeMs = 60'000;
constexpr size_t kMaxTokenBytes = 256;

std::string TokenAad(std::string_view hex) { return "alto-node-code:" + std::string(hex); }

http::Response Plain(int status, std::string message) {
  http::Response r = http::JsonResponse(status, DumpJson(nlohmann::json{{"message", message}}));
  return r;
}

}  // namespace

Result<std::string> PeerCode::MakeToken(std::string_view hex) const {
  auto sealed =
      secrets_->Seal(std::to_string(clock_.WallMillis() + kTokenLifetimeMs), TokenAad(hex));
  if (!sealed) return sealed.error();
  return Base64Encode(*sealed);
}

bool PeerCode::TokenValid(std::string_view token, std::string_view hex) const {
  if (token.empty() || token.size() > kMaxTokenBytes) return false;
  auto sealed = Base64Decode(token);
  if (!sealed) return false;
  auto expiry = secrets_->Open(*sealed, TokenAad(hex));
  if (!expiry) return false;
  int64_t ms = 0;
  auto [p, ec] = std::from_chars(expiry->data(), expiry->data() + expiry->size(), ms);
  if (ec != std::errc() || p != expiry->data() + expiry->size()) return false;
  return clock_.WallMillis() <= ms;
}

Result<std::string> PeerCode::FetchZip(std::string_view hex) {
  auto nodes = ListNodes(*state_);
  if (!nodes) return nodes.error();
  auto token = MakeToken(hex);
  if (!token) return token.error();
  int asked = 0;
  std::string last;
  for (const auto& node : *nodes) {
    if (node.id == self_id_) continue;
    auto ep = http::ParseEndpoint(node.url);
    if (!ep) continue;
    ++asked;
    http::Request req;
    req.method = "GET";
    req.target = req.path = std::string(kCodePath) + std::string(hex);
    req.headers.push_back({std::string(kNodeTokenHeader), *token});
    auto res = http::Fetch(*ep, req, fetch_);
    if (!res) {
      last = res.error().message;
      continue;
    }
    if (res->status == 200) {
      spdlog::info("code package {} fetched from node {} ({} bytes)", hex.substr(0, 12), node.id,
                   res->body.size());
      return std::move(res->body);
    }
    last = "node " + node.id + " answered " + std::to_string(res->status);
  }
  return MakeError(Errc::kNotFound, "code package " + std::string(hex) +
                                        " is on no reachable node (asked " + std::to_string(asked) +
                                        (last.empty() ? ")" : "; last: " + last + ")"));
}

boost::asio::awaitable<http::Response> PeerCode::Serve(http::Request r, const CodeStore& code,
                                                       boost::asio::thread_pool& blocking) const {
  std::string_view hex = std::string_view(r.path).substr(kCodePath.size());
  if (r.method != "GET") co_return Plain(405, "Method " + r.method + " is not allowed");
  if (!IsCodeDigest(hex)) co_return Plain(404, "Unknown code package");
  if (!TokenValid(r.HeaderValue(kNodeTokenHeader), hex))
    co_return Plain(403, "A valid node token is required");
  std::string digest(hex);
  auto zip = co_await RunBlocking(blocking, [&] { return code.ReadZip(digest); });
  if (!zip) co_return Plain(404, "This node does not have code package " + digest);
  http::Response res;
  res.status = 200;
  res.body = std::move(*zip);
  res.Set("Content-Type", "application/zip");
  co_return res;
}

}  // namespace alto::cluster
