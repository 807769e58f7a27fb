#include "api/qualifier.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <random>

namespace alto {

namespace {
Error Invalid(std::string message) { return MakeError(Errc::kInvalidArgument, std::move(message)); }
}  // namespace

bool IsVersionNumber(std::string_view s) {
  return !s.empty() && s.size() <= 10 &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

QualifierKind KindOf(std::string_view q) {
  if (q.empty() || q == "$LATEST") return QualifierKind::kLatest;
  if (IsVersionNumber(q)) return QualifierKind::kVersion;
  return QualifierKind::kAlias;
}

bool IsValidAliasName(std::string_view name) {
  if (name.empty() || name.size() > 128) return false;
  bool all_digits = true;
  for (char c : name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_')) return false;
    if (c < '0' || c > '9') all_digits = false;
  }
  return !all_digits;
}

RandomSource DefaultRandomSource() {
  return [] {
    thread_local std::mt19937_64 gen{std::random_device{}()};
    return std::uniform_real_distribution<double>(0.0, 1.0)(gen);
  };
}

const std::string& PickVersion(const AliasConfig& alias, double u) {
  if (!alias.additional_version.empty() && u < alias.additional_weight) {
    return alias.additional_version;
  }
  return alias.function_version;
}

Status ApplyRoutingConfig(const nlohmann::json& routing, AliasConfig& alias) {
  alias.additional_version.clear();
  alias.additional_weight = 0.0;
  if (routing.is_null()) return {};
  if (!routing.is_object()) return Invalid("RoutingConfig must be an object");
  auto weights = routing.find("AdditionalVersionWeights");
  if (weights == routing.end() || weights->is_null()) return {};
  if (!weights->is_object()) return Invalid("AdditionalVersionWeights must be an object");
  if (weights->size() > 1) {
    return Invalid(
        "Number of items in AdditionalVersionWeights cannot be greater than 1. Only one "
        "additional version is supported");
  }
  for (const auto& [version, weight] : weights->items()) {
    if (!IsVersionNumber(version)) {
      return Invalid(
          "1 validation error detected: Value at 'routingConfig.additionalVersionWeights' failed "
          "to satisfy constraint: Map keys must satisfy constraint: [Member must satisfy regular "
          "expression pattern: [0-9]+]");
    }
    if (!weight.is_number() || weight.get<double>() < 0.0 || weight.get<double>() > 1.0) {
      return Invalid(
          "1 validation error detected: Value at 'routingConfig.additionalVersionWeights' failed "
          "to satisfy constraint: Map value must satisfy constraint: [Member must have value less "
          "than or equal to 1.0, Member must have value greater than or equal to 0.0]");
    }
    alias.additional_version = version;
    alias.additional_weight = weight.get<double>();
  }
  return {};
}

Status ValidateAliasTargets(const AliasConfig& alias) {
  if (alias.function_version != "$LATEST" && !IsVersionNumber(alias.function_version)) {
    return Invalid("1 validation error detected: Value '" + alias.function_version +
                   "' at 'functionVersion' failed to satisfy constraint: Member must satisfy "
                   "regular expression pattern: (\\$LATEST|[0-9]+)");
  }
  if (alias.additional_version.empty()) return {};
  if (alias.function_version == "$LATEST") {
    return Invalid("$LATEST is not supported for an alias pointing to more than 1 version");
  }
  if (alias.additional_version == alias.function_version) {
    return Invalid("Invalid function version " + alias.additional_version + ". Function version " +
                   alias.additional_version + " is already included in routing configuration.");
  }
  return {};
}

}  // namespace alto
