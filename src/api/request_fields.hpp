// Field readers shared by the client dialect decoders: every wrong field becomes a 400 that
// names it, in the same words whichever dialect the client speaks.
#pragma once

#include <initializer_list>
#include <optional>
#include <string>

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

}  // namespace llmgate::api
