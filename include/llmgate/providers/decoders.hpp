// The two shapes an upstream body comes in, shared by the provider adapters: one JSON document
// (buffered, decoded at the end) or a stream of SSE events (decoded as they complete).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <nlohmann/json.hpp>

#include "llmgate/core/json_read.hpp"
#include "llmgate/providers/provider.hpp"
#include "llmgate/stream/sse_parser.hpp"

namespace llmgate::providers {

/// A non-streaming body: buffered, then `decode` turns the document into a response. A
/// `decodeText` reads the usual answer from its text instead, without a document; what it
/// declines (nullopt) goes to `decode`.
class JsonBodyDecoder : public ResponseDecoder {
 public:
  using Decode = core::Result<core::ChatResponse> (*)(const nlohmann::json&);
  using DecodeText = std::optional<core::ChatResponse> (*)(std::string_view);
  explicit JsonBodyDecoder(Decode decode, DecodeText decodeText = nullptr) : decode_(decode), decodeText_(decodeText) {}

  /// Larger answers are refused: a chat answer is far smaller, and the buffer must be bounded.
  static constexpr std::size_t kMaxBodyBytes = 64 * 1024 * 1024;

  std::optional<core::GatewayError> feed(std::string_view bytes, std::vector<core::ChatEvent>&) override {
    if (body_.size() + bytes.size() > kMaxBodyBytes) {
      return core::GatewayError::make(core::ErrorKind::Protocol, "upstream_response_too_large",
                                      "upstream response is larger than 64 MiB");
    }
    body_.append(bytes);
    return std::nullopt;
  }

  std::optional<core::GatewayError> finish(std::vector<core::ChatEvent>& out) override {
    if (decodeText_ != nullptr) {
      if (auto response = decodeText_(body_)) {
        for (auto& event : core::toEvents(*response)) out.push_back(std::move(event));
        return std::nullopt;
      }
    }
    const nlohmann::json body = core::parseJson(body_);
    if (body.is_discarded()) {
      return core::GatewayError::make(core::ErrorKind::Protocol, "upstream_malformed_response",
                                      "upstream response is not JSON");
    }
    auto response = decode_(body);
    if (!response.ok()) return response.error();
    for (auto& event : core::toEvents(response.value())) out.push_back(std::move(event));
    return std::nullopt;
  }

 private:
  Decode decode_;
  DecodeText decodeText_;
  std::string body_;
};

/// A streaming body of SSE events. `Handler` provides
///   std::optional<GatewayError> onEvent(std::string_view type, std::string_view data, std::vector<ChatEvent>&)
///   std::optional<GatewayError> onEnd(std::vector<ChatEvent>&)
template <class Handler>
class SseDecoder : public ResponseDecoder {
 public:
  std::optional<core::GatewayError> feed(std::string_view bytes, std::vector<core::ChatEvent>& out) override {
    std::optional<core::GatewayError> failure;
    parser_.feed(bytes, [&](const stream::SseEvent& event) {
      if (!failure) failure = handler_.onEvent(event.type, event.data, out);
    });
    if (!failure && parser_.overflowed()) {
      failure = core::GatewayError::make(core::ErrorKind::Protocol, "upstream_event_too_large",
                                         "upstream stream event is larger than the limit");
    }
    return failure;
  }

  std::optional<core::GatewayError> finish(std::vector<core::ChatEvent>& out) override { return handler_.onEnd(out); }

 private:
  stream::SseParser parser_;
  Handler handler_;
};

/// Parses an event's data as JSON, or gives the error for a malformed one.
inline std::optional<core::GatewayError> parseEventJson(std::string_view data, nlohmann::json& out) {
  out = core::parseJson(data);
  if (!out.is_discarded()) return std::nullopt;
  return core::GatewayError::make(core::ErrorKind::Protocol, "upstream_malformed_chunk",
                                  "upstream stream event is not JSON");
}

}  // namespace llmgate::providers
