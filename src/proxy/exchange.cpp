#include "llmgate/proxy/exchange.hpp"

#include <charconv>
#include <chrono>
#include <cmath>

#include "llmgate/api/anthropic_codec.hpp"
#include "llmgate/api/openai_codec.hpp"
#include "llmgate/log/log.hpp"
#include "llmgate/proxy/gateway.hpp"

namespace llmgate::proxy {
namespace {

using core::ErrorKind;
using core::GatewayError;
using nlohmann::json;

constexpr std::size_t kMaxBufferedBody = 64 * 1024 * 1024;  // non-streaming upstream answers
constexpr std::size_t kMaxErrorBody = 1024 * 1024;

// Usage as the upstream of `dialect` reports it in a response body or stream event.
std::optional<core::Usage> usageIn(core::Dialect dialect, const json& document) {
  const json* usage = nullptr;
  if (auto it = document.find("usage"); it != document.end() && it->is_object()) usage = &*it;
  if (auto message = document.find("message"); usage == nullptr && message != document.end() && message->is_object()) {
    if (auto it = message->find("usage"); it != message->end() && it->is_object()) usage = &*it;
  }
  if (usage == nullptr) return std::nullopt;
  return dialect == core::Dialect::Anthropic ? api::anthropic::decodeUsage(*usage) : api::openai::decodeUsage(*usage);
}

upstream::Timeouts timeoutsFor(const providers::Provider& provider, bool stream) {
  const auto& t = provider.config().timeouts;
  upstream::Timeouts out;
  out.connect = std::chrono::milliseconds(t.connectMs);
  out.firstByte = std::chrono::milliseconds(t.firstByteMs);
  out.idle = std::chrono::milliseconds(t.idleMs);
  out.total = std::chrono::milliseconds(stream ? t.streamTotalMs : t.totalMs);
  return out;
}

}  // namespace

Exchange::Exchange(Gateway& gateway, std::size_t worker, std::shared_ptr<server::ResponseSink> sink,
                   const providers::Provider& provider, core::Dialect clientDialect, std::string clientModel,
                   std::string requestId, bool clientStream)
    : gateway_(gateway),
      worker_(worker),
      sink_(std::move(sink)),
      provider_(provider),
      clientDialect_(clientDialect),
      clientModel_(std::move(clientModel)),
      requestId_(std::move(requestId)),
      clientStream_(clientStream) {}

void Exchange::sendUpstream(providers::UpstreamRequest request, bool upstreamStream) {
  sink_->onClientGone([self = shared_from_this()] { self->cancel(); });
  upstream::Request out;
  out.url = std::move(request.url);
  out.headers = std::move(request.headers);
  out.headers.push_back("x-request-id: " + requestId_);
  out.body = std::move(request.body);
  out.timeouts = timeoutsFor(provider_, upstreamStream);
  transfer_ = gateway_.httpClient(worker_).start(std::move(out), shared_from_this());
}

void Exchange::startPassthrough(providers::UpstreamRequest request) {
  mode_ = Mode::Passthrough;
  sendUpstream(std::move(request), clientStream_);
}

void Exchange::startTranslated(providers::UpstreamRequest request, bool upstreamStream, bool includeUsage) {
  mode_ = Mode::Translated;
  includeUsage_ = includeUsage;
  decoder_ = provider_.makeDecoder(upstreamStream);
  sendUpstream(std::move(request), upstreamStream);
}

void Exchange::startLocal(providers::LocalReply reply, bool includeUsage) {
  mode_ = Mode::Local;
  includeUsage_ = includeUsage;
  local_ = std::move(reply);
  timer_.emplace(gateway_.loop(worker_));
  sink_->onClientGone([self = shared_from_this()] { self->cancel(); });
  if (clientStream_) sink_->startStream(200, "text/event-stream");
  timer_->expires_after(local_->firstEventDelay);
  timer_->async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (!ec) self->playLocal();
  });
}

