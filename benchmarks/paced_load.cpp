// Open-loop HTTP/1.1 load at a fixed request rate, for latency at a given load (what wrk cannot
// do: it sends as fast as answers come back). Request i is due at start + i / rate; its latency
// runs from that due time to the last byte of its answer, so a stalled server is charged for the
// requests that queued behind the stall (no coordinated omission). Keep-alive connections carry
// one request at a time; a due request waits for a free one.
//
//   llmgate_paced_load HOST PORT PATH BODY_FILE RATE SECONDS CONNECTIONS EXPECT
//
// EXPECT is a string every answer body must contain. Prints one line of key=value figures
// (latencies in microseconds). Exits non-zero when any request failed or none completed.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
using Micros = std::chrono::duration<double, std::micro>;

constexpr auto kRequestTimeout = std::chrono::seconds(5);

struct Connection {
  int fd = -1;
  bool busy = false;
  Clock::time_point due;      // of the request in flight
  std::string in;             // bytes of the answer so far
  std::size_t expected = 0;   // head + Content-Length, once the head is complete
};

struct Settings {
  std::string host;
  int port = 0;
  std::string request;  // the whole HTTP request, sent as is
  double rate = 0;
  double seconds = 0;
  int connections = 0;
  std::string expect;
};

int connectTo(const Settings& settings) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(settings.port));
  ::inet_pton(AF_INET, settings.host.c_str(), &address.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 && errno != EINPROGRESS) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Size of the whole answer once its head is in `in`; 0 while it is not known yet. A chunked
// answer (a stream) is whole when its last chunk has come: one request is in flight per
// connection, so that chunk ends what was received.
std::size_t answerSize(std::string_view in) {
  const std::size_t headEnd = in.find("\r\n\r\n");
  if (headEnd == std::string_view::npos) return 0;
  const std::string_view head = in.substr(0, headEnd);
  std::size_t at = 0;
  while ((at = head.find('\n', at)) != std::string_view::npos) {
    ++at;
    if (head.size() - at > 15 && strncasecmp(head.data() + at, "content-length:", 15) == 0) {
      return headEnd + 4 + std::strtoull(head.data() + at + 15, nullptr, 10);
    }
    if (head.size() - at >= 26 && strncasecmp(head.data() + at, "transfer-encoding: chunked", 26) == 0) {
      return in.size() > headEnd + 4 && in.ends_with("\r\n0\r\n\r\n") ? in.size() : 0;
    }
  }
  return 0;
}

double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const auto index = static_cast<std::size_t>(p / 100.0 * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(index, sorted.size() - 1)];
}

