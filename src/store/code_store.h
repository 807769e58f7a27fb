// Content-addressed code store: <root>/<sha256 hex>.zip and its extracted tree <root>/<hex>/.
// Extraction goes to a temporary directory renamed into place, so a crash never leaves a
// half-extracted tree under a digest.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace alto {

struct StoredCode {
  std::string sha256_hex;
  std::string sha256_base64;  // Lambda's CodeSha256
  int64_t size = 0;
};

class CodeStore {
 public:
  explicit CodeStore(std::filesystem::path root);
  Status Init();
  Result<StoredCode> Put(std::string_view zip_bytes);
  std::filesystem::path CodeDir(std::string_view sha256_hex) const;
  const std::filesystem::path& root() const { return root_; }
  Result<std::string> ReadZip(std::string_view sha256_hex) const;
  // Removes packages not in `keep` and leftovers of interrupted extractions.
  void GarbageCollect(const std::vector<std::string>& keep);

 private:
  std::filesystem::path root_;
};

}  // namespace alto
