#include "providers/mock/mock_provider.hpp"

#include <sstream>

#include "llmgate/core/json_read.hpp"

namespace llmgate::providers::mock {
namespace {

using nlohmann::json;

// A sample value for a JSON Schema type, so mock tool arguments validate against simple schemas.
// Schemas are the client's: any member may have any type ("type" may be a list of types).
json sampleFor(const json& schema) {
  std::optional<core::TypeMismatch> ignored;
  core::FieldReader fields(schema, "", ignored);
  if (const json* choices = fields.array("enum"); choices != nullptr && !choices->empty()) return choices->front();
  std::string type = "string";
  if (const json* given = fields.member("type")) {
    if (given->is_string()) {
      type = given->get_ref<const std::string&>();
    } else if (given->is_array() && !given->empty() && given->front().is_string()) {
      type = given->front().get_ref<const std::string&>();
    }
  }
  if (type == "integer" || type == "number") return 1;
  if (type == "boolean") return true;
  if (type == "array") return json::array();
  if (type == "object") return json::object();
  return "mock";
}

std::string mockArguments(const core::Tool& tool) {
  json args = json::object();
  std::optional<core::TypeMismatch> ignored;
  core::FieldReader schema(tool.parameters, "", ignored);
  const json* required = schema.array("required");
  const json* properties = schema.object("properties");
  if (required != nullptr && properties != nullptr) {
    for (const auto& name : *required) {
      if (!name.is_string()) continue;
      const auto& key = name.get_ref<const std::string&>();
      const json* property = core::FieldReader(*properties, "", ignored).member(key);
      args[key] = sampleFor(property != nullptr ? *property : json::object());
    }
  }
  return core::dumpJson(args);
}

std::vector<std::string> splitWords(const std::string& text) {
  std::vector<std::string> words;
  std::istringstream in(text);
  for (std::string word; in >> word;) words.push_back(std::move(word));
  return words;
}

}  // namespace

MockProvider::MockProvider(const config::ProviderConfig& config) : Provider(config) {
  config::JsonReader reader(config.block, "providers." + config.name);
  reader.rejectUnknownKeys({"name", "type", "enabled", "models", "model_map", "latency_ms", "chunk_count",
                            "chunk_delay_ms", "reply", "tool_calls"});
  const std::string toolCalls = reader.string("tool_calls", "when_asked");
  if (toolCalls != "when_asked" && toolCalls != "always") reader.fail("tool_calls", "must be \"when_asked\" or \"always\"");
  alwaysCallTools_ = toolCalls == "always";
  latency_ = std::chrono::milliseconds(reader.integer("latency_ms", 0, 0, 600000));
  chunkDelay_ = std::chrono::milliseconds(reader.integer("chunk_delay_ms", 0, 0, 600000));
  chunkCount_ = reader.integer("chunk_count", 8, 1, 100000);
  fixedReply_ = reader.string("reply", "");
}

const core::Tool* MockProvider::toolToCall(const core::ChatRequest& request) const {
  if (request.tools.empty()) return nullptr;
  using Mode = core::ToolChoice::Mode;
  const Mode mode = request.toolChoice ? request.toolChoice->mode : Mode::Auto;
  if (mode == Mode::None) return nullptr;
  if (mode == Mode::Function) {
    for (const auto& tool : request.tools) {
      if (tool.name == request.toolChoice->functionName) return &tool;
    }
  }
  if (mode == Mode::Required || mode == Mode::Function || alwaysCallTools_) return &request.tools.front();
  // Like a model that answers: a tool only when the user asks for one by name, so that agents
  // (Claude Code, Codex) get an answer and stop instead of calling tools in a loop. Only the
  // turn's last text counts: agents put long reminders that name every tool before the prompt.
  const std::string said = request.lastUserPrompt();
  for (const auto& tool : request.tools) {
    if (said.find(tool.name) != std::string::npos) return &tool;
  }
  return nullptr;
}

std::optional<LocalReply> MockProvider::respondLocally(const core::ChatRequest& request,
                                                       const std::string& model) const {
  LocalReply reply;
  reply.firstEventDelay = latency_;
  reply.eventInterval = chunkDelay_;
  reply.events.push_back(core::ChatEvent::start("", model));

  core::Usage usage;
  usage.inputTokens = core::estimateInputTokens(request);

  const bool lastIsToolResult = !request.messages.empty() && request.messages.back().role == core::Role::Tool;
  if (const core::Tool* tool = lastIsToolResult ? nullptr : toolToCall(request)) {
    const std::string arguments = mockArguments(*tool);
    reply.events.push_back(core::ChatEvent::toolCallStart(0, "call_mock_" + tool->name, tool->name));
    // Arguments arrive in fragments, as real upstreams send them.
    const std::size_t pieces = static_cast<std::size_t>(std::max<std::int64_t>(1, std::min<std::int64_t>(chunkCount_, 4)));
    const std::size_t step = (arguments.size() + pieces - 1) / pieces;
    for (std::size_t at = 0; at < arguments.size(); at += step) {
      reply.events.push_back(core::ChatEvent::toolCallDelta(0, arguments.substr(at, step)));
    }
    core::ChatEvent end;
    end.kind = core::EventKind::ToolCallEnd;
    reply.events.push_back(end);
    reply.events.push_back(core::ChatEvent::finished(core::FinishReason::ToolCalls));
    usage.outputTokens = static_cast<std::int64_t>((arguments.size() + 3) / 4);
    reply.events.push_back(core::ChatEvent::usageReport(usage));
    return reply;
  }

  std::string text = fixedReply_;
  if (text.empty()) {
    if (lastIsToolResult) {
      const auto& results = request.messages.back().content;
      text = "Mock reply after tool result: " + (results.empty() ? std::string() : results.front().text);
    } else {
      text = "Hello from the llmgate mock provider. You said: " + core::clipped(request.lastUserPrompt(), 200);
    }
  }
  std::vector<std::string> words = splitWords(text);
  core::FinishReason finish = core::FinishReason::Stop;
  // The mock counts one token per word, so max_tokens truncates by words.
  if (request.maxTokens && static_cast<std::int64_t>(words.size()) > *request.maxTokens) {
    words.resize(static_cast<std::size_t>(*request.maxTokens));
    finish = core::FinishReason::Length;
  }
  const std::size_t chunks = std::min<std::size_t>(static_cast<std::size_t>(chunkCount_), std::max<std::size_t>(1, words.size()));
  for (std::size_t c = 0; c < chunks; ++c) {
    std::string piece;
    for (std::size_t w = c * words.size() / chunks; w < (c + 1) * words.size() / chunks; ++w) {
      if (w > 0) piece.push_back(' ');
      piece += words[w];
    }
    if (!piece.empty()) reply.events.push_back(core::ChatEvent::textDelta(std::move(piece)));
  }
  reply.events.push_back(core::ChatEvent::finished(finish));
  usage.outputTokens = static_cast<std::int64_t>(words.size());
  reply.events.push_back(core::ChatEvent::usageReport(usage));
  return reply;
}

std::unique_ptr<Provider> create(const config::ProviderConfig& config) {
  return std::make_unique<MockProvider>(config);
}

}  // namespace llmgate::providers::mock
