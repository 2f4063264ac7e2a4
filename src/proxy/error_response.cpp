#include "llmgate/proxy/error_response.hpp"

#include "llmgate/api/dialect.hpp"

namespace llmgate::proxy {

server::HeaderList errorHeaders(const core::GatewayError& error) {
  server::HeaderList headers;
  if (!error.retryAfter.empty()) headers.emplace_back("retry-after", error.retryAfter);
  return headers;
}

void sendError(server::IncomingRequest& request, server::ResponseSink& sink, const core::GatewayError& error) {
  sendError(api::dialectForPath(request.path()), sink, error);
}

void sendError(core::Dialect dialect, server::ResponseSink& sink, const core::GatewayError& error) {
  if (sink.log().errorCode.empty()) sink.log().errorCode = error.code;
  sink.sendResponse(error.status, "application/json", api::encodeError(dialect, error), errorHeaders(error));
}

}  // namespace llmgate::proxy
