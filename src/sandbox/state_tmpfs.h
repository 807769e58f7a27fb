// The directory that holds every sandbox's volatile state (runc's state, bundles, netns pins)
// lives on a tmpfs. Each sandbox start and end creates and deletes a few dozen files and
// directories there; on a disk filesystem (this machine's /run is ext4) perf showed ext4's inode
// allocator (find_get_block_common, recently_deleted) as more than half of the server's own CPU
// during a burst of sandbox starts. On most hosts /run is a tmpfs already and nothing is mounted.
#pragma once

#include <filesystem>
#include <memory>

#include "common/result.h"

namespace alto {

class StateTmpfs {
 public:
  // Creates `dir` and mounts a tmpfs there unless it is a tmpfs already. A tmpfs Alto mounted
  // earlier (a server that was killed) is taken over and unmounted at the end like a new one.
  static Result<std::unique_ptr<StateTmpfs>> Ensure(const std::filesystem::path& dir);
  ~StateTmpfs();
  StateTmpfs(const StateTmpfs&) = delete;
  StateTmpfs& operator=(const StateTmpfs&) = delete;

 private:
  StateTmpfs(std::filesystem::path dir, bool owned) : dir_(std::move(dir)), owned_(owned) {}
  std::filesystem::path dir_;
  bool owned_;
};

}  // namespace alto
