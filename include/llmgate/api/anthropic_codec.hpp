// The Anthropic Messages format as llmgate's clients speak it: decode /v1/messages requests,
// encode messages, event streams and errors. (Talking to Claude is
// providers/anthropic/anthropic_codec.hpp.) Pure functions: no I/O.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "llmgate/api/dialect.hpp"
#include "llmgate/core/chat.hpp"
#include "llmgate/core/error.hpp"
#include "llmgate/core/result.hpp"

namespace llmgate::api::anthropic {

/// Decodes a parsed /v1/messages body. Errors are 400s naming the offending field.
/// count_tokens bodies have no max_tokens: pass `requireMaxTokens = false`. `earlier` are turns
/// the gateway puts before these (a session): tool results may answer their tool calls.
core::Result<core::ChatRequest> decodeRequest(const nlohmann::json& body, bool requireMaxTokens = true,
                                              const std::vector<core::Message>& earlier = {});

/// Encodes a Message object (choice 0).
std::string encodeResponse(const core::ChatResponse& response);

/// Encodes {"type":"error","error":{"type","message"}}.
std::string encodeError(const core::GatewayError& error);

/// The error `type` Anthropic uses for `error` (invalid_request_error, overloaded_error, ...).
std::string_view errorType(const core::GatewayError& error);

/// Turns ChatEvents into the Messages event stream: message_start, content_block_start /
/// _delta / _stop per block, message_delta with stop_reason and usage, message_stop.
class StreamEncoder : public StreamWriter {
 public:
  StreamEncoder(std::string id, std::string model);

  void encode(const core::ChatEvent& event, std::string& out) override;
  void finish(std::string& out) override;
  /// `event: error` frame.
  void encodeError(const core::GatewayError& error, std::string& out) override;

 private:
  enum class Block { None, Text, Thinking, ToolUse };
  void ensureStarted(std::string& out);
  void openBlock(Block kind, std::string& out, const core::ChatEvent* toolStart = nullptr);
  void closeBlock(std::string& out);
  void event(std::string_view name, const std::string& json, std::string& out);

  std::string id_;
  std::string model_;
  bool started_ = false;
  bool finished_ = false;
  Block block_ = Block::None;
  int blockIndex_ = -1;
  core::FinishReason stop_ = core::FinishReason::None;
  core::Usage usage_;
};

}  // namespace llmgate::api::anthropic
