#include "llmgate/core/error.hpp"

namespace llmgate::core {

int defaultStatus(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::InvalidRequest: return 400;
    case ErrorKind::Authentication: return 401;
    case ErrorKind::PermissionDenied: return 403;
    case ErrorKind::NotFound: return 404;
    case ErrorKind::RequestTooLarge: return 413;
    case ErrorKind::RateLimited: return 429;
    case ErrorKind::Upstream: return 502;
    case ErrorKind::Connect: return 502;
    case ErrorKind::Timeout: return 504;
    case ErrorKind::Protocol: return 502;
    case ErrorKind::Unavailable: return 503;
    case ErrorKind::Cancelled: return 499;
    case ErrorKind::Internal: return 500;
  }
  return 500;
}

std::string clipped(std::string_view text, std::size_t limit) {
  if (text.size() <= limit) return std::string(text);
  // Cut at a character boundary: never in the middle of a UTF-8 sequence.
  std::size_t end = limit;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return std::string(text.substr(0, end)) + "...";
}

GatewayError GatewayError::make(ErrorKind kind, std::string code, std::string message) {
  GatewayError error;
  error.kind = kind;
  error.status = defaultStatus(kind);
  error.code = std::move(code);
  error.message = std::move(message);
  return error;
}

GatewayError upstreamHttpError(int status) {
  const ErrorKind kind = status == 429                   ? ErrorKind::RateLimited
                         : status == 401                 ? ErrorKind::Authentication
                         : status == 403                 ? ErrorKind::PermissionDenied
                         : status == 404                 ? ErrorKind::NotFound
                         : status == 413                 ? ErrorKind::RequestTooLarge
                         : status >= 400 && status < 500 ? ErrorKind::InvalidRequest
                                                         : ErrorKind::Upstream;
  GatewayError error = GatewayError::make(kind, "upstream_error", "upstream returned HTTP " + std::to_string(status));
  // An error status is relayed as it came; anything else (a redirect, a status no HTTP client
  // knows) is a bad gateway answer, not something to pass on.
  if (status >= 400 && status <= 599) error.status = status;
  return error;
}

}  // namespace llmgate::core
