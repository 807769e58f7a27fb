// Zip packages: safe extraction of uploaded code, and packing a directory for `alto fn deploy`.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "common/result.h"

namespace alto {

struct ExtractLimits {
  uint64_t max_total_bytes = 250ull * 1024 * 1024;  // Lambda's unzipped limit
  uint64_t max_entries = 100000;
};

// Extracts zip bytes into dest (which must exist and be empty). Refuses absolute paths, '..'
// components, hard links, devices, and symlinks whose target leaves dest. Files get mode 0644,
// or 0755 when any execute bit was set; directories 0755. kInvalidArgument on a bad package.
Status ExtractZip(std::string_view zip, const std::filesystem::path& dest,
                  const ExtractLimits& limits = {});

// Packs a directory (regular files, directories and relative symlinks) into zip bytes.
Result<std::string> ZipDirectory(const std::filesystem::path& dir);

// True when rel (a path inside a package) is relative and never climbs out with '..'.
bool IsSafeRelativePath(std::string_view rel);

}  // namespace alto
