// Resolves `<function>[:<qualifier>]` (name, name:qualifier or ARN, plus an optional Qualifier
// parameter) to the configuration that runs: $LATEST, a published version, or an alias's version
// chosen by its weighted routing. Sync Invoke, async Invoke and function URLs all go through it.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <string>

#include "api/function_json.h"
#include "api/qualifier.h"
#include "common/result.h"
#include "invoke/function_catalog.h"

namespace alto {

struct ResolvedFunction {
  FunctionConfig function;       // the configuration of the version that runs
  std::string name;              // the function's bare name
  std::string qualifier;         // as the caller gave it; empty when unqualified
  std::string executed_version;  // "$LATEST" or "N" (== function.version)
  std::string invoked_arn;       // the ARN the caller invoked (qualified when it was)
  bool via_alias = false;
};

class FunctionResolver {
 public:
  FunctionResolver(FunctionCatalog& catalog, AccountInfo account,
                   RandomSource random = DefaultRandomSource())
      : catalog_(catalog), account_(std::move(account)), random_(std::move(random)) {}

  // function_name: `name`, `name:qualifier`, or an ARN; qualifier: a separate Qualifier (may be
  // empty; must agree with one in the name). route: pick an alias's version by its weights (an
  // invocation); false gives the alias's FunctionVersion (a read such as GetFunction).
  // Errors: kInvalidArgument (bad name or qualifier), kNotFound with Lambda's message.
  boost::asio::awaitable<Result<ResolvedFunction>> Resolve(std::string function_name,
                                                           std::string qualifier,
                                                           bool route = true);

 private:
  FunctionCatalog& catalog_;
  AccountInfo account_;
  RandomSource random_;
};

}  // namespace alto
