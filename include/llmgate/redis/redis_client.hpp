// One Redis connection driven by a worker's Asio loop (hiredis' asynchronous API, as libcurl's
// multi interface is driven): commands are pipelined on it, each with a deadline, and a lost or
// slow connection is dropped and reopened with backoff. Callers treat "no reply" as "Redis is
// not there" and go on with local state: nothing here may fail a request.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

struct redisAsyncContext;

namespace llmgate::redis {

/// Where Redis is: `redis://[[user]:password@]host[:port][/db]`.
struct Endpoint {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string user;
  std::string password;
  int database = 0;
};
/// Parses a redis:// URL; nullopt (and why in `error`) when it is not one.
std::optional<Endpoint> parseUrl(std::string_view url, std::string& error);

/// A reply, copied out of hiredis' own.
struct Reply {
  enum class Type { Nil, Integer, String, Status, Error, Array };
  Type type = Type::Nil;
  long long integer = 0;
  std::string text;  ///< String, Status and Error
  std::vector<Reply> elements;
};

/// What every client of a process counts together (the health report and /metrics read it).
struct ConnectionStats {
  std::atomic<std::int64_t> connected{0};  ///< connections up now
  std::atomic<std::uint64_t> connects{0};  ///< connections opened, first ones included
  std::atomic<std::uint64_t> failures{0};  ///< commands without a reply (down, slow, refused)
  std::atomic<std::uint64_t> timeouts{0};  ///< of those, the ones over their deadline
};

class Client : public std::enable_shared_from_this<Client> {
 public:
  /// `reply` is null when no reply came: not connected, the connection lost, or the deadline
  /// passed. Called on the loop's thread, never from inside `command`.
  using ReplyHandler = std::function<void(const Reply* reply)>;

  Client(boost::asio::io_context& loop, Endpoint endpoint, std::chrono::milliseconds timeout, ConnectionStats& stats);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  /// Connects (on the loop); reconnects by itself from then on until close().
  void open();
  /// Drops the connection and every pending command without calling their handlers. On the
  /// loop's thread, or once it has stopped.
  void close();
  bool ready() const { return ready_; }
  /// Sends a command; `handler` is called once, on the loop.
  void command(std::vector<std::string> args, ReplyHandler handler);

 private:
  struct Pending;
  static void onConnect(const redisAsyncContext* context, int status);
  static void onDisconnect(const redisAsyncContext* context, int status);
  static void onReply(redisAsyncContext* context, void* reply, void* pending);
  static void addRead(void* self);
  static void delRead(void* self);
  static void addWrite(void* self);
  static void delWrite(void* self);
  static void cleanup(void* self);
  void connect();
  void watchReadable();
  void watchWritable();
  /// The connection is gone (hiredis frees it): forget it and come back after a backoff.
  void lost();
  void scheduleReconnect();
  /// Ends the connection from outside hiredis' callbacks (a deadline passed).
  void drop();
  static void answer(Pending& pending, const Reply* reply) noexcept;

  boost::asio::io_context& loop_;
  const Endpoint endpoint_;
  const std::chrono::milliseconds timeout_;
  ConnectionStats& stats_;
  redisAsyncContext* context_ = nullptr;
  std::uint64_t connection_ = 0;  ///< which connection a wait on the socket belongs to
  std::optional<boost::asio::posix::stream_descriptor> socket_;
  bool wantRead_ = false, reading_ = false;
  bool wantWrite_ = false, writing_ = false;
  bool ready_ = false;
  bool closed_ = false;
  std::chrono::milliseconds backoff_{100};
  boost::asio::steady_timer reconnect_;
  /// Pending commands still waiting for their reply, oldest first (for their deadlines).
  std::vector<std::shared_ptr<Pending>> pending_;
  boost::asio::steady_timer deadline_;
  bool deadlineArmed_ = false;
  void armDeadline();
};

}  // namespace llmgate::redis
