// Loopback upstreams that speak each provider's real protocol and answer the same thing in
// every one of them: a tool call when tools are offered, "It is <result>." after a tool result,
// a fixed text otherwise; usage 9 in / 4 out. Streams are sent in several pieces.
#pragma once

#include <string>

#include "test_upstream.hpp"

namespace llmgate::testing {

inline constexpr const char* kUpstreamText = "Hello there, friend!";
inline constexpr const char* kToolName = "get_weather";
inline constexpr const char* kToolArguments = R"({"city":"Paris"})";

/// OpenAI Chat Completions (also DeepSeek, Qwen, Zhipu).
ScriptedResponse openAiCompatibleUpstream(const RecordedRequest& request);
/// Anthropic Messages.
ScriptedResponse anthropicUpstream(const RecordedRequest& request);
/// Gemini generateContent / streamGenerateContent?alt=sse (CRLF event ends).
ScriptedResponse geminiUpstream(const RecordedRequest& request);
/// Kiro / CodeWhisperer generateAssistantResponse: AWS event-stream frames with real CRCs;
/// usage in a messageMetadataEvent.
ScriptedResponse kiroUpstream(const RecordedRequest& request);

}  // namespace llmgate::testing
