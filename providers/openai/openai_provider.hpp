// `openai` provider and the shared base of every OpenAI-compatible provider (deepseek, qwen,
// zhipu, and any vLLM / Ollama / gateway speaking Chat Completions). OpenAI clients take the
// fast path; the types differ only through the hooks below and their config keys.
#pragma once

#include <initializer_list>
#include <string_view>

#include "providers/openai/openai_codec.hpp"
#include "llmgate/providers/provider.hpp"

namespace llmgate::providers::openai {

class OpenAiProvider : public Provider {
 public:
  explicit OpenAiProvider(const config::ProviderConfig& config);

  std::optional<core::Dialect> passthroughDialect() const override { return core::Dialect::OpenAi; }
  upstream::Request passthroughRequest(std::string body, bool stream, const ClientHints& hints) const override;
  core::Result<upstream::Request> encodeRequest(const core::ChatRequest& request, const std::string& upstreamModel,
                                              const ClientHints& hints) const override;
  std::unique_ptr<ResponseDecoder> makeDecoder(const core::ChatRequest& request) const override;
  core::GatewayError decodeError(int status, std::string_view body) const override;
  std::optional<upstream::Request> modelListRequest() const override;

 protected:
  /// For the other OpenAI-compatible types: the base URL used when `base_url` is absent, and
  /// the config keys of their own.
  OpenAiProvider(const config::ProviderConfig& config, std::string_view defaultBaseUrl,
                 std::initializer_list<std::string_view> ownKeys);

  std::string authHeader(const std::string& key) const override;
  /// Hook: a translated body just before it is sent (fields and ranges of this upstream). For
  /// OpenAI itself: the client's thinking as `reasoning_effort` for the reasoning models.
  virtual void adaptRequest(const core::ChatRequest& request, nlohmann::json& body) const;
  /// Hook: a client's body on the fast path; cheap in-place edits only.
  virtual void adaptPassthrough(std::string&) const {}

  /// `{base}/chat/completions` for the configured or default base URL.
  const std::string& url() const { return url_; }
  openai::EncodeOptions encodeOptions_;

 private:
  std::string url_;
};

std::unique_ptr<Provider> create(const config::ProviderConfig& config);

}  // namespace llmgate::providers::openai
