// A Kiro credential file (README.md, "Credentials"): the Kiro IDE's kiro-auth-token.json, social login
// (Google/GitHub, refreshed by the Kiro auth service) or IdC / Builder ID (refreshed by AWS SSO
// OIDC with the client registration, read from the same file or from <clientIdHash>.json beside it).
#pragma once

#include "llmgate/auth/oauth_account.hpp"

namespace llmgate::providers::kiro {

/// "2025-12-01T11:03:43.000Z" <-> epoch milliseconds (UTC only, as Kiro writes them).
std::optional<std::int64_t> parseIsoTime(const std::string& text);
std::string formatIsoTime(std::int64_t epochMs);

struct RefreshEndpoints {
  std::string social;  ///< empty: https://prod.{region}.auth.desktop.kiro.dev/refreshToken
  std::string oidc;    ///< empty: https://oidc.{idcRegion}.amazonaws.com/token
};

class KiroAccount : public auth::OAuthAccount {
 public:
  KiroAccount(std::string label, std::string path, std::chrono::milliseconds refreshLead, RefreshEndpoints endpoints);

  upstream::Request refreshRequest(const auth::OAuthToken& current) const override;
  core::Result<auth::OAuthToken> readRefreshAnswer(const auth::OAuthToken& current,
                                                   const nlohmann::json& answer) const override;

  /// Whether the file is an IdC / Builder ID login (else social).
  static bool isIdc(const auth::OAuthToken& token);
  /// The profile ARN of the login, empty when it has none (IdC).
  static std::string profileArn(const auth::OAuthToken& token);

 protected:
  std::string readFile(const nlohmann::json& document, auth::OAuthToken& out) const override;
  void writeFile(auth::OAuthToken& token) const override;

 private:
  RefreshEndpoints endpoints_;
  // IdC client id and secret from <clientIdHash>.json, when the token file has none (set by load).
  mutable std::pair<std::string, std::string> registration_;
};

}  // namespace llmgate::providers::kiro
