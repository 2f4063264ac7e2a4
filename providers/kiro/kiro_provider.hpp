// `kiro` provider: Claude through Kiro / AWS CodeWhisperer `generateAssistantResponse`, with
// Kiro credential files as accounts (each an endpoint: round robin, cool-down when throttled,
// token refreshed in the background and once on an expired-token 401/403). Every client dialect
// is translated; the answer is the AWS binary event stream, relayed as it is decoded.
#pragma once

#include "llmgate/providers/provider.hpp"
#include "providers/kiro/kiro_account.hpp"

namespace llmgate::providers::kiro {

class KiroProvider : public Provider {
 public:
  explicit KiroProvider(const config::ProviderConfig& config);

  core::Result<upstream::Request> encodeRequest(const core::ChatRequest& request, const std::string& upstreamModel,
                                              const ClientHints& hints) const override;
  std::unique_ptr<ResponseDecoder> makeDecoder(const core::ChatRequest& request) const override;
  core::GatewayError decodeError(int status, std::string_view body) const override;
  std::size_t credentialCount() const override { return std::max<std::size_t>(1, accounts_.size()); }
  void authorize(std::size_t index, upstream::Request& request) const override;
  const auth::OAuthAccount* account(std::size_t index) const override;
  std::vector<std::shared_ptr<auth::OAuthAccount>> accounts() const override;
  bool credentialRejected(const core::GatewayError& error) const override;

 private:
  std::string url_;
  std::vector<std::shared_ptr<KiroAccount>> accounts_;
  std::string socialProfileArn_;  // for social logins whose file has no profileArn
  std::int64_t contextWindow_;
};

std::unique_ptr<Provider> create(const config::ProviderConfig& config);

}  // namespace llmgate::providers::kiro
