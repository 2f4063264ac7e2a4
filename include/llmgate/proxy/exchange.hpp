// One chat request from routing to the last byte sent: fast-path passthrough, translation
// through the IR, or an in-process (mock) reply. Lives on one worker thread; kept alive by what
// is pending on it (an upstream transfer, a timer, the session's callbacks).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/steady_timer.hpp>

#include "llmgate/api/dialect.hpp"
#include "llmgate/providers/provider.hpp"
#include "llmgate/server/request_handler.hpp"
#include "llmgate/stream/sse_parser.hpp"
#include "llmgate/upstream/http_client.hpp"

namespace llmgate::proxy {

class Gateway;

class Exchange : public std::enable_shared_from_this<Exchange>, public upstream::TransferHandler {
 public:
  Exchange(Gateway& gateway, std::size_t worker, std::shared_ptr<server::ResponseSink> sink,
           const providers::Provider& provider, core::Dialect clientDialect, std::string clientModel,
           std::string requestId, bool clientStream);

  /// Fast path: forwards `request` and relays the upstream bytes untouched.
  void startPassthrough(providers::UpstreamRequest request);
  /// IR path: sends the encoded request and translates the upstream's answer.
  void startTranslated(providers::UpstreamRequest request, bool upstreamStream, bool includeUsage);
  /// In-process reply, paced by its delays.
  void startLocal(providers::LocalReply reply, bool includeUsage);

  // upstream::TransferHandler
  void onResponseHead(const upstream::ResponseHead& head) override;
  void onBody(std::string_view bytes) override;
  void onComplete(std::error_code ec) override;

 private:
  enum class Mode { Passthrough, Translated, Local };

  void sendUpstream(providers::UpstreamRequest request, bool upstreamStream);
  void emit(const std::vector<core::ChatEvent>& events);
  void finishClient();
  void fail(core::GatewayError error);
  void cancel();
  void applyBackpressure();
  void scanPassthroughEvent(std::string_view type, std::string_view data);
  api::StreamWriter& writer(const core::ChatEvent* first);
  std::string defaultId() const;
  void playLocal();
  void noteUsage(const core::Usage& usage);

  Gateway& gateway_;
  std::size_t worker_;
  std::shared_ptr<server::ResponseSink> sink_;
  const providers::Provider& provider_;
  core::Dialect clientDialect_;
  std::string clientModel_;
  std::string requestId_;
  bool clientStream_;
  Mode mode_ = Mode::Passthrough;
  bool done_ = false;
  bool includeUsage_ = false;

  std::shared_ptr<upstream::Transfer> transfer_;
  long upstreamStatus_ = 0;
  bool upstreamFailed_ = false;
  std::string upstreamContentType_;
  std::string retryAfter_;
  std::string buffered_;  // error body, or a non-streaming passthrough body

  std::unique_ptr<providers::ResponseDecoder> decoder_;
  std::unique_ptr<api::StreamWriter> writer_;
  core::ResponseAccumulator accumulator_;
  stream::SseParser passthroughScanner_;
  std::vector<core::ChatEvent> events_;

  std::optional<providers::LocalReply> local_;
  std::size_t localNext_ = 0;
  std::optional<boost::asio::steady_timer> timer_;
};

}  // namespace llmgate::proxy
