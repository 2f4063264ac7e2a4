// The Gemini generateContent wire format (upstream side only: Gemini is not a client dialect).
// Pure functions; the provider adds URLs and auth.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "llmgate/core/chat.hpp"
#include "llmgate/core/error.hpp"
#include "llmgate/core/result.hpp"

namespace llmgate::providers::gemini {

/// Encodes the IR as a GenerateContentRequest (the model goes in the URL, not the body).
/// Fails only for input Gemini cannot express (a tool result whose call is unknown).
core::Result<nlohmann::json> encodeRequest(const core::ChatRequest& request);

/// A JSON Schema reduced to the OpenAPI subset Gemini's `parameters` / `responseSchema`
/// accept: unknown keywords dropped, types upper-cased, ["T","null"] as nullable.
nlohmann::json cleanSchema(const nlohmann::json& schema);

/// Decodes a non-streaming GenerateContentResponse.
core::Result<core::ChatResponse> decodeResponse(const nlohmann::json& body);

/// Per-stream state: which candidates started, finished, called tools; the latest usage.
struct StreamState {
  bool started = false;
  std::string responseId;
  std::vector<int> toolCalls;      // per candidate: calls emitted so far
  std::vector<bool> signatureSent; // per candidate
  std::vector<bool> finished;      // per candidate
  core::Usage usage;
};

/// Decodes one streamed GenerateContentResponse into events.
std::optional<core::GatewayError> decodeChunk(const nlohmann::json& chunk, StreamState& state,
                                              std::vector<core::ChatEvent>& out);
/// The stream's body ended: the final usage, or an error when it ended before a finishReason.
std::optional<core::GatewayError> finishStream(StreamState& state, std::vector<core::ChatEvent>& out);

/// Maps an error status + Google RPC error body to an error; a RetryInfo delay becomes
/// `retryAfter` (whole seconds, rounded up).
core::GatewayError decodeError(int status, std::string_view body);

core::FinishReason parseFinishReason(std::string_view reason);
core::Usage decodeUsage(const nlohmann::json& usageMetadata);

}  // namespace llmgate::providers::gemini
