// The provider adapter seam. A Provider is built once from its config block and shared read-only
// by all worker threads; everything it does per request is pure translation (no I/O): the
// upstream client and the Exchange do the I/O.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "llmgate/auth/oauth_account.hpp"
#include "llmgate/config/config.hpp"
#include "llmgate/core/chat.hpp"
#include "llmgate/core/error.hpp"
#include "llmgate/core/result.hpp"
#include "llmgate/upstream/request.hpp"

namespace llmgate::providers {

/// What an upstream request looks like on the wire.
/// What a provider may take over from the client's request headers.
struct ClientHints {
  std::string anthropicBeta;  ///< `anthropic-beta` features the client asked for
};

/// Decodes one upstream response body into IR events. One per attempt; stateful; not thread-safe.
class ResponseDecoder {
 public:
  virtual ~ResponseDecoder() = default;
  /// Pushes the next body bytes; appends the events they complete. Returns an error for bytes
  /// that cannot be decoded (the exchange then fails with it).
  virtual std::optional<core::GatewayError> feed(std::string_view bytes, std::vector<core::ChatEvent>& out) = 0;
  /// The body ended; appends any final events. Returns an error when the body was incomplete.
  virtual std::optional<core::GatewayError> finish(std::vector<core::ChatEvent>& out) = 0;
};

/// An answer produced in-process (the built-in mock); the Exchange paces the events with timers.
struct LocalReply {
  std::vector<core::ChatEvent> events;
  std::chrono::milliseconds firstEventDelay{0};
  std::chrono::milliseconds eventInterval{0};
};

class Provider {
 public:
  explicit Provider(config::ProviderConfig config);
  virtual ~Provider() = default;
  Provider(const Provider&) = delete;
  Provider& operator=(const Provider&) = delete;

  const config::ProviderConfig& config() const { return config_; }
  const std::string& name() const { return config_.name; }

  /// The upstream model a client model maps to (model_map, else the name itself).
  std::string upstreamModel(const std::string& clientModel) const;

  /// The client dialect whose bytes this provider's upstream accepts unchanged (the fast path),
  /// or nullopt when every request must go through the IR.
  virtual std::optional<core::Dialect> passthroughDialect() const { return std::nullopt; }

  /// Fast path: the upstream request for a client body already in passthroughDialect(), with
  /// only the model (done by the caller) and auth changed.
  virtual upstream::Request passthroughRequest(std::string body, bool stream, const ClientHints& hints) const;

  /// IR path: encodes the request for the upstream.
  virtual core::Result<upstream::Request> encodeRequest(const core::ChatRequest& request, const std::string& upstreamModel,
                                                      const ClientHints& hints) const;

  /// Whether the upstream counts tokens (Anthropic's /v1/messages/count_tokens).
  virtual bool countsTokens() const { return false; }

  /// The request for a count_tokens body (model already rewritten); only when countsTokens().
  virtual upstream::Request countTokensRequest(std::string body, const ClientHints& hints) const;

  /// IR path: a decoder for the upstream's answer to `request` (streamed when request.stream).
  virtual std::unique_ptr<ResponseDecoder> makeDecoder(const core::ChatRequest& request) const;

  /// Whether `error` says the credential itself was refused (expired or revoked), so that an
  /// OAuth credential is refreshed and the request retried. Default: a 401.
  virtual bool credentialRejected(const core::GatewayError& error) const {
    return error.kind == core::ErrorKind::Authentication;
  }

  /// How many credentials this provider has; each is an endpoint with its own health. One per
  /// API key (one when there is none), one per OAuth account for providers that use them.
  virtual std::size_t credentialCount() const;

  /// Adds credential `index` to `request`: its auth header and, for credentials that carry
  /// their own API base (Qwen OAuth), its URL. Default: authHeader() of the index-th key.
  virtual void authorize(std::size_t index, upstream::Request& request) const;

  /// The OAuth account behind credential `index`, or null (API keys). An upstream 401 on such a
  /// credential makes the exchange refresh it once and retry.
  virtual const auth::OAuthAccount* account(std::size_t) const { return nullptr; }

  /// Every OAuth account of this provider, for the background refresher.
  virtual std::vector<std::shared_ptr<auth::OAuthAccount>> accounts() const { return {}; }

  /// The GET that lists the upstream's models (auth is added by authorize()), or nullopt when
  /// it has none; /v1/models lists what it names besides the configured names.
  virtual std::optional<upstream::Request> modelListRequest() const { return std::nullopt; }
  /// The model ids an answer to modelListRequest() names: OpenAI's and Anthropic's `data[].id`
  /// by default. Anything unreadable gives none.
  virtual std::vector<std::string> decodeModelList(std::string_view body) const;

  /// Maps an upstream error response to an error for the client.
  virtual core::GatewayError decodeError(int status, std::string_view body) const;

  /// Whether this provider answers in-process (respondLocally) instead of over the network.
  virtual bool isLocal() const { return false; }

  /// Providers that answer in-process return their reply here instead of doing I/O.
  virtual std::optional<LocalReply> respondLocally(const core::ChatRequest& request,
                                                   const std::string& model) const;

 protected:
  /// The header that authenticates with `key` (one of config().apiKeys). Empty for none.
  virtual std::string authHeader(const std::string& key) const;
  /// Content-Type, Accept and the configured extra headers: what every HTTP provider sends.
  std::vector<std::string> baseHeaders(bool stream) const;
  /// Rejects keys of this provider's block that are neither common to every HTTP provider
  /// (name, base_url, api_key, timeouts, ...) nor in `own`.
  void rejectUnknownKeys(const config::JsonReader& reader, std::initializer_list<std::string_view> own) const;
  /// base_url checked to be http(s); throws ConfigError naming the key otherwise.
  static std::string requireHttpUrl(const config::JsonReader& reader, std::string url);

 private:
  config::ProviderConfig config_;
};

/// `value` with every byte but RFC 3986's unreserved ones (letters, digits, `-._~`) as %XX: safe
/// in a URL path segment (a client's model name cannot add segments or a query) and in a form.
std::string percentEncode(std::string_view value);

/// Builds providers of one `type`.
struct ProviderFactory {
  std::string type;
  std::function<std::unique_ptr<Provider>(const config::ProviderConfig&)> create;
};

/// Every provider type llmgate knows (providers/all_providers.cpp lists them explicitly).
const std::vector<ProviderFactory>& allProviderFactories();

/// Builds the provider for one config block from the factory of its type. Throws
/// config::ConfigError naming the key path.
std::unique_ptr<Provider> createProvider(const config::ProviderConfig& config, const std::string& path,
                                         const std::vector<ProviderFactory>& factories = allProviderFactories());

}  // namespace llmgate::providers
