// Data-plane errors: what went wrong, decided once, carried to the client's dialect encoder.
#pragma once

#include <string>
#include <string_view>

namespace llmgate::core {

/// The classification retry, breaker and fallback decisions switch on (never on message text).
enum class ErrorKind {
  InvalidRequest,    ///< malformed or unsupported client input (400)
  Authentication,    ///< missing or wrong gateway key (401)
  PermissionDenied,  ///< 403
  NotFound,          ///< unknown model or path (404)
  RequestTooLarge,   ///< body over the limit (413)
  RateLimited,       ///< 429
  Upstream,          ///< the upstream answered with an error status
  Connect,           ///< could not reach the upstream (502)
  Timeout,           ///< upstream connect / first byte / idle / total deadline (504)
  Protocol,          ///< the upstream sent bytes we cannot decode (502)
  Unavailable,       ///< provider disabled, draining, overloaded (503)
  Cancelled,         ///< the client went away
  Internal,          ///< a bug or an unexpected state (500)
};

/// A local or upstream error. `code` is a stable snake_case token (logged, counted, and sent
/// as OpenAI's `error.code`); `message` is for humans and must never contain secrets.
struct GatewayError {
  ErrorKind kind = ErrorKind::Internal;
  int status = 500;
  std::string code;
  std::string message;
  std::string param;         ///< the offending request field, when known
  std::string upstreamType;  ///< the upstream's own error type, when it sent one
  std::string retryAfter;    ///< Retry-After value to forward to the client, when known

  static GatewayError make(ErrorKind kind, std::string code, std::string message);
};

/// Client text echoed in an error message or a log line, cut to a readable length (a model
/// name may be megabytes long).
std::string clipped(std::string_view text, std::size_t limit = 200);

/// Default HTTP status of a kind.
int defaultStatus(ErrorKind kind);

/// An upstream's error status as an error: the kind its status means, the status kept, code
/// `upstream_error` and a generic message (codecs refine both from the body).
GatewayError upstreamHttpError(int status);

}  // namespace llmgate::core
