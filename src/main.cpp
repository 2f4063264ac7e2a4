// Process wiring only: command line, config, logging, server start, signals and drain.
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>

#include <sys/resource.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include "llmgate/config/config.hpp"
#include "llmgate/log/log.hpp"
#include "llmgate/proxy/gateway.hpp"
#include "llmgate/server/http_server.hpp"

namespace llmgate {
extern const char* const kEmbeddedDefaultConfig;  // config/default.json, compiled in
}

namespace {

constexpr const char* kUsage = R"(llmgate - an LLM API gateway (OpenAI and Anthropic dialects, many providers)

Usage: llmgate [options]
  --config FILE        config file (default: config/default.json, else the built-in copy of it)
  --host ADDRESS       listen address (overrides server.host)
  --port PORT          listen port, 0 for any (overrides server.port; default 3000)
  --threads N          worker threads (overrides server.threads; default: number of cores)
  --log-level LEVEL    trace|debug|info|warn|error|critical|off (overrides log.level)
  --log-format FORMAT  text|json (overrides log.format)
  --check-config       validate the config, print a summary and exit (0 valid, 2 invalid)
  --version            print the version and exit
  --help               print this help and exit
)";

struct Options {
  std::string configPath;
  std::string host;
  int port = -1;
  int threads = -1;
  std::string logLevel;
  std::string logFormat;
  bool checkOnly = false;
};

[[noreturn]] void usageError(const std::string& message) {
  std::cerr << "llmgate: " << message << "\n\n" << kUsage;
  std::exit(2);
}

int parseInt(const std::string& flag, const std::string& value, int min, int max) {
  try {
    std::size_t used = 0;
    const int number = std::stoi(value, &used);
    if (used == value.size() && number >= min && number <= max) return number;
  } catch (const std::exception&) {
  }
  usageError(flag + " expects an integer between " + std::to_string(min) + " and " + std::to_string(max));
}

Options parseArgs(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usageError(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      std::exit(0);
    } else if (arg == "--version") {
      std::cout << "llmgate " << LLMGATE_VERSION << "\n";
      std::exit(0);
    } else if (arg == "--config") {
      options.configPath = value();
    } else if (arg == "--host") {
      options.host = value();
    } else if (arg == "--port") {
      options.port = parseInt(arg, value(), 0, 65535);
    } else if (arg == "--threads") {
      options.threads = parseInt(arg, value(), 1, 1024);
    } else if (arg == "--log-level") {
      options.logLevel = value();
    } else if (arg == "--log-format") {
      options.logFormat = value();
      if (options.logFormat != "text" && options.logFormat != "json") usageError("--log-format expects text or json");
    } else if (arg == "--check-config") {
      options.checkOnly = true;
    } else {
      usageError("unknown option " + arg);
    }
  }
  return options;
}

llmgate::config::Config loadConfig(const Options& options, std::string& source) {
  using namespace llmgate::config;
  const auto env = processEnv();
  Config config;
  if (!options.configPath.empty()) {
    source = options.configPath;
    config = loadConfigFile(options.configPath, env);
  } else if (std::filesystem::exists("config/default.json")) {
    source = "config/default.json";
    config = loadConfigFile(source, env);
  } else {
    source = "built-in default config";
    config = parseConfig(llmgate::kEmbeddedDefaultConfig, env);
  }
  if (!options.host.empty()) config.server.host = options.host;
  if (options.port >= 0) config.server.port = options.port;
  if (options.threads > 0) config.server.threads = options.threads;
  if (!options.logLevel.empty()) config.log.level = options.logLevel;
  if (!options.logFormat.empty()) config.log.format = options.logFormat;
  return config;
}

// Raises the soft limit of open files to the hard one (as nginx's worker_rlimit_nofile): every
// client connection and upstream connection is a descriptor. Returns the limit now in force.
rlim_t raiseOpenFilesLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  if (limit.rlim_cur < limit.rlim_max) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  }
  return limit.rlim_cur;
}

// SIGHUP: reads the config again (same file and command-line overrides) and swaps it in; a
// config that cannot be used leaves the running one, and says why.
void reloadOnHangup(boost::asio::signal_set& hangups, llmgate::proxy::Gateway& gateway, const Options& options) {
  hangups.async_wait([&](boost::system::error_code ec, int) {
    if (ec) return;
    std::string source;
    const auto result = gateway.reload([&] { return loadConfig(options, source); });
    if (result.ok) {
      std::string restart;
      for (const auto& key : result.needRestart) restart += (restart.empty() ? "" : ", ") + key;
      llmgate::log::message(spdlog::level::info,
                            "SIGHUP: config reloaded from " + source + ": generation " + std::to_string(result.generation) +
                                (restart.empty() ? std::string() : "; changed but applied only at the next start: " + restart));
    } else {
      llmgate::log::message(spdlog::level::err, "SIGHUP: config reload refused, generation " +
                                                    std::to_string(result.generation) + " keeps serving: " + result.error);
    }
    reloadOnHangup(hangups, gateway, options);
  });
}

// Every few seconds, frees the config generations replaced by a reload whose last request (a
// long stream, say) has ended since, and forgets the conversations that expired.
void keepHouse(boost::asio::steady_timer& timer, llmgate::proxy::Gateway& gateway) {
  timer.expires_after(std::chrono::seconds(5));
  timer.async_wait([&](boost::system::error_code ec) {
    if (ec) return;
    try {
      gateway.releaseRetired();
      gateway.purgeExpiredConversations();
    } catch (const std::exception& error) {
      llmgate::log::message(spdlog::level::err, std::string("house keeping failed (tried again in 5 s): ") + error.what());
    }
    keepHouse(timer, gateway);
  });
}

