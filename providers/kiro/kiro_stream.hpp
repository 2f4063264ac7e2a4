// CodeWhisperer's event stream -> IR events (README.md, "Answer"). Every text delta is emitted as
// soon as its frame is complete; tool-use fragments are assembled per toolUseId; exception and
// error frames end the answer with a mapped error; unknown events are skipped.
#pragma once

#include <map>
#include <string>

#include "llmgate/core/json_read.hpp"
#include "llmgate/providers/provider.hpp"
#include "llmgate/stream/event_stream_parser.hpp"

namespace llmgate::providers::kiro {

/// Maps an exception frame or an error response to an error (ThrottlingException -> 429,
/// ValidationException -> 400, AccessDeniedException -> 403, ...).
core::GatewayError exceptionError(std::string_view exceptionType, std::string_view message, int httpStatus = 0);

class KiroDecoder : public ResponseDecoder {
 public:
  /// `request` gives the tool names to map back and the input-token estimate; usage from
  /// `contextUsageEvent` is `contextWindow` x percentage (an estimate, as Kiro reports no counts).
  KiroDecoder(const core::ChatRequest& request, std::int64_t contextWindow);

  std::optional<core::GatewayError> feed(std::string_view bytes, std::vector<core::ChatEvent>& out) override;
  std::optional<core::GatewayError> finish(std::vector<core::ChatEvent>& out) override;

 private:
  std::optional<core::GatewayError> onMessage(const stream::EventStreamMessage& message, std::vector<core::ChatEvent>& out);
  struct OpenTool {
    int index = 0;
    bool sentArguments = false;
    bool closed = false;
  };
  void onToolUse(const core::FieldReader& event, std::vector<core::ChatEvent>& out);
  void closeTool(OpenTool& tool, std::vector<core::ChatEvent>& out);
  void start(std::vector<core::ChatEvent>& out);

  stream::EventStreamParser parser_;
  std::map<std::string, std::string> toolNames_;  // shortened -> the client's name
  std::map<std::string, OpenTool> tools_;  // by toolUseId
  int nextTool_ = 0;
  bool started_ = false;
  bool calledTools_ = false;
  std::int64_t contextWindow_;
  std::int64_t estimatedInput_;
  std::size_t outputChars_ = 0;
  core::Usage reported_;  // from messageMetadataEvent.tokenUsage, when Kiro sends it
  double contextPercent_ = -1;
};

}  // namespace llmgate::providers::kiro
