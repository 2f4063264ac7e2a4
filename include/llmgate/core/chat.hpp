// Neutral intermediate representation shared by every client dialect and provider adapter.
// A superset of the OpenAI and Anthropic request shapes: dialect decoders produce it, provider
// encoders consume it, and provider decoders emit ChatEvents that dialect encoders turn back
// into the client's wire format.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace llmgate::core {

/// The wire format a client speaks (and, for passthrough, the upstream's schema): OpenAI Chat
/// Completions, Anthropic Messages, OpenAI Responses.
enum class Dialect { OpenAi, Anthropic, OpenAiResponses };

enum class Role { System, User, Assistant, Tool };

enum class PartKind { Text, Image, ToolCall, ToolResult, Thinking, Refusal };

/// One typed piece of a message. Only the fields of its kind are meaningful.
struct ContentPart {
  PartKind kind = PartKind::Text;
  std::string text;         ///< Text, Thinking, Refusal, ToolResult (its text content)
  std::string imageUrl;     ///< Image: https URL or data: URI
  std::string imageDetail;  ///< Image: "auto" | "low" | "high" or empty
  std::string toolCallId;   ///< ToolCall, ToolResult
  std::string toolName;     ///< ToolCall
  std::string arguments;    ///< ToolCall: the arguments as JSON text
  std::string signature;    ///< Thinking: provider signature that must survive a round trip
  bool isError = false;     ///< ToolResult: the tool failed

  static ContentPart makeText(std::string text);
  static ContentPart makeToolCall(std::string id, std::string name, std::string arguments);
  static ContentPart makeToolResult(std::string toolCallId, std::string text);
};

struct Message {
  Role role = Role::User;
  std::vector<ContentPart> content;
  std::string name;

  /// Concatenation of the Text parts: what a text-only upstream sees.
  std::string joinedText() const;
};

struct Tool {
  std::string name;
  std::string description;
  nlohmann::json parameters;  ///< JSON Schema; null when the client gave none
  std::optional<bool> strict;
};

struct ToolChoice {
  enum class Mode { Auto, None, Required, Function };
  Mode mode = Mode::Auto;
  std::string functionName;  ///< with Mode::Function
};

/// Extended thinking the client asked for (Anthropic `thinking`, OpenAI `reasoning_effort`).
struct ThinkingConfig {
  bool enabled = false;
  std::optional<std::int64_t> budgetTokens;
};

/// A thinking budget in tokens for an effort level (minimal, low, medium, high, max), for the
/// upstreams that take a budget; nullopt for a level it does not know.
std::optional<std::int64_t> thinkingBudgetForEffort(std::string_view effort);

struct ChatRequest {
  std::string model;
  std::vector<std::string> system;  ///< system / developer instructions given up front, in order
  /// user, assistant and tool turns, and system turns a client put between them (Anthropic's
  /// mid-conversation system messages), in order
  std::vector<Message> messages;
  std::vector<Tool> tools;
  std::optional<ToolChoice> toolChoice;
  std::optional<bool> parallelToolCalls;
  std::optional<std::int64_t> maxTokens;
  std::optional<double> temperature;
  std::optional<double> topP;
  std::optional<std::int64_t> topK;
  std::optional<std::int64_t> seed;
  std::optional<std::int64_t> n;
  std::vector<std::string> stop;
  nlohmann::json responseFormat;  ///< OpenAI response_format object, null when absent
  std::string user;
  std::optional<ThinkingConfig> thinking;
  /// How hard to think, as the client said it (OpenAI `reasoning_effort`: minimal, low, medium,
  /// high; Anthropic `output_config.effort`: low, medium, high, max); empty when it did not.
  std::string reasoningEffort;
  bool stream = false;
  bool includeUsage = false;  ///< stream_options.include_usage
  /// Tools the client offered that only the client's own provider could run (the Responses
  /// API's hosted tools: web_search, file_search, namespaces, ...): left out, named for the log.
  std::vector<std::string> droppedTools;
  /// The Responses API's state on the gateway: the stored response this request continues
  /// (previous_response_id), and whether its answer is kept (store; true unless said false).
  std::string previousResponseId;
  bool store = true;
  nlohmann::json extra = nlohmann::json::object();  ///< client fields no IR field maps
  Dialect sourceDialect = Dialect::OpenAi;           ///< the dialect `extra` belongs to

