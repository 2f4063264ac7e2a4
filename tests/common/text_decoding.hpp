// Checks that what the fast paths read from an upstream's text (an OpenAI stream chunk, an
// Anthropic content_block_delta, an answer) is what the document decoders read, for the unit
// tests and the fuzz target.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "llmgate/core/chat.hpp"
#include "llmgate/core/json_read.hpp"
#include "llmgate/core/result.hpp"
#include "providers/anthropic/anthropic_codec.hpp"
#include "providers/openai/openai_codec.hpp"

namespace llmgate::testing {

/// Every field of every event, in order.
inline std::string describeEvents(const std::vector<core::ChatEvent>& events) {
  std::string out;
  for (const auto& event : events) {
    const auto& usage = event.usage;
    out += std::to_string(static_cast<int>(event.kind)) + "|" + std::to_string(event.choice) + "|" +
           std::to_string(event.toolIndex) + "|" + event.id + "|" + event.name + "|" + event.text + "|" +
           std::to_string(static_cast<int>(event.finish)) + "|" + std::to_string(usage.inputTokens) + "," +
           std::to_string(usage.outputTokens) + "," + std::to_string(usage.cachedInputTokens) + "," +
           std::to_string(usage.cacheCreationInputTokens) + "," + std::to_string(usage.reasoningTokens) + "," +
           (usage.present ? "1" : "0") + "\n";
  }
  return out;
}

/// Every field of the response, choices and tool calls included.
inline std::string describeResponse(const core::ChatResponse& response) {
  std::string out = response.id + "|" + response.model + "|" + std::to_string(response.created) + "\n";
  for (const auto& choice : response.choices) {
    out += std::to_string(choice.index) + "|" + choice.text + "|" + choice.thinking + "|" + choice.thinkingSignature + "|" +
           choice.refusal + "|" + std::to_string(static_cast<int>(choice.finish)) + "\n";
    for (const auto& call : choice.toolCalls) out += "  " + call.id + "|" + call.name + "|" + call.arguments + "\n";
  }
  core::ChatEvent usage = core::ChatEvent::usageReport(response.usage);
  usage.usage.present = response.usage.present;
  return out + describeEvents({usage});
}

enum class ChunkPath { Text, Document };

/// The states a chunk is tried in: the stream's first chunk, a later one, one after a tool call
/// that has ended, one while a call is open.
inline std::vector<providers::openai::ChunkDecodeState> chunkStates() {
  std::vector<providers::openai::ChunkDecodeState> states(4);
  for (std::size_t i = 1; i < states.size(); ++i) states[i].started = true;
  states[2].toolCallsOpen[{0, 0}] = false;
  states[3].toolCallsOpen[{0, 0}] = true;
  return states;
}

/// Decodes `chunk`, in state `start`, from its text if decodeChunkText takes it (and then checks
/// that decodeChunk gives the very same events and state), else notes that it declined and
/// changed nothing.
/// Returns the path taken; `problem` says what was wrong, if anything.
inline ChunkPath compareChunkPaths(std::string_view chunk, const providers::openai::ChunkDecodeState& start,
                                   std::string& problem) {
  providers::openai::ChunkDecodeState textState = start;
  std::vector<core::ChatEvent> textEvents{core::ChatEvent::textDelta("already here")};
  const std::string before = describeEvents(textEvents);
  if (!providers::openai::decodeChunkText(chunk, textState, textEvents)) {
    if (describeEvents(textEvents) != before || textState.started != start.started ||
        textState.toolCallsOpen != start.toolCallsOpen) {
      problem = "declined but changed the events or the state";
    }
    return ChunkPath::Document;
  }
  providers::openai::ChunkDecodeState documentState = start;
  std::vector<core::ChatEvent> documentEvents{core::ChatEvent::textDelta("already here")};
  const auto document = core::parseJson(chunk);
  if (document.is_discarded()) {
    problem = "taken from text, but it is not JSON";
  } else if (auto error = providers::openai::decodeChunk(document, documentState, documentEvents)) {
    problem = "taken from text, but the document gives an error: " + error->message;
  } else if (describeEvents(textEvents) != describeEvents(documentEvents)) {
    problem = "events differ:\ntext:\n" + describeEvents(textEvents) + "document:\n" + describeEvents(documentEvents);
  } else if (textState.started != documentState.started || textState.toolCallsOpen != documentState.toolCallsOpen) {
    problem = "states differ";
  }
  return ChunkPath::Text;
}

/// Decodes a content_block_delta's `data` from its text if decodeDeltaText takes it (and then
/// checks that decodeEvent gives the very same events, without an error), else notes that it
/// declined and added nothing. Returns whether the text was taken; `problem` says what was
/// wrong, if anything.
inline bool compareDeltaPaths(std::string_view data, const providers::anthropic::EventDecodeState& state, std::string& problem) {
  std::vector<core::ChatEvent> textEvents{core::ChatEvent::textDelta("already here")};
  const std::string before = describeEvents(textEvents);
  if (!providers::anthropic::decodeDeltaText(data, state, textEvents)) {
    if (describeEvents(textEvents) != before) problem = "declined but changed the events";
    return false;
  }
  providers::anthropic::EventDecodeState documentState = state;
  std::vector<core::ChatEvent> documentEvents{core::ChatEvent::textDelta("already here")};
  const auto document = core::parseJson(data);
  if (document.is_discarded()) {
    problem = "taken from text, but it is not JSON";
  } else if (auto error = providers::anthropic::decodeEvent("content_block_delta", document, documentState, documentEvents)) {
    problem = "taken from text, but the document gives an error: " + error->message;
  } else if (describeEvents(textEvents) != describeEvents(documentEvents)) {
    problem = "events differ:\ntext:\n" + describeEvents(textEvents) + "document:\n" + describeEvents(documentEvents);
  }
  return true;
}

/// Decodes `body` with `decodeText` if it takes it, and then checks that `decode` gives the very
/// same response from the document. Returns whether the text was taken; `problem` says what was
/// wrong, if anything.
template <class DecodeText, class Decode>
bool compareAnswerPaths(std::string_view body, DecodeText decodeText, Decode decode, std::string& problem) {
  const auto fromText = decodeText(body);
  if (!fromText) return false;
  const auto document = core::parseJson(body);
  if (document.is_discarded()) {
    problem = "taken from text, but it is not JSON";
    return true;
  }
  const core::Result<core::ChatResponse> fromDocument = decode(document);
  if (!fromDocument.ok()) {
    problem = "taken from text, but the document gives an error: " + fromDocument.error().message;
  } else if (describeResponse(*fromText) != describeResponse(fromDocument.value())) {
    problem = "responses differ:\ntext:\n" + describeResponse(*fromText) + "document:\n" + describeResponse(fromDocument.value());
  }
  return true;
}

}  // namespace llmgate::testing
