// The curl-multi-on-Asio client on its own: pause/resume, timeouts, cancellation.
#include "llmgate/upstream/http_client.hpp"

#include <gtest/gtest.h>

#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "gateway_harness.hpp"
#include "llmgate/core/turn_scope.hpp"
#include "test_upstream.hpp"

namespace llmgate::testing {
namespace {

using namespace std::chrono_literals;

struct Recorder : upstream::TransferHandler {
  long status = 0;
  upstream::ResponseHead head;
  std::string body;
  std::optional<std::error_code> result;
  std::function<void(std::string_view)> onBytes;
  void onResponseHead(const upstream::ResponseHead& received) override {
    status = received.status;
    head = received;
  }
  void onBody(std::string_view bytes) override {
    body.append(bytes);
    if (onBytes) onBytes(bytes);
  }
  void onComplete(std::error_code ec) override { result = ec; }
};

upstream::Request requestTo(const TestUpstream& upstream, std::chrono::milliseconds idle = 5s) {
  upstream::Request request;
  request.url = upstream.baseUrl() + "/chat/completions";
  request.headers = {"Content-Type: application/json"};
  request.body = "{}";
  request.timeouts.idle = idle;
  request.timeouts.firstByte = 5s;
  return request;
}

// Runs the loop for `duration`; a loop that ran out of work is restarted (as a server's never is).
void pump(boost::asio::io_context& io, std::chrono::milliseconds duration) {
  if (io.stopped()) io.restart();
  io.run_for(duration);
}

void runUntil(boost::asio::io_context& io, const std::function<bool()>& done) {
  const auto until = std::chrono::steady_clock::now() + 10s;
  while (!done() && std::chrono::steady_clock::now() < until) pump(io, 5ms);
}

TEST(UpstreamClient, PausedTransferHoldsBytesUntilResumed) {
  std::vector<std::string> chunks;
  for (int i = 0; i < 20; ++i) chunks.push_back("data: " + std::to_string(i) + "\n\n");
  TestUpstream upstream([&](const RecordedRequest&) { return ScriptedResponse::sse(chunks, 2ms); });
  boost::asio::io_context io;
  upstream::HttpClient client(io, config::UpstreamPoolConfig{});
  auto recorder = std::make_shared<Recorder>();
  std::shared_ptr<upstream::Transfer> transfer;
  recorder->onBytes = [&](std::string_view) { transfer->pause(); };
  transfer = client.start(requestTo(upstream), recorder);
  runUntil(io, [&] { return !recorder->body.empty(); });
  const std::string atPause = recorder->body;
  pump(io, 100ms);  // the upstream has sent everything by now; none of it may be delivered
  EXPECT_EQ(recorder->body, atPause);
  EXPECT_FALSE(recorder->result);
  recorder->onBytes = nullptr;
  transfer->resume();
  runUntil(io, [&] { return recorder->result.has_value(); });
  ASSERT_TRUE(recorder->result);
  EXPECT_FALSE(*recorder->result) << recorder->result->message();
  std::string all;
  for (const auto& chunk : chunks) all += chunk;
  EXPECT_EQ(recorder->body, all);
}

// Runs `count` transfers one after another on one client (every odd one a GET, so reused handles
// switch methods); each must complete with a 200 and the body.
void runSequentially(const TestUpstream& upstream, int count, const std::function<void()>& betweenTransfers = {}) {
  boost::asio::io_context io;
  upstream::HttpClient client(io, config::UpstreamPoolConfig{});
  for (int i = 0; i < count; ++i) {
    auto recorder = std::make_shared<Recorder>();
    auto request = requestTo(upstream);
    if (i % 2 == 1) request.body.clear();
    auto transfer = client.start(std::move(request), recorder);
    runUntil(io, [&] { return recorder->result.has_value(); });
    ASSERT_TRUE(recorder->result) << "transfer " << i << " never completed";
    EXPECT_FALSE(*recorder->result) << "transfer " << i << ": " << recorder->result->message();
    EXPECT_EQ(recorder->status, 200);
    EXPECT_EQ(recorder->body, "{\"ok\":true}");
    if (betweenTransfers) betweenTransfers();
  }
}

TEST(UpstreamClient, ResponseHeadersAreFoundInAnyCaseAndTrimmed) {
  TestUpstream upstream([](const RecordedRequest&) {
    auto response = ScriptedResponse::json(429, "{}");
    response.headers.emplace_back("Retry-After", "7");
    response.headers.emplace_back("X-Spaced", "  padded value  ");
    return response;
  });
  boost::asio::io_context io;
  upstream::HttpClient client(io, config::UpstreamPoolConfig{});
  auto recorder = std::make_shared<Recorder>();
  auto transfer = client.start(requestTo(upstream), recorder);
  runUntil(io, [&] { return recorder->result.has_value(); });
  ASSERT_TRUE(recorder->result);
  EXPECT_EQ(recorder->status, 429);
  EXPECT_EQ(recorder->head.header("retry-after"), "7");
  EXPECT_EQ(recorder->head.header("RETRY-AFTER"), "7");
  EXPECT_EQ(recorder->head.header("x-spaced"), "padded value");
  EXPECT_EQ(recorder->head.header("content-type"), "application/json");
  EXPECT_EQ(recorder->head.header("retry"), "");
  EXPECT_EQ(recorder->head.header("missing"), "");
}

TEST(UpstreamClient, PooledConnectionServesSequentialTransfers) {
  TestUpstream upstream([](const RecordedRequest&) { return ScriptedResponse::json(200, "{\"ok\":true}"); });
  runSequentially(upstream, 50);
  EXPECT_EQ(upstream.connectionsAccepted(), 1);
  const auto requests = upstream.requests();
  ASSERT_EQ(requests.size(), 50u);
  for (std::size_t i = 0; i < requests.size(); ++i) {
    EXPECT_EQ(requests[i].method, i % 2 == 0 ? "POST" : "GET") << "request " << i;
    EXPECT_EQ(requests[i].body, i % 2 == 0 ? "{}" : "") << "request " << i;
  }
}

// What curl is asked to do at once for a transfer started inside a core::TurnScope (send the
// request on the pooled connection) is done when the outermost scope ends, without the loop
// running; outside a scope it waits for the loop.
TEST(UpstreamClient, ATurnScopeSendsItsTransfersWhenItEndsWithoutALoopTurn) {
  TestUpstream upstream([](const RecordedRequest&) { return ScriptedResponse::json(200, "{\"ok\":true}"); });
  boost::asio::io_context io;
  upstream::HttpClient client(io, config::UpstreamPoolConfig{});
  const auto complete = [&](const std::shared_ptr<Recorder>& recorder) {
    runUntil(io, [&] { return recorder->result.has_value(); });
    ASSERT_TRUE(recorder->result);
    EXPECT_FALSE(*recorder->result) << recorder->result->message();
    EXPECT_EQ(recorder->body, "{\"ok\":true}");
  };
  auto first = std::make_shared<Recorder>();
  auto opening = client.start(requestTo(upstream), first);  // opens the connection the others reuse
  complete(first);
  ASSERT_EQ(upstream.requests().size(), 1u);
  io.restart();
  io.poll();  // nothing left posted: a run waiting in the loop would take the next transfer along

  auto batched = std::make_shared<Recorder>();
  std::shared_ptr<upstream::Transfer> transfer;
  {
    const core::TurnScope outer;
    {
      const core::TurnScope inner;
      transfer = client.start(requestTo(upstream), batched);
    }
    std::this_thread::sleep_for(50ms);
    EXPECT_EQ(upstream.requests().size(), 1u) << "sent before the outermost scope ended";
  }
  // The loop has not run since the transfer started: only the scope's end can have sent it.
  EXPECT_TRUE(eventually([&] { return upstream.requests().size() == 2; })) << upstream.requests().size();
  complete(batched);

  auto unbatched = std::make_shared<Recorder>();
  transfer = client.start(requestTo(upstream), unbatched);
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(upstream.requests().size(), 2u) << "sent without the loop or a scope";
  complete(unbatched);
  EXPECT_EQ(upstream.requests().size(), 3u);
  EXPECT_EQ(upstream.connectionsAccepted(), 1);
}

// A pooled handle keeps the header list it last sent for the next transfer with the same
// headers; a transfer with other headers (another provider, a refreshed token) must send its own,
// whatever the handles sent before, and never a header of another transfer; a transfer's own
// lines (its request id) go with it alone.
TEST(UpstreamClient, EveryTransferSendsItsOwnHeadersOnReusedHandles) {
  TestUpstream upstream([](const RecordedRequest&) { return ScriptedResponse::json(200, "{\"ok\":true}"); });
  boost::asio::io_context io;
  upstream::HttpClient client(io, config::UpstreamPoolConfig{});
  // authorization, x-extra: the headers that tell the sets apart
  const std::vector<std::pair<std::string, std::string>> sets = {{"Bearer one", ""}, {"Bearer one", ""}, {"Bearer two", "1"}, {"", ""}, {"Bearer three", ""}};
  std::vector<std::size_t> sent;
  // Pairs at once, so two handles are pooled and each is taken in turn by transfers of every set.
  for (std::size_t n = 0; n < 30; n += 2) {
    std::vector<std::shared_ptr<Recorder>> recorders;
    std::vector<std::shared_ptr<upstream::Transfer>> transfers;
    for (std::size_t k = n; k < n + 2; ++k) {
      const auto& [authorization, extra] = sets[k % sets.size()];
      auto request = requestTo(upstream);
      if (!authorization.empty()) request.headers.push_back("Authorization: " + authorization);
      if (!extra.empty()) request.headers.push_back("X-Extra: " + extra);
      request.ownHeaders.push_back("X-Request-Id: r" + std::to_string(k));  // this transfer's alone
      sent.push_back(k % sets.size());
      recorders.push_back(std::make_shared<Recorder>());
      transfers.push_back(client.start(std::move(request), recorders.back()));
    }
    runUntil(io, [&] { return recorders[0]->result.has_value() && recorders[1]->result.has_value(); });
    for (const auto& recorder : recorders) ASSERT_EQ(recorder->status, 200);
  }
  const auto requests = upstream.requests();
  ASSERT_EQ(requests.size(), sent.size());
  const auto carries = [&](const RecordedRequest& request, std::size_t k) {
    std::size_t ids = 0;
    for (const auto& [name, value] : request.headers) ids += name == "x-request-id" ? 1 : 0;
    return request.header("authorization") == sets[sent[k]].first && request.header("x-extra") == sets[sent[k]].second &&
           request.header("content-type") == "application/json" && request.header("expect").empty() &&
           request.header("x-request-id") == "r" + std::to_string(k) && ids == 1;
  };
  // The two of a pair may reach the upstream in either order.
  for (std::size_t i = 0; i < requests.size(); i += 2) {
    const bool inOrder = carries(requests[i], i) && carries(requests[i + 1], i + 1);
    const bool swapped = carries(requests[i], i + 1) && carries(requests[i + 1], i);
    EXPECT_TRUE(inOrder || swapped) << "pair " << i / 2 << ": '" << requests[i].header("authorization") << "', '"
                                    << requests[i + 1].header("authorization") << "'";
  }
}

TEST(UpstreamClient, ConnectionClosedWhilePooledIsReplaced) {
  // Every pooled connection is dead when reused; the new socket often gets the old one's number,
  // which must not inherit the old socket's watch. (The next transfer starts once the upstream
  // has closed: one racing the close could fail on any client.)
  TestUpstream upstream([](const RecordedRequest&) {
    auto response = ScriptedResponse::json(200, "{\"ok\":true}");
    response.fault = ScriptedResponse::Fault::CloseAfterResponse;
    return response;
  });
  runSequentially(upstream, 20, [&] {
    const auto until = std::chrono::steady_clock::now() + 5s;
    while (upstream.connectionsOpen() > 0 && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(1ms);
  });
  EXPECT_EQ(upstream.connectionsAccepted(), 20);
}

TEST(UpstreamClient, HandlesOfPausedOrCancelledTransfersDoNotHarmTheNextOnes) {
  std::vector<std::string> chunks;
  for (int i = 0; i < 20; ++i) chunks.push_back("data: " + std::to_string(i) + "\n\n");
  TestUpstream upstream([&](const RecordedRequest& request) {
    return request.body == "{}" ? ScriptedResponse::sse(chunks, 2ms) : ScriptedResponse::json(200, "{\"ok\":true}");
  });
  boost::asio::io_context io;
  upstream::HttpClient client(io, config::UpstreamPoolConfig{});
  // A stream paused by backpressure whose client then goes away, and one cancelled mid-body.
  for (const bool pauseFirst : {true, false}) {
    auto recorder = std::make_shared<Recorder>();
    std::shared_ptr<upstream::Transfer> transfer;
    recorder->onBytes = [&, pauseFirst](std::string_view) {
      if (pauseFirst) {
        transfer->pause();
      } else {
        transfer->cancel();
      }
    };
    transfer = client.start(requestTo(upstream), recorder);
    runUntil(io, [&] { return !recorder->body.empty(); });
    pump(io, 20ms);
    transfer->cancel();
    EXPECT_FALSE(recorder->result) << "a cancelled transfer reports nothing";
  }
  // The handles go back to the pool; every later transfer must run normally on them.
  for (int i = 0; i < 4; ++i) {
    auto recorder = std::make_shared<Recorder>();
    auto request = requestTo(upstream);
    request.body = "{\"n\":1}";
    auto transfer = client.start(std::move(request), recorder);
    runUntil(io, [&] { return recorder->result.has_value(); });
    ASSERT_TRUE(recorder->result) << "transfer " << i << " never completed";
    EXPECT_FALSE(*recorder->result) << recorder->result->message();
    EXPECT_EQ(recorder->body, "{\"ok\":true}");
  }
}

TEST(UpstreamClient, IdleTimeoutFiresWhenAStreamGoesSilent) {
  TestUpstream upstream([](const RecordedRequest&) {
    auto response = ScriptedResponse::sse({"data: 1\n\n", "data: 2\n\n"}, 1000ms);
    return response;
  });
  boost::asio::io_context io;
  upstream::HttpClient client(io, config::UpstreamPoolConfig{});
  auto recorder = std::make_shared<Recorder>();
  client.start(requestTo(upstream, 150ms), recorder);
  runUntil(io, [&] { return recorder->result.has_value(); });
  ASSERT_TRUE(recorder->result);
  EXPECT_EQ(*recorder->result, upstream::makeErrorCode(upstream::Errc::idle_timeout));
  EXPECT_EQ(recorder->body, "data: 1\n\n");
  EXPECT_EQ(upstream::classify(*recorder->result, true).code, "upstream_idle_timeout");
  EXPECT_EQ(client.activeTransfers(), 0u);
}

// The first-byte deadline comes first and the idle one is longer: after the first byte, the
// timer armed for the first byte finds the stream still within its idle time and waits on.
TEST(UpstreamClient, AnIdleTimeoutLongerThanTheFirstByteWaitStillHolds) {
  TestUpstream upstream([](const RecordedRequest&) { return ScriptedResponse::sse({"data: 1\n\n", "data: 2\n\n"}, 1500ms); });
  boost::asio::io_context io;
  upstream::HttpClient client(io, config::UpstreamPoolConfig{});
  auto recorder = std::make_shared<Recorder>();
  auto request = requestTo(upstream, 500ms);
  request.timeouts.firstByte = 150ms;
  const auto started = std::chrono::steady_clock::now();
  client.start(std::move(request), recorder);
  runUntil(io, [&] { return recorder->result.has_value(); });
  const auto elapsed = std::chrono::steady_clock::now() - started;
  ASSERT_TRUE(recorder->result);
  EXPECT_EQ(*recorder->result, upstream::makeErrorCode(upstream::Errc::idle_timeout));
  EXPECT_EQ(recorder->body, "data: 1\n\n");
  EXPECT_GE(elapsed, 450ms) << "cut at the first-byte deadline instead of the idle one";
  EXPECT_LT(elapsed, 1400ms) << "the idle deadline was not kept";
}

TEST(UpstreamClient, CancelStopsDeliveryAndClosesTheConnection) {
  std::vector<std::string> chunks(200, "data: x\n\n");
  TestUpstream upstream([&](const RecordedRequest&) { return ScriptedResponse::sse(chunks, 5ms); });
  boost::asio::io_context io;
  upstream::HttpClient client(io, config::UpstreamPoolConfig{});
  auto recorder = std::make_shared<Recorder>();
  auto transfer = client.start(requestTo(upstream), recorder);
  runUntil(io, [&] { return recorder->body.size() > 20; });
  transfer->cancel();
  EXPECT_FALSE(transfer->active());
  EXPECT_EQ(client.activeTransfers(), 0u);
  ASSERT_TRUE(eventually([&] { return upstream.lastPeerGone().has_value(); }, 2s));
  pump(io, 50ms);
  EXPECT_FALSE(recorder->result);  // a cancelled transfer reports nothing
}

TEST(UpstreamClient, CancelFromInsideTheBodyCallbackIsSafe) {
  std::vector<std::string> chunks(50, "data: x\n\n");
  TestUpstream upstream([&](const RecordedRequest&) { return ScriptedResponse::sse(chunks, 2ms); });
  boost::asio::io_context io;
  upstream::HttpClient client(io, config::UpstreamPoolConfig{});
  auto recorder = std::make_shared<Recorder>();
  std::shared_ptr<upstream::Transfer> transfer;
  recorder->onBytes = [&](std::string_view) { transfer->cancel(); };
  transfer = client.start(requestTo(upstream), recorder);
  runUntil(io, [&] { return client.activeTransfers() == 0; });
  EXPECT_EQ(client.activeTransfers(), 0u);
  pump(io, 50ms);
  EXPECT_FALSE(recorder->result);
  // The client still works afterwards.
  auto second = std::make_shared<Recorder>();
  client.start(requestTo(upstream), second);
  runUntil(io, [&] { return second->result.has_value(); });
  ASSERT_TRUE(second->result);
  EXPECT_FALSE(*second->result);
  EXPECT_EQ(second->body.size(), 50u * 9);
}

}  // namespace
// URLs are parsed once per client and the parsed ones dropped beyond a bound: transfers in
// flight when that happens keep theirs, every path reaches the upstream as it was given, and a
// URL libcurl cannot parse fails its transfer alone.
TEST(UpstreamClient, ParsedUrlsAreReusedAndDroppedSafely) {
  TestUpstream upstream([](const RecordedRequest& request) { return ScriptedResponse::json(200, "{\"path\":\"" + request.target + "\"}"); });
  boost::asio::io_context io;
  upstream::HttpClient client(io, config::UpstreamPoolConfig{});
  constexpr int kTransfers = 300;  // beyond the bound of 256 distinct URLs
  std::vector<std::shared_ptr<Recorder>> recorders;
  std::vector<std::shared_ptr<upstream::Transfer>> transfers;
  for (int i = 0; i < kTransfers; ++i) {
    auto request = requestTo(upstream);
    request.url = upstream.baseUrl() + "/models/m" + std::to_string(i % 280) + ":generate?alt=sse";
    recorders.push_back(std::make_shared<Recorder>());
    transfers.push_back(client.start(std::move(request), recorders.back()));
  }
  auto broken = requestTo(upstream);
  broken.url = "http://[::1";
  auto brokenRecorder = std::make_shared<Recorder>();
  client.start(std::move(broken), brokenRecorder);
  runUntil(io, [&] {
    for (const auto& recorder : recorders) {
      if (!recorder->result) return false;
    }
    return brokenRecorder->result.has_value();
  });
  for (int i = 0; i < kTransfers; ++i) {
    ASSERT_TRUE(recorders[i]->result) << i;
    EXPECT_FALSE(*recorders[i]->result) << i << ": " << recorders[i]->result->message();
    EXPECT_EQ(recorders[i]->body, "{\"path\":\"/v1/models/m" + std::to_string(i % 280) + ":generate?alt=sse\"}");
  }
  ASSERT_TRUE(brokenRecorder->result);
  EXPECT_TRUE(*brokenRecorder->result) << "an unparsable URL is an error for its transfer";
  // Sequential reuse after the bound was passed: handles and parsed URLs still right.
  for (int i = 0; i < 3; ++i) {
    auto again = std::make_shared<Recorder>();
    client.start(requestTo(upstream), again);
    runUntil(io, [&] { return again->result.has_value(); });
    ASSERT_TRUE(again->result);
    EXPECT_FALSE(*again->result);
    EXPECT_EQ(again->body, "{\"path\":\"/v1/chat/completions\"}");
  }
}

}  // namespace llmgate::testing
