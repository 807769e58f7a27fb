#include "sandbox/runtimes.h"

#include <array>

namespace alto {

namespace {
const std::vector<RuntimeInfo>& Table() {
  static const std::vector<RuntimeInfo> table = [] {
    std::vector<std::string> python = {"/usr/bin/python3", "-u", "{runtime_dir}/bootstrap.py"};
    std::vector<std::string> node = {"/usr/bin/node", "{runtime_dir}/index.mjs"};
    // Lambda's JVMs start with C1 only and the serial GC for fast cold starts; MaxRAM makes the
    // default heap follow the function's memory even where no cgroup limit is visible.
    std::vector<std::string> java = {"/usr/bin/java",
                                     "-XX:+UseSerialGC",
                                     "-XX:TieredStopAtLevel=1",
                                     "-Xshare:auto",
                                     "-XX:MaxRAM={memory_mb}m",
                                     "-cp",
                                     "{runtime_dir}/alto-runtime.jar",
                                     "dev.alto.runtime.Main"};
    std::vector<std::string> provided = {"{task_root}/bootstrap"};
    return std::vector<RuntimeInfo>{
        {"python3.11", "python", python, "AWS_Lambda_python3.11"},
        {"python3.12", "python", python, "AWS_Lambda_python3.12"},
        {"nodejs20.x", "nodejs", node, "AWS_Lambda_nodejs20.x"},
        {"java17", "java", java, "AWS_Lambda_java17"},
        {"provided.al2023", "", provided, ""},
        {"provided.al2", "", provided, ""},
        {"provided", "", provided, ""},
    };
  }();
  return table;
}
}  // namespace

const RuntimeInfo* FindRuntime(std::string_view name) {
  for (const auto& rt : Table()) {
    if (rt.name == name) return &rt;
  }
  return nullptr;
}

std::vector<std::string_view> SupportedRuntimeNames() {
  std::vector<std::string_view> out;
  for (const auto& rt : Table()) out.push_back(rt.name);
  return out;
}

std::vector<std::string> ExpandArgv(const RuntimeInfo& rt, const std::string& runtime_dir,
                                    const std::string& task_root, int memory_mb) {
  std::vector<std::string> out;
  for (std::string arg : rt.argv) {
    const std::array<std::pair<std::string_view, std::string>, 3> subs = {{
        {"{runtime_dir}", runtime_dir},
        {"{task_root}", task_root},
        {"{memory_mb}", std::to_string(memory_mb)},
    }};
    for (const auto& [key, value] : subs) {
      for (size_t pos; (pos = arg.find(key)) != std::string::npos;)
        arg.replace(pos, key.size(), value);
    }
    out.push_back(std::move(arg));
  }
  return out;
}

}  // namespace alto
