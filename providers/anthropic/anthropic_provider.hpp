// `anthropic` provider: the Claude Messages API. Anthropic clients take the fast path (bytes
// untouched but for model and auth); every other client is translated through the IR.
#pragma once

#include "llmgate/providers/provider.hpp"

namespace llmgate::providers::anthropic {

class AnthropicProvider : public Provider {
 public:
  explicit AnthropicProvider(const config::ProviderConfig& config);

  std::optional<core::Dialect> passthroughDialect() const override { return core::Dialect::Anthropic; }
  upstream::Request passthroughRequest(std::string body, bool stream, const ClientHints& hints) const override;
  core::Result<upstream::Request> encodeRequest(const core::ChatRequest& request, const std::string& upstreamModel,
                                              const ClientHints& hints) const override;
  bool countsTokens() const override { return true; }
  upstream::Request countTokensRequest(std::string body, const ClientHints& hints) const override;
  std::unique_ptr<ResponseDecoder> makeDecoder(const core::ChatRequest& request) const override;
  core::GatewayError decodeError(int status, std::string_view body) const override;
  std::optional<upstream::Request> modelListRequest() const override;
  std::string authHeader(const std::string& key) const override;

 private:
  std::vector<std::string> headers(bool stream, const ClientHints& hints) const;
  std::string base_;
  std::string version_;
  std::int64_t defaultMaxTokens_;
};

std::unique_ptr<Provider> create(const config::ProviderConfig& config);

}  // namespace llmgate::providers::anthropic
