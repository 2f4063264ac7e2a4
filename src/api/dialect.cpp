#include "llmgate/api/dialect.hpp"

#include <nlohmann/json.hpp>

#include "llmgate/api/anthropic_codec.hpp"
#include "llmgate/api/openai_codec.hpp"
#include "llmgate/core/json_read.hpp"

namespace llmgate::api {

core::Dialect dialectForPath(std::string_view path) {
  return path.rfind("/v1/messages", 0) == 0 ? core::Dialect::Anthropic : core::Dialect::OpenAi;
}

std::unique_ptr<StreamWriter> makeStreamWriter(core::Dialect dialect, std::string id, std::string model,
                                               bool includeUsage) {
  if (dialect == core::Dialect::Anthropic) return std::make_unique<anthropic::StreamEncoder>(std::move(id), std::move(model));
  return std::make_unique<openai::StreamEncoder>(std::move(id), std::move(model), 0, includeUsage);
}

std::string encodeResponse(core::Dialect dialect, const core::ChatResponse& response) {
  if (dialect == core::Dialect::Anthropic) return anthropic::encodeResponse(response);
  return openai::encodeResponse(response);
}

std::string encodeError(core::Dialect dialect, const core::GatewayError& error) {
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
