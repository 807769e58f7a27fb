// The control API's body validation: CreateFunction and UpdateFunctionConfiguration bodies
// (validation.h), alias RoutingConfig (qualifier.h), and the FunctionConfiguration JSON answered
// for whatever was accepted. The input is the request body, as the API parses it; its first byte
// picks which body it is.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "api/function_json.h"
#include "api/qualifier.h"
#include "api/validation.h"
#include "check.h"
#include "common/json.h"

namespace {

using nlohmann::json;

// A stored function an update applies to, with a secret, so the redaction round trip is reached.
alto::FunctionConfig StoredFunction() {
  alto::FunctionConfig f;
  f.name = "fuzzed";
  f.runtime = "python3.12";
  f.handler = "app.handler";
  f.role = "arn:aws:iam::000000000000:role/alto";
  f.environment = {{"TOKEN", "s3cret"}, {"MODE", "prod"}};
  f.secret_names = {"TOKEN"};
  f.code_sha256_hex = std::string(64, 'a');
  return f;
}

// What every answer does with an accepted configuration: show it as JSON.
void Show(const alto::FunctionConfig& f) {
  const alto::AccountInfo account;
  std::string text = alto::FunctionConfigurationJson(f, account).dump();
  FUZZ_CHECK(!text.empty(), "a configuration serialises");
}

void CheckAccepted(const alto::FunctionConfig& f) {
  FUZZ_CHECK(alto::IsValidFunctionName(f.name), "an accepted function has a valid name");
  FUZZ_CHECK(alto::ValidateConfig(f).ok(), "an accepted configuration validates again");
  for (const auto& n : f.secret_names) {
    FUZZ_CHECK(f.environment.count(n) == 1, "every secret names an environment variable");
  }
  Show(f);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t mode = data[0] % 4;
  std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (mode == 3) {
    // Function names from paths and bodies: name, name:qualifier, partial and full ARNs.
    auto ref = alto::ParseFunctionRef(text);
    if (ref.ok()) {
      FUZZ_CHECK(alto::IsValidFunctionName(ref->name), "a parsed reference has a valid name");
      FUZZ_CHECK(ref->name.size() <= text.size(), "the name comes from the input");
    }
    return 0;
  }
  // As the API parses every body: the one entry point, with the API's depth limit.
  auto parsed = alto::ParseJson(text, alto::kApiJsonDepth);
  if (!parsed.ok()) return 0;
  const json& body = *parsed;
  switch (mode) {
    case 0: {
      auto f = alto::ConfigFromCreateRequest(body);
      if (f.ok()) CheckAccepted(*f);
      break;
    }
    case 1: {
      alto::FunctionConfig f = StoredFunction();
      const alto::FunctionConfig before = f;
      auto st = alto::ApplyConfigUpdate(f, body);
      if (st.ok()) {
        CheckAccepted(f);
      } else {
        FUZZ_CHECK(f.environment == before.environment && f.memory_mb == before.memory_mb &&
                       f.secret_names == before.secret_names,
                   "a refused update leaves the function unchanged");
      }
      break;
    }
    case 2: {
      alto::AliasConfig alias;
      alias.function = "fuzzed";
      alias.name = "live";
      alias.function_version = "1";
      auto routing =
          body.is_object() && body.contains("RoutingConfig") ? body["RoutingConfig"] : body;
      if (body.is_object() && body.contains("FunctionVersion") &&
          body["FunctionVersion"].is_string()) {
        alias.function_version = body["FunctionVersion"].get<std::string>();
      }
      if (alto::ApplyRoutingConfig(routing, alias).ok() && alto::ValidateAliasTargets(alias).ok()) {
        FUZZ_CHECK(alias.additional_weight >= 0.0 && alias.additional_weight <= 1.0,
                   "an accepted routing weight is a fraction");
        for (double u : {0.0, 0.5, 0.999999}) (void)alto::PickVersion(alias, u);
        (void)alto::AliasConfigurationJson(alias, alto::AccountInfo{}).dump();
      }
      break;
    }
  }
  return 0;
}
