// The client dialects as one seam: which dialect a path speaks, and how responses, streams and
// errors are written in it. The Exchange only talks to this.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "llmgate/core/chat.hpp"
#include "llmgate/core/error.hpp"
#include "llmgate/core/result.hpp"

namespace llmgate::api {

/// Encodes ChatEvents as one streamed response in a client dialect. One per response.
class StreamWriter {
 public:
  virtual ~StreamWriter() = default;
  /// Appends the SSE bytes for `event` (possibly none).
  virtual void encode(const core::ChatEvent& event, std::string& out) = 0;
  /// Appends whatever ends a successful stream.
  virtual void finish(std::string& out) = 0;
  /// Appends an in-stream error; the stream ends after it.
  virtual void encodeError(const core::GatewayError& error, std::string& out) = 0;
  /// After finish(): the whole answer as the dialect's response object, as the stream ended
  /// with it (the Responses API's response.completed carries one); empty for the dialects whose
  /// streams have none.
  virtual std::string answeredDocument() const { return {}; }
};

/// The dialect whose shapes a client of `path` expects.
core::Dialect dialectForPath(std::string_view path);
/// "openai" or "anthropic", for logs.
std::string_view dialectName(core::Dialect dialect);

/// Decodes a parsed chat request body (/v1/chat/completions, /v1/messages, /v1/responses). Errors
/// are 400s naming the offending field. `earlier` are turns the gateway will put before the
/// request's own (a session's), which its tool results may answer.
core::Result<core::ChatRequest> decodeRequest(core::Dialect dialect, const nlohmann::json& body,
                                              const std::vector<core::Message>& earlier = {});

/// The `usage` object of an answer or stream event in `dialect` (read along on the fast path).
core::Usage decodeUsage(core::Dialect dialect, const nlohmann::json& usage);
/// The same from the object's text, known to be valid JSON (the non-streaming fast path builds
/// no document).
core::Usage decodeUsageText(core::Dialect dialect, std::string_view usage);

/// The id of a response llmgate makes up: `chatcmpl-<suffix>` or `msg_<suffix>`.
std::string responseId(core::Dialect dialect, std::string_view suffix);

/// The /v1/models body: `models` as (id, owner) pairs, in `dialect`'s list shape.
std::string encodeModelList(core::Dialect dialect, const std::vector<std::pair<std::string, std::string>>& models);

/// `requestEcho`: what the answer repeats of its request (the Responses API's response object
/// does: responses::requestEcho); other dialects repeat nothing.
std::unique_ptr<StreamWriter> makeStreamWriter(core::Dialect dialect, std::string id, std::string model,
                                               bool includeUsage, const nlohmann::json& requestEcho = {});

/// The non-streaming response body.
std::string encodeResponse(core::Dialect dialect, const core::ChatResponse& response,
                           const nlohmann::json& requestEcho = {});

/// The JSON error body for `error` in `dialect`.
std::string encodeError(core::Dialect dialect, const core::GatewayError& error);

/// Whether `body` is an error response already in `dialect`'s shape (forwarded as it is).
bool isErrorBody(core::Dialect dialect, std::string_view body);

}  // namespace llmgate::api
