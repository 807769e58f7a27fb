#include "cli/credentials.h"

#include <fstream>
#include <sstream>

extern char** environ;  // NOLINT(readability-redundant-declaration): POSIX, not in a header

namespace alto::cli {

namespace {

std::string Trim(std::string s) {
  size_t b = s.find_first_not_of(" \t\r");
  size_t e = s.find_last_not_of(" \t\r");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

std::string Get(const std::map<std::string, std::string>& env, const std::string& k) {
  auto it = env.find(k);
  return it == env.end() ? std::string() : it->second;
}

std::string HomeFile(const std::map<std::string, std::string>& env, const std::string& var,
                     const std::string& rel) {
  std::string v = Get(env, var);
  if (!v.empty()) return v;
  std::string home = Get(env, "HOME");
  return home.empty() ? std::string() : home + "/.aws/" + rel;
}

bool ReadFile(const std::string& path, std::string& out) {
  if (path.empty()) return false;
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::stringstream ss;
  ss << in.rdbuf();
  out = ss.str();
  return true;
}

}  // namespace

std::map<std::string, std::map<std::string, std::string>> ParseIni(const std::string& text) {
  std::map<std::string, std::map<std::string, std::string>> out;
  std::istringstream in(text);
  std::string line, section;
  while (std::getline(in, line)) {
    line = Trim(line);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line.front() == '[' && line.back() == ']') {
      section = Trim(line.substr(1, line.size() - 2));
      continue;
    }
    size_t eq = line.find('=');
    if (eq == std::string::npos || section.empty()) continue;
    out[section][Trim(line.substr(0, eq))] = Trim(line.substr(eq + 1));
  }
  return out;
}

std::map<std::string, std::string> ProcessEnvironment() {
  std::map<std::string, std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string kv(*e);
    size_t eq = kv.find('=');
    if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return env;
}

Result<ClientCredentials> LoadCredentials(const std::map<std::string, std::string>& env) {
  ClientCredentials out;
  std::string profile = Get(env, "AWS_PROFILE");
  if (profile.empty()) profile = "default";

  out.region = Get(env, "AWS_REGION");
  if (out.region.empty()) out.region = Get(env, "AWS_DEFAULT_REGION");
  if (out.region.empty()) {
    std::string text;
    if (ReadFile(HomeFile(env, "AWS_CONFIG_FILE", "config"), text)) {
      auto ini = ParseIni(text);
      auto it = ini.find(profile == "default" ? "default" : "profile " + profile);
      if (it != ini.end() && it->second.count("region")) out.region = it->second["region"];
    }
  }
  if (out.region.empty()) out.region = "us-east-1";

  out.credentials.access_key_id = Get(env, "AWS_ACCESS_KEY_ID");
  out.credentials.secret_access_key = Get(env, "AWS_SECRET_ACCESS_KEY");
  out.credentials.session_token = Get(env, "AWS_SESSION_TOKEN");
  if (!out.credentials.access_key_id.empty() && !out.credentials.secret_access_key.empty())
    return out;

  std::string file = HomeFile(env, "AWS_SHARED_CREDENTIALS_FILE", "credentials");
  std::string text;
  if (ReadFile(file, text)) {
    auto ini = ParseIni(text);
    auto it = ini.find(profile);
    if (it != ini.end()) {
      out.credentials.access_key_id = it->second["aws_access_key_id"];
      out.credentials.secret_access_key = it->second["aws_secret_access_key"];
      out.credentials.session_token = it->second["aws_session_token"];
      if (!out.credentials.access_key_id.empty() && !out.credentials.secret_access_key.empty())
        return out;
    }
  }
  return MakeError(Errc::kInvalidArgument,
                   "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a "
                   "profile [" +
                       profile + "] in " + (file.empty() ? "~/.aws/credentials" : file) +
                       " (alto server writes its admin key to <data-dir>/credentials, profile "
                       "[alto])");
}

}  // namespace alto::cli
