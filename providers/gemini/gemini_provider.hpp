// `gemini` provider: Google's Generative Language API (generateContent and
// streamGenerateContent?alt=sse), authenticated with x-goog-api-key. Every client dialect is
// translated through the IR.
#pragma once

#include "llmgate/providers/provider.hpp"

namespace llmgate::providers::gemini {

class GeminiProvider : public Provider {
 public:
  explicit GeminiProvider(const config::ProviderConfig& config);

  core::Result<upstream::Request> encodeRequest(const core::ChatRequest& request, const std::string& upstreamModel,
                                              const ClientHints& hints) const override;
  std::unique_ptr<ResponseDecoder> makeDecoder(const core::ChatRequest& request) const override;
  core::GatewayError decodeError(int status, std::string_view body) const override;
  std::optional<upstream::Request> modelListRequest() const override;
  /// `models[].name` ("models/gemini-2.5-flash") of the models that answer generateContent.
  std::vector<std::string> decodeModelList(std::string_view body) const override;

 protected:
  std::string authHeader(const std::string& key) const override;

 private:
  std::string base_;
};

std::unique_ptr<Provider> create(const config::ProviderConfig& config);

}  // namespace llmgate::providers::gemini
