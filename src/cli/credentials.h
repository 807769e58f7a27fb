// The standard AWS credential chain, as the aws CLI reads it, so one set of credentials serves
// both it and `alto`: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (/ AWS_SESSION_TOKEN), else the
// shared credentials file (AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials) under AWS_PROFILE
// (default "default"). The region: AWS_REGION, AWS_DEFAULT_REGION, the config file's profile
// (AWS_CONFIG_FILE or ~/.aws/config), else us-east-1.
#pragma once

#include <map>
#include <string>

#include "auth/sigv4.h"
#include "common/result.h"

namespace alto::cli {

struct ClientCredentials {
  auth::Credentials credentials;
  std::string region;
};

// `env` is the process environment as a map (passed in so tests need not touch the real one).
Result<ClientCredentials> LoadCredentials(const std::map<std::string, std::string>& env);
std::map<std::string, std::string> ProcessEnvironment();

// The [section] -> key -> value content of an INI file (AWS's shared files); comments (# ;) and
// blank lines skipped, keys and values trimmed.
std::map<std::string, std::map<std::string, std::string>> ParseIni(const std::string& text);

}  // namespace alto::cli
