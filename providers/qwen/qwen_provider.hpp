// `qwen` provider: Alibaba Qwen, OpenAI-compatible. Two ways in:
//  - DashScope compatible mode with an API key (China or international region);
//  - Qwen Code OAuth accounts (~/.qwen/oauth_creds.json): each file is a credential whose
//    `resource_url` is its API base; tokens are refreshed in the background before they expire
//    and written back to the file.
#pragma once

#include "llmgate/auth/oauth_account.hpp"
#include "providers/openai/openai_provider.hpp"

namespace llmgate::providers::qwen {

/// A Qwen Code OAuth credential file and its refresh grant.
class QwenAccount : public auth::OAuthAccount {
 public:
  QwenAccount(std::string label, std::string path, std::chrono::milliseconds refreshLead, std::string tokenUrl,
              std::string clientId);
  upstream::Request refreshRequest(const auth::OAuthToken& current) const override;
  core::Result<auth::OAuthToken> readRefreshAnswer(const auth::OAuthToken& current,
                                                   const nlohmann::json& answer) const override;
  /// `{base}/chat/completions` of this account: its resource_url (https:// and /v1 added when
  /// missing), else `fallbackBase`.
  std::string chatUrl(const auth::OAuthToken& token, const std::string& fallbackBase) const;

 protected:
  std::string readFile(const nlohmann::json& document, auth::OAuthToken& out) const override;
  void writeFile(auth::OAuthToken& token) const override;

 private:
  std::string tokenUrl_;
  std::string clientId_;
};

class QwenProvider : public openai::OpenAiProvider {
 public:
  explicit QwenProvider(const config::ProviderConfig& config);

  std::size_t credentialCount() const override;
  void authorize(std::size_t index, upstream::Request& request) const override;
  const auth::OAuthAccount* account(std::size_t index) const override;
  std::vector<std::shared_ptr<auth::OAuthAccount>> accounts() const override;

 protected:
  void adaptRequest(const core::ChatRequest& request, nlohmann::json& body) const override;

 private:
  std::vector<std::shared_ptr<QwenAccount>> accounts_;
  std::string oauthFallbackBase_;
};

std::unique_ptr<Provider> create(const config::ProviderConfig& config);

}  // namespace llmgate::providers::qwen
