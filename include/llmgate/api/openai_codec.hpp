// The OpenAI Chat Completions wire format, both directions: the client side (decode requests,
// encode responses, chunks and errors) and the upstream side (encode requests for
// OpenAI-compatible providers, decode their responses and chunks). Pure functions: no I/O.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "llmgate/api/dialect.hpp"
#include "llmgate/core/chat.hpp"
#include "llmgate/core/error.hpp"
#include "llmgate/core/json_text.hpp"
#include "llmgate/core/result.hpp"

namespace llmgate::api::openai {

// ---- client side -------------------------------------------------------------------------

/// Decodes a parsed /v1/chat/completions body. Errors are 400s naming the offending field.
core::Result<core::ChatRequest> decodeRequest(const nlohmann::json& body);

/// Encodes a chat.completion object. `created` is taken from the response when non-zero.
std::string encodeResponse(const core::ChatResponse& response);

/// Encodes {"error":{message,type,param,code}}.
std::string encodeError(const core::GatewayError& error);

std::string_view finishReasonName(core::FinishReason reason);
core::FinishReason parseFinishReason(std::string_view name);

/// Turns ChatEvents into `data: {chunk}\n\n` SSE frames, ending with `data: [DONE]`.
/// One per response; not thread-safe.
class StreamEncoder : public StreamWriter {
 public:
  StreamEncoder(std::string id, std::string model, std::int64_t created, bool includeUsage);

  /// Appends the SSE bytes for `event` to `out` (possibly none).
  void encode(const core::ChatEvent& event, std::string& out) override;
  /// Appends the usage chunk (when asked for and known) and `data: [DONE]`.
  void finish(std::string& out) override;
  /// Appends an in-stream error frame `data: {"error":...}` (no [DONE] after it).
  void encodeError(const core::GatewayError& error, std::string& out) override;

 private:
  void beginChunk(std::string& out, int choice);
  void endChunk(std::string& out, std::string_view finishReason = {});
  void ensureRole(int choice, std::string& out);

  std::string prefix_;  // `data: {"id":...,"object":...,"created":...,"model":...,"choices":[`
  bool includeUsage_;
  std::vector<bool> roleSent_;
  core::Usage usage_;
};

// ---- upstream side -----------------------------------------------------------------------

/// Where OpenAI-compatible upstreams differ in what a request may carry.
struct EncodeOptions {
  /// Send an assistant turn's reasoning back as `reasoning_content` when the turn made tool
  /// calls (DeepSeek thinking mode requires it; OpenAI does not know the field).
  bool reasoningOnToolCallTurns = false;
};

/// Encodes the IR as an OpenAI-compatible request body for `model`.
nlohmann::json encodeRequest(const core::ChatRequest& request, const std::string& model,
                             const EncodeOptions& options = {});

/// Decodes a non-streaming chat.completion body.
core::Result<core::ChatResponse> decodeResponse(const nlohmann::json& body);

/// Per-stream state of chunk decoding (which tool calls have started).
struct ChunkDecodeState {
  bool started = false;
  std::map<std::pair<int, int>, bool> toolCallsOpen;  // (choice, index) -> open
};

/// Decodes one chat.completion.chunk into events. An {"error":...} payload becomes an error.
std::optional<core::GatewayError> decodeChunk(const nlohmann::json& chunk, ChunkDecodeState& state,
                                              std::vector<core::ChatEvent>& out);

/// Maps an upstream error status + body (OpenAI error shape or anything else) to an error.
core::GatewayError decodeError(int status, std::string_view body);

core::Usage decodeUsage(const nlohmann::json& usage);

}  // namespace llmgate::api::openai
