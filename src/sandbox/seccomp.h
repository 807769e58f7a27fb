// The sandbox's seccomp profile: a default-deny allow-list kept as data
// (src/sandbox/profile/seccomp.json, one reason per group), turned into the OCI config's
// linux.seccomp section.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include "common/result.h"

namespace alto {

// The OCI `linux.seccomp` object for x86-64 (with its 32-bit compat ABIs).
Result<nlohmann::json> OciSeccompProfile();

}  // namespace alto
