// Provisioned concurrency configurations (PutProvisionedConcurrencyConfig): how many initialised
// sandboxes to keep ready for one version or alias of a function. Calls block: callers on an I/O
// thread run them on the blocking pool.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace alto::state {
class StateStore;
}  // namespace alto::state

namespace alto {

struct ProvisionedConfig {
  std::string function;
  std::string qualifier;  // a version number or an alias name, never $LATEST
  int requested = 0;      // ProvisionedConcurrentExecutions
  int64_t last_modified_ms = 0;
};

class ProvisionedStore {
 public:
  virtual ~ProvisionedStore() = default;
  // Creates or replaces the config of (function, qualifier).
  virtual Status Put(const ProvisionedConfig& p) = 0;
  // kNotFound when absent.
  virtual Status Delete(std::string_view function, std::string_view qualifier) = 0;
  // Every config of a function (used when the function is deleted).
  virtual Status DeleteAll(std::string_view function) = 0;
  virtual Result<std::vector<ProvisionedConfig>> ListAll() = 0;
};

// Configs as keys of the state core beside their function (state_function_configs.cc).
std::unique_ptr<ProvisionedStore> OpenStateProvisionedStore(
    std::shared_ptr<state::StateStore> state, const std::string& account);

}  // namespace alto
