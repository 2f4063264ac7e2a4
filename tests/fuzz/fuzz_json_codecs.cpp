// Every JSON codec on arbitrary input: the client dialects' request decoders (Chat Completions,
// Messages, Responses), every upstream
// decoder (OpenAI, Anthropic, Gemini answers, chunks, events and error bodies; Kiro event
// payloads in genuine frames), the fast path's skimmer, model rewrite and number clamp.
// Properties: nothing crashes or throws; a decoded request re-encodes for every upstream schema
// as valid JSON; the model rewrite keeps a valid document whose model is the new one; an OpenAI
// chunk, an Anthropic delta or an OpenAI or Anthropic answer read from its text decodes as its
// document does.
//
// Half of the mutations are structure-aware: the input is parsed and one node of the tree gets
// a value of another JSON type or is deleted (tests/common/json_mutations.hpp), which reaches the
// decoders' type checks far more often than byte flips that mostly break the syntax.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "common/text_decoding.hpp"
#include "common/event_stream_writer.hpp"
#include "common/json_mutations.hpp"
#include "llmgate/api/anthropic_codec.hpp"
#include "llmgate/api/openai_codec.hpp"
#include "llmgate/api/responses_codec.hpp"
#include "llmgate/core/conversation.hpp"
#include "llmgate/core/json_field.hpp"
#include "llmgate/core/json_read.hpp"
#include "providers/openai/openai_codec.hpp"
#include "providers/anthropic/anthropic_codec.hpp"
#include "providers/gemini/gemini_codec.hpp"
#include "providers/kiro/kiro_stream.hpp"

namespace {

using nlohmann::json;
namespace core = llmgate::core;
namespace api = llmgate::api;
namespace providers = llmgate::providers;

void reencode(const core::ChatRequest& request) {
  if (!json::accept(core::dumpJson(providers::openai::encodeRequest(request, "m")))) std::abort();
  if (!json::accept(core::dumpJson(providers::anthropic::encodeRequest(request, "m", 1024)))) std::abort();
  if (auto gemini = llmgate::providers::gemini::encodeRequest(request); gemini.ok()) {
    if (!json::accept(core::dumpJson(gemini.value()))) std::abort();
  }
}

// Context shaping with every step on keeps the last message and never leaves a tool result
// without the call it answered; what it leaves (and what is left once unanswered calls go)
// still encodes for every upstream.
void shape(const core::ChatRequest& decoded) {
  core::ChatRequest request = decoded;
  core::ContextShaping steps;
  steps.keepLastTurns = 2;
  steps.dropDuplicates = true;
  steps.contextWindowTokens = 64;
  steps.reservedOutputTokens = 16;
  core::shapeContext(request, steps);
  if (decoded.messages.empty() != request.messages.empty()) std::abort();
  if (!decoded.messages.empty() && decoded.messages.back().content.size() != request.messages.back().content.size()) std::abort();
  std::set<std::string> calledBefore;
  std::set<std::string> calledAfter;
  for (const auto& message : decoded.messages) {
    for (const auto& part : message.content) {
      if (part.kind == core::PartKind::ToolCall) calledBefore.insert(part.toolCallId);
    }
  }
  for (const auto& message : request.messages) {
    for (const auto& part : message.content) {
      if (part.kind == core::PartKind::ToolCall) calledAfter.insert(part.toolCallId);
      if (part.kind == core::PartKind::ToolResult && calledBefore.count(part.toolCallId) > 0 &&
          calledAfter.count(part.toolCallId) == 0) {
        std::abort();  // a result whose call was cut away
      }
    }
  }
  reencode(request);
  core::dropUnansweredToolCalls(request.messages, request.messages.size() / 2);
  reencode(request);
}

void decodeAsUpstreamAnswers(const json& parsed, const std::string& text) {
  std::vector<core::ChatEvent> events;
  providers::openai::decodeResponse(parsed);
  providers::openai::ChunkDecodeState chunks;
  providers::openai::decodeChunk(parsed, chunks, events);
  providers::openai::decodeChunk(parsed, chunks, events);
  providers::anthropic::decodeResponse(parsed);
  providers::anthropic::EventDecodeState state;
  for (const char* name : {"message_start", "content_block_start", "content_block_delta", "content_block_stop",
                           "message_delta", "message_stop", "error", "ping"}) {
    providers::anthropic::decodeEvent(name, parsed, state, events);
  }
  namespace gemini = llmgate::providers::gemini;
  gemini::decodeResponse(parsed);
  gemini::StreamState stream;
  gemini::decodeChunk(parsed, stream, events);
  gemini::decodeChunk(parsed, stream, events);
  gemini::finishStream(stream, events);
  for (int status : {400, 429, 500, 529}) {
    for (const auto& error : {providers::openai::decodeError(status, text), providers::anthropic::decodeError(status, text),
                              gemini::decodeError(status, text)}) {
      if (error.status < 400 || error.status > 599) std::abort();
    }
  }
  // Kiro: the text as the payload of each event type it decodes.
  core::ChatRequest request;
  llmgate::providers::kiro::KiroDecoder kiro(request, 200000);
  std::string frames;
  for (const char* type : {"assistantResponseEvent", "toolUseEvent", "contextUsageEvent", "messageMetadataEvent"}) {
    frames += llmgate::testing::awsEvent(type, text);
  }
  kiro.feed(frames, events);
  kiro.finish(events);
}

}  // namespace

