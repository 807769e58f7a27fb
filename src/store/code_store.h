// Content-addressed code store: <root>/<sha256 hex>.zip and its extracted tree <root>/<hex>/.
// Extraction goes to a temporary directory renamed into place, so a crash never leaves a
// half-extracted tree under a digest. In a cluster a package uploaded to one node is fetched from
// a peer (a CodeSource) the first time another node needs it, and checked against its digest.
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

// Where packages this node lacks come from (the peers of a cluster).
class CodeSource {
 public:
  virtual ~CodeSource() = default;
  // The package's zip, or kNotFound when no peer has it. Blocking.
  virtual Result<std::string> FetchZip(std::string_view sha256_hex) = 0;
};

// 64 lowercase hex digits: what a package's name must be before it becomes a path.
bool IsCodeDigest(std::string_view s);

class CodeStore {
 public:
  // `source` may be null (one node, or nodes sharing the folder); it must outlive the store.
  explicit CodeStore(std::filesystem::path root, CodeSource* source = nullptr);
  Status Init();
  Result<StoredCode> Put(std::string_view zip_bytes);
  std::filesystem::path CodeDir(std::string_view sha256_hex) const;
  const std::filesystem::path& root() const { return root_; }
  // This node's copy only (what peers are served).
  Result<std::string> ReadZip(std::string_view sha256_hex) const;
  // Makes the package present here: nothing when it is, else fetched from the source, verified
  // against the digest and stored. Blocking; call before a sandbox uses CodeDir.
  Status Ensure(std::string_view sha256_hex);
  // Removes packages not in `keep` and leftovers of interrupted extractions.
  void GarbageCollect(const std::vector<std::string>& keep);

 private:
  std::filesystem::path root_;
  CodeSource* source_;
};

}  // namespace alto
