#include "state/state.h"

namespace alto::state {

std::string PrefixEnd(std::string_view prefix) {
  std::string end(prefix);
  // Bump the last byte that can be bumped; trailing 0xff bytes cannot, and every key under the
  // prefix sorts before the shorter key with the bumped byte.
  while (!end.empty()) {
    auto last = static_cast<unsigned char>(end.back());
    if (last < 0xff) {
      end.back() = static_cast<char>(last + 1);
      return end;
    }
    end.pop_back();
  }
  return end;
}

Status ValidateKey(std::string_view key) {
  if (key.empty()) return MakeError(Errc::kInvalidArgument, "state key is empty");
  if (key.size() > kMaxKeyBytes) {
    return MakeError(Errc::kTooLarge, "state key of " + std::to_string(key.size()) +
                                          " bytes is over the limit of " +
                                          std::to_string(kMaxKeyBytes));
  }
  for (unsigned char c : key) {
    // Printable ASCII only, as state.h promises: keys appear in logs and etcd tooling as text.
    if (c < 0x20 || c > 0x7e) {
      return MakeError(Errc::kInvalidArgument, "state key has a byte outside printable ASCII");
    }
  }
  return {};
}

Status ValidateTxnBytes(const std::vector<Compare>& compares, const std::vector<Op>& then,
                        const std::vector<Op>& otherwise) {
  size_t total = 0;
  for (const auto& c : compares) total += c.key.size();
  for (const auto* ops : {&then, &otherwise}) {
    for (const auto& op : *ops) total += op.key.size() + op.value.size();
  }
  if (total > kMaxTxnBytes) {
    return MakeError(Errc::kTooLarge, "transaction of " + std::to_string(total) +
                                          " bytes of keys and values is over the limit of " +
                                          std::to_string(kMaxTxnBytes));
  }
  return {};
}

}  // namespace alto::state
