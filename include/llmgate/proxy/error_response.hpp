// An error as a complete HTTP response in the client's dialect.
#pragma once

#include "llmgate/core/chat.hpp"
#include "llmgate/core/error.hpp"
#include "llmgate/server/request_handler.hpp"

namespace llmgate::proxy {

/// The headers an error response carries besides its body (`retry-after` when it has one).
server::HeaderList errorHeaders(const core::GatewayError& error);
/// Sends `error` as a complete response in the dialect of the request's path.
void sendError(server::IncomingRequest& request, server::ResponseSink& sink, const core::GatewayError& error);
/// The same in `dialect`.
void sendError(core::Dialect dialect, server::ResponseSink& sink, const core::GatewayError& error);

}  // namespace llmgate::proxy
