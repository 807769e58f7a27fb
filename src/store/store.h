// Metadata store interface: the embedded default is SQLite; a cluster backend (etcd) comes later.
// Calls block: callers on an I/O thread run them on the blocking pool.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "store/function.h"

namespace alto {

class MetadataStore {
 public:
  virtual ~MetadataStore() = default;
  // Fails with kConflict if a function of that name exists.
  virtual Status CreateFunction(const FunctionConfig& f) = 0;
  // Replaces $LATEST if its revision still equals expected_revision (kConflict otherwise).
  virtual Status UpdateFunction(const FunctionConfig& f, std::string_view expected_revision) = 0;
  virtual Result<FunctionConfig> GetFunction(std::string_view name) = 0;
  // Functions ordered by name, strictly after `after` (empty: from the start).
  virtual Result<std::vector<FunctionConfig>> ListFunctions(std::string_view after,
                                                            size_t limit) = 0;
  virtual Status DeleteFunction(std::string_view name) = 0;
  // Every code digest still referenced, for garbage collection of the code store.
  virtual Result<std::vector<std::string>> ReferencedCode() = 0;
};

// Opens (creating if needed) the SQLite database at path in WAL mode with synchronous=FULL:
// a deployed function is on disk before the API answers.
Result<std::unique_ptr<MetadataStore>> OpenSqliteStore(const std::string& path);

}  // namespace alto
