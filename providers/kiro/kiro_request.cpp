#include "providers/kiro/kiro_request.hpp"

#include <cstdio>
#include <map>
#include <regex>
#include <set>

#include "llmgate/core/json_read.hpp"

namespace llmgate::providers::kiro {
namespace {

using core::ErrorKind;
using core::GatewayError;
using nlohmann::json;

constexpr std::size_t kMaxToolName = 64;
constexpr std::size_t kMaxDescription = 9216;
// Kiro wants non-empty content in every message.
constexpr const char* kContinue = "Continue";
constexpr const char* kToolResultsProvided = "Tool results provided.";
constexpr const char* kToolUseOnly = "OK.";

std::uint64_t fnv1a(std::string_view text) {
  std::uint64_t hash = 1469598103934665603ULL;
  for (unsigned char c : text) hash = (hash ^ c) * 1099511628211ULL;
  return hash;
}

std::string hex(std::uint64_t value, int digits) {
  char out[17];
  std::snprintf(out, sizeof out, "%016llx", static_cast<unsigned long long>(value));
  return std::string(out + 16 - digits);
}

// One side of the conversation after merging adjacent turns of the same role.
struct Turn {
  bool user = true;
  std::string text;
  json images = json::array();
  json toolResults = json::array();
  json toolUses = json::array();
  std::set<std::string> resultIds;  // results are deduplicated by toolUseId
};

void appendText(std::string& to, const std::string& text) {
  if (text.empty()) return;
  if (!to.empty()) to += "\n\n";
  to += text;
}

GatewayError badRequest(std::string message) {
  GatewayError error = GatewayError::make(ErrorKind::InvalidRequest, "invalid_request", std::move(message));
  error.param = "messages";
  return error;
}

// {format, source:{bytes}} from a data: URI; Kiro cannot fetch URLs.
core::Result<json> image(const core::ContentPart& part) {
  const std::string& url = part.imageUrl;
  const auto semicolon = url.find(';');
  const auto comma = url.find(',');
  if (url.rfind("data:image/", 0) != 0 || semicolon == std::string::npos || comma == std::string::npos) {
    return badRequest("kiro accepts images as base64 data only, not URLs");
  }
  std::string format = url.substr(11, semicolon - 11);
  if (format == "jpg") format = "jpeg";
  if (format != "png" && format != "jpeg" && format != "gif" && format != "webp") {
    return badRequest("kiro accepts png, jpeg, gif and webp images, not " + format);
  }
  return json{{"format", format}, {"source", {{"bytes", url.substr(comma + 1)}}}};
}

std::string conversationId(const std::vector<Turn>& turns) {
  // Stable for a conversation (its first turn), so the request stays cacheable and Kiro sees
  // one conversation across its turns.
  const std::uint64_t hash = fnv1a(turns.empty() ? std::string_view() : std::string_view(turns.front().text));
  const std::uint64_t second = fnv1a(hex(hash, 16));
  const std::string h = hex(hash, 16) + hex(second, 16);
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-4" + h.substr(13, 3) + "-a" + h.substr(17, 3) + "-" + h.substr(20, 12);
}

json userMessage(const Turn& turn, const std::string& modelId, const json* tools) {
  json message{{"content", turn.text.empty() ? (turn.toolResults.empty() ? kContinue : kToolResultsProvided) : turn.text},
               {"modelId", modelId},
               {"origin", "AI_EDITOR"}};
  if (!turn.images.empty()) message["images"] = turn.images;
  json context = json::object();
  if (!turn.toolResults.empty()) context["toolResults"] = turn.toolResults;
  if (tools != nullptr && !tools->empty()) context["tools"] = *tools;
  if (!context.empty()) message["userInputMessageContext"] = std::move(context);
  return {{"userInputMessage", std::move(message)}};
}

json assistantMessage(const Turn& turn) {
  json message{{"content", turn.text.empty() ? (turn.toolUses.empty() ? kContinue : kToolUseOnly) : turn.text}};
  if (!turn.toolUses.empty()) message["toolUses"] = turn.toolUses;
  return {{"assistantResponseMessage", std::move(message)}};
}

}  // namespace

std::string shortToolName(std::string_view name) {
  if (name.size() <= kMaxToolName) return std::string(name);
  return std::string(name.substr(0, 55)) + "_" + hex(fnv1a(name), 8);
}

std::string kiroModelId(const std::string& model) {
  static const std::map<std::string, std::string> kIds = {
      {"claude-sonnet-4-5", "claude-sonnet-4.5"},
      {"claude-sonnet-4-5-20250929", "claude-sonnet-4.5"},
      {"claude-haiku-4-5", "claude-haiku-4.5"},
      {"claude-haiku-4-5-20251001", "claude-haiku-4.5"},
      {"claude-opus-4-5", "claude-opus-4.5"},
      {"claude-opus-4-5-20251101", "claude-opus-4.5"},
      {"claude-sonnet-4-6", "claude-sonnet-4.6"},
      {"claude-opus-4-6", "claude-opus-4.6"},
      {"claude-sonnet-4", "CLAUDE_SONNET_4_20250514_V1_0"},
      {"claude-sonnet-4-20250514", "CLAUDE_SONNET_4_20250514_V1_0"},
      {"claude-3-7-sonnet-20250219", "CLAUDE_3_7_SONNET_20250219_V1_0"},
  };
  if (auto it = kIds.find(model); it != kIds.end()) return it->second;
  // Newer names follow the same rule: claude-<family>-<major>-<minor>[-<date>] is Kiro's
  // claude-<family>-<major>.<minor> (claude-opus-5-5 -> claude-opus-5.5).
  static const std::regex kVersioned(R"(claude-(opus|sonnet|haiku)-(\d+)-(\d+)(-\d{8})?)");
  std::smatch parts;
  if (std::regex_match(model, parts, kVersioned)) return "claude-" + parts[1].str() + "-" + parts[2].str() + "." + parts[3].str();
  return model;
}

core::Result<json> encodeRequest(const core::ChatRequest& request, const std::string& modelId) {
  std::string system;
  for (const auto& text : request.system) appendText(system, text);
  std::vector<Turn> turns;
  auto turnFor = [&](bool user) -> Turn& {
    if (turns.empty() || turns.back().user != user) {
      turns.emplace_back();
      turns.back().user = user;
    }
    return turns.back();
  };
  for (const auto& message : request.messages) {
    if (message.role == core::Role::System) {
      appendText(system, message.joinedText());
      continue;
    }
    const bool user = message.role != core::Role::Assistant;
    Turn& turn = turnFor(user);
    for (const auto& part : message.content) {
      switch (part.kind) {
        case core::PartKind::Text:
          appendText(turn.text, part.text);
          break;
        case core::PartKind::Image: {
          auto encoded = image(part);
          if (!encoded.ok()) return encoded.error();
          turn.images.push_back(std::move(encoded.value()));
          break;
        }
        case core::PartKind::ToolResult:
          if (turn.resultIds.insert(part.toolCallId).second) {
            turn.toolResults.push_back({{"toolUseId", part.toolCallId},
                                        {"content", {{{"text", part.text.empty() ? std::string("(empty)") : part.text}}}},
                                        {"status", part.isError ? "error" : "success"}});
          }
          break;
        case core::PartKind::ToolCall: {
          json input = core::parseJson(part.arguments.empty() ? "{}" : part.arguments);
          if (!input.is_object()) input = json::object();
          turn.toolUses.push_back({{"toolUseId", part.toolCallId}, {"name", shortToolName(part.toolName)}, {"input", std::move(input)}});
          break;
        }
        case core::PartKind::Thinking:
        case core::PartKind::Refusal:
          break;  // Kiro has no field for them
      }
    }
  }
  if (turns.empty() || !turns.front().user) turns.insert(turns.begin(), Turn{});
  if (!system.empty()) {
    Turn& first = turns.front();
    first.text = first.text.empty() ? system : system + "\n\n" + first.text;
  }
  if (!turns.back().user) turns.emplace_back();  // the current message must be the user's

  json tools = json::array();
  for (const auto& tool : request.tools) {
    std::string description = tool.description.empty() ? tool.name : tool.description;
    if (description.size() > kMaxDescription) description.resize(kMaxDescription);
    json schema = tool.parameters.is_object() ? tool.parameters : json{{"type", "object"}, {"properties", json::object()}};
    tools.push_back({{"toolSpecification",
                      {{"name", shortToolName(tool.name)}, {"description", description}, {"inputSchema", {{"json", schema}}}}}});
  }
  if (request.toolChoice && request.toolChoice->mode == core::ToolChoice::Mode::None) tools = json::array();

  json history = json::array();
  for (std::size_t i = 0; i + 1 < turns.size(); ++i) {
    history.push_back(turns[i].user ? userMessage(turns[i], modelId, nullptr) : assistantMessage(turns[i]));
  }
  json state{{"agentTaskType", "vibe"},
             {"chatTriggerType", "MANUAL"},
             {"conversationId", conversationId(turns)},
             {"currentMessage", userMessage(turns.back(), modelId, &tools)}};
  if (!history.empty()) state["history"] = std::move(history);
  return json{{"conversationState", std::move(state)}};
}

}  // namespace llmgate::providers::kiro
