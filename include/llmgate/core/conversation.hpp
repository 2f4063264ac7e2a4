// Conversations on the IR: what a turn is, the answer appended as the next assistant turn, and
// the context shaping a route may ask for before a request goes upstream (keep the last turns,
// drop repeats, fit the model's context window). Pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "llmgate/core/chat.hpp"

namespace llmgate::core {

/// Where each turn of `messages` begins: at a user message that is not only tool results and
/// does not follow another user message. A turn holds the user's messages and everything that
/// answers them (assistant text, tool calls and their results), so cutting at turn starts never
/// separates a tool call from its result. Messages before the first turn are never cut.
std::vector<std::size_t> turnStarts(const std::vector<Message>& messages);

/// The assistant turn that `response`'s first choice is (text, thinking with its signature,
/// tool calls), for a conversation kept on the gateway.
Message answerTurn(const ChatResponse& response);

/// Removes the tool calls among the first `count` messages that no tool result in `messages`
/// answers (and an assistant message left empty by that): kept turns whose calls the client
/// never answered, which every upstream refuses. Returns how many calls went.
std::size_t dropUnansweredToolCalls(std::vector<Message>& messages, std::size_t count);

/// Drops the oldest turns of `messages` until at most `turns` remain (system messages between
/// them stay); returns how many went.
std::size_t keepLastTurns(std::vector<Message>& messages, std::size_t turns);

/// Context shaping a route opts into; every step is off by default.
struct ContextShaping {
  std::size_t keepLastTurns = 0;      ///< keep the system prompt and the last N turns (0 = off)
  bool dropDuplicates = false;        ///< exact repeats of a system prompt or of the previous message
  std::int64_t contextWindowTokens = 0;  ///< fit into this many tokens, oldest turns first (0 = off)
  std::int64_t reservedOutputTokens = 4096;  ///< kept free for the answer when the request sets no max_tokens
  bool any() const { return keepLastTurns > 0 || dropDuplicates || contextWindowTokens > 0; }
};

/// What shaping did to one request.
struct ShapingReport {
  std::size_t turnsDropped = 0;       ///< by keep_last_turns
  std::size_t duplicatesDropped = 0;  ///< system prompts and messages
  std::size_t turnsTrimmed = 0;       ///< by the context window
  bool overWindow = false;            ///< still larger than the window with only its last turn left
  std::int64_t estimatedTokens = 0;   ///< the request's estimate after shaping (fit step only)
  bool changed() const { return turnsDropped + duplicatesDropped + turnsTrimmed > 0; }
  /// "dedupe;dropped=1, last_turns;dropped=2, fit;trimmed=3;tokens=812": for a response header
  /// and the access log; empty when shaping was off.
  std::string summary(const ContextShaping& shaping) const;
};

/// Applies `shaping` to `request` in the order duplicates, keep-last-turns, context window. The
/// last turn always stays, and so does every message before the first turn.
ShapingReport shapeContext(ChatRequest& request, const ContextShaping& shaping);

}  // namespace llmgate::core
