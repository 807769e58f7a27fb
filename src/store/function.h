// The stored shape of a function version. The API layer maps it to and from Lambda's JSON.
#pragma once

#include <cstdint>
#include <map>
#include <set>
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
  std::map<std::string, std::string> environment;  // plaintext, secrets included
  // Names in `environment` whose values are secret: encrypted at rest, redacted in every answer.
  std::set<std::string> secret_names;
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

// A published version runs what $LATEST ran when it was published: the same code and every
// setting a sandbox sees. PublishVersion returns the latest version instead of a new one when
// nothing of this changed.
bool SameCodeAndConfig(const FunctionConfig& a, const FunctionConfig& b);

// A function's tags, key to value. They belong to the function, not to a version: stored beside
// its records (not in them) and never copied into a published version.
using FunctionTags = std::map<std::string, std::string>;

// A named pointer to a published version (or $LATEST), optionally sending a fraction of the
// traffic to one additional version (RoutingConfig.AdditionalVersionWeights).
struct AliasConfig {
  std::string function;
  std::string name;
  std::string function_version;
  std::string description;
  std::string additional_version;  // empty: no routing
  double additional_weight = 0.0;  // 0..1, the fraction sent to additional_version
  std::string revision_id;
};

// Secret values are not part of this text: the store seals them separately (sqlite_store.cc).
std::string SerializeFunction(const FunctionConfig& f);
bool DeserializeFunction(const std::string& text, FunctionConfig& out);

}  // namespace alto
