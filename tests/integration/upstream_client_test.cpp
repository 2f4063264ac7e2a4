// The curl-multi-on-Asio client on its own: pause/resume, timeouts, cancellation.
#include "llmgate/upstream/http_client.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "gateway_harness.hpp"
#include "test_upstream.hpp"

namespace llmgate::testing {
namespace {

using namespace std::chrono_literals;

struct Recorder : upstream::TransferHandler {
  long status = 0;
  std::string body;
  std::optional<std::error_code> result;
  std::function<void(std::string_view)> onBytes;
  void onResponseHead(const upstream::ResponseHead& head) override { status = head.status; }
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
}  // namespace llmgate::testing
