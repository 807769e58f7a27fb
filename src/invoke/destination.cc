#include "invoke/destination.h"

#include <algorithm>
#include <cctype>
#include <vector>

namespace alto {

bool IsValidQueueName(std::string_view name) {
  return !name.empty() && name.size() <= 80 && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
  });
}

std::string QueueArn(const AccountInfo& a, const std::string& name) {
  return "arn:aws:sqs:" + a.region + ":" + a.account_id + ":" + name;
}

Result<Destination> ParseDestinationArn(std::string_view arn) {
  auto bad = [&] {
    return MakeError(
        Errc::kInvalidArgument,
        "The destination ARN " + std::string(arn) +
            " is invalid: use an Alto function (arn:aws:lambda:REGION:ACCOUNT:function:NAME) or "
            "an Alto queue (arn:aws:sqs:REGION:ACCOUNT:NAME)");
  };
  std::vector<std::string_view> parts;
  std::string_view rest = arn;
  while (true) {
    size_t c = rest.find(':');
    parts.push_back(rest.substr(0, c));
    if (c == std::string_view::npos) break;
    rest.remove_prefix(c + 1);
  }
  if (parts.size() < 6 || parts[0] != "arn" || !parts[1].starts_with("aws")) return bad();
  if (parts[2] == "sqs" && parts.size() == 6 && IsValidQueueName(parts[5])) {
    return Destination{Destination::Kind::kQueue, std::string(parts[5])};
  }
  if (parts[2] == "lambda" && parts[5] == "function" && (parts.size() == 7 || parts.size() == 8)) {
    return Destination{Destination::Kind::kFunction, std::string(parts[6])};
  }
  return bad();
}

}  // namespace alto
