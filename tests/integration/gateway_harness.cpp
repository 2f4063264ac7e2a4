#include "gateway_harness.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <thread>

#include <gtest/gtest.h>

#include "llmgate/stream/sse_parser.hpp"
#include "providers/openai/openai_codec.hpp"
#include "providers/anthropic/anthropic_codec.hpp"

namespace llmgate::testing {
namespace {

struct Transfer {
  HttpResult result;
  const std::function<bool(const std::string&)>* onData = nullptr;
};

std::size_t onBody(char* data, std::size_t size, std::size_t count, void* self) {
  auto& transfer = *static_cast<Transfer*>(self);
  std::string piece(data, size * count);
  transfer.result.body += piece;
  if (transfer.onData != nullptr && !(*transfer.onData)(piece)) return 0;
  return size * count;
}

std::size_t onHeader(char* data, std::size_t size, std::size_t count, void* self) {
  auto& transfer = *static_cast<Transfer*>(self);
  std::string line(data, size * count);
  const auto colon = line.find(':');
  if (colon != std::string::npos) {
    std::string name = line.substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    std::string value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(' '));
    value.erase(value.find_last_not_of("\r\n") + 1);
    transfer.result.headers[name] = value;
  }
  return size * count;
}

HttpResult perform(const std::string& url, const std::string* body, const std::vector<std::string>& headers,
                   const std::function<bool(const std::string&)>* onData, const char* method = nullptr) {
  Transfer transfer;
  transfer.onData = onData;
  CURL* easy = curl_easy_init();
  curl_slist* list = nullptr;
  for (const auto& header : headers) list = curl_slist_append(list, header.c_str());
  if (body != nullptr) {
    list = curl_slist_append(list, "Content-Type: application/json");
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body->c_str());
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body->size()));
  }
  bool expectGiven = false;
  for (const auto& header : headers) expectGiven = expectGiven || header.rfind("Expect:", 0) == 0;
  if (!expectGiven) list = curl_slist_append(list, "Expect:");
  curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
  if (method != nullptr) curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, 30000L);
  // Without an answer to "Expect: 100-continue" curl would send the body only after 15 s.
  curl_easy_setopt(easy, CURLOPT_EXPECT_100_TIMEOUT_MS, 15000L);
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &onBody);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, &transfer);
  curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, &onHeader);
  curl_easy_setopt(easy, CURLOPT_HEADERDATA, &transfer);
  const CURLcode code = curl_easy_perform(easy);
  if (code != CURLE_OK) transfer.result.curlError = curl_easy_strerror(code);
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &transfer.result.status);
  curl_slist_free_all(list);
  curl_easy_cleanup(easy);
  return transfer.result;
}

}  // namespace

namespace {

config::Config harnessConfig(const std::string& configJson, int threads) {
  auto config = config::parseConfig(configJson, [](const std::string&) { return std::nullopt; });
  config.server.host = "127.0.0.1";
  config.server.port = 0;
  config.server.threads = threads;
  return config;
}

}  // namespace

GatewayHarness::GatewayHarness(const std::string& configJson, int threads,
                               const std::vector<providers::ProviderFactory>& extraProviders)
    : threads_(threads) {
  const auto config = harnessConfig(configJson, threads);
  auto factories = providers::allProviderFactories();
  factories.insert(factories.end(), extraProviders.begin(), extraProviders.end());
  gateway_ = std::make_shared<proxy::Gateway>(std::make_shared<const config::Config>(config), factories);
  server_ = std::make_unique<server::HttpServer>(config.server, gateway_);
  server_->start();
}

GatewayHarness::~GatewayHarness() { server_->stop(); }

proxy::Gateway::ReloadResult GatewayHarness::reload(const std::string& configJson) {
  return gateway_->reload([&] { return harnessConfig(configJson, threads_); });
}

std::string GatewayHarness::url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(server_->port()) + path;
}

HttpResult GatewayHarness::post(const std::string& path, const std::string& body,
                                const std::vector<std::string>& headers) const {
  return perform(url(path), &body, headers, nullptr);
}

HttpResult GatewayHarness::get(const std::string& path, const std::vector<std::string>& headers) const {
  return perform(url(path), nullptr, headers, nullptr);
}

HttpResult GatewayHarness::remove(const std::string& path, const std::vector<std::string>& headers) const {
  return perform(url(path), nullptr, headers, nullptr, "DELETE");
}

HttpResult GatewayHarness::stream(const std::string& path, const std::string& body,
                                  const std::function<bool(const std::string&)>& onData) const {
  return perform(url(path), &body, {}, &onData);
}

bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return condition();
}

bool redisConnected(GatewayHarness& gateway) {
  return eventually([&] {
    const auto state = gateway.gateway().redis().report();
    return state.connected == state.workers && state.workers > 0;
  });
}

core::ChatResponse clientAnswer(core::Dialect dialect, const std::string& body, bool stream) {
  using nlohmann::json;
  const bool openAi = dialect == core::Dialect::OpenAi;
  if (!stream) {
    const json parsed = json::parse(body, nullptr, false);
    auto decoded = openAi ? providers::openai::decodeResponse(parsed) : providers::anthropic::decodeResponse(parsed);
    EXPECT_TRUE(decoded.ok()) << body;
    return decoded.ok() ? decoded.value() : core::ChatResponse{};
  }
  stream::SseParser parser;
  std::vector<core::ChatEvent> events;
  providers::openai::ChunkDecodeState openAiState;
  providers::anthropic::EventDecodeState anthropicState;
  parser.feed(body, [&](const stream::SseEvent& event) {
    if (event.data == "[DONE]") return;
    const json data = json::parse(event.data, nullptr, false);
    const auto error = openAi ? providers::openai::decodeChunk(data, openAiState, events)
                              : providers::anthropic::decodeEvent(event.type, data, anthropicState, events);
    EXPECT_FALSE(error) << error->message;
  });
  core::ResponseAccumulator accumulator;
  for (const auto& event : events) accumulator.add(event);
  return accumulator.response();
}

}  // namespace llmgate::testing
