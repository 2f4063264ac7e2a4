#include "llmgate/core/conversation.hpp"

#include <algorithm>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

namespace llmgate::core {
namespace {

bool onlyToolResults(const Message& message) {
  return !message.content.empty() && std::all_of(message.content.begin(), message.content.end(), [](const ContentPart& part) {
    return part.kind == PartKind::ToolResult;
  });
}

bool sameContent(const Message& a, const Message& b) {
  if (a.role != b.role || a.name != b.name || a.content.size() != b.content.size()) return false;
  for (std::size_t i = 0; i < a.content.size(); ++i) {
    const auto& x = a.content[i];
    const auto& y = b.content[i];
    // Only plain text and images repeat harmlessly; a tool call or result carries an id.
    if (x.kind != y.kind || (x.kind != PartKind::Text && x.kind != PartKind::Image)) return false;
    if (x.text != y.text || x.imageUrl != y.imageUrl || x.imageDetail != y.imageDetail) return false;
  }
  return true;
}

// The messages from turn `first` on stay; what went before (from the first turn) goes, except
// the system messages a client put between turns: instructions, not conversation.
std::size_t dropTurnsBefore(std::vector<Message>& messages, const std::vector<std::size_t>& starts, std::size_t first) {
  if (first == 0 || first >= starts.size()) return 0;
  const auto from = messages.begin() + static_cast<std::ptrdiff_t>(starts.front());
  const auto to = messages.begin() + static_cast<std::ptrdiff_t>(starts[first]);
  const auto kept = std::stable_partition(from, to, [](const Message& message) { return message.role == Role::System; });
  messages.erase(kept, to);
  return first;
}

void appendField(std::string& out, std::string_view step, std::string_view name, std::size_t value) {
  out += step;
  out += ';';
  out += name;
  out += '=';
  out += std::to_string(value);
}

}  // namespace

std::vector<std::size_t> turnStarts(const std::vector<Message>& messages) {
  // No turn starts between a tool call and its result, however a client ordered them: the
  // messages after a call, up to its result, are marked (a difference array, one pass each way).
  std::unordered_map<std::string_view, std::size_t> calls;
  std::vector<int> inside(messages.size() + 1, 0);
  for (std::size_t i = 0; i < messages.size(); ++i) {
    for (const auto& part : messages[i].content) {
      if (part.kind == PartKind::ToolCall) calls.emplace(part.toolCallId, i);
      if (part.kind != PartKind::ToolResult) continue;
      if (auto call = calls.find(part.toolCallId); call != calls.end() && call->second < i) {
        ++inside[call->second + 1];
        --inside[i + 1];
      }
    }
  }
  std::vector<std::size_t> starts;
  int open = 0;
  for (std::size_t i = 0; i < messages.size(); ++i) {
    open += inside[i];
    const Message& message = messages[i];
    if (open > 0 || message.role != Role::User || onlyToolResults(message)) continue;
    // User messages in a row, before any answer, are one turn.
    if (i > 0 && messages[i - 1].role == Role::User) continue;
    starts.push_back(i);
  }
  return starts;
}

Message answerTurn(const ChatResponse& response) {
  Message turn;
  turn.role = Role::Assistant;
  if (response.choices.empty()) return turn;
  const Choice& choice = response.choices.front();
  if (!choice.thinking.empty() || !choice.thinkingSignature.empty()) {
    ContentPart thinking;
    thinking.kind = PartKind::Thinking;
    thinking.text = choice.thinking;
    thinking.signature = choice.thinkingSignature;
    turn.content.push_back(std::move(thinking));
  }
  if (!choice.text.empty()) turn.content.push_back(ContentPart::makeText(choice.text));
  if (!choice.refusal.empty()) {
    ContentPart refusal = ContentPart::makeText(choice.refusal);
    refusal.kind = PartKind::Refusal;
    turn.content.push_back(std::move(refusal));
  }
  for (const auto& call : choice.toolCalls) turn.content.push_back(ContentPart::makeToolCall(call.id, call.name, call.arguments));
  return turn;
}

std::size_t dropUnansweredToolCalls(std::vector<Message>& messages, std::size_t count) {
  std::unordered_set<std::string_view> answered;
  for (const auto& message : messages) {
    for (const auto& part : message.content) {
      if (part.kind == PartKind::ToolResult) answered.insert(part.toolCallId);
    }
  }
  std::size_t dropped = 0;
  count = std::min(count, messages.size());
  for (std::size_t i = 0; i < count; ++i) {
    auto& content = messages[i].content;
    if (messages[i].role != Role::Assistant) continue;
    const auto end = std::remove_if(content.begin(), content.end(), [&](const ContentPart& part) {
      return part.kind == PartKind::ToolCall && answered.count(part.toolCallId) == 0;
    });
    dropped += static_cast<std::size_t>(content.end() - end);
    content.erase(end, content.end());
  }
  // An assistant turn that was only those calls goes with them.
  const auto emptied = std::remove_if(messages.begin(), messages.begin() + static_cast<std::ptrdiff_t>(count), [](const Message& message) {
    return message.role == Role::Assistant && message.content.empty();
  });
  messages.erase(emptied, messages.begin() + static_cast<std::ptrdiff_t>(count));
  return dropped;
}

std::size_t keepLastTurns(std::vector<Message>& messages, std::size_t turns) {
  const auto starts = turnStarts(messages);
  if (turns == 0 || starts.size() <= turns) return 0;
  return dropTurnsBefore(messages, starts, starts.size() - turns);
}

ShapingReport shapeContext(ChatRequest& request, const ContextShaping& shaping) {
  ShapingReport report;
  if (shaping.dropDuplicates) {
    std::unordered_set<std::string_view> seen;
    std::vector<bool> keep;
    for (const auto& prompt : request.system) keep.push_back(seen.insert(prompt).second);
    std::vector<std::string> system;
    for (std::size_t i = 0; i < keep.size(); ++i) {
      if (keep[i]) {
        system.push_back(std::move(request.system[i]));
      } else {
        ++report.duplicatesDropped;
      }
    }
    request.system = std::move(system);
    // A message that repeats the one before it word for word (one of them stays).
    std::vector<Message> messages;
    messages.reserve(request.messages.size());
    for (auto& message : request.messages) {
      if (!messages.empty() && sameContent(message, messages.back())) {
        ++report.duplicatesDropped;
      } else {
        messages.push_back(std::move(message));
      }
    }
    request.messages = std::move(messages);
  }
  // After the repeats are gone, so that a repeated message does not count as a turn.
  if (shaping.keepLastTurns > 0) report.turnsDropped = keepLastTurns(request.messages, shaping.keepLastTurns);
  if (shaping.contextWindowTokens > 0) {
    report.estimatedTokens = estimateInputTokens(request);  // only this step needs it
    const std::int64_t budget =
        shaping.contextWindowTokens - request.maxTokens.value_or(shaping.reservedOutputTokens);
    // Oldest turns first, whole turns only.
    const auto starts = turnStarts(request.messages);
    std::size_t chars = static_cast<std::size_t>(report.estimatedTokens) * 4;
    std::size_t keepFrom = 0;  // the first turn kept
    while (tokensForChars(chars) > budget && keepFrom + 1 < starts.size()) {
      for (std::size_t i = starts[keepFrom]; i < starts[keepFrom + 1]; ++i) {
        chars -= std::min(chars, estimatedChars(request.messages[i]));
      }
      ++keepFrom;
    }
    report.turnsTrimmed = dropTurnsBefore(request.messages, starts, keepFrom);
    if (report.turnsTrimmed > 0) report.estimatedTokens = estimateInputTokens(request);
    report.overWindow = report.estimatedTokens > budget;
  }
  return report;
}

std::string ShapingReport::summary(const ContextShaping& shaping) const {
  std::string out;
  const auto separate = [&out] {
    if (!out.empty()) out += ", ";
  };
  if (shaping.dropDuplicates) {
    separate();
    appendField(out, "dedupe", "dropped", duplicatesDropped);
  }
  if (shaping.keepLastTurns > 0) {
    separate();
    appendField(out, "last_turns", "dropped", turnsDropped);
  }
  if (shaping.contextWindowTokens > 0) {
    separate();
    appendField(out, "fit", "trimmed", turnsTrimmed);
    out += ";tokens=" + std::to_string(estimatedTokens);
    if (overWindow) out += ";over_window";
  }
  return out;
}

}  // namespace llmgate::core