// Waits for SIGINT/SIGTERM, then drains: no new connections, in-flight requests and streams
// get until the drain deadline, idle keep-alive connections until their grace ends. A second
// signal stops at once. `signals` was set up before the server started listening, so a signal
// that came early waits here instead of killing the process.
void serveUntilSignalled(boost::asio::io_context& io, boost::asio::signal_set& signals,
                         llmgate::server::HttpServer& server, std::chrono::milliseconds drainTimeout) {
  boost::asio::steady_timer poll(io);
  std::chrono::steady_clock::time_point deadline;
  std::function<void()> waitDrained = [&] {
    // Idle connections close at the end of their grace (Worker::drain); requests end on their own.
    const bool drained = server.inFlight() == 0 && server.openConnections() == 0;
    if (drained || std::chrono::steady_clock::now() >= deadline) {
      if (server.inFlight() > 0) {
        llmgate::log::message(spdlog::level::warn, "drain deadline reached with " +
                                                       std::to_string(server.inFlight()) + " requests in flight");
      }
      io.stop();
      return;
    }
    poll.expires_after(std::chrono::milliseconds(20));
    poll.async_wait([&](boost::system::error_code ec) {
      if (!ec) waitDrained();
    });
  };
  signals.async_wait([&](boost::system::error_code ec, int signal) {
    if (ec) return;
    llmgate::log::message(spdlog::level::info, std::string("received ") + (signal == SIGTERM ? "SIGTERM" : "SIGINT") +
                                                   ": draining " + std::to_string(server.inFlight()) +
                                                   " in-flight requests");
    server.beginDrain();
    deadline = std::chrono::steady_clock::now() + drainTimeout;
    signals.async_wait([&](boost::system::error_code again, int) {
      if (!again) io.stop();
    });
    waitDrained();
  });
  io.run();
}

}  // namespace

int main(int argc, char** argv) {
  const auto launched = std::chrono::steady_clock::now();
  std::signal(SIGPIPE, SIG_IGN);
  const Options options = parseArgs(argc, argv);
  std::string source;
  llmgate::config::Config config;
  try {
    config = loadConfig(options, source);
  } catch (const llmgate::config::ConfigError& error) {
    std::cerr << "llmgate: config error: " << error.what() << "\n";
    return 2;
  }
  llmgate::log::setup(config.log.level, config.log.format);

  std::shared_ptr<llmgate::proxy::Gateway> gateway;
  try {
    gateway = std::make_shared<llmgate::proxy::Gateway>(std::make_shared<const llmgate::config::Config>(config));
  } catch (const llmgate::config::ConfigError& error) {
    std::cerr << "llmgate: config error: " << source << ": " << error.what() << "\n";
    return 2;
  }
  std::size_t enabled = 0;
  std::string names;
  for (const auto& provider : gateway->providers()) {
    if (!provider->config().enabled) continue;
    ++enabled;
    names += (names.empty() ? "" : ", ") + provider->name();
  }
  const std::string exposure = llmgate::config::exposureProblem(config);
  if (options.checkOnly) {
    std::cout << "config OK (" << source << "): " << gateway->providers().size() << " providers, " << enabled
              << " enabled [" << names << "], " << gateway->router().models().size() << " models\n";
    // Where it runs decides (a gateway key may come with the deployment): said, not refused.
    if (!exposure.empty()) std::cerr << "llmgate: warning: started like this, llmgate would refuse: " << exposure << "\n";
    return 0;
  }
  if (!exposure.empty()) {
    std::cerr << "llmgate: refusing to start: " << exposure << "\n";
    return 2;
  }

  const rlim_t openFiles = raiseOpenFilesLimit();
  llmgate::server::HttpServer server(config.server, gateway);
  boost::asio::io_context signalLoop;
  boost::asio::signal_set signals(signalLoop, SIGINT, SIGTERM);
  boost::asio::signal_set hangups(signalLoop, SIGHUP);  // its default action would end the process
  reloadOnHangup(hangups, *gateway, options);
  boost::asio::steady_timer houseKeeping(signalLoop);
  keepHouse(houseKeeping, *gateway);
  try {
    server.start();
  } catch (const std::exception& error) {
    llmgate::log::message(spdlog::level::critical, "cannot listen on " + config.server.host + ":" +
                                                       std::to_string(config.server.port) + ": " + error.what());
    return 1;
  }
  llmgate::log::message(spdlog::level::info,
                        "llmgate " LLMGATE_VERSION " listening on http://" + config.server.host + ":" +
                            std::to_string(server.port()) + " (config: " + source + "; providers: " + names +
                            "; open files limit " +
                            (openFiles == RLIM_INFINITY ? std::string("unlimited") : std::to_string(openFiles)) +
                            "; ready in " +
                            fmt::format("{:.1f}", std::chrono::duration<double, std::milli>(
                                                      std::chrono::steady_clock::now() - launched)
                                                      .count()) +
                            " ms)");
  serveUntilSignalled(signalLoop, signals, server, std::chrono::milliseconds(config.server.drainTimeoutMs));
  server.stop();
  llmgate::log::flush();  // the last requests' access lines before the last line
  llmgate::log::message(spdlog::level::info, "llmgate stopped");
  return 0;
}