void Exchange::playLocal() {
  if (done_) return;
  auto& events = local_->events;
  const bool paced = clientStream_ && local_->eventInterval.count() > 0;
  // Without pacing everything goes out in one write; with it, one event per interval (and a
  // content event per tick, so the pacing is what a client sees).
  while (localNext_ < events.size()) {
    emit({events[localNext_++]});
    if (done_) return;
    const auto kind = events[localNext_ - 1].kind;
    const bool visible = kind == core::EventKind::TextDelta || kind == core::EventKind::ToolCallDelta ||
                         kind == core::EventKind::ToolCallStart;
    if (paced && visible && localNext_ < events.size()) break;
  }
  if (localNext_ >= events.size()) {
    finishClient();
    return;
  }
  auto next = [self = shared_from_this()] {
    self->timer_->expires_after(self->local_->eventInterval);
    self->timer_->async_wait([self](boost::system::error_code ec) {
      if (!ec) self->playLocal();
    });
  };
  if (sink_->congested()) {
    sink_->onDrained(next);
  } else {
    next();
  }
}

void Exchange::onResponseHead(const upstream::ResponseHead& head) {
  if (done_) return;
  upstreamStatus_ = head.status;
  upstreamContentType_ = std::string(head.header("content-type"));
  if (head.status < 200 || head.status >= 300) {
    upstreamFailed_ = true;
    // Both SDK families back off on these; pass the upstream's wish on.
    if (auto seconds = head.header("retry-after"); !seconds.empty()) {
      retryAfter_ = std::string(seconds);
    } else if (auto ms = head.header("retry-after-ms"); !ms.empty()) {
      double value = 0;
      std::from_chars(ms.data(), ms.data() + ms.size(), value);
      if (value > 0) retryAfter_ = std::to_string(static_cast<long long>(std::ceil(value / 1000.0)));
    }
    return;
  }
  if (clientStream_) {
    const bool eventStream = upstreamContentType_.rfind("text/event-stream", 0) == 0;
    sink_->startStream(200, mode_ == Mode::Passthrough && !eventStream && !upstreamContentType_.empty()
                                ? upstreamContentType_
                                : std::string("text/event-stream"));
  }
}

void Exchange::onBody(std::string_view bytes) {
  if (done_) return;
  if (upstreamFailed_) {
    if (buffered_.size() < kMaxErrorBody) buffered_.append(bytes.substr(0, kMaxErrorBody - buffered_.size()));
    return;
  }
  if (mode_ == Mode::Passthrough) {
    if (!clientStream_) {
      if (buffered_.size() + bytes.size() > kMaxBufferedBody) {
        fail(GatewayError::make(ErrorKind::Protocol, "upstream_response_too_large", "upstream response is too large"));
        return;
      }
      buffered_.append(bytes);
      return;
    }
    sink_->writeChunk(std::string(bytes));
    // Read along only to notice usage and in-stream errors for the log.
    passthroughScanner_.feed(bytes, [this](const stream::SseEvent& event) { scanPassthroughEvent(event.type, event.data); });
    applyBackpressure();
    return;
  }
  events_.clear();
  if (auto error = decoder_->feed(bytes, events_)) {
    fail(std::move(*error));
    return;
  }
  emit(events_);
  applyBackpressure();
}

void Exchange::scanPassthroughEvent(std::string_view type, std::string_view data) {
  // Only the few events that carry usage or an error are parsed.
  const bool hasUsage = data.find("\"usage\":{") != std::string_view::npos;
  const bool hasError = type == "error" || data.find("\"error\"") != std::string_view::npos;
  if (!hasUsage && !hasError) return;
  json event = json::parse(data, nullptr, false);
  if (!event.is_object()) return;
  if (auto usage = usageIn(clientDialect_, event)) noteUsage(*usage);
  if (hasError && event.contains("error") && !event["error"].is_null()) {
    sink_->log().errorCode = "upstream_stream_error";
    log::message(spdlog::level::warn, "request " + requestId_ + ": upstream " + provider_.name() +
                                          " sent an error inside the stream");
  }
}

void Exchange::noteUsage(const core::Usage& usage) {
  sink_->log().inputTokens = usage.inputTokens;
  sink_->log().outputTokens = usage.outputTokens;
}

void Exchange::applyBackpressure() {
  if (!transfer_ || !sink_->congested()) return;
  transfer_->pause();
  sink_->onDrained([self = shared_from_this()] {
    if (self->transfer_) self->transfer_->resume();
  });
}

