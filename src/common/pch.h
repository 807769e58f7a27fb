// Precompiled header: Asio/Beast and JSON are the bulk of compile time.
#pragma once
#include <spdlog/spdlog.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>
