// One Redis connection on a worker's Asio loop: the socket, name resolution and timers are
// Asio's; hiredis only writes commands and parses replies (its reader), so nothing Redis sends
// can stop the process (hiredis' own asynchronous context asserts on a reply it did not expect).
// Commands are pipelined, each with a deadline; a lost, slow or misbehaving connection is
// dropped and reopened with backoff. Callers treat "no reply" as "Redis is not there" and go
// on with local state: nothing here may fail a request.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "llmgate/config/config.hpp"

struct redisReader;

namespace llmgate::redis {

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
  std::atomic<std::uint64_t> connects{0};  ///< connections made ready, first ones included
  std::atomic<std::uint64_t> failures{0};  ///< commands without a reply (down, slow, refused)
  std::atomic<std::uint64_t> timeouts{0};  ///< connections dropped because a reply was late
};

class Client : public std::enable_shared_from_this<Client> {
 public:
  /// `reply` is null when no reply came: not connected, the connection lost, or the deadline
  /// passed. Called on the loop's thread, never from inside `command`.
  using ReplyHandler = std::function<void(const Reply* reply)>;

  /// `scripts` are loaded (SCRIPT LOAD) on every connection before it is ready.
  Client(boost::asio::io_context& loop, const config::RedisConfig& settings, ConnectionStats& stats,
         std::vector<std::string> scripts = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  /// Connects (on the loop); reconnects by itself from then on until close().
  void open();
  /// Drops the connection and every pending command without calling their handlers. On the
  /// loop's thread, or once it has stopped.
  void close();
  /// Connected, authenticated, and answering (a PING came back).
  bool ready() const { return ready_; }
  /// Sends a command; `handler` is called once, on the loop.
  void command(const std::vector<std::string>& args, ReplyHandler handler);
  /// A command whose reply does not matter but whose effect does (a usage to record): sent now
  /// when connected, else kept (up to kMaxDeferred, oldest dropped) and sent after the next connect.
  void commandEventually(const std::vector<std::string>& args);
  static constexpr std::size_t kMaxDeferred = 10000;

 private:
  /// What a pending command is to the connection.
  enum class Role {
    Command,  ///< a caller's
    Setup,    ///< AUTH, SELECT, SCRIPT LOAD of a new connection: an error ends it
    Ping,     ///< the last of them: its PONG makes the connection ready
  };
  struct Pending {
    ReplyHandler handler;
    std::chrono::steady_clock::time_point deadline;
    Role role = Role::Command;
  };
  void connect();
  void onConnected();
  void send(const std::vector<std::string>& args, Pending pending);
  void flush();
  void readMore();
  void take(std::size_t bytes);
  void answerHandshake(Role role, const Reply& reply);
  /// Ends the connection: pending handlers get no reply, and the next try comes after a backoff.
  void drop(const std::string& why);
  /// Closes the socket and forgets the connection's state (not its pending commands).
  void endConnection();
  void armDeadline();
  static void answer(Pending& pending, const Reply* reply) noexcept;

  boost::asio::io_context& loop_;
  const config::RedisConfig settings_;
  ConnectionStats& stats_;
  const std::vector<std::string> scripts_;
  boost::asio::ip::tcp::resolver resolver_;
  boost::asio::ip::tcp::socket socket_;
  std::uint64_t connection_ = 0;  ///< which connection an operation in flight belongs to
  bool connecting_ = false;
  bool ready_ = false;
  bool closed_ = false;
  redisReader* reader_ = nullptr;
  std::deque<Pending> pending_;  ///< in the order the replies come
  std::string outgoing_;         ///< formatted commands not yet written
  std::string writing_;          ///< what the write in flight holds
  bool writeInFlight_ = false;
  std::vector<char> readBuffer_ = std::vector<char>(16384);
  std::deque<std::vector<std::string>> deferred_;
  std::chrono::milliseconds backoff_{100};
  boost::asio::steady_timer reconnect_;
  boost::asio::steady_timer deadline_;
  bool deadlineArmed_ = false;
  std::chrono::steady_clock::time_point armedFor_;
};

}  // namespace llmgate::redis
