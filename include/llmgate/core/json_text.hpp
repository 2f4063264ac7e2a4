// Hand-rolled JSON text helpers for hot paths (stream chunks), where building a DOM per
// chunk would dominate the cost.
#pragma once

#include <string>
#include <string_view>

namespace llmgate::core {

/// Appends `text` as a quoted JSON string (RFC 8259 escaping; invalid UTF-8 passes through).
void appendJsonString(std::string& out, std::string_view text);

}  // namespace llmgate::core
