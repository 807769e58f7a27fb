// `alto backup DIR` and `alto restore DIR`: a consistent copy of a data dir taken while its
// server keeps serving, and its return into an empty data dir.
//
// A backup holds alto.db (a point-in-time copy made with SQLite's online backup API), secret.key,
// credentials, the code packages (code/<sha256>.zip) and, written last, manifest.json: the list
// of those files with their sizes and SHA-256 digests. A directory without a manifest is a backup
// that did not finish.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "common/result.h"

namespace alto::cli {

// The manifest's layout version: restore refuses manifests newer than it knows.
inline constexpr int kBackupFormatVersion = 1;
inline constexpr const char* kManifestName = "manifest.json";

struct BackupOptions {
  std::filesystem::path data_dir;
  std::filesystem::path target;  // absent or empty
  std::string state_url = "sqlite";
  int pages_per_step = 1024;  // database pages copied between progress reports
  bool progress = true;       // bytes done/total on stderr for copies that take a while
  // Tests: runs once the database is copied and code/ listed, before the packages are copied.
  std::function<void()> before_code_copy;
};

struct BackupSummary {
  int64_t bytes = 0;  // everything written but the manifest
  int64_t database_bytes = 0;
  int64_t code_packages = 0;
  int64_t referenced_packages = 0;
  int64_t state_schema_version = 0;  // 0: alto.db holds no state tables (etcd, or never started)
  int64_t state_revision = 0;
  double seconds = 0;
  std::vector<std::string> notes;  // things the user should know (etcd, vanished packages)
};

Result<BackupSummary> Backup(const BackupOptions& options);

struct RestoreOptions {
  std::filesystem::path source;
  std::filesystem::path data_dir;  // absent or empty
  bool progress = true;
};

struct RestoreSummary {
  int64_t bytes = 0;
  int64_t files = 0;
  int64_t state_schema_version = 0;
  std::string state_backend;  // "sqlite" or "etcd"
  std::string state_url;      // as given to `alto backup --state`
};

// Verifies the whole backup before it writes anything.
Result<RestoreSummary> Restore(const RestoreOptions& options);

// The commands: print a summary (stdout) or the error (stderr); the exit code.
int BackupCommand(const BackupOptions& options);
int RestoreCommand(const RestoreOptions& options);

}  // namespace alto::cli
