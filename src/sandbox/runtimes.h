// The runtimes Alto serves and how each is started inside a sandbox.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace alto {

struct RuntimeInfo {
  std::string_view name;           // Lambda's Runtime value
  std::string_view dir;            // folder under the runtimes dir; empty for custom runtimes
  std::vector<std::string> argv;   // placeholders: {runtime_dir} {task_root} {memory_mb}
  std::string_view execution_env;  // AWS_EXECUTION_ENV; empty for provided.*
};

const RuntimeInfo* FindRuntime(std::string_view name);
std::vector<std::string_view> SupportedRuntimeNames();

// Expands the placeholders of a runtime's argv.
std::vector<std::string> ExpandArgv(const RuntimeInfo& rt, const std::string& runtime_dir,
                                    const std::string& task_root, int memory_mb);

}  // namespace alto
