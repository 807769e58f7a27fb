// The audit log: every control-plane change (who, from where, what, on what, and how it ended),
// appended to SQLite before the answer goes out, and read back by `alto audit`.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"

namespace alto::auth {

struct AuditEntry {
  int64_t seq = 0;      // assigned on append, increasing
  int64_t time_ms = 0;  // Unix epoch
  std::string account_id;
  std::string access_key_id;
  std::string action;    // lambda:CreateFunction, iam:CreateAccessKey, ...
  std::string resource;  // an ARN or "*"
  std::string source_ip;
  int status = 0;          // the HTTP status answered
  std::string error_type;  // x-amzn-ErrorType when it failed
};

struct AuditQuery {
  int64_t since_ms = 0;
  std::string account_id;  // empty: every account
  int64_t after_seq = 0;   // pagination
  size_t limit = 1000;
};

class AuditLog {
 public:
  virtual ~AuditLog() = default;
  virtual Status Append(const AuditEntry& e) = 0;
  virtual Result<std::vector<AuditEntry>> Read(const AuditQuery& q) const = 0;
};

Result<std::unique_ptr<AuditLog>> OpenSqliteAuditLog(const std::string& path);

}  // namespace alto::auth
