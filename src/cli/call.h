// The CLI's one way to the server: a request signed with the standard AWS credential chain, and
// how its failures are printed.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cli/client_commands.h"
#include "http/message.h"

namespace alto::cli {

// Prints "alto: error: message" to stderr; returns 1.
int Fail(const std::string& message);
// A reply of the server as JSON, discarded when it is not.
nlohmann::json ParseReply(std::string_view body);
// Sends a signed request; returns the response, or prints why it failed and returns nullopt.
std::optional<http::Response> Call(const ClientOptions& o, const std::string& method,
                                   const std::string& target, std::string body = {},
                                   std::vector<http::Header> headers = {});
// Prints a Lambda error response as "Type: Message"; returns 1.
int FailFrom(const http::Response& r);

}  // namespace alto::cli
