// An OAuth credential kept in a file (Qwen Code, Kiro): the current access token, readable from
// any thread without a lock, and the provider-specific pieces of refreshing it. The refresh I/O
// itself belongs to the TokenRefresher.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "llmgate/core/result.hpp"
#include "llmgate/upstream/request.hpp"

namespace llmgate::auth {

/// Now as Unix epoch milliseconds (credential files store expiry that way).
std::int64_t nowEpochMs();

/// The string member `key` of a credential file or refresh answer; empty when absent or not a string.
std::string stringMember(const nlohmann::json& object, const char* key);

/// The number member `key` read as epoch milliseconds (a file's expiry); nullopt when absent,
/// not a number, or outside years 1970-9999.
std::optional<std::int64_t> epochMsMember(const nlohmann::json& object, const char* key);

/// The number member `key` read as seconds from now (a refresh answer's lifetime), as epoch
/// milliseconds; nullopt when absent or not a number. Negative lifetimes count as 0, longer
/// than ten years as ten years.
std::optional<std::int64_t> expiryAfterSecondsMember(const nlohmann::json& object, const char* key);

struct OAuthToken {
  std::string accessToken;
  std::string refreshToken;
  std::int64_t expiresAtMs = 0;                        ///< Unix epoch ms; 0 when unknown
  nlohmann::json document = nlohmann::json::object();  ///< the whole file, so write-back keeps what we do not read
};

class OAuthAccount {
 public:
  /// `label` names the account in logs and health output (never a token); `path` is its file.
  OAuthAccount(std::string label, std::string path, std::chrono::milliseconds refreshLead);
  virtual ~OAuthAccount() = default;
  OAuthAccount(const OAuthAccount&) = delete;
  OAuthAccount& operator=(const OAuthAccount&) = delete;

  /// Reads the credential file. Throws config::ConfigError naming `configPath` when it cannot.
  void load(const std::string& configPath);
  /// Takes the file's token when it expires later than the one held: another writer (the CLI
  /// that owns the file, another replica, the generation before a reload) refreshed it, and
  /// refreshing again with the refresh token held here could send one it has already rotated.
  /// Returns whether it did.
  bool adoptNewerFromFile();

  /// The token to send now. Never null after load(); lock-free.
  std::shared_ptr<const OAuthToken> token() const { return token_.load(std::memory_order_acquire); }
  /// When the background refresh is due: expiry minus the lead (0 when the expiry is unknown).
  std::int64_t refreshDueMs() const;

  /// The HTTP request that refreshes `current` (its timeouts are the refresher's).
  virtual upstream::Request refreshRequest(const OAuthToken& current) const = 0;
  /// The token a successful (2xx) refresh answer gives, or why it cannot be used.
  virtual core::Result<OAuthToken> readRefreshAnswer(const OAuthToken& current, const nlohmann::json& answer) const = 0;

  /// Makes `token` (refreshed here) current and writes the file back atomically (temporary
  /// file, then rename).
  void install(OAuthToken token);
  /// The current token as replicas share it: the credential file's JSON. A secret (it holds the
  /// refresh token): it goes to Redis only, never to a log.
  std::string sharedText() const;
  /// When the current token was obtained (Unix ms): refreshed here, taken from another replica,
  /// or, for one read from the file, when the file was written. What replicas order tokens by.
  std::int64_t obtainedAtMs() const { return obtainedAtMs_.load(std::memory_order_acquire); }
  /// Takes the token in `text` (another replica's sharedText, obtained at `obtainedAtMs`) when it
  /// is usable, another token, and obtained later than the one held; writes the file back.
  /// Returns whether it did.
  bool adoptShared(std::string_view text, std::int64_t obtainedAtMs);
  void noteRefreshFailure(const std::string& what);

  struct Status {
    std::int64_t expiresAtMs = 0;  ///< of the current token
    std::uint64_t refreshes = 0;
    std::string lastError;
    std::int64_t lastErrorAtMs = 0;
  };
  Status status() const;
  const std::string& label() const { return label_; }
  const std::string& path() const { return path_; }

 protected:
  /// Fills `out` from the file's JSON; returns what is wrong with it, empty when usable.
  virtual std::string readFile(const nlohmann::json& document, OAuthToken& out) const = 0;
  /// Puts the token's fields back into `token.document` before it is saved.
  virtual void writeFile(OAuthToken& token) const = 0;

 private:
  std::optional<OAuthToken> readToken(std::string& problem) const;
  /// Makes `token`, obtained at `obtainedAtMs`, current and writes it to the file.
  void keep(OAuthToken token, std::int64_t obtainedAtMs);
  /// When the credential file was last written (Unix ms); 0 when it cannot be told.
  std::int64_t fileWrittenAtMs() const;
  std::string label_;
  std::string path_;
  std::chrono::milliseconds refreshLead_;
  std::atomic<std::shared_ptr<const OAuthToken>> token_;
  std::atomic<std::int64_t> obtainedAtMs_{0};
  mutable std::mutex statusMutex_;
  Status status_;
};

}  // namespace llmgate::auth
