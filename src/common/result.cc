#include "common/result.h"

#include <cerrno>
#include <cstring>

namespace alto {

Error SysError(std::string context, int err) {
  context += ": ";
  context += std::strerror(
      err);  // NOLINT(concurrency-mt-unsafe): glibc returns static strings for known errnos
  return Error{Errc::kInternal, std::move(context), err, {}};
}

Error SysError(std::string context) { return SysError(std::move(context), errno); }

}  // namespace alto
