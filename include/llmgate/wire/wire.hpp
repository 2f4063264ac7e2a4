// What the two client dialects' wire formats mean on both sides of llmgate: the client codecs
// (src/api) and the upstream codecs of the same formats (providers/openai, providers/anthropic)
// share these, and nothing else. Pure functions.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "llmgate/core/chat.hpp"

namespace llmgate::wire {

/// Adds the client's unmapped fields to an upstream body of the same dialect (fields of the
/// other dialect mean nothing there); mapped fields already in `body` win.
void mergeExtras(nlohmann::json& body, const core::ChatRequest& request, core::Dialect upstream);

namespace openai {
std::string_view finishReasonName(core::FinishReason reason);
/// OpenAI's finish_reason, and the OpenAI-compatible servers' own (GLM, DeepSeek).
core::FinishReason parseFinishReason(std::string_view name);
/// A Chat Completions `usage` object; a count of the wrong type makes the usage unknown.
core::Usage decodeUsage(const nlohmann::json& usage);
/// The same read from the object's text, known to be valid JSON, without building a document.
core::Usage decodeUsageText(std::string_view usage);
/// A Responses API `usage` object (input_tokens, output_tokens and their details), the same way.
core::Usage decodeResponsesUsage(const nlohmann::json& usage);
core::Usage decodeResponsesUsageText(std::string_view usage);
}  // namespace openai

namespace anthropic {
std::string_view stopReasonName(core::FinishReason reason);
core::FinishReason parseStopReason(std::string_view name);
/// A Messages `usage` object (cached and cache-written input counted into inputTokens).
core::Usage decodeUsage(const nlohmann::json& usage);
/// The same read from the object's text, known to be valid JSON, without building a document.
core::Usage decodeUsageText(std::string_view usage);
/// A tool call's arguments as a tool_use `input` object (arguments that are not one are kept
/// under "arguments" rather than dropped).
nlohmann::json toolInput(const std::string& arguments);
}  // namespace anthropic

}  // namespace llmgate::wire
