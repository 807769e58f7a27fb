// Function URL configurations (CreateFunctionUrlConfig & co.): the stored shape and its SQLite
// store in the state core. One URL per (function, qualifier); the url id is stable for the config's
// lifetime. Calls block: callers on an I/O thread run them on the blocking pool.
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

struct CorsConfig {
  bool present = false;  // a Cors object was configured (even an empty one)
  bool allow_credentials = false;
  std::vector<std::string> allow_headers;
  std::vector<std::string> allow_methods;
  std::vector<std::string> allow_origins;
  std::vector<std::string> expose_headers;
  int max_age = -1;  // seconds; -1 when not set
};

struct FunctionUrlConfig {
  std::string url_id;                    // 32 lower-case characters, the host name's first label
  std::string function;                  // function name
  std::string qualifier;                 // alias name; empty for the unqualified function ($LATEST)
  std::string auth_type = "NONE";        // NONE | AWS_IAM
  std::string invoke_mode = "BUFFERED";  // BUFFERED | RESPONSE_STREAM
  CorsConfig cors;
  int64_t creation_ms = 0;
  int64_t last_modified_ms = 0;
};

std::string SerializeFunctionUrl(const FunctionUrlConfig& u);
bool DeserializeFunctionUrl(const std::string& text, FunctionUrlConfig& out);

class FunctionUrlStore {
 public:
  virtual ~FunctionUrlStore() = default;
  // kConflict when (function, qualifier) already has a URL.
  virtual Status Create(const FunctionUrlConfig& u) = 0;
  // Replaces the config with u's url id; kNotFound when absent.
  virtual Status Update(const FunctionUrlConfig& u) = 0;
  // kNotFound when absent.
  virtual Status Delete(std::string_view function, std::string_view qualifier) = 0;
  // Every URL of a function (used when the function is deleted).
  virtual Status DeleteAll(std::string_view function) = 0;
  virtual Result<std::vector<FunctionUrlConfig>> ListAll() = 0;
};

// URLs as keys of the state core beside their function (state_function_configs.cc).
std::unique_ptr<FunctionUrlStore> OpenStateFunctionUrlStore(
    std::shared_ptr<state::StateStore> state, const std::string& account);

}  // namespace alto
