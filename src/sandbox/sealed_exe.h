// A sealed in-memory copy of an executable, run through /proc/<server pid>/fd/<n>.
//
// Why: runc 1.1 protects the host's runc binary (CVE-2019-5736) by copying itself into a sealed
// memfd in every `runc init`, then executing that copy: about 10 MB copied and one more exec per
// sandbox start (1.5 ms of CPU of the 18 ms a `runc run` costs here, perf stat, 40 runs each).
// runc skips that step when the binary it runs from is already a fully sealed memfd
// (is_self_cloned() in its cloned_binary.c): nothing can write to it, so one copy made once by
// the server protects every container just as well.
#pragma once

#include <filesystem>
#include <string>

#include "common/result.h"
#include "sandbox/unique_fd.h"

namespace alto {

class SealedExecutable {
 public:
  // Copies `source` into a memfd sealed against writes, growth, shrinking and further seals.
  static Result<SealedExecutable> Copy(const std::filesystem::path& source);

  // A path any process of the server's user can execute while this object lives.
  const std::string& path() const { return path_; }
  int fd() const { return fd_.get(); }

 private:
  SealedExecutable(UniqueFd fd, std::string path) : fd_(std::move(fd)), path_(std::move(path)) {}
  UniqueFd fd_;
  std::string path_;
};

}  // namespace alto
