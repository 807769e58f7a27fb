// `alto account`, `alto key` and `alto audit`: the admin API's CLI.
#pragma once

#include <string>

#include "cli/client_commands.h"

namespace alto::cli {

struct KeyArgs {
  std::string account;      // empty: the caller's own
  std::string policy_file;  // empty: an administrator key
  std::string description;
  std::string id;  // rm / enable / disable
};

int AccountList(const ClientOptions& o);
int AccountCreate(const ClientOptions& o, const std::string& name);
int AccountRemove(const ClientOptions& o, const std::string& id_or_name);
int KeyCreate(const ClientOptions& o, const KeyArgs& a);
int KeyList(const ClientOptions& o, const KeyArgs& a);
int KeyRemove(const ClientOptions& o, const KeyArgs& a);
int KeySetActive(const ClientOptions& o, const KeyArgs& a, bool active);

struct AuditArgs {
  std::string since;  // 90s, 10m, 2h, 7d, or epoch milliseconds; empty: everything
  std::string account;
  int max = 1000;
};
int AuditRead(const ClientOptions& o, const AuditArgs& a);
// "10m" -> 600000 ms before now_ms; a plain number is epoch ms. -1 when malformed.
int64_t ParseSince(const std::string& s, int64_t now_ms);

}  // namespace alto::cli
