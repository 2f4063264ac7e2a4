// A real redis-server (Debian's package) on a loopback port, as a subprocess the test controls:
// stopped, paused (SIGSTOP: a Redis that accepts nothing and answers nothing) and started again
// on the same port.
#pragma once

#include <sys/types.h>

#include <string>

namespace llmgate::testing {

class RedisServer {
 public:
  /// Starts it; fails the current test (and leaves it stopped) when it cannot.
  RedisServer();
  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  int port() const { return port_; }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }
  bool running() const { return pid_ > 0; }
  /// Runs one command through redis-cli and returns what it printed (for checks on the state).
  std::string cli(const std::string& arguments) const;

  void start();
  void stop();    ///< SIGKILL: gone at once, as a crash
  void pause();   ///< SIGSTOP
  void resume();  ///< SIGCONT

 private:
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace llmgate::testing
