// The OpenAI Chat Completions format as llmgate's clients speak it: decode their requests,
// encode responses, chunks and errors. (Talking to OpenAI-compatible upstreams is
// providers/openai/openai_codec.hpp.) Pure functions: no I/O.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "llmgate/api/dialect.hpp"
#include "llmgate/core/chat.hpp"
#include "llmgate/core/error.hpp"
#include "llmgate/core/json_text.hpp"
#include "llmgate/core/result.hpp"

namespace llmgate::api::openai {

/// Decodes a parsed /v1/chat/completions body. Errors are 400s naming the offending field.
core::Result<core::ChatRequest> decodeRequest(const nlohmann::json& body);

/// Encodes a chat.completion object. `created` is taken from the response when non-zero.
std::string encodeResponse(const core::ChatResponse& response);

/// Encodes {"error":{message,type,param,code}}.
std::string encodeError(const core::GatewayError& error);

/// Turns ChatEvents into `data: {chunk}\n\n` SSE frames, ending with `data: [DONE]`.
/// One per response; not thread-safe.
class StreamEncoder : public StreamWriter {
 public:
  StreamEncoder(std::string id, std::string model, std::int64_t created, bool includeUsage);

  /// Appends the SSE bytes for `event` to `out` (possibly none).
  void encode(const core::ChatEvent& event, std::string& out) override;
  /// Appends the usage chunk (when asked for and known) and `data: [DONE]`.
  void finish(std::string& out) override;
  /// Appends an in-stream error frame `data: {"error":...}` (no [DONE] after it).
  void encodeError(const core::GatewayError& error, std::string& out) override;

 private:
  void beginChunk(std::string& out, int choice);
  void endChunk(std::string& out, std::string_view finishReason = {});
  void ensureRole(int choice, std::string& out);

  std::string prefix_;  // `data: {"id":...,"object":...,"created":...,"model":...,"choices":[`
  bool includeUsage_;
  std::vector<bool> roleSent_;
  core::Usage usage_;
};

}  // namespace llmgate::api::openai
