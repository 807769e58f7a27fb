// Recent invocation logs per function (START ... REPORT), for `alto fn logs` and Tail.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <unordered_map>
#include <vector>

namespace alto {

struct InvocationLog {
  std::string request_id;
  int64_t timestamp_ms = 0;
  std::string text;
};

class FunctionLogs {
 public:
  explicit FunctionLogs(size_t per_function = 100) : per_function_(per_function) {}
  void Record(const std::string& function, InvocationLog log);
  // Most recent last; at most `limit`.
  std::vector<InvocationLog> Recent(const std::string& function, size_t limit) const;
  void Forget(const std::string& function);

 private:
  size_t per_function_;
  std::unordered_map<std::string, std::deque<InvocationLog>> logs_;
};

}  // namespace alto
