#include "api/resolver.h"

#include "api/validation.h"

namespace alto {

boost::asio::awaitable<Result<ResolvedFunction>> FunctionResolver::Resolve(
    std::string function_name, std::string qualifier, bool route) {
  auto ref = ParseFunctionRef(function_name);
  if (!ref) co_return ref.error();
  if (auto st = CheckRefScope(*ref, account_.region, account_.account_id, function_name); !st)
    co_return st.error();
  if (!qualifier.empty()) {
    if (!ref->qualifier.empty() && ref->qualifier != qualifier) {
      co_return MakeError(
          Errc::kInvalidArgument,
          "The derived qualifier from the function name does not match the specified qualifier.");
    }
    ref->qualifier = qualifier;
  }
  ResolvedFunction out;
  out.name = ref->name;
  out.qualifier = ref->qualifier;
  out.invoked_arn = FunctionArn(account_, out.name, out.qualifier);
  auto not_found = [&] {
    return MakeError(Errc::kNotFound, "Function not found: " + out.invoked_arn);
  };

  std::string version = out.qualifier.empty() ? std::string("$LATEST") : out.qualifier;
  if (KindOf(out.qualifier) == QualifierKind::kAlias) {
    if (!IsValidAliasName(out.qualifier)) {
      co_return MakeError(Errc::kInvalidArgument, "Invalid qualifier: " + out.qualifier);
    }
    auto alias = co_await catalog_.GetAlias(out.name, out.qualifier);
    if (!alias) {
      if (alias.error().code == Errc::kNotFound) co_return not_found();
      co_return alias.error();
    }
    out.via_alias = true;
    double u = route ? random_() : 1.0;  // 1.0 never selects the additional version
    version = PickVersion(*alias, u);
  }
  auto f = co_await catalog_.GetVersion(out.name, version);
  if (!f) {
    if (f.error().code == Errc::kNotFound) co_return not_found();
    co_return f.error();
  }
  out.executed_version = f->version;
  out.function = std::move(f.value());
  co_return out;
}

}  // namespace alto
