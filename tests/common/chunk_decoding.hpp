// Checks that an OpenAI stream chunk decodes to the same events read from its text
// (decodeChunkText) as from its document (decodeChunk), for the unit tests and the fuzz target.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "llmgate/core/chat.hpp"
#include "llmgate/core/json_read.hpp"
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

enum class ChunkPath { Text, Document };

/// Decodes `chunk` from its text if decodeChunkText takes it (and then checks that decodeChunk
/// gives the very same events and state), else notes that it declined and changed nothing.
/// Returns the path taken; `problem` says what was wrong, if anything.
inline ChunkPath compareChunkPaths(std::string_view chunk, bool started, std::string& problem) {
  providers::openai::ChunkDecodeState textState;
  textState.started = started;
  std::vector<core::ChatEvent> textEvents{core::ChatEvent::textDelta("already here")};
  const std::string before = describeEvents(textEvents);
  if (!providers::openai::decodeChunkText(chunk, textState, textEvents)) {
    if (describeEvents(textEvents) != before || textState.started != started || !textState.toolCallsOpen.empty()) {
      problem = "declined but changed the events or the state";
    }
    return ChunkPath::Document;
  }
  providers::openai::ChunkDecodeState documentState;
  documentState.started = started;
  std::vector<core::ChatEvent> documentEvents{core::ChatEvent::textDelta("already here")};
  const auto document = core::parseJson(chunk);
  if (document.is_discarded()) {
    problem = "taken from text, but it is not JSON";
  } else if (auto error = providers::openai::decodeChunk(document, documentState, documentEvents)) {
    problem = "taken from text, but the document gives an error: " + error->message;
  } else if (describeEvents(textEvents) != describeEvents(documentEvents)) {
    problem = "events differ:\ntext:\n" + describeEvents(textEvents) + "document:\n" + describeEvents(documentEvents);
  } else if (textState.started != documentState.started || !documentState.toolCallsOpen.empty()) {
    problem = "states differ";
  }
  return ChunkPath::Text;
}

}  // namespace llmgate::testing
