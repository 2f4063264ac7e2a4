// Field readers shared by the client dialect decoders: every wrong field becomes a 400 that
// names it, in the same words whichever dialect the client speaks.
#pragma once

#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "llmgate/core/chat.hpp"
#include "llmgate/core/error.hpp"
#include "llmgate/core/json_read.hpp"

namespace llmgate::api {

inline core::GatewayError fieldError(const std::string& param, const std::string& message,
                                     const char* code = "invalid_request") {
  core::GatewayError error = core::GatewayError::make(core::ErrorKind::InvalidRequest, code, message);
  error.param = param;
  return error;
}

inline std::string typeName(const nlohmann::json& value) { return std::string(core::jsonTypeName(value)); }

/// A member of the wrong JSON type (OpenAI's own API answers these with code invalid_type).
inline core::GatewayError mismatchError(const core::TypeMismatch& mismatch) {
  return fieldError(mismatch.path, mismatch.describe(), "invalid_type");
}

/// A required member that is absent or null.
inline core::GatewayError missingField(const std::string& path) {
  return fieldError(path, path + ": required", "missing_field");
}

/// The error for a required member that was not read: its wrong type when it had one (or an
/// earlier member's), else that it is missing.
inline core::GatewayError requiredError(const std::optional<core::TypeMismatch>& mismatch, const core::FieldReader& fields,
                                        std::string_view key) {
  return mismatch ? mismatchError(*mismatch) : missingField(fields.pathOf(key));
}

/// Copies every member of `body` not named in `mapped` into `extra`.
inline void collectExtras(const nlohmann::json& body, std::initializer_list<const char*> mapped, nlohmann::json& extra) {
  for (const auto& [key, value] : body.items()) {
    bool known = false;
    for (const char* name : mapped) known = known || key == name;
    if (!known) extra[key] = value;
  }
}

/// Reads a content that is a string (one text part) or an array of typed part objects, as both
/// OpenAI dialects send it: a string goes to `parts` as text; each part object goes to
/// `onPart(fields, type, mismatch)`, which appends what it reads to `parts` or returns the error
/// for it. Every error names the part.
template <class OnPart>
std::optional<core::GatewayError> readTypedParts(const nlohmann::json& content, const std::string& path,
                                                 std::vector<core::ContentPart>& parts, OnPart&& onPart) {
  if (content.is_string()) {
    parts.push_back(core::ContentPart::makeText(content.get_ref<const std::string&>()));
    return std::nullopt;
  }
  if (!content.is_array()) {
    return fieldError(path, path + ": expected string or array of content parts, got " + typeName(content));
  }
  std::optional<core::TypeMismatch> mismatch;
  for (std::size_t i = 0; i < content.size(); ++i) {
    const nlohmann::json& part = content[i];
    const std::string partPath = path + "[" + std::to_string(i) + "]";
    if (!part.is_object()) return fieldError(partPath, partPath + ": expected a content part object, got " + typeName(part));
    core::FieldReader fields(part, partPath, mismatch);
    const std::string* type = fields.string("type");
    if (type == nullptr) return requiredError(mismatch, fields, "type");
    if (auto error = onPart(fields, *type, mismatch)) return error;
  }
  return std::nullopt;
}

/// The error for a part type a dialect does not take at this place.
inline core::GatewayError unsupportedPart(const core::FieldReader& fields, const std::string& type) {
  return fieldError(fields.pathOf("type"),
                    fields.pathOf("type") + ": content part type \"" + core::clipped(type) + "\" is not supported here");
}

/// The string forms of a tool choice both OpenAI dialects take ("auto", "none", "required").
inline std::optional<core::ToolChoice::Mode> toolChoiceMode(std::string_view mode) {
  if (mode == "auto") return core::ToolChoice::Mode::Auto;
  if (mode == "none") return core::ToolChoice::Mode::None;
  if (mode == "required") return core::ToolChoice::Mode::Required;
  return std::nullopt;
}

/// A function tool's name, description, parameters and strict flag, read from `fields` (the
/// tool object in the Responses API, its `function` member in Chat Completions).
inline std::optional<core::GatewayError> readFunctionTool(const core::FieldReader& fields,
                                                          const std::optional<core::TypeMismatch>& mismatch,
                                                          core::ChatRequest& request) {
  const std::string* name = fields.string("name");
  if (name == nullptr) return requiredError(mismatch, fields, "name");
  core::Tool out;
  out.name = *name;
  out.description = fields.stringOr("description");
  if (const nlohmann::json* parameters = fields.object("parameters")) out.parameters = *parameters;
  out.strict = fields.boolean("strict");
  if (mismatch) return mismatchError(*mismatch);
  request.tools.push_back(std::move(out));
  return std::nullopt;
}

/// An OpenAI reasoning effort ("none", "minimal", "low", "medium", "high"): kept as said, and as
/// a thinking budget for the upstreams that take one.
inline void applyReasoningEffort(const std::string& effort, core::ChatRequest& request) {
  request.reasoningEffort = effort;
  request.thinking = effort == "none" ? core::ThinkingConfig{false, std::nullopt}
                                      : core::ThinkingConfig{true, core::thinkingBudgetForEffort(effort).value_or(8192)};
}

}  // namespace llmgate::api
