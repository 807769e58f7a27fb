#include "sandbox/seccomp.h"

#include <nlohmann/json.hpp>

namespace alto {

extern const char kSeccompProfileJson[];

Result<nlohmann::json> OciSeccompProfile() {
  using nlohmann::json;
  auto profile = json::parse(kSeccompProfileJson, nullptr, false);
  if (profile.is_discarded() || !profile.contains("groups")) {
    return MakeError(Errc::kInternal, "the built-in seccomp profile is not valid JSON");
  }
  json syscalls = json::array();
  json allowed = json::array();
  for (const auto& group : profile["groups"]) {
    for (const auto& name : group["names"]) allowed.push_back(name);
  }
  syscalls.push_back({{"names", allowed}, {"action", "SCMP_ACT_ALLOW"}});
  for (const auto& rule : profile.value("rules", json::array())) {
    json entry = {{"names", {rule["name"]}}};
    if (rule.contains("errno")) {
      entry["action"] = "SCMP_ACT_ERRNO";
      entry["errnoRet"] = rule["errno"];
    } else {
      entry["action"] = "SCMP_ACT_ALLOW";
      entry["args"] = {{{"index", rule["arg"]},
                        {"value", rule["mask"]},
                        {"valueTwo", rule["equals"]},
                        {"op", "SCMP_CMP_MASKED_EQ"}}};
    }
    syscalls.push_back(entry);
  }
  return json{{"defaultAction", "SCMP_ACT_ERRNO"},
              {"defaultErrnoRet", profile.value("defaultErrno", 1)},
              {"architectures", {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"}},
              {"syscalls", syscalls}};
}

}  // namespace alto