int run(const Settings& settings) {
  ::prctl(PR_SET_TIMERSLACK, 1UL);  // wake up for a due request within microseconds, not 50
  const int poller = ::epoll_create1(EPOLL_CLOEXEC);
  std::vector<Connection> connections(static_cast<std::size_t>(settings.connections));
  for (std::size_t i = 0; i < connections.size(); ++i) {
    connections[i].fd = connectTo(settings);
    if (connections[i].fd < 0) {
      std::fprintf(stderr, "cannot connect to %s:%d\n", settings.host.c_str(), settings.port);
      return 2;
    }
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u64 = i;
    ::epoll_ctl(poller, EPOLL_CTL_ADD, connections[i].fd, &event);
  }
  const auto interval = std::chrono::duration<double>(1.0 / settings.rate);
  const auto total = static_cast<std::uint64_t>(settings.rate * settings.seconds);
  std::vector<double> latencies;
  latencies.reserve(total);
  std::deque<Clock::time_point> waiting;  // due requests without a free connection
  std::uint64_t scheduled = 0;
  std::uint64_t errors = 0;
  std::vector<std::size_t> idle;
  for (std::size_t i = 0; i < connections.size(); ++i) idle.push_back(i);
  const auto start = Clock::now() + std::chrono::milliseconds(50);
  const auto dueOf = [&](std::uint64_t i) {
    return start + std::chrono::duration_cast<Clock::duration>(interval * static_cast<double>(i));
  };
  const auto hardStop = dueOf(total) + kRequestTimeout;

  const auto send = [&](std::size_t index, Clock::time_point due) {
    Connection& connection = connections[index];
    connection.busy = true;
    connection.due = due;
    connection.in.clear();
    connection.expected = 0;
    // Requests are small: one send fills an empty socket buffer.
    if (::send(connection.fd, settings.request.data(), settings.request.size(), MSG_NOSIGNAL) !=
        static_cast<ssize_t>(settings.request.size())) {
      ++errors;
      connection.busy = false;
    }
  };

  epoll_event events[64];
  char buffer[65536];
  while (true) {
    const auto now = Clock::now();
    while (scheduled < total && dueOf(scheduled) <= now) waiting.push_back(dueOf(scheduled++));
    while (!waiting.empty() && !idle.empty()) {
      send(idle.back(), waiting.front());
      idle.pop_back();
      waiting.pop_front();
    }
    const bool inFlight = idle.size() < connections.size();
    if (scheduled == total && waiting.empty() && !inFlight) break;
    if (now > hardStop) {
      errors += waiting.size() + (connections.size() - idle.size());
      break;
    }
    const auto wakeAt = scheduled < total ? dueOf(scheduled) : hardStop;
    const auto wait = std::max(Clock::duration::zero(), wakeAt - now);
    const auto nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(wait).count();
    const timespec timeout{static_cast<time_t>(nanos / 1000000000), static_cast<long>(nanos % 1000000000)};
    const int ready = ::epoll_pwait2(poller, events, 64, &timeout, nullptr);
    for (int e = 0; e < ready; ++e) {
      const std::size_t index = events[e].data.u64;
      Connection& connection = connections[index];
      while (true) {
        const ssize_t got = ::recv(connection.fd, buffer, sizeof buffer, 0);
        if (got > 0) {
          connection.in.append(buffer, static_cast<std::size_t>(got));
          continue;
        }
        if (got == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
          std::fprintf(stderr, "connection %zu closed by the server\n", index);
          return 3;
        }
        break;
      }
      if (!connection.busy) continue;
      if (connection.expected == 0) connection.expected = answerSize(connection.in);  // chunked: 0 until whole
      if (connection.expected == 0 || connection.in.size() < connection.expected) continue;
      const bool ok = connection.in.compare(0, 12, "HTTP/1.1 200") == 0 &&
                      connection.in.find(settings.expect) != std::string::npos;
      if (ok) {
        latencies.push_back(Micros(Clock::now() - connection.due).count());
      } else {
        ++errors;
      }
      connection.busy = false;
      idle.push_back(index);
    }
  }
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  std::sort(latencies.begin(), latencies.end());
  std::printf("requests=%zu errors=%llu rate=%.0f p50_us=%.0f p90_us=%.0f p99_us=%.0f p999_us=%.0f max_us=%.0f\n",
              latencies.size(), static_cast<unsigned long long>(errors), static_cast<double>(latencies.size()) / elapsed,
              percentile(latencies, 50), percentile(latencies, 90), percentile(latencies, 99),
              percentile(latencies, 99.9), latencies.empty() ? 0.0 : latencies.back());
  for (auto& connection : connections) ::close(connection.fd);
  ::close(poller);
  return errors == 0 && !latencies.empty() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 9) {
    std::fprintf(stderr, "usage: %s HOST PORT PATH BODY_FILE RATE SECONDS CONNECTIONS EXPECT [HEADER: VALUE]...\n", argv[0]);
    return 2;
  }
  Settings settings;
  settings.host = argv[1];
  settings.port = std::atoi(argv[2]);
  std::ifstream file(argv[4], std::ios::binary);
  const std::string body((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  std::string extraHeaders;
  for (int i = 9; i < argc; ++i) extraHeaders += std::string(argv[i]) + "\r\n";
  settings.request = std::string("POST ") + argv[3] + " HTTP/1.1\r\nHost: " + argv[1] +
                     "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
                     "\r\n" + extraHeaders + "\r\n" + body;
  settings.rate = std::atof(argv[5]);
  settings.seconds = std::atof(argv[6]);
  settings.connections = std::atoi(argv[7]);
  settings.expect = argv[8];
  if (!file || settings.port <= 0 || settings.rate <= 0 || settings.seconds <= 0 || settings.seconds > 600 ||
      settings.connections <= 0 || settings.connections > 4096) {
    std::fprintf(stderr, "bad arguments (rate > 0, 0 < seconds <= 600, 0 < connections <= 4096, a readable body file)\n");
    return 2;
  }
  return run(settings);
}
