// The OpenAI Chat Completions format as llmgate speaks it to OpenAI-compatible upstreams
// (OpenAI, DeepSeek, Qwen, Zhipu, vLLM...): encode requests, decode answers, chunks and errors.
// Pure functions; the provider adds URLs and auth.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "llmgate/core/chat.hpp"
#include "llmgate/core/error.hpp"
#include "llmgate/core/result.hpp"

namespace llmgate::providers::openai {

/// Where OpenAI-compatible upstreams differ in what a request may carry.
struct EncodeOptions {
  /// Send an assistant turn's reasoning back as `reasoning_content` when the turn made tool
  /// calls (DeepSeek thinking mode requires it; OpenAI does not know the field).
  bool reasoningOnToolCallTurns = false;
};

/// Encodes the IR as an OpenAI-compatible request body for `model`.
nlohmann::json encodeRequest(const core::ChatRequest& request, const std::string& model,
                             const EncodeOptions& options = {});

/// decodeResponse for the usual answer, read from its text without building a document: the
/// same response. nullopt for any answer it does not take (not valid JSON, a field of an
/// unexpected type, a name written with escapes): decodeResponse decides then.
std::optional<core::ChatResponse> decodeResponseText(std::string_view body);

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

/// decodeChunk for the usual chunk, read from its text without building a document: the same
/// events, at a fraction of the cost. Returns false, having changed nothing, for any chunk it
/// does not take (not valid JSON, an error, tool calls or a tool call still open, a field of an
/// unexpected type, a name written with escapes): decodeChunk then decides about it, and words
/// any error.
bool decodeChunkText(std::string_view chunk, ChunkDecodeState& state, std::vector<core::ChatEvent>& out);

/// Maps an upstream error status + body (OpenAI error shape or anything else) to an error.
core::GatewayError decodeError(int status, std::string_view body);

}  // namespace llmgate::providers::openai
