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

/// Per-stream state: what each candidate has sent, whether any finished, the latest usage.
struct StreamState {
  struct Candidate {
    int toolCalls = 0;           ///< calls emitted so far
    bool signatureSent = false;  ///< only the first thoughtSignature is kept
  };
  bool started = false;
  bool finished = false;  ///< some candidate sent a finishReason (else the stream was cut)
  std::string responseId;
  std::vector<Candidate> candidates;
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