extern "C" std::size_t LLVMFuzzerMutate(std::uint8_t* data, std::size_t size, std::size_t maxSize);

extern "C" std::size_t LLVMFuzzerCustomMutator(std::uint8_t* data, std::size_t size, std::size_t maxSize,
                                               unsigned int seed) {
  if (seed % 2 == 0) {
    json document = core::parseJson(std::string_view(reinterpret_cast<const char*>(data), size));
    if (!document.is_discarded()) {
      llmgate::testing::applyTypeSwap(document, seed / 2);
      const std::string mutated = core::dumpJson(document);
      if (mutated.size() <= maxSize) {
        std::memcpy(data, mutated.data(), mutated.size());
        return mutated.size();
      }
    }
  }
  return LLVMFuzzerMutate(data, size, maxSize);
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string body(reinterpret_cast<const char*>(data), size);
  // The skimmer also reads upstream answers, which may be broken: any bytes must be safe, and
  // every span it returns must lie inside the text.
  for (const auto& span : core::findTopLevelValues(body, "usage")) {
    if (span.offset > body.size() || span.length > body.size() - span.offset) std::abort();
  }
  std::string clamped = body;
  core::clampTopLevelNumber(clamped, "temperature", 0.0, 1.0);
  const json parsed = core::parseJson(body);
  decodeAsUpstreamAnswers(parsed, body);
  // An OpenAI chunk or an answer read from its text decodes as its document does, or is
  // declined (a chunk untouched).
  for (const auto& start : llmgate::testing::chunkStates()) {
    std::string problem;
    llmgate::testing::compareChunkPaths(body, start, problem);
    if (!problem.empty()) std::abort();
  }
  std::string problem;
  llmgate::testing::compareAnswerPaths(body, &providers::openai::decodeResponseText, &providers::openai::decodeResponse, problem);
  llmgate::testing::compareAnswerPaths(body, &providers::anthropic::decodeResponseText, &providers::anthropic::decodeResponse,
                                       problem);
  providers::anthropic::EventDecodeState deltaState;
  deltaState.toolIndexOfBlock = {-1, 0, 1};
  llmgate::testing::compareDeltaPaths(body, deltaState, problem);
  if (!problem.empty()) std::abort();
  if (parsed.is_discarded()) return 0;
  for (auto decoded : {api::openai::decodeRequest(parsed), api::anthropic::decodeRequest(parsed),
                       api::responses::decodeRequest(parsed)}) {
    if (!decoded.ok()) continue;
    reencode(decoded.value());
    shape(decoded.value());
  }
  core::ChatResponse answer;
  answer.id = "x";
  answer.choices.push_back(core::Choice{});
  if (!json::accept(api::responses::encodeResponse(answer, api::responses::requestEcho(parsed)))) std::abort();
  if (parsed.is_object() && parsed.contains("model") && parsed["model"].is_string()) {
    if (!core::replaceTopLevelString(body, "model", "new\"model")) std::abort();
    const json rewritten = core::parseJson(body);
    if (rewritten.is_discarded() || rewritten["model"] != "new\"model") std::abort();
  }
  return 0;
}
