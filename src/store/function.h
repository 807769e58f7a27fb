// The stored shape of a function version. The API layer maps it to and from Lambda's JSON.
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace alto {

struct FunctionConfig {
  std::string name;
  std::string version = "$LATEST";
  std::string runtime;
  std::string handler;
  std::string role;
  std::string description;
  int memory_mb = 128;
  int timeout_s = 3;
  int ephemeral_storage_mb = 512;
  std::map<std::string, std::string> environment;
  std::string code_sha256_hex;  // content address in the CodeStore
  int64_t code_size = 0;
  int64_t last_modified_ms = 0;
  std::string revision_id;  // changes on every update; sandboxes are never reused across revisions
  std::string package_type = "Zip";
  std::string architecture = "x86_64";
  std::string dead_letter_arn;           // DeadLetterConfig.TargetArn: an Alto queue
  int reserved_concurrency = -1;         // PutFunctionConcurrency; -1 when none is set
  std::string network_mode = "default";  // Alto extension NetworkMode: default | none
};

std::string SerializeFunction(const FunctionConfig& f);
bool DeserializeFunction(const std::string& text, FunctionConfig& out);

}  // namespace alto
