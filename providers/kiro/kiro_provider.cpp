#include "providers/kiro/kiro_provider.hpp"

#include <algorithm>
#include <random>

#include <openssl/sha.h>

#include "llmgate/core/hex.hpp"
#include "llmgate/core/json_read.hpp"
#include "llmgate/core/json_text.hpp"
#include "providers/kiro/kiro_request.hpp"
#include "providers/kiro/kiro_stream.hpp"

namespace llmgate::providers::kiro {
namespace {

using nlohmann::json;

// The profile most social (Google/GitHub) Kiro logins use; the file's own profileArn wins.
constexpr const char* kSocialProfileArn = "arn:aws:codewhisperer:us-east-1:699475941385:profile/EHGA3GRVQMUK";
constexpr const char* kKiroVersion = "0.11.63";

std::string uuid4() {
  thread_local std::mt19937_64 random{std::random_device{}()};
  const std::uint64_t a = random(), b = random();
  char out[37];
  std::snprintf(out, sizeof out, "%08x-%04x-4%03x-%04x-%012llx", static_cast<unsigned>(a >> 32),
                static_cast<unsigned>((a >> 16) & 0xffff), static_cast<unsigned>(a & 0xfff),
                static_cast<unsigned>(0x8000 | ((b >> 48) & 0x3fff)), static_cast<unsigned long long>(b & 0xffffffffffffULL));
  return out;
}

std::string sha256Hex(const std::string& text) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  return core::hexEncode(digest, sizeof digest);
}

std::string lower(std::string text) {
  for (auto& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

}  // namespace

KiroProvider::KiroProvider(const config::ProviderConfig& config) : Provider(config) {
  config::JsonReader reader(config.block, "providers." + config.name);
  rejectUnknownKeys(reader, {"credentials", "region", "social_refresh_url", "oidc_refresh_url", "refresh_lead_seconds",
                             "profile_arn", "context_window_tokens"});
  const std::string region = reader.string("region", "us-east-1");
  url_ = requireHttpUrl(reader, config.baseUrl.empty() ? "https://q." + region + ".amazonaws.com" : config.baseUrl) +
         "/generateAssistantResponse";
  socialProfileArn_ = reader.string("profile_arn", kSocialProfileArn);
  contextWindow_ = reader.integer("context_window_tokens", 200000, 1000, 10000000);
  const std::vector<std::string> files = reader.stringOrList("credentials");
  if (files.empty() && config.enabled) reader.fail("credentials", "required: a Kiro credential file or a list of them");
  RefreshEndpoints endpoints{reader.string("social_refresh_url", ""), reader.string("oidc_refresh_url", "")};
  if (!endpoints.social.empty()) requireHttpUrl(reader, endpoints.social);
  if (!endpoints.oidc.empty()) requireHttpUrl(reader, endpoints.oidc);
  const auto lead = std::chrono::seconds(reader.integer("refresh_lead_seconds", 300, 0, 86400));
  for (std::size_t i = 0; i < files.size(); ++i) {
    auto account = std::make_shared<KiroAccount>(config.name + "#" + std::to_string(i), files[i], lead, endpoints);
    if (config.enabled) account->load(reader.pathOf("credentials"));
    accounts_.push_back(std::move(account));
  }
}

core::Result<upstream::Request> KiroProvider::encodeRequest(const core::ChatRequest& request,
                                                          const std::string& upstreamModel, const ClientHints&) const {
  auto body = kiro::encodeRequest(request, kiroModelId(upstreamModel));
  if (!body.ok()) return body.error();
  // Kiro streams whatever the client asked; the Accept header is JSON as the Kiro IDE sends it.
  return upstream::Request{url_, baseHeaders(false), core::dumpJson(body.value())};
}

void KiroProvider::authorize(std::size_t index, upstream::Request& request) const {
  if (index >= accounts_.size()) return;
  const auto token = accounts_[index]->token();
  std::string arn = KiroAccount::profileArn(*token);
  if (arn.empty() && !KiroAccount::isIdc(*token)) arn = socialProfileArn_;
  if (!arn.empty() && request.body.size() > 1 && request.body.front() == '{') {
    // Per credential, so not part of the (cacheable) encoded body.
    std::string member = "\"profileArn\":";
    core::appendJsonString(member, arn);
    request.body.insert(1, member + ",");
  }
  const std::string machine = sha256Hex(arn.empty() ? accounts_[index]->label() : arn);
  request.headers.push_back("Authorization: Bearer " + token->accessToken);
  request.ownHeaders.push_back("amz-sdk-invocation-id: " + uuid4());
  request.headers.emplace_back("amz-sdk-request: attempt=1; max=1");
  request.headers.emplace_back("x-amzn-codewhisperer-optout: true");
  request.headers.emplace_back("x-amzn-kiro-agent-mode: vibe");
  request.headers.push_back(std::string("x-amz-user-agent: aws-sdk-js/1.0.34 KiroIDE-") + kKiroVersion + "-" + machine);
  request.headers.push_back(std::string("User-Agent: aws-sdk-js/1.0.34 ua/2.1 os/linux lang/js md/nodejs "
                                        "api/codewhispererstreaming#1.0.34 m/E KiroIDE-") + kKiroVersion + "-" + machine);
}

std::unique_ptr<ResponseDecoder> KiroProvider::makeDecoder(const core::ChatRequest& request) const {
  return std::make_unique<KiroDecoder>(request, contextWindow_);
}

core::GatewayError KiroProvider::decodeError(int status, std::string_view body) const {
  const json parsed = core::parseJson(body);
  if (!parsed.is_object()) return core::upstreamHttpError(status);
  // {"message": ..., "reason": ...} or the AWS restJson1 shape {"__type": "ns#ThrottlingException", ...}.
  // What the body carries is taken where its type is right; the status decides the rest.
  std::optional<core::TypeMismatch> ignored;
  core::FieldReader fields(parsed, "", ignored);
  std::string type = fields.stringOr("__type");
  if (auto hash = type.rfind('#'); hash != std::string::npos) type = type.substr(hash + 1);
  if (type.empty()) type = fields.stringOr("reason");
  std::string message = fields.stringOr("message");
  if (message.empty()) message = fields.stringOr("Message");
  core::GatewayError error = exceptionError(type, message, status);
  if (type.empty()) error.code = "upstream_error";
  return error;
}

bool KiroProvider::credentialRejected(const core::GatewayError& error) const {
  if (error.kind == core::ErrorKind::Authentication) return true;
  if (error.kind != core::ErrorKind::PermissionDenied) return false;
  // A 403 is a dead token only when it says so; suspended accounts and quota are not refreshed.
  const std::string text = lower(error.message);
  return text.find("token") != std::string::npos &&
         (text.find("expired") != std::string::npos || text.find("invalid") != std::string::npos);
}

const auth::OAuthAccount* KiroProvider::account(std::size_t index) const {
  return index < accounts_.size() ? accounts_[index].get() : nullptr;
}

std::vector<std::shared_ptr<auth::OAuthAccount>> KiroProvider::accounts() const {
  return {accounts_.begin(), accounts_.end()};
}

std::unique_ptr<Provider> create(const config::ProviderConfig& config) {
  return std::make_unique<KiroProvider>(config);
}

}  // namespace llmgate::providers::kiro
