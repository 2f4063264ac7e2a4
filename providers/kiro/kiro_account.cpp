#include "providers/kiro/kiro_account.hpp"

#include <ctime>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "llmgate/core/json_read.hpp"

namespace llmgate::providers::kiro {
namespace {

using nlohmann::json;

std::string region(const json& document, const char* key) {
  std::string value = auth::stringMember(document, key);
  if (value.empty()) value = auth::stringMember(document, "region");
  return value.empty() ? "us-east-1" : value;
}

}  // namespace

std::optional<std::int64_t> parseIsoTime(const std::string& text) {
  std::tm tm{};
  int millis = 0;
  char zone = 0;
  int consumed = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
                  &tm.tm_sec, &consumed) != 6) {
    return std::nullopt;
  }
  const char* rest = text.c_str() + consumed;
  if (*rest == '.') {
    ++rest;
    int digits = 0;
    while (*rest >= '0' && *rest <= '9') {
      if (digits++ < 3) millis = millis * 10 + (*rest - '0');
      ++rest;
    }
    while (digits++ < 3) millis *= 10;
  }
  zone = *rest;
  if (zone != 'Z' || rest[1] != '\0') return std::nullopt;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<std::int64_t>(::timegm(&tm)) * 1000 + millis;
}

std::string formatIsoTime(std::int64_t epochMs) {
  const std::time_t seconds = static_cast<std::time_t>(epochMs / 1000);
  std::tm tm{};
  ::gmtime_r(&seconds, &tm);
  char out[96];
  std::snprintf(out, sizeof out, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(((epochMs % 1000) + 1000) % 1000));
  return out;
}

KiroAccount::KiroAccount(std::string label, std::string path, std::chrono::milliseconds refreshLead,
                         RefreshEndpoints endpoints)
    : OAuthAccount(std::move(label), std::move(path), refreshLead), endpoints_(std::move(endpoints)) {}

bool KiroAccount::isIdc(const auth::OAuthToken& token) {
  const std::string method = auth::stringMember(token.document, "authMethod");
  return method == "IdC" || method == "idc" || method == "builder-id" || method == "BuilderId";
}

std::string KiroAccount::profileArn(const auth::OAuthToken& token) { return auth::stringMember(token.document, "profileArn"); }

std::string KiroAccount::readFile(const json& document, auth::OAuthToken& out) const {
  out.accessToken = auth::stringMember(document, "accessToken");
  out.refreshToken = auth::stringMember(document, "refreshToken");
  if (out.accessToken.empty()) return "accessToken missing";
  if (out.refreshToken.empty()) return "refreshToken missing";
  if (const std::string expires = auth::stringMember(document, "expiresAt"); !expires.empty()) {
    auto at = parseIsoTime(expires);
    if (!at) return "expiresAt is not an ISO-8601 UTC time: " + expires;
    out.expiresAtMs = *at;
  }
  if (isIdc(out) && (auth::stringMember(document, "clientId").empty() || auth::stringMember(document, "clientSecret").empty())) {
    // The Kiro IDE keeps the OIDC client registration in <clientIdHash>.json next to the token.
    const std::string hash = auth::stringMember(document, "clientIdHash");
    if (hash.empty()) return "an IdC login needs clientId and clientSecret (or clientIdHash)";
    const auto registration = std::filesystem::path(path()).parent_path() / (hash + ".json");
    std::ifstream in(registration);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const json client = core::parseJson(text);
    if (!client.is_object() || auth::stringMember(client, "clientId").empty() || auth::stringMember(client, "clientSecret").empty()) {
      return "client registration " + registration.string() + " is missing or lacks clientId/clientSecret";
    }
    // Kept in memory for refreshing; the token file is written back without it.
    registration_ = {auth::stringMember(client, "clientId"), auth::stringMember(client, "clientSecret")};
  }
  return {};
}

void KiroAccount::writeFile(auth::OAuthToken& token) const {
  token.document["accessToken"] = token.accessToken;
  token.document["refreshToken"] = token.refreshToken;
  if (token.expiresAtMs != 0) token.document["expiresAt"] = formatIsoTime(token.expiresAtMs);
}

upstream::Request KiroAccount::refreshRequest(const auth::OAuthToken& current) const {
  upstream::Request request;
  request.headers = {"Content-Type: application/json", "Accept: application/json"};
  if (isIdc(current)) {
    request.url = !endpoints_.oidc.empty() ? endpoints_.oidc
                                           : "https://oidc." + region(current.document, "idcRegion") + ".amazonaws.com/token";
    const bool inFile = !auth::stringMember(current.document, "clientId").empty();
    request.body = json{{"clientId", inFile ? auth::stringMember(current.document, "clientId") : registration_.first},
                        {"clientSecret", inFile ? auth::stringMember(current.document, "clientSecret") : registration_.second},
                        {"grantType", "refresh_token"},
                        {"refreshToken", current.refreshToken}}
                       .dump();
  } else {
    request.url = !endpoints_.social.empty()
                      ? endpoints_.social
                      : "https://prod." + region(current.document, "region") + ".auth.desktop.kiro.dev/refreshToken";
    request.body = json{{"refreshToken", current.refreshToken}}.dump();
  }
  return request;
}

core::Result<auth::OAuthToken> KiroAccount::readRefreshAnswer(const auth::OAuthToken& current, const json& answer) const {
  const std::string access = auth::stringMember(answer, "accessToken");
  if (access.empty()) {
    return core::GatewayError::make(core::ErrorKind::Protocol, "oauth_refresh_malformed", "no accessToken in the answer");
  }
  auth::OAuthToken next = current;
  next.accessToken = access;
  if (const std::string refresh = auth::stringMember(answer, "refreshToken"); !refresh.empty()) next.refreshToken = refresh;
  if (const std::string arn = auth::stringMember(answer, "profileArn"); !arn.empty()) next.document["profileArn"] = arn;
  next.expiresAtMs = auth::expiryAfterSecondsMember(answer, "expiresIn").value_or(auth::nowEpochMs() + 3600 * 1000);
  return next;
}

}  // namespace llmgate::providers::kiro
