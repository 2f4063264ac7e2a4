// Which client dialect a path belongs to, and errors in that dialect's shape.
#pragma once

#include <string>
#include <string_view>

#include "llmgate/core/chat.hpp"
#include "llmgate/core/error.hpp"

namespace llmgate::api {

/// The dialect whose error shape a client of `path` expects.
core::Dialect dialectForPath(std::string_view path);

/// The JSON error body for `error` in `dialect`.
std::string encodeError(core::Dialect dialect, const core::GatewayError& error);

}  // namespace llmgate::api
