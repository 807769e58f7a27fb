#include "invoke/function_logs.h"

namespace alto {

void FunctionLogs::Record(const std::string& function, InvocationLog log) {
  auto& q = logs_[function];
  q.push_back(std::move(log));
  while (q.size() > per_function_) q.pop_front();
}

std::vector<InvocationLog> FunctionLogs::Recent(const std::string& function, size_t limit) const {
  auto it = logs_.find(function);
  if (it == logs_.end()) return {};
  const auto& q = it->second;
  size_t start = q.size() > limit ? q.size() - limit : 0;
  return {q.begin() + static_cast<long>(start), q.end()};
}

void FunctionLogs::Forget(const std::string& function) { logs_.erase(function); }

}  // namespace alto