void Exchange::onComplete(std::error_code ec) {
  if (done_) return;
  if (ec) {
    fail(upstream::classify(ec, upstreamStatus_ != 0));
    return;
  }
  if (upstreamFailed_) {
    const std::string code = "upstream_http_" + std::to_string(upstreamStatus_);
    log::message(upstreamStatus_ >= 500 ? spdlog::level::warn : spdlog::level::info,
                 "request " + requestId_ + ": upstream " + provider_.name() + " answered HTTP " +
                     std::to_string(upstreamStatus_));
    sink_->log().errorCode = code;
    if (mode_ == Mode::Passthrough && api::isErrorBody(clientDialect_, buffered_)) {
      // Same dialect: the client gets the upstream's error exactly as it was sent.
      done_ = true;
      transfer_.reset();
      server::HeaderList headers;
      if (!retryAfter_.empty()) headers.emplace_back("retry-after", retryAfter_);
      sink_->sendResponse(static_cast<int>(upstreamStatus_), "application/json", std::move(buffered_), headers);
      return;
    }
    GatewayError error = provider_.decodeError(static_cast<int>(upstreamStatus_), buffered_);
    error.retryAfter = retryAfter_;
    if (error.code.empty()) sink_->log().errorCode = code;
    fail(std::move(error));
    return;
  }
  if (mode_ == Mode::Passthrough) {
    done_ = true;
    if (clientStream_) {
      sink_->endStream();
    } else {
      json body = json::parse(buffered_, nullptr, false);
      if (body.is_object()) {
        if (auto usage = usageIn(clientDialect_, body)) noteUsage(*usage);
      }
      sink_->sendResponse(static_cast<int>(upstreamStatus_),
                          upstreamContentType_.empty() ? std::string_view("application/json") : upstreamContentType_,
                          std::move(buffered_));
    }
    transfer_.reset();
    return;
  }
  events_.clear();
  if (auto error = decoder_->finish(events_)) {
    fail(std::move(*error));
    return;
  }
  emit(events_);
  finishClient();
}

std::string Exchange::defaultId() const {
  return (clientDialect_ == core::Dialect::Anthropic ? "msg_" : "chatcmpl-") + requestId_;
}

api::StreamWriter& Exchange::writer(const core::ChatEvent* first) {
  if (!writer_) {
    // The first event fixes the id and model every chunk repeats.
    const bool start = first != nullptr && first->kind == core::EventKind::Start;
    writer_ = api::makeStreamWriter(clientDialect_, start && !first->id.empty() ? first->id : defaultId(),
                                    start && !first->name.empty() ? first->name : clientModel_, includeUsage_);
  }
  return *writer_;
}

void Exchange::emit(const std::vector<core::ChatEvent>& events) {
  if (events.empty() || done_) return;
  std::string out;
  for (const auto& event : events) {
    if (event.kind == core::EventKind::UsageReport) noteUsage(event.usage);
    if (clientStream_) {
      writer(&event).encode(event, out);
    } else {
      accumulator_.add(event);
    }
  }
  if (!out.empty()) sink_->writeChunk(std::move(out));
}

void Exchange::finishClient() {
  if (done_) return;
  done_ = true;
  transfer_.reset();
  if (clientStream_) {
    std::string out;
    writer(nullptr).finish(out);
    sink_->writeChunk(std::move(out));
    sink_->endStream();
    return;
  }
  auto& response = accumulator_.response();
  if (response.id.empty()) response.id = defaultId();
  if (response.model.empty()) response.model = clientModel_;
  if (response.choices.empty()) response.choices.push_back(core::Choice{});
  sink_->sendResponse(200, "application/json", api::encodeResponse(clientDialect_, response));
}

void Exchange::fail(GatewayError error) {
  if (done_) return;
  done_ = true;
  if (transfer_) {
    transfer_->cancel();
    transfer_.reset();
  }
  if (!error.code.empty()) sink_->log().errorCode = error.code;
  if (!sink_->started()) {
    server::HeaderList headers;
    if (!error.retryAfter.empty()) headers.emplace_back("retry-after", error.retryAfter);
    sink_->sendResponse(error.status, "application/json", api::encodeError(clientDialect_, error), headers);
    return;
  }
  // The stream has begun: the error travels inside it, as the SDKs expect.
  log::message(spdlog::level::warn, "request " + requestId_ + ": stream from " + provider_.name() +
                                        " failed after it started (" + error.code + "): " + error.message);
  std::string out;
  writer(nullptr).encodeError(error, out);
  sink_->writeChunk(std::move(out));
  sink_->endStream();
}

void Exchange::cancel() {
  if (done_) return;
  done_ = true;
  if (transfer_) {
    transfer_->cancel();
    transfer_.reset();
  }
  if (timer_) timer_->cancel();
  log::message(spdlog::level::info, "request " + requestId_ + ": client went away; upstream work cancelled");
}

}  // namespace llmgate::proxy
