#include "llmgate/core/chat.hpp"

#include "llmgate/core/json_read.hpp"

namespace llmgate::core {

ContentPart ContentPart::makeText(std::string text) {
  ContentPart part;
  part.kind = PartKind::Text;
  part.text = std::move(text);
  return part;
}

ContentPart ContentPart::makeToolCall(std::string id, std::string name, std::string arguments) {
  ContentPart part;
  part.kind = PartKind::ToolCall;
  part.toolCallId = std::move(id);
  part.toolName = std::move(name);
  part.arguments = std::move(arguments);
  return part;
}

ContentPart ContentPart::makeToolResult(std::string toolCallId, std::string text) {
  ContentPart part;
  part.kind = PartKind::ToolResult;
  part.toolCallId = std::move(toolCallId);
  part.text = std::move(text);
  return part;
}

std::string Message::joinedText() const {
  std::string out;
  for (const auto& part : content) {
    if (part.kind == PartKind::Text) out += part.text;
  }
  return out;
}

std::optional<std::int64_t> thinkingBudgetForEffort(std::string_view effort) {
  if (effort == "minimal") return 512;
  if (effort == "low") return 1024;
  if (effort == "medium") return 8192;
  if (effort == "high") return 24576;
  if (effort == "max") return 32768;
  return std::nullopt;
}

std::string ChatRequest::lastUserPrompt() const {
  for (auto message = messages.rbegin(); message != messages.rend(); ++message) {
    if (message->role != Role::User) continue;
    for (auto part = message->content.rbegin(); part != message->content.rend(); ++part) {
      if (part->kind == PartKind::Text) return part->text;
    }
    return {};
  }
  return {};
}

ChatEvent ChatEvent::start(std::string id, std::string model) {
  ChatEvent event;
  event.kind = EventKind::Start;
  event.id = std::move(id);
  event.name = std::move(model);
  return event;
}

ChatEvent ChatEvent::textDelta(std::string text, int choice) {
  ChatEvent event;
  event.kind = EventKind::TextDelta;
  event.text = std::move(text);
  event.choice = choice;
  return event;
}

ChatEvent ChatEvent::toolCallStart(int toolIndex, std::string id, std::string name, int choice) {
  ChatEvent event;
  event.kind = EventKind::ToolCallStart;
  event.toolIndex = toolIndex;
  event.id = std::move(id);
  event.name = std::move(name);
  event.choice = choice;
  return event;
}

ChatEvent ChatEvent::toolCallDelta(int toolIndex, std::string fragment, int choice) {
  ChatEvent event;
  event.kind = EventKind::ToolCallDelta;
  event.toolIndex = toolIndex;
  event.text = std::move(fragment);
  event.choice = choice;
  return event;
}

ChatEvent ChatEvent::finished(FinishReason reason, int choice) {
  ChatEvent event;
  event.kind = EventKind::Finish;
  event.finish = reason;
  event.choice = choice;
  return event;
}

ChatEvent ChatEvent::usageReport(const Usage& usage) {
  ChatEvent event;
  event.kind = EventKind::UsageReport;
  event.usage = usage;
  event.usage.present = true;
  return event;
}

std::size_t estimatedChars(const Message& message) {
  std::size_t chars = 0;
  for (const auto& part : message.content) chars += part.text.size() + part.arguments.size() + part.toolName.size();
  return chars;
}

std::int64_t tokensForChars(std::size_t chars) { return static_cast<std::int64_t>((chars + 3) / 4); }

std::int64_t estimateInputTokens(const ChatRequest& request) {
  std::size_t chars = 0;
  for (const auto& system : request.system) chars += system.size();
  for (const auto& message : request.messages) chars += estimatedChars(message);
  for (const auto& tool : request.tools) chars += tool.name.size() + tool.description.size() + core::dumpJson(tool.parameters).size();
  return tokensForChars(chars);
}

std::vector<ChatEvent> toEvents(const ChatResponse& response) {
  std::vector<ChatEvent> events;
  events.push_back(ChatEvent::start(response.id, response.model));
  for (const auto& choice : response.choices) {
    if (!choice.thinking.empty()) {
      ChatEvent thinking = ChatEvent::textDelta(choice.thinking, choice.index);
      thinking.kind = EventKind::ThinkingDelta;
      events.push_back(std::move(thinking));
    }
    if (!choice.thinkingSignature.empty()) {
      ChatEvent signature = ChatEvent::textDelta(choice.thinkingSignature, choice.index);
      signature.kind = EventKind::SignatureDelta;
      events.push_back(std::move(signature));
    }
    if (!choice.text.empty()) events.push_back(ChatEvent::textDelta(choice.text, choice.index));
    if (!choice.refusal.empty()) {
      ChatEvent refusal = ChatEvent::textDelta(choice.refusal, choice.index);
      refusal.kind = EventKind::RefusalDelta;
      events.push_back(std::move(refusal));
    }
    for (std::size_t i = 0; i < choice.toolCalls.size(); ++i) {
      const auto& call = choice.toolCalls[i];
      const int index = static_cast<int>(i);
      events.push_back(ChatEvent::toolCallStart(index, call.id, call.name, choice.index));
      events.push_back(ChatEvent::toolCallDelta(index, call.arguments, choice.index));
      ChatEvent end;
      end.kind = EventKind::ToolCallEnd;
      end.toolIndex = index;
      end.choice = choice.index;
      events.push_back(std::move(end));
    }
    events.push_back(ChatEvent::finished(choice.finish, choice.index));
  }
  if (response.usage.present) events.push_back(ChatEvent::usageReport(response.usage));
  return events;
}

Choice& ResponseAccumulator::choice(int index) {
  for (auto& c : response_.choices) {
    if (c.index == index) return c;
  }
  response_.choices.push_back(Choice{});
  response_.choices.back().index = index;
  return response_.choices.back();
}

void ResponseAccumulator::add(const ChatEvent& event) {
  switch (event.kind) {
    case EventKind::Start:
      if (!event.id.empty()) response_.id = event.id;
      if (!event.name.empty()) response_.model = event.name;
      break;
    case EventKind::TextDelta:
      choice(event.choice).text += event.text;
      break;
    case EventKind::ThinkingDelta:
      choice(event.choice).thinking += event.text;
      break;
    case EventKind::SignatureDelta:
      choice(event.choice).thinkingSignature += event.text;
      break;
    case EventKind::RefusalDelta:
      choice(event.choice).refusal += event.text;
      break;
    case EventKind::ToolCallStart: {
      auto& calls = choice(event.choice).toolCalls;
      if (calls.size() <= static_cast<std::size_t>(event.toolIndex)) calls.resize(event.toolIndex + 1);
      calls[event.toolIndex].id = event.id;
      calls[event.toolIndex].name = event.name;
      break;
    }
    case EventKind::ToolCallDelta: {
      auto& calls = choice(event.choice).toolCalls;
      if (calls.size() <= static_cast<std::size_t>(event.toolIndex)) calls.resize(event.toolIndex + 1);
      calls[event.toolIndex].arguments += event.text;
      break;
    }
    case EventKind::ToolCallEnd:
      break;
    case EventKind::Finish:
      choice(event.choice).finish = event.finish;
      break;
    case EventKind::UsageReport:
      response_.usage = event.usage;
      response_.usage.present = true;
      break;
  }
}

}  // namespace llmgate::core
