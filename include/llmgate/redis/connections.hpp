// The process' connections to Redis: one per worker loop, shared by everything that keeps state
// there (the key limiter, the response cache). Without redis.url there are none, and every
// user keeps its state in memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "llmgate/config/config.hpp"
#include "llmgate/redis/redis_client.hpp"

namespace llmgate::redis {

/// The connections as the health report and /metrics see them.
struct ConnectionsReport {
  bool configured = false;
  std::int64_t connected = 0;  ///< connections up (one per worker)
  std::int64_t workers = 0;
  std::uint64_t connects = 0, failures = 0, timeouts = 0;
};

class Connections {
 public:
  /// `settings` from the config the process started with (a restart changes them).
  explicit Connections(config::RedisConfig settings) : settings_(std::move(settings)) {}
  ~Connections() { detach(); }
  Connections(const Connections&) = delete;
  Connections& operator=(const Connections&) = delete;

  bool configured() const { return !settings_.url.empty(); }
  const config::RedisConfig& settings() const { return settings_; }
  /// A script every connection loads (SCRIPT LOAD) before it is ready. Before attach().
  void addScript(std::string script) { scripts_.push_back(std::move(script)); }

  /// Opens one connection per worker loop, when configured.
  void attach(const std::vector<boost::asio::io_context*>& loops);
  void detach();
  /// `worker`'s connection; null without Redis.
  std::shared_ptr<Client> client(std::size_t worker) const {
    return worker < clients_.size() ? clients_[worker] : nullptr;
  }
  ConnectionsReport report() const;

 private:
  const config::RedisConfig settings_;
  std::vector<std::string> scripts_;
  ConnectionStats stats_;
  std::vector<std::shared_ptr<Client>> clients_;
};

}  // namespace llmgate::redis
