// Zip extraction of uploaded code (store/zip.h). Each input is extracted into a fresh directory
// two levels below a private scratch directory, so that an entry that escapes by one or two
// levels ('..', symlinks, symlinked parents) lands where the harness sees it. After extraction
// nothing may exist beside the destination, and every symlink of an accepted package must
// resolve inside it.
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>

#include "check.h"
#include "store/zip.h"

namespace fs = std::filesystem;

namespace {

const fs::path& Scratch() {
  static const fs::path dir = [] {
    char tmpl[] = "/tmp/alto-fuzz-zip.XXXXXX";
    char* made = mkdtemp(tmpl);
    FUZZ_CHECK(made != nullptr, "mkdtemp under /tmp");
    return fs::path(made);
  }();
  return dir;
}

// The only thing directly in `dir` is `only`.
bool HoldsOnly(const fs::path& dir, const std::string& only) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.path().filename() != only) return false;
  }
  return !ec;
}

bool Inside(const fs::path& p, const fs::path& root) {
  auto rel = p.lexically_relative(root);
  return !rel.empty() && *rel.begin() != "..";
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const fs::path outer = Scratch() / "outer";
  const fs::path middle = outer / "middle";
  const fs::path dest = middle / "pkg";
  std::error_code ec;
  fs::remove_all(outer, ec);
  fs::create_directories(dest, ec);
  FUZZ_CHECK(!ec, "create the destination");
  const fs::path real_dest = fs::canonical(dest);

  // Small limits keep each input cheap; the limit checks themselves are what is exercised.
  alto::ExtractLimits limits;
  limits.max_total_bytes = 1 << 20;
  limits.max_entries = 256;
  auto st =
      alto::ExtractZip(std::string_view(reinterpret_cast<const char*>(data), size), dest, limits);
  // Refusing is fine, and the caller (CodeStore) removes a refused package's directory; but not
  // even a refused package may have written outside it.

  FUZZ_CHECK(HoldsOnly(Scratch(), "outer"), "nothing written beside the scratch's outer dir");
  FUZZ_CHECK(HoldsOnly(outer, "middle"), "nothing written two levels above the destination");
  FUZZ_CHECK(HoldsOnly(middle, "pkg"), "nothing written beside the destination");
  for (auto it = fs::recursive_directory_iterator(dest, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const fs::path& p = it->path();
    struct stat sb {};
    FUZZ_CHECK(::lstat(p.c_str(), &sb) == 0, "an extracted entry can be stat'ed");
    FUZZ_CHECK(S_ISREG(sb.st_mode) || S_ISDIR(sb.st_mode) || S_ISLNK(sb.st_mode),
               "only files, directories and symlinks are extracted");
    if (S_ISLNK(sb.st_mode)) {
      if (!st.ok()) continue;
      // Resolved on disk, through every other symlink, as a reader of the package would.
      std::error_code rec;
      fs::path target = fs::weakly_canonical(p, rec);
      if (!rec) {
        if (!Inside(target, real_dest) && target != real_dest) {
          std::fprintf(stderr, "symlink %s resolves to %s\n", p.c_str(), target.c_str());
        }
        FUZZ_CHECK(Inside(target, real_dest) || target == real_dest,
                   "a symlink in the package resolves inside it");
      }
    } else {
      if (sb.st_mode & 07022) std::fprintf(stderr, "%s has mode %o\n", p.c_str(), sb.st_mode);
      FUZZ_CHECK((sb.st_mode & 07022) == 0, "no setuid/setgid/sticky or group/world write bits");
    }
  }
  fs::remove_all(outer, ec);
  return 0;
}