  /// The last text part of the most recent user turn (clients such as Claude Code put long
  /// reminders before the prompt in the same turn); empty when there is none.
  std::string lastUserPrompt() const;
};

enum class FinishReason { None, Stop, Length, ToolCalls, ContentFilter, Error };

struct Usage {
  std::int64_t inputTokens = 0;  ///< every prompt token, cached ones included (OpenAI's prompt_tokens)
  std::int64_t outputTokens = 0;
  std::int64_t cachedInputTokens = 0;         ///< part of inputTokens read from a prompt cache
  std::int64_t cacheCreationInputTokens = 0;  ///< part of inputTokens written to a prompt cache
  std::int64_t reasoningTokens = 0;
  bool present = false;
};

struct ToolCall {
  std::string id;
  std::string name;
  std::string arguments;  ///< JSON text
};

struct Choice {
  int index = 0;
  std::string text;
  std::string thinking;
  std::string thinkingSignature;
  std::string refusal;
  std::vector<ToolCall> toolCalls;
  FinishReason finish = FinishReason::None;
};

struct ChatResponse {
  std::string id;
  std::string model;
  std::int64_t created = 0;
  std::vector<Choice> choices;
  Usage usage;
};

enum class EventKind {
  Start,           ///< message begins: id, model
  TextDelta,       ///< text
  ThinkingDelta,   ///< text (reasoning)
  SignatureDelta,  ///< text = signature of the thinking so far (Anthropic)
  RefusalDelta,    ///< text
  ToolCallStart,   ///< toolIndex, id, name
  ToolCallDelta,   ///< toolIndex, text = argument fragment
  ToolCallEnd,     ///< toolIndex
  Finish,          ///< finish
  UsageReport,     ///< usage
};

/// One step of a streamed answer. `choice` selects the choice (n > 1); `toolIndex` is the
/// position of the tool call within that choice and is stable for the whole call.
struct ChatEvent {
  EventKind kind = EventKind::TextDelta;
  int choice = 0;
  int toolIndex = 0;
  std::string id;
  std::string name;
  std::string text;
  FinishReason finish = FinishReason::None;
  Usage usage;

  static ChatEvent start(std::string id, std::string model);
  static ChatEvent textDelta(std::string text, int choice = 0);
  static ChatEvent toolCallStart(int toolIndex, std::string id, std::string name, int choice = 0);
  static ChatEvent toolCallDelta(int toolIndex, std::string fragment, int choice = 0);
  static ChatEvent finished(FinishReason reason, int choice = 0);
  static ChatEvent usageReport(const Usage& usage);
};

/// Estimated input tokens of a request, about four characters a token (count_tokens without an
/// upstream counter, the mock's usage, context shaping).
std::int64_t estimateInputTokens(const ChatRequest& request);
/// The characters of `message` that estimateInputTokens counts.
std::size_t estimatedChars(const Message& message);
/// The tokens estimateInputTokens gives for `chars` characters.
std::int64_t tokensForChars(std::size_t chars);

/// The events that, accumulated, give `response` back (used for non-streaming upstreams).
std::vector<ChatEvent> toEvents(const ChatResponse& response);

/// Folds a stream of events into the response a non-streaming client receives.
/// The equivalence "stream assembled == non-stream" rests on this one place.
class ResponseAccumulator {
 public:
  void add(const ChatEvent& event);
  ChatResponse& response() { return response_; }

 private:
  Choice& choice(int index);
  ChatResponse response_;
};

}  // namespace llmgate::core
