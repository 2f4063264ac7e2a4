#include "llmgate/providers/provider.hpp"

#include <algorithm>
#include <cctype>

#include "llmgate/core/json_read.hpp"

namespace llmgate::providers {

Provider::Provider(config::ProviderConfig config) : config_(std::move(config)) {}

std::string Provider::upstreamModel(const std::string& clientModel) const {
  auto it = config_.modelMap.find(clientModel);
  return it == config_.modelMap.end() ? clientModel : it->second;
}

upstream::Request Provider::passthroughRequest(std::string, bool, const ClientHints&) const { return {}; }

std::string Provider::authHeader(const std::string&) const { return {}; }

std::size_t Provider::credentialCount() const { return std::max<std::size_t>(1, config_.apiKeys.size()); }

void Provider::authorize(std::size_t index, upstream::Request& request) const {
  const auto& keys = config_.apiKeys;
  if (auto header = authHeader(index < keys.size() ? keys[index] : std::string()); !header.empty()) {
    request.headers.push_back(std::move(header));
  }
}

upstream::Request Provider::countTokensRequest(std::string, const ClientHints&) const { return {}; }

std::vector<std::string> Provider::baseHeaders(bool stream) const {
  std::vector<std::string> out;
  out.reserve(4 + config_.headers.size());
  out.emplace_back("Content-Type: application/json");
  out.emplace_back(stream ? "Accept: text/event-stream" : "Accept: application/json");
  for (const auto& [name, value] : config_.headers) out.push_back(name + ": " + value);
  return out;
}

void Provider::rejectUnknownKeys(const config::JsonReader& reader, std::initializer_list<std::string_view> own) const {
  std::vector<std::string_view> known{"name",      "type",    "enabled", "base_url", "api_key", "api_keys",
                                      "models",    "model_map", "headers", "timeouts", "retry",   "breaker"};
  known.insert(known.end(), own.begin(), own.end());
  reader.rejectUnknownKeys(known);
}

std::string Provider::requireHttpUrl(const config::JsonReader& reader, std::string url) {
  if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0) {
    reader.fail("base_url", "must start with http:// or https://");
  }
  return url;
}

core::Result<upstream::Request> Provider::encodeRequest(const core::ChatRequest&, const std::string&,
                                                      const ClientHints&) const {
  return core::GatewayError::make(core::ErrorKind::Internal, "provider_cannot_encode",
                                  "provider " + name() + " does not send upstream requests");
}

std::unique_ptr<ResponseDecoder> Provider::makeDecoder(const core::ChatRequest&) const { return nullptr; }

std::vector<std::string> Provider::decodeModelList(std::string_view body) const {
  const auto parsed = core::parseJson(body);
  std::optional<core::TypeMismatch> ignored;
  std::vector<std::string> ids;
  if (const auto* data = core::FieldReader(parsed, "", ignored).array("data")) {
    for (const auto& model : *data) {
      if (const std::string* id = core::FieldReader(model, "", ignored).string("id"); id != nullptr && !id->empty()) ids.push_back(*id);
    }
  }
  return ids;
}

core::GatewayError Provider::decodeError(int status, std::string_view) const {
  return core::upstreamHttpError(status);
}

std::optional<LocalReply> Provider::respondLocally(const core::ChatRequest&, const std::string&) const {
  return std::nullopt;
}

std::string percentEncode(std::string_view value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(value.size());
  for (const unsigned char c : value) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::unique_ptr<Provider> createProvider(const config::ProviderConfig& config, const std::string& path,
                                         const std::vector<ProviderFactory>& factories) {
  for (const auto& factory : factories) {
    if (factory.type == config.type) return factory.create(config);
  }
  std::string known;
  for (const auto& factory : factories) known += (known.empty() ? "" : ", ") + factory.type;
  throw config::ConfigError(path + ".type: unknown provider type \"" + config.type + "\" (known: " + known + ")");
}

}  // namespace llmgate::providers
