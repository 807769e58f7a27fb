#include "cli/admin_commands.h"

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/call.h"
#include "common/encoding.h"
#include "common/json.h"

namespace alto::cli {

using nlohmann::json;

int AccountList(const ClientOptions& o) {
  auto r = Call(o, "GET", "/v1/accounts");
  if (!r) return 1;
  if (r->status != 200) return FailFrom(*r);
  for (const auto& a : ParseReply(r->body).value("Accounts", json::array())) {
    std::cout << a.value("Id", "") << "\t" << a.value("Name", "") << "\t"
              << a.value("CreateDate", "") << "\n";
  }
  return 0;
}

int AccountCreate(const ClientOptions& o, const std::string& name) {
  auto r = Call(o, "POST", "/v1/accounts", DumpJson(json{{"Name", name}}));
  if (!r) return 1;
  if (r->status != 201) return FailFrom(*r);
  auto j = ParseReply(r->body);
  std::cout << "Id    " << j.value("Id", "") << "\n"
            << "Name  " << j.value("Name", "") << "\n"
            << "# give it a key: alto key create --account " << j.value("Name", "") << "\n";
  return 0;
}

int AccountRemove(const ClientOptions& o, const std::string& id_or_name) {
  auto r = Call(o, "DELETE", "/v1/accounts/" + PercentEncode(id_or_name));
  if (!r) return 1;
  if (r->status != 204) return FailFrom(*r);
  std::cout << "deleted account " << id_or_name << " and its keys\n";
  return 0;
}

int KeyCreate(const ClientOptions& o, const KeyArgs& a) {
  json body = json::object();
  if (!a.account.empty()) body["Account"] = a.account;
  if (!a.description.empty()) body["Description"] = a.description;
  if (!a.policy_file.empty()) {
    std::ifstream in(a.policy_file, std::ios::binary);
    if (!in) return Fail("cannot read " + a.policy_file);
    std::stringstream ss;
    ss << in.rdbuf();
    body["Policy"] = ss.str();
  }
  auto r = Call(o, "POST", "/v1/keys", DumpJson(body));
  if (!r) return 1;
  if (r->status != 201) return FailFrom(*r);
  auto j = ParseReply(r->body);
  std::cout << "AccessKeyId      " << j.value("AccessKeyId", "") << "\n"
            << "SecretAccessKey  " << j.value("SecretAccessKey", "") << "\n"
            << "Account          " << j.value("Account", "") << "\n"
            << "# the secret is shown only now. To use it:\n"
            << "#   aws configure set aws_access_key_id " << j.value("AccessKeyId", "")
            << " --profile NAME\n"
            << "#   aws configure set aws_secret_access_key '" << j.value("SecretAccessKey", "")
            << "' --profile NAME\n";
  return 0;
}

int KeyList(const ClientOptions& o, const KeyArgs& a) {
  std::string target = "/v1/keys";
  if (!a.account.empty()) target += "?Account=" + PercentEncode(a.account);
  auto r = Call(o, "GET", target);
  if (!r) return 1;
  if (r->status != 200) return FailFrom(*r);
  for (const auto& k : ParseReply(r->body).value("AccessKeys", json::array())) {
    std::cout << k.value("AccessKeyId", "") << "\t" << k.value("Account", "") << "\t"
              << k.value("Status", "") << "\t" << (k.value("Admin", false) ? "admin" : "policy")
              << "\t" << k.value("CreateDate", "") << "\t" << k.value("Description", "") << "\n";
  }
  return 0;
}

int KeyRemove(const ClientOptions& o, const KeyArgs& a) {
  auto r = Call(o, "DELETE", "/v1/keys/" + PercentEncode(a.id));
  if (!r) return 1;
  if (r->status != 204) return FailFrom(*r);
  std::cout << "deleted " << a.id << "\n";
  return 0;
}

int KeySetActive(const ClientOptions& o, const KeyArgs& a, bool active) {
  auto r = Call(o, "PUT", "/v1/keys/" + PercentEncode(a.id),
                DumpJson(json{{"Status", active ? "Active" : "Inactive"}}));
  if (!r) return 1;
  if (r->status != 200) return FailFrom(*r);
  std::cout << a.id << " " << (active ? "Active" : "Inactive") << "\n";
  return 0;
}

int64_t ParseSince(const std::string& s, int64_t now_ms) {
  if (s.empty()) return 0;
  size_t digits = s.find_first_not_of("0123456789");
  if (digits == 0 || s.size() > 16) return -1;
  int64_t n = std::stoll(s.substr(0, digits));
  if (digits == std::string::npos) return n;  // epoch milliseconds
  if (digits + 1 != s.size()) return -1;
  int64_t unit = 0;
  switch (s[digits]) {
    case 's':
      unit = 1000;
      break;
    case 'm':
      unit = 60 * 1000;
      break;
    case 'h':
      unit = 3600 * 1000;
      break;
    case 'd':
      unit = 86400 * 1000;
      break;
    default:
      return -1;
  }
  return std::max<int64_t>(0, now_ms - n * unit);
}

int AuditRead(const ClientOptions& o, const AuditArgs& a) {
  int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  int64_t since = ParseSince(a.since, now);
  if (since < 0) return Fail("--since takes 90s, 10m, 2h, 7d or epoch milliseconds");
  int64_t after = 0;
  int left = a.max;
  while (left > 0) {
    std::string target = "/v1/audit?Since=" + std::to_string(since) +
                         "&After=" + std::to_string(after) +
                         "&MaxItems=" + std::to_string(std::min(left, 1000));
    if (!a.account.empty()) target += "&Account=" + PercentEncode(a.account);
    auto r = Call(o, "GET", target);
    if (!r) return 1;
    if (r->status != 200) return FailFrom(*r);
    auto j = ParseReply(r->body);
    auto entries = j.value("Entries", json::array());
    for (const auto& e : entries) {
      std::cout << e.value("Time", "") << "  " << e.value("Account", "") << "  "
                << e.value("AccessKeyId", "") << "  " << e.value("SourceIp", "") << "  "
                << e.value("Action", "") << "  " << e.value("Resource", "") << "  "
                << e.value("Status", 0);
      if (e.contains("ErrorType")) std::cout << " " << e.value("ErrorType", "");
      std::cout << "\n";
      --left;
    }
    // A page can be empty and still go on: the server bounds how much it scans per page.
    int64_t next = j.value("NextAfter", int64_t{0});
    if (next <= after) break;
    after = next;
  }
  return 0;
}

}  // namespace alto::cli
