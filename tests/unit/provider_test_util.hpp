// Building a provider from a config block and running bytes through its response decoder, as
// the Exchange does, for the provider adapters' unit tests.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "llmgate/api/anthropic_codec.hpp"
#include "llmgate/api/openai_codec.hpp"
#include "llmgate/config/config.hpp"
#include "llmgate/providers/provider.hpp"

namespace llmgate::testing {

/// A provider built from one config block (no environment).
inline std::unique_ptr<providers::Provider> makeProvider(const nlohmann::json& block) {
  const nlohmann::json root{{"providers", {block}}};
  auto config = config::parseConfig(root.dump(), [](const std::string&) { return std::nullopt; });
  return providers::createProvider(config.providers[0], "providers[0]");
}

struct Decoded {
  core::ChatResponse response;
  std::vector<core::ChatEvent> events;
  std::optional<core::GatewayError> error;
};

/// Feeds `body` to a fresh decoder of `provider`, cut at `cuts` (ascending offsets).
inline Decoded decodeWith(const providers::Provider& provider, bool stream, const std::string& body,
                          const std::vector<std::size_t>& cuts = {}) {
  Decoded out;
  auto decoder = provider.makeDecoder(core::ChatRequest{.stream = stream});
  std::size_t from = 0;
  std::vector<std::size_t> ends = cuts;
  ends.push_back(body.size());
  for (std::size_t end : ends) {
    if (!out.error) out.error = decoder->feed(std::string_view(body).substr(from, end - from), out.events);
    from = end;
  }
  if (!out.error) out.error = decoder->finish(out.events);
  core::ResponseAccumulator accumulator;
  for (const auto& event : out.events) accumulator.add(event);
  out.response = accumulator.response();
  return out;
}

inline core::ChatRequest openAiRequest(const std::string& body) {
  auto decoded = api::openai::decodeRequest(nlohmann::json::parse(body));
  EXPECT_TRUE(decoded.ok()) << (decoded.ok() ? "" : decoded.error().message);
  return decoded.ok() ? decoded.value() : core::ChatRequest{};
}

inline core::ChatRequest anthropicRequest(const std::string& body) {
  auto decoded = api::anthropic::decodeRequest(nlohmann::json::parse(body));
  EXPECT_TRUE(decoded.ok()) << (decoded.ok() ? "" : decoded.error().message);
  return decoded.ok() ? decoded.value() : core::ChatRequest{};
}

/// The upstream request the provider sends for `request`, credential 0 applied.
inline upstream::Request encodeWith(const providers::Provider& provider, const core::ChatRequest& request,
                                             const std::string& model) {
  auto encoded = provider.encodeRequest(request, model, {});
  EXPECT_TRUE(encoded.ok()) << (encoded.ok() ? "" : encoded.error().message);
  auto out = encoded.ok() ? encoded.value() : upstream::Request{};
  provider.authorize(0, out);
  return out;
}

// A header the request sends: one of its usual lines or of its own.
inline std::string headerOf(const upstream::Request& request, const std::string& name) {
  for (const auto* lines : {&request.headers, &request.ownHeaders}) {
    for (const auto& line : *lines) {
      if (line.size() > name.size() && strncasecmp(line.c_str(), name.c_str(), name.size()) == 0 && line[name.size()] == ':') {
        return line.substr(name.size() + 2);
      }
    }
  }
  return {};
}

}  // namespace llmgate::testing
