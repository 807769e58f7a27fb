// The first start's admin key: without one nobody could ever get in.
#pragma once

#include <filesystem>
#include <string>

#include "auth/key_store.h"
#include "common/result.h"

namespace alto::auth {

struct BootstrapResult {
  bool created = false;  // a new admin key was made on this start
  std::string access_key_id;
  std::filesystem::path credentials_file;  // written 0600 when created
};

// When the admin account has no key yet, creates one: `env_id`/`env_secret` when both are set
// (ALTO_ADMIN_ACCESS_KEY_ID / ALTO_ADMIN_SECRET_ACCESS_KEY, for CI and local development), else
// generated; writes it as profile [alto] of an AWS shared credentials file at `credentials_file`.
Result<BootstrapResult> EnsureAdminKey(KeyStore& keys, const std::string& env_id,
                                       const std::string& env_secret,
                                       const std::filesystem::path& credentials_file);

}  // namespace alto::auth
