// IR -> CodeWhisperer `generateAssistantResponse` body (README.md, "Request"). Pure: the same request
// gives the same bytes, so conversions can be cached. Credentials (Authorization, profileArn)
// and per-request ids are added per attempt by the provider.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "llmgate/core/chat.hpp"
#include "llmgate/core/result.hpp"

namespace llmgate::providers::kiro {

/// Kiro rejects tool names over 64 characters: longer ones become their first 55 characters,
/// '_' and 8 hex digits of a hash of the whole name. Others are unchanged.
std::string shortToolName(std::string_view name);

/// The CodeWhisperer model id for a model name: Claude names as clients write them map to
/// Kiro's ids (claude-sonnet-4-5 -> claude-sonnet-4.5, ...); anything else is sent as it is.
std::string kiroModelId(const std::string& model);

/// Encodes the IR as {"conversationState": ...}: system prompt prepended to the first user
/// turn, turns merged to alternate user/assistant, history ending with the assistant, the last
/// user turn (or "Continue" after a trailing assistant turn) as the current message with the
/// tools and the deduplicated tool results. Fails (400) for input Kiro cannot take.
core::Result<nlohmann::json> encodeRequest(const core::ChatRequest& request, const std::string& modelId);

}  // namespace llmgate::providers::kiro
