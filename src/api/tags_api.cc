// TagResource, UntagResource and ListTags: key-value tags on a function, addressed by its
// unqualified ARN. The tags live beside the function's records (store.h), so tagging neither
// changes its revision nor is copied into a version it publishes.
#include <boost/asio.hpp>
#include <nlohmann/json.hpp>

#include "api/errors.h"
#include "api/lambda_api.h"
#include "api/tags.h"
#include "common/blocking.h"
#include "common/encoding.h"
#include "common/json.h"

namespace alto {

namespace asio = boost::asio;
using nlohmann::json;

namespace {

Error Invalid(std::string message) { return MakeError(Errc::kInvalidArgument, std::move(message)); }

// Every value of a repeated query parameter (UntagResource's tagKeys=a&tagKeys=b), decoded the
// way Request::QueryParam decodes its first one.
std::vector<std::string> QueryValues(std::string_view query, std::string_view name) {
  std::vector<std::string> out;
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    size_t eq = pair.find('=');
    if (PercentDecode(pair.substr(0, eq)) == name) {
      std::string v(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1));
      for (char& c : v) {
        if (c == '+') c = ' ';
      }
      out.push_back(PercentDecode(v));
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return out;
}

http::Response NoContent() {
  http::Response r;
  r.status = 204;
  return r;
}

}  // namespace

// The function a tag operation's ARN names. Lambda takes only a full function ARN here: a bare
// name or a version/alias ARN is refused (versions and aliases carry no tags of their own), and
// an ARN of another region or account names no function of this node.
Result<std::string> LambdaApi::TaggedFunction(const Ctx& c) const {
  const std::string& arn = c.match.name;
  if (!arn.starts_with("arn:")) {
    return Invalid("Invalid resource ARN: " + arn.substr(0, 256) +
                   ". Tags are set on a function through its ARN.");
  }
  auto ref = ParseFunctionRef(arn);
  if (!ref) return Invalid("Invalid resource ARN: " + arn.substr(0, 256));
  if (auto st = CheckRefScope(*ref, d_.account.region, d_.account.account_id, arn); !st)
    return st.error();
  if (!ref->qualifier.empty()) {
    return Invalid("Tags are not supported on a function version or alias: " + arn +
                   ". Use the unqualified function ARN.");
  }
  return std::move(ref->name);
}

asio::awaitable<http::Response> LambdaApi::TagsOp(Ctx& c) {
  auto name = TaggedFunction(c);
  if (!name) co_return LambdaErrorFrom(name.error());
  const std::string arn = FunctionArn(d_.account, *name);
  auto not_found = [&](const Error& e) {
    if (e.code != Errc::kNotFound) return LambdaErrorFrom(e);
    return LambdaError(404, "ResourceNotFoundException", "Function not found: " + arn);
  };
  if (c.match.op == Op::kListTags) {
    auto tags = co_await RunBlocking(d_.blocking, [&] { return d_.store.ListTags(*name); });
    if (!tags) co_return not_found(tags.error());
    co_return http::JsonResponse(200, DumpJson(json{{"Tags", *tags}}));
  }
  FunctionTags set;
  std::vector<std::string> remove;
  if (c.match.op == Op::kTagResource) {
    auto body = ParseRequestObject(c.req.body);
    if (!body) co_return LambdaErrorFrom(body.error());
    auto it = body->find("Tags");
    if (it == body->end()) co_return LambdaErrorFrom(Invalid("Tags is required"));
    auto tags = TagsFromJson(*it);
    if (!tags) co_return LambdaErrorFrom(tags.error());
    set = std::move(*tags);
  } else {
    remove = QueryValues(c.req.query, "tagKeys");
    if (remove.empty()) co_return LambdaErrorFrom(Invalid("tagKeys is required"));
    if (remove.size() > kMaxTagsPerResource) {
      co_return LambdaErrorFrom(Invalid("At most " + std::to_string(kMaxTagsPerResource) +
                                        " tag keys can be removed at once"));
    }
    for (const auto& key : remove) {
      if (auto st = ValidateTagKey(key); !st) co_return LambdaErrorFrom(st.error());
    }
  }
  auto st = co_await RunBlocking(
      d_.blocking, [&] { return d_.store.ChangeTags(*name, set, remove, CheckTagCount); });
  if (!st) co_return not_found(st.error());
  co_return NoContent();
}

}  // namespace alto
