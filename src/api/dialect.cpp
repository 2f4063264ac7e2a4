#include "llmgate/api/dialect.hpp"

#include <chrono>

#include "llmgate/api/anthropic_codec.hpp"
#include "llmgate/api/openai_codec.hpp"
#include "llmgate/api/responses_codec.hpp"
#include "llmgate/core/json_read.hpp"
#include "llmgate/wire/wire.hpp"

namespace llmgate::api {

using nlohmann::json;

core::Dialect dialectForPath(std::string_view path) {
  if (path.rfind("/v1/messages", 0) == 0) return core::Dialect::Anthropic;
  if (path.rfind("/v1/responses", 0) == 0) return core::Dialect::OpenAiResponses;
  return core::Dialect::OpenAi;
}

std::string_view dialectName(core::Dialect dialect) {
  switch (dialect) {
    case core::Dialect::OpenAi: return "openai";
    case core::Dialect::Anthropic: return "anthropic";
    case core::Dialect::OpenAiResponses: return "responses";
  }
  return "openai";
}

core::Result<core::ChatRequest> decodeRequest(core::Dialect dialect, const nlohmann::json& body,
                                              const std::vector<core::Message>& earlier) {
  switch (dialect) {
    case core::Dialect::OpenAi: return openai::decodeRequest(body);
    case core::Dialect::Anthropic: return anthropic::decodeRequest(body, true, earlier);
    case core::Dialect::OpenAiResponses: return responses::decodeRequest(body);
  }
  return openai::decodeRequest(body);
}

core::Usage decodeUsage(core::Dialect dialect, const nlohmann::json& usage) {
  switch (dialect) {
    case core::Dialect::OpenAi: return wire::openai::decodeUsage(usage);
    case core::Dialect::Anthropic: return wire::anthropic::decodeUsage(usage);
    case core::Dialect::OpenAiResponses: return wire::openai::decodeResponsesUsage(usage);
  }
  return wire::openai::decodeUsage(usage);
}

core::Usage decodeUsageText(core::Dialect dialect, std::string_view usage) {
  switch (dialect) {
    case core::Dialect::OpenAi: return wire::openai::decodeUsageText(usage);
    case core::Dialect::Anthropic: return wire::anthropic::decodeUsageText(usage);
    case core::Dialect::OpenAiResponses: return wire::openai::decodeResponsesUsageText(usage);
  }
  return wire::openai::decodeUsageText(usage);
}

std::string responseId(core::Dialect dialect, std::string_view suffix) {
  switch (dialect) {
    case core::Dialect::OpenAi: return "chatcmpl-" + std::string(suffix);
    case core::Dialect::Anthropic: return "msg_" + std::string(suffix);
    case core::Dialect::OpenAiResponses: return "resp_" + std::string(suffix);
  }
  return std::string(suffix);
}

std::string encodeModelList(core::Dialect dialect, const std::vector<std::pair<std::string, std::string>>& models) {
  using nlohmann::json;
  json data = json::array();
  if (dialect == core::Dialect::Anthropic) {
    for (const auto& [id, owner] : models) {
      data.push_back({{"type", "model"}, {"id", id}, {"display_name", id}, {"created_at", "2024-01-01T00:00:00Z"}});
    }
    json body{{"data", data}, {"has_more", false}, {"first_id", data.empty() ? json(nullptr) : data.front()["id"]},
              {"last_id", data.empty() ? json(nullptr) : data.back()["id"]}};
    return body.dump();
  }
  static const auto kCreated =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  for (const auto& [id, owner] : models) {
    data.push_back({{"id", id}, {"object", "model"}, {"created", kCreated}, {"owned_by", owner}});
  }
  return json{{"object", "list"}, {"data", std::move(data)}}.dump();
}

std::unique_ptr<StreamWriter> makeStreamWriter(core::Dialect dialect, std::string id, std::string model,
                                               bool includeUsage, const json& requestEcho) {
  switch (dialect) {
    case core::Dialect::OpenAi: break;
    case core::Dialect::Anthropic: return std::make_unique<anthropic::StreamEncoder>(std::move(id), std::move(model));
    case core::Dialect::OpenAiResponses:
      return std::make_unique<responses::StreamEncoder>(std::move(id), std::move(model), requestEcho);
  }
  return std::make_unique<openai::StreamEncoder>(std::move(id), std::move(model), 0, includeUsage);
}

std::string encodeResponse(core::Dialect dialect, const core::ChatResponse& response, const json& requestEcho) {
  switch (dialect) {
    case core::Dialect::OpenAi: break;
    case core::Dialect::Anthropic: return anthropic::encodeResponse(response);
    case core::Dialect::OpenAiResponses: return responses::encodeResponse(response, requestEcho);
  }
  return openai::encodeResponse(response);
}

std::string encodeError(core::Dialect dialect, const core::GatewayError& error) {
  // The Responses API answers errors in the Chat Completions shape.
  if (dialect == core::Dialect::Anthropic) return anthropic::encodeError(error);
  return openai::encodeError(error);
}

bool isErrorBody(core::Dialect dialect, std::string_view body) {
  const auto parsed = core::parseJson(body);
  std::optional<core::TypeMismatch> mismatch;
  core::FieldReader fields(parsed, "", mismatch);
  const nlohmann::json* error = fields.object("error");
  if (error == nullptr) return false;
  core::FieldReader detail(*error, "error", mismatch);
  // The client's SDK reads these members as strings: an error body it cannot read is not relayed.
  if (dialect == core::Dialect::Anthropic) {
    return fields.stringOr("type") == "error" && detail.string("type") != nullptr && !mismatch;
  }
  return detail.string("message") != nullptr && !mismatch;
}

}  // namespace llmgate::api
