#include "providers/qwen/qwen_provider.hpp"

#include "llmgate/config/config.hpp"

namespace llmgate::providers::qwen {
namespace {

using nlohmann::json;

constexpr const char* kChinaBase = "https://dashscope.aliyuncs.com/compatible-mode/v1";
constexpr const char* kInternationalBase = "https://dashscope-intl.aliyuncs.com/compatible-mode/v1";
constexpr const char* kPortalBase = "https://portal.qwen.ai/v1";
constexpr const char* kTokenUrl = "https://chat.qwen.ai/api/v1/oauth2/token";
constexpr const char* kClientId = "f0304373b74a44d2b584a3fb70ca9e56";  // qwen-code's public client id

std::string defaultBase(const config::ProviderConfig& config) {
  config::JsonReader reader(config.block, "providers." + config.name);
  const std::string region = reader.string("region", "intl");
  if (region != "intl" && region != "cn") reader.fail("region", "must be \"intl\" or \"cn\"");
  return region == "cn" ? kChinaBase : kInternationalBase;
}

}  // namespace

QwenAccount::QwenAccount(std::string label, std::string path, std::chrono::milliseconds refreshLead,
                         std::string tokenUrl, std::string clientId)
    : OAuthAccount(std::move(label), std::move(path), refreshLead),
      tokenUrl_(std::move(tokenUrl)),
      clientId_(std::move(clientId)) {}

std::string QwenAccount::readFile(const json& document, auth::OAuthToken& out) const {
  out.accessToken = auth::stringMember(document, "access_token");
  out.refreshToken = auth::stringMember(document, "refresh_token");
  if (out.accessToken.empty()) return "access_token missing";
  if (out.refreshToken.empty()) return "refresh_token missing";
  out.expiresAtMs = auth::epochMsMember(document, "expiry_date").value_or(0);
  return {};
}

void QwenAccount::writeFile(auth::OAuthToken& token) const {
  token.document["access_token"] = token.accessToken;
  token.document["refresh_token"] = token.refreshToken;
  token.document["expiry_date"] = token.expiresAtMs;
  if (!token.document.contains("token_type")) token.document["token_type"] = "Bearer";
}

upstream::Request QwenAccount::refreshRequest(const auth::OAuthToken& current) const {
  upstream::Request request;
  request.url = tokenUrl_;
  request.headers = {"Content-Type: application/x-www-form-urlencoded", "Accept: application/json"};
  request.body = "grant_type=refresh_token&refresh_token=" + percentEncode(current.refreshToken) +
                 "&client_id=" + percentEncode(clientId_);
  return request;
}

core::Result<auth::OAuthToken> QwenAccount::readRefreshAnswer(const auth::OAuthToken& current,
                                                              const json& answer) const {
  std::string access = auth::stringMember(answer, "access_token");
  if (access.empty()) {
    return core::GatewayError::make(core::ErrorKind::Protocol, "oauth_refresh_malformed", "no access_token in the answer");
  }
  auth::OAuthToken next = current;
  next.accessToken = std::move(access);
  if (std::string refresh = auth::stringMember(answer, "refresh_token"); !refresh.empty()) next.refreshToken = std::move(refresh);
  if (std::string resource = auth::stringMember(answer, "resource_url"); !resource.empty()) {
    next.document["resource_url"] = std::move(resource);
  }
  next.expiresAtMs = auth::expiryAfterSecondsMember(answer, "expires_in").value_or(0);
  return next;
}

std::string QwenAccount::chatUrl(const auth::OAuthToken& token, const std::string& fallbackBase) const {
  std::string base = auth::stringMember(token.document, "resource_url");
  if (base.empty()) return fallbackBase + "/chat/completions";
  if (base.rfind("http://", 0) != 0 && base.rfind("https://", 0) != 0) base = "https://" + base;
  while (!base.empty() && base.back() == '/') base.pop_back();
  if (base.size() < 3 || base.compare(base.size() - 3, 3, "/v1") != 0) base += "/v1";
  return base + "/chat/completions";
}

QwenProvider::QwenProvider(const config::ProviderConfig& config)
    : OpenAiProvider(config, defaultBase(config),
                     {"region", "oauth_credentials", "oauth_token_url", "oauth_client_id", "refresh_lead_seconds"}) {
  config::JsonReader reader(config.block, "providers." + config.name);
  const std::vector<std::string> files = reader.stringOrList("oauth_credentials");
  if (files.empty()) return;
  if (!config.apiKeys.empty()) reader.fail("oauth_credentials", "use either api_key(s) or oauth_credentials, not both");
  oauthFallbackBase_ = requireHttpUrl(reader, config.baseUrl.empty() ? kPortalBase : config.baseUrl);
  const auto lead = std::chrono::seconds(reader.integer("refresh_lead_seconds", 300, 0, 86400));
  const std::string tokenUrl = requireHttpUrl(reader, reader.string("oauth_token_url", kTokenUrl));
  const std::string clientId = reader.string("oauth_client_id", kClientId);
  for (std::size_t i = 0; i < files.size(); ++i) {
    auto account = std::make_shared<QwenAccount>(config.name + "#" + std::to_string(i), files[i], lead, tokenUrl, clientId);
    if (config.enabled) account->load(reader.pathOf("oauth_credentials"));
    accounts_.push_back(std::move(account));
  }
}

std::size_t QwenProvider::credentialCount() const {
  return accounts_.empty() ? OpenAiProvider::credentialCount() : accounts_.size();
}

void QwenProvider::authorize(std::size_t index, upstream::Request& request) const {
  if (accounts_.empty()) {
    OpenAiProvider::authorize(index, request);
    return;
  }
  const auto token = accounts_[index]->token();
  request.url = accounts_[index]->chatUrl(*token, oauthFallbackBase_);
  request.headers.push_back("Authorization: Bearer " + token->accessToken);
  request.headers.emplace_back("X-DashScope-AuthType: qwen-oauth");
}

const auth::OAuthAccount* QwenProvider::account(std::size_t index) const {
  return index < accounts_.size() ? accounts_[index].get() : nullptr;
}

std::vector<std::shared_ptr<auth::OAuthAccount>> QwenProvider::accounts() const {
  return {accounts_.begin(), accounts_.end()};
}

void QwenProvider::adaptRequest(const core::ChatRequest& request, json& body) const {
  // Hybrid-thinking Qwen models switch reasoning with these DashScope fields.
  if (request.thinking && !body.contains("enable_thinking")) {
    body["enable_thinking"] = request.thinking->enabled;
    if (request.thinking->enabled && request.thinking->budgetTokens && !body.contains("thinking_budget")) {
      body["thinking_budget"] = *request.thinking->budgetTokens;
    }
  }
}

std::unique_ptr<Provider> create(const config::ProviderConfig& config) {
  return std::make_unique<QwenProvider>(config);
}

}  // namespace llmgate::providers::qwen
