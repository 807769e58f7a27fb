// The audit log: every control-plane change (who, from where, what, on what, and how it ended),
// appended to the state core before the answer goes out (so a cluster has one log), and read back
// by `alto audit`. The newest 100,000 or so entries are kept.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "state/state.h"

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

struct AuditPage {
  std::vector<AuditEntry> entries;
  // Where the next page starts (AuditQuery::after_seq) when more may follow; 0 at the end.
  int64_t next_after = 0;
};

class AuditLog {
 public:
  virtual ~AuditLog() = default;
  virtual Status Append(const AuditEntry& e) = 0;
  // Appends entries in order in one transaction, together with `extra` state operations; returns
  // the last sequence number.
  virtual Result<int64_t> AppendBatch(const std::vector<AuditEntry>& entries,
                                      const std::vector<state::Op>& extra) = 0;
  // Entries in sequence order after q.after_seq that pass the filters, at most q.limit.
  virtual Result<AuditPage> Read(const AuditQuery& q) const = 0;
};

std::unique_ptr<AuditLog> OpenStateAuditLog(std::shared_ptr<state::StateStore> state);

// Moves the audit_log table an earlier Alto kept in alto.db into `log`, then drops the table.
// Resumable: an interrupted move continues after the last row it moved. Returns rows moved.
Result<int> MigrateLegacyAuditLog(const std::string& db_path, AuditLog& log,
                                  state::StateStore& state);

}  // namespace alto::auth
