// Keeps OAuth accounts' access tokens fresh: each account is refreshed in the background a lead
// time before it expires, and on demand (an upstream said 401). One thread with its own event
// loop and upstream client; at most one refresh per account is in flight, and everyone who asks
// while it runs waits for that one.
// With Redis configured, replicas share each account's token: the one that takes the account's
// lock refreshes and publishes the new token; the others wait for it and adopt it, so that a
// rotated refresh token is never sent twice. A Redis that is down or slow is a refresh here.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include "llmgate/auth/oauth_account.hpp"
#include "llmgate/config/config.hpp"
#include "llmgate/redis/redis_client.hpp"
#include "llmgate/upstream/http_client.hpp"

namespace llmgate::auth {

class TokenRefresher {
 public:
  /// `redis` shares the tokens with other replicas when its url is set.
  TokenRefresher(std::vector<std::shared_ptr<OAuthAccount>> accounts, config::UpstreamPoolConfig pool,
                 config::RedisConfig redis = {});
  ~TokenRefresher();
  TokenRefresher(const TokenRefresher&) = delete;
  TokenRefresher& operator=(const TokenRefresher&) = delete;

  /// Starts the thread and the background schedule (no-op without accounts).
  void start();
  /// Stops the thread; pending waiters hear `false`.
  void stop();
  /// Ends the background schedule; refreshNow goes on working. A generation replaced by a
  /// reload refreshes only for its requests still in flight, so that two refreshers never race
  /// on one credential file (the new generation read it afresh).
  void retire();

  /// Refreshes `account` because the upstream rejected `rejected`, or joins the refresh already
  /// running; when the account already holds a newer token, nothing is sent. `done(usable)` is
  /// posted to `executor`.
  void refreshNow(const OAuthAccount& account, std::shared_ptr<const OAuthToken> rejected,
                  boost::asio::any_io_executor executor, std::function<void(bool)> done);

  /// Refresh requests sent so far (all accounts).
  std::uint64_t refreshesSent() const { return sent_.load(std::memory_order_relaxed); }

 private:
  struct Slot;
  class Attempt;
  void schedule(Slot& slot);
  void begin(Slot& slot);
  /// With Redis: adopts the token another replica published, else takes the account's lock and
  /// refreshes, else (another replica holds it) waits for its token.
  void consultShared(Slot& slot);
  /// Takes the account's lock and refreshes; held by another replica, looks for its token again.
  void takeLock(Slot& slot);
  /// Sends the refresh request.
  void refreshHere(Slot& slot);
  void finished(Slot& slot, bool ok);
  /// Runs `step` of `slot`'s refresh; whatever it throws ends the refresh as failed.
  template <class Step>
  void guard(Slot& slot, Step&& step) noexcept;
  void beginSafely(Slot& slot);
  /// The token and when it was obtained, from HMGET's reply; nullopt when Redis holds none.
  static std::optional<std::pair<std::int64_t, std::string>> sharedToken(const redis::Reply& reply);
  std::string sharedKey(const Slot& slot, const char* what) const;

  std::vector<std::shared_ptr<OAuthAccount>> accounts_;
  config::UpstreamPoolConfig pool_;
  std::unique_ptr<boost::asio::io_context> io_ = std::make_unique<boost::asio::io_context>();
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  std::unique_ptr<upstream::HttpClient> client_;
  std::vector<std::unique_ptr<Slot>> slots_;
  const config::RedisConfig redisSettings_;
  redis::ConnectionStats redisStats_;
  std::shared_ptr<redis::Client> redis_;  ///< on io_; null without Redis
  std::string owner_;                     ///< who holds a lock, among replicas
  std::chrono::steady_clock::time_point firstConnectBy_;
  std::thread thread_;
  bool retired_ = false;  ///< on the refresher's thread only
  std::atomic<std::uint64_t> sent_{0};
};

}  // namespace llmgate::auth
