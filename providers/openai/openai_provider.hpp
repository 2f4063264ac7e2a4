// `openai` provider: any upstream that speaks OpenAI Chat Completions (OpenAI, DeepSeek,
// DashScope compatible mode, Zhipu v4, vLLM, Ollama, ...). OpenAI clients take the fast path.
#pragma once

#include "llmgate/providers/provider.hpp"

namespace llmgate::providers::openai {

class OpenAiProvider : public Provider {
 public:
  explicit OpenAiProvider(const config::ProviderConfig& config);

  std::optional<core::Dialect> passthroughDialect() const override { return core::Dialect::OpenAi; }
  UpstreamRequest passthroughRequest(std::string body, bool stream, const ClientHints& hints) const override;
  core::Result<UpstreamRequest> encodeRequest(const core::ChatRequest& request, const std::string& upstreamModel,
                                              const ClientHints& hints) const override;
  std::unique_ptr<ResponseDecoder> makeDecoder(bool stream) const override;
  core::GatewayError decodeError(int status, std::string_view body) const override;
  std::string authHeader(const std::string& key) const override;

 private:
  std::string url_;
};

std::unique_ptr<Provider> create(const config::ProviderConfig& config);

}  // namespace llmgate::providers::openai
