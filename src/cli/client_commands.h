// `alto fn ...`: the CLI side, a client of the server's Lambda-compatible API.
#pragma once

#include <string>
#include <vector>

namespace alto::cli {

struct ClientOptions {
  std::string endpoint = "http://127.0.0.1:9000";
};

struct DeployArgs {
  std::string path;  // a directory or a .zip
  std::string name;
  std::string runtime;
  std::string handler;
  int memory_mb = 0;  // 0: leave as is / default
  int timeout_s = 0;
  std::string description;
  std::string network;           // NetworkMode (Alto extension): default | none; empty: leave as is
  std::vector<std::string> env;  // K=V
  std::vector<std::string> secrets;  // K=V, stored encrypted and never shown
  bool publish = false;              // publish a version after deploying
  std::string alias;                 // with publish: move (or canary) this alias to the version
  double weight_percent = -1;        // with alias: send this % to the new version (canary)
  std::string role = "arn:aws:iam::000000000000:role/alto";
};

int FnDeploy(const ClientOptions& o, const DeployArgs& a);
int FnInvoke(const ClientOptions& o, const std::string& name, const std::string& payload,
             bool show_log, bool async = false);
int FnStats(const ClientOptions& o, const std::string& name);
int QueueCreate(const ClientOptions& o, const std::string& name);
int QueueList(const ClientOptions& o);
// Prints messages one JSON document per line; consumes them unless peek.
int QueueRead(const ClientOptions& o, const std::string& name, int max, bool peek);
int FnList(const ClientOptions& o);
int FnGet(const ClientOptions& o, const std::string& name);
int FnRemove(const ClientOptions& o, const std::string& name);
int FnLogs(const ClientOptions& o, const std::string& name, int limit);
int FnPublish(const ClientOptions& o, const std::string& name, const std::string& description);
// Creates or updates an alias. weight: "V=0.1" (an additional version and its fraction) or empty.
int FnAlias(const ClientOptions& o, const std::string& name, const std::string& alias,
            const std::string& version, const std::string& weight, const std::string& description);
int FnAliasList(const ClientOptions& o, const std::string& name);

struct UrlArgs {
  std::string name;
  std::string qualifier;  // an alias; empty for the function itself
  bool create = false;    // create the URL config (AuthType NONE) when there is none
  std::vector<std::string> cors_origins;  // with --create: the URL's Cors.AllowOrigins
};
// `alto fn url NAME [--create] [--cors-origin O]...`: prints the function's URL.
int FnUrl(const ClientOptions& o, const UrlArgs& a);

}  // namespace alto::cli
