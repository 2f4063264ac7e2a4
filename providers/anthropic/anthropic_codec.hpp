// The Anthropic Messages format as llmgate speaks it to Claude: encode requests, decode
// messages, stream events and errors. Pure functions; the provider adds URLs and auth.
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

namespace llmgate::providers::anthropic {

/// Encodes the IR as a Messages request for `model`; `defaultMaxTokens` fills a missing max_tokens.
nlohmann::json encodeRequest(const core::ChatRequest& request, const std::string& model, std::int64_t defaultMaxTokens);

/// decodeResponse for the usual answer, read from its text without building a document: the
/// same response. nullopt for any answer it does not take (not valid JSON, a tool_use block,
/// a field of an unexpected type, a name written with escapes): decodeResponse decides then.
std::optional<core::ChatResponse> decodeResponseText(std::string_view body);

/// Decodes a non-streaming Message.
core::Result<core::ChatResponse> decodeResponse(const nlohmann::json& body);

/// Per-stream state of event decoding.
struct EventDecodeState {
  std::vector<int> toolIndexOfBlock;  // content block index -> tool call index, -1 for other blocks
  int toolCalls = 0;
  core::Usage usage;
  bool stopped = false;
};

/// Decodes one SSE event (name + JSON data) of a Messages stream into events.
std::optional<core::GatewayError> decodeEvent(std::string_view name, const nlohmann::json& data, EventDecodeState& state,
                                              std::vector<core::ChatEvent>& out);

/// decodeEvent for a content_block_delta event (the one a streamed token comes in), read from
/// its data's text without building a document: the same events. Returns false, having changed
/// nothing, for any data it does not take (not valid JSON, an index out of range, a field of an
/// unexpected type, a name written with escapes): decodeEvent then decides, and words any error.
bool decodeDeltaText(std::string_view data, const EventDecodeState& state, std::vector<core::ChatEvent>& out);

/// Maps an upstream error status + body to an error.
core::GatewayError decodeError(int status, std::string_view body);

}  // namespace llmgate::providers::anthropic
