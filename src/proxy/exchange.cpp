#include "llmgate/proxy/exchange.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <functional>
#include <random>

#include <boost/asio/post.hpp>

#include "llmgate/api/dialect.hpp"
#include "llmgate/log/log.hpp"
#include "llmgate/proxy/generation.hpp"
#include "llmgate/proxy/error_response.hpp"
#include "llmgate/resilience/retry_state.hpp"
#include "llmgate/core/json_field.hpp"
#include "llmgate/core/json_read.hpp"
#include "llmgate/core/json_text.hpp"
#include "llmgate/core/needle.hpp"

namespace llmgate::proxy {
namespace {

using core::ErrorKind;
using core::GatewayError;
using nlohmann::json;
using resilience::Clock;
using resilience::Millis;

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
  return api::decodeUsage(dialect, *usage);
}

// Appends ", name;dur=1.234" (milliseconds, three decimals) without a float formatter: this
// header is on every response.
void appendTiming(std::string& value, std::string_view name, double ms) {
  if (!value.empty()) value += ", ";
  value += name;
  value += ";dur=";
  core::appendFixed(value, std::max(0.0, ms), 3);
}

// Every streamed event is searched for these, in one pass: bit 0 usage, bit 1 an error.
const core::Needles kUsageOrError({"\"usage\":{", "\"error\""});

double unitRandom() {
  thread_local std::mt19937_64 random{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(random);
}

}  // namespace

Exchange::Exchange(ExchangeContext context, std::shared_ptr<server::ResponseSink> sink, ExchangePlan plan)
    : context_(context),
      sink_(std::move(sink)),
      plan_(std::move(plan)),
      tried_(plan_.candidates.size(), false),
      timer_(context_.loop),
      keepalive_(context_.loop) {}

Exchange::~Exchange() {
  if (countedAsStream_) context_.metrics.activeStreams.add(-1);
  try {
    if (plan_.flight && plan_.leadsFlight) plan_.flight->end(Flight::State::Failed);  // no-op once it ended
    stopFollowing();
  } catch (...) {
    // Out of memory telling the followers: they end with their own deadlines.
  }
}

template <class Step>
void Exchange::contain(const char* where, Step&& step) noexcept {
  try {
    step();
  } catch (const std::exception& error) {
    failInternally(where, error.what());
  } catch (...) {
    failInternally(where, "an exception of unknown type");
  }
}

void Exchange::failInternally(const char* where, std::string_view what) noexcept {
  try {
    log::message(spdlog::level::err,
                 "request " + plan_.requestId + ": internal error in " + where + ": " + std::string(what));
    context_.metrics.internalErrors.add();
    if (!done_) {
      fail(GatewayError::make(ErrorKind::Internal, "internal_error",
                              "the gateway failed while handling this request (see its x-request-id in the gateway log)"));
      return;
    }
  } catch (...) {
    // Even the error answer failed: the connection is all that is left to end.
  }
  sink_->abort();
}

double Exchange::sinceReceived() const {
  return std::chrono::duration<double, std::milli>(Clock::now() - plan_.receivedAt).count();
}

void Exchange::endUpstreamWait() {
  if (!waitingOnUpstream_) return;
  waitingOnUpstream_ = false;
  sink_->log().stages.upstreamMs += std::chrono::duration<double, std::milli>(Clock::now() - attemptStarted_).count();
}

server::HeaderList Exchange::timingHeaders(server::HeaderList headers) const {
  // RFC-less but de facto (W3C Server Timing): durations in ms, readable in browser dev tools.
  const auto& stages = sink_->log().stages;
  double upstream = stages.upstreamMs;
  if (waitingOnUpstream_) upstream += std::chrono::duration<double, std::milli>(Clock::now() - attemptStarted_).count();
  std::string value;
  value.reserve(96);
  appendTiming(value, "route", stages.routedMs);
  if (stages.convertMs >= 0) appendTiming(value, "convert", stages.convertMs);
  if (stages.upstreamConnectMs > 0) appendTiming(value, "upstream-connect", stages.upstreamConnectMs);
  if (waitingOnUpstream_ || stages.upstreamMs > 0) appendTiming(value, "upstream", upstream);
  appendTiming(value, "gateway", sinceReceived() - upstream);
  headers.emplace_back("server-timing", std::move(value));
  headers.insert(headers.end(), plan_.responseHeaders.begin(), plan_.responseHeaders.end());
  return headers;
}

void Exchange::start() {
  if (plan_.clientStream) {
    countedAsStream_ = true;
    context_.metrics.activeStreams.add(1);
  }
  sink_->onClientGone([self = shared_from_this()] { self->contain("client disconnect", [&] { self->cancel(); }); });
  contain("start", [&] {
    if (plan_.limitedKey != nullptr) {
      admit();
    } else {
      lookUpCache();
    }
  });
}

void Exchange::begin() {
  if (plan_.flight && !plan_.leadsFlight) {
    // Nothing of its own goes upstream: its tokens are the leader's.
    if (admission_) admission_->reportUsage(0, 0);
    follower_ = plan_.flight->follow([loop = &context_.loop, weak = weak_from_this()] {
      postStep(*loop, weak, "coalesced answer", &Exchange::follow);
    });
    if (plan_.clientStream && context_.generation->config->streamKeepaliveMs > 0) armKeepalive();
    if (plan_.deadline) {
      // Its own deadline holds, whatever the leader's is.
      timer_.expires_at(*plan_.deadline);
      timer_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
        auto self = weak.lock();
        if (ec || !self || !self->plan_.flight || self->plan_.leadsFlight) return;
        self->contain("deadline", [&] {
          self->fail(GatewayError::make(ErrorKind::Timeout, "deadline_exceeded",
                                        "the request's deadline passed while it waited for an identical one in flight"));
        });
      });
    }
    follow();
    return;
  }
  if (plan_.cachedAnswer) {
    // Served from the cache: no upstream tokens spent, and an id of its own.
    if (admission_) admission_->reportUsage(0, 0);
    core::ChatResponse answer = *plan_.cachedAnswer;
    answer.id.clear();
    mode_ = Mode::Local;
    startLocal(providers::LocalReply{core::toEvents(answer), {}, {}});
    return;
  }
  if (plan_.clientStream && context_.generation->config->streamKeepaliveMs > 0) armKeepalive();
  runAttempt();
}

void Exchange::follow() {
  if (done_ || !plan_.flight) return;
  if (sink_->started() && sink_->congested()) {
    // Its client reads slower than the answer comes: it reads on when its queue drains, and
    // is cut rather than buffered without end when it falls too far behind.
    if (plan_.flight->bytesBehind(flightCursor_) > kMaxFollowerBacklog) {
      fail(GatewayError::make(ErrorKind::Unavailable, "client_too_slow",
                              "this client fell too far behind the shared answer it was waiting for"));
      return;
    }
    if (!awaitingDrain_) {
      awaitingDrain_ = true;
      sink_->onDrained([weak = weak_from_this()] {
        if (auto self = weak.lock()) {
          self->awaitingDrain_ = false;
          self->contain("coalesced answer", [&] { self->follow(); });
        }
      });
    }
    return;
  }
  auto read = plan_.flight->read(flightCursor_, kFollowBatch);
  for (auto& event : read.events) {
    if (event.kind == core::EventKind::Start) event.id.clear();  // an id of its own
  }
  // The stream's head goes with its first event: until then a failed leader leaves this
  // request free to ask on its own and answer with any status.
  if (plan_.clientStream && !read.events.empty() && !sink_->started()) {
    sink_->startStream(200, "text/event-stream", timingHeaders());
  }
  emit(read.events);
  if (done_) return;
  if (read.left > 0) {
    // The rest after other work on this loop has had its turn.
    postStep(context_.loop, weak_from_this(), "coalesced answer", &Exchange::follow);
    return;
  }
  if (read.state == Flight::State::Landed) {
    finishClient();
  } else if (read.state == Flight::State::Failed) {
    // The leader got no answer: this request asks on its own, from the start.
    stopFollowing();
    plan_.flight.reset();
    timer_.cancel();
    keepalive_.cancel();
    if (contentSent_) {
      fail(GatewayError::make(ErrorKind::Upstream, "upstream_error", "the shared answer was cut short"));
      return;
    }
    accumulator_ = core::ResponseAccumulator{};
    writer_.reset();
    begin();
  }
}

void Exchange::postStep(boost::asio::io_context& loop, std::weak_ptr<Exchange> exchange, const char* where,
                        void (Exchange::*step)()) {
  boost::asio::post(loop, [exchange = std::move(exchange), where, step] {
    if (auto self = exchange.lock()) self->contain(where, [&] { ((*self).*step)(); });
  });
}

bool Exchange::goHeadless(const char* why) {
  // Others wait on this answer: it goes on without its client until the last of them leaves.
  headless_ = true;
  const bool followed = plan_.flight->leaderLeft([loop = &context_.loop, weak = weak_from_this()] {
    postStep(*loop, weak, "last follower gone", &Exchange::cancel);
  });
  if (!followed) return false;
  // Paused for this client's queue, it would wait for a drain that no longer comes.
  if (transfer_) transfer_->resume();
  log::message(spdlog::level::info, "request " + plan_.requestId + ": " + why + "; the upstream call goes on for " +
                                        std::to_string(plan_.flight->followers()) + " identical requests waiting on it");
  return true;
}

void Exchange::stopFollowing() {
  if (!plan_.flight || plan_.leadsFlight || leftFlight_) return;
  leftFlight_ = true;
  if (follower_ != 0) {
    plan_.flight->unfollow(follower_);
  } else {
    plan_.flight->unboard();  // it had not followed yet
  }
  follower_ = 0;
}

void Exchange::admit() {
  context_.limiter.admit(context_.worker, *plan_.limitedKey, plan_.estimatedTokens,
                         [self = shared_from_this()](const limits::Decision& decision,
                                                     std::shared_ptr<limits::Admission> admission) {
    self->contain("admission", [&] { self->admitted(decision, std::move(admission)); });
  });
}

void Exchange::lookUpCache() {
  if (!plan_.cache || !plan_.cache->lookUp) {
    begin();
    return;
  }
  context_.responseCache.lookUp(context_.worker, plan_.cache->key,
                                [self = shared_from_this()](std::shared_ptr<const core::ChatResponse> answer, bool shared) {
    self->contain("response cache", [&] { self->lookedUp(std::move(answer), shared); });
  });
}

void Exchange::lookedUp(std::shared_ptr<const core::ChatResponse> answer, bool shared) {
  if (done_) {
    // The client left while Redis was asked: nothing went upstream, nothing is charged.
    if (admission_) admission_->reportUsage(0, 0);
    return;
  }
  std::string status = answer ? "hit" : "miss";
  plan_.cachedAnswer = std::move(answer);
  if (shared) plan_.responseHeaders.emplace_back("x-llmgate-cache-level", "shared");
  if (!plan_.cachedAnswer && plan_.cache->coalesce) {
    auto boarding = context_.flights.board(plan_.cache->key);
    plan_.flight = std::move(boarding.flight);
    plan_.leadsFlight = boarding.leads;
    // The answer is the leader's, which keeps it.
    if (!boarding.leads) plan_.responseHeaders.emplace_back("x-llmgate-coalesced", "true");
  }
  plan_.responseHeaders.emplace_back("x-llmgate-cache-status", status);
  sink_->log().cache = std::move(status);
  begin();
}

void Exchange::admitted(const limits::Decision& decision, std::shared_ptr<limits::Admission> admission) {
  if (done_) {
    // The client left while it was decided: nothing went upstream, so nothing is charged but
    // the request, and the hold goes with `admission`.
    if (admission) admission->reportUsage(0, 0);
    return;
  }
  auto& headers = plan_.responseHeaders;
  if (decision.limitRequests >= 0) {
    headers.emplace_back("x-ratelimit-limit-requests", std::to_string(decision.limitRequests));
    headers.emplace_back("x-ratelimit-remaining-requests", std::to_string(decision.remainingRequests));
    headers.emplace_back("x-ratelimit-reset-requests", limits::resetText(decision.resetRequests));
  }
  if (decision.limitTokens >= 0) {
    headers.emplace_back("x-ratelimit-limit-tokens", std::to_string(decision.limitTokens));
    headers.emplace_back("x-ratelimit-remaining-tokens", std::to_string(decision.remainingTokens));
    headers.emplace_back("x-ratelimit-reset-tokens", limits::resetText(decision.resetTokens));
  }
  if (decision.admitted) {
    admission_ = std::move(admission);
    lookUpCache();
    return;
  }
  const auto& key = *plan_.limitedKey;
  const std::int64_t waitMs = decision.retryAfter.count();
  headers.emplace_back("retry-after-ms", std::to_string(waitMs));
  GatewayError error;
  if (decision.reason == "budget") {
    error = GatewayError::make(ErrorKind::RateLimited, "insufficient_quota",
                               "The token budget of key `" + key.name + "` (" + std::to_string(key.budgetTokens) +
                                   " tokens per " + key.budgetPeriod + ") is used up; it renews in " +
                                   limits::resetText(decision.retryAfter) + ".");
  } else {
    const std::string what = decision.reason == "rpm"   ? "requests per minute (limit " + std::to_string(key.rpm) + ")"
                             : decision.reason == "tpm" ? "tokens per minute (limit " + std::to_string(key.tpm) + ")"
                                                        : "requests at once (limit " + std::to_string(key.maxConcurrent) + ")";
    error = GatewayError::make(ErrorKind::RateLimited, "rate_limit_exceeded",
                               "Rate limit reached for key `" + key.name + "` on " + what + ". Please try again in " +
                                   limits::resetText(decision.retryAfter) + ".");
  }
  error.retryAfter = std::to_string((waitMs + 999) / 1000);
  log::message(spdlog::level::info, "request " + plan_.requestId + ": key " + key.name + " over its " + decision.reason +
                                        (decision.shared ? " limit (shared)" : " limit"));
  fail(std::move(error));
}


void Exchange::armKeepalive() {
  keepalive_.expires_after(Millis(context_.generation->config->streamKeepaliveMs));
  keepalive_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (ec || self->done_ || self->contentSent_) return;
    self->contain("keep-alive timer", [&] {
      // An SSE comment: clients skip it, intermediaries see a live connection.
      if (!self->sink_->started()) self->sink_->startStream(200, "text/event-stream", self->timingHeaders());
      self->sink_->writeChunk(": keep-alive\n\n");
      self->armKeepalive();
    });
  });
}

void Exchange::runAttempt() {
  if (done_) return;
  const std::size_t count = plan_.candidates.size();
  std::optional<std::size_t> chosen;
  std::size_t credential = 0;
  for (std::size_t offset = 0; offset < count && !chosen; ++offset) {
    const std::size_t index = (nextCandidate_ + offset) % count;
    const auto& target = plan_.candidates[index];
    if (target.provider->isLocal()) {
      endpoint_ = nullptr;
      chosen = index;
    } else if (auto picked = context_.generation->pool.pick(target, excluded_)) {
      endpoint_ = picked->health;
      credential = picked->credential;
      chosen = index;
    }
  }
  if (!chosen) {
    std::size_t index = 0;
    if (!chooseWhenNoneTakesTraffic(index, credential)) return;
    chosen = index;
  }
  waitedForDeployment_ = false;
  currentCandidate_ = *chosen;
  // A provider's retry budget grows with the requests it actually receives.
  if (!tried_[currentCandidate_]) context_.generation->pool.budget(*plan_.candidates[currentCandidate_].provider).recordRequest();
  tried_[currentCandidate_] = true;
  ++attempts_;
  sink_->log().stages.attempts = attempts_;
  const routing::Target& target = plan_.candidates[currentCandidate_];
  provider_ = target.provider;
  sink_->log().provider = provider_->name();

  // Per-attempt state.
  upstreamStatus_ = 0;
  upstreamFailed_ = false;
  upstreamContentType_.clear();
  retryDelay_.reset();
  buffered_.clear();
  passthroughScanner_ = stream::SseParser{kMaxScannedEventBytes};
  decoder_.reset();

  if (provider_->isLocal()) {
    auto reply = provider_->respondLocally(*plan_.request, plan_.clientModel);
    mode_ = Mode::Local;
    startLocal(std::move(*reply));
    return;
  }
  upstream::Request out;
  if (!prepareAttempt(target, out)) return;
  credential_ = credential;
  const auth::OAuthAccount* account = provider_->account(credential_);
  tokenSent_ = account != nullptr ? account->token() : nullptr;
  provider_->authorize(credential_, out);
  out.ownHeaders.push_back("x-request-id: " + plan_.requestId);

  const auto& t = provider_->config().timeouts;
  const bool upstreamStream = mode_ == Mode::Passthrough ? plan_.clientStream : plan_.request->stream;
  out.timeouts.connect = Millis(t.connectMs);
  out.timeouts.firstByte = Millis(t.firstByteMs);
  out.timeouts.idle = Millis(t.idleMs);
  out.timeouts.total = Millis(upstreamStream ? t.streamTotalMs : t.totalMs);
  attemptStarted_ = Clock::now();
  waitingOnUpstream_ = true;
  if (plan_.deadline) {
    // No attempt may outlive the request's deadline.
    const auto left = std::max(Millis(1), std::chrono::duration_cast<Millis>(*plan_.deadline - attemptStarted_));
    if (out.timeouts.total.count() == 0 || left < out.timeouts.total) out.timeouts.total = left;
  }
  transfer_ = context_.client.start(std::move(out), shared_from_this());
}

bool Exchange::chooseWhenNoneTakesTraffic(std::size_t& chosen, std::size_t& credential) {
  // Every deployment is cooling down or open (or was excluded). When one takes traffic again
  // soon enough, wait for it once; else send anyway to the one that will soonest: a route is
  // never blackholed without a try (Envoy's panic threshold, LiteLLM's lone deployment).
  const auto now = Clock::now();
  std::optional<std::size_t> soonest;
  Clock::time_point soonestAt{};
  for (std::size_t index = 0; index < plan_.candidates.size(); ++index) {
    const auto at = availableAt(index, now);
    if (at && (!soonest || *at < soonestAt)) {
      soonest = index;
      soonestAt = *at;
    }
  }
  if (!soonest) {
    fail(lastError_ ? *lastError_
                    : GatewayError::make(ErrorKind::Unavailable, "no_healthy_upstream",
                                         "no upstream left to try for model " + core::clipped(plan_.clientModel)));
    return false;
  }
  const auto wait = std::chrono::ceil<Millis>(soonestAt - now);  // not a millisecond early
  const bool beforeDeadline = !plan_.deadline || soonestAt < *plan_.deadline;
  if (!waitedForDeployment_ && wait > Millis(0) && wait <= retryPolicy().maxDelay && beforeDeadline) {
    waitedForDeployment_ = true;
    log::message(spdlog::level::info, "request " + plan_.requestId + ": every upstream of " +
                                          core::clipped(plan_.clientModel) + " is cooling down; waiting " +
                                          std::to_string(wait.count()) + " ms for the first");
    timer_.expires_after(wait);
    timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (!ec) self->contain("deployment wait", [&] { self->runAttempt(); });
    });
    return false;
  }
  auto picked = context_.generation->pool.pickAnyway(plan_.candidates[*soonest], excluded_, now);
  if (!picked) {
    fail(GatewayError::make(ErrorKind::Internal, "internal_error", "no deployment could be picked"));
    return false;
  }
  log::message(spdlog::level::warn, "request " + plan_.requestId + ": no upstream of " + core::clipped(plan_.clientModel) +
                                        " takes traffic; sending to " + picked->health->name() + " anyway");
  endpoint_ = picked->health;
  credential = picked->credential;
  chosen = *soonest;
  return true;
}

std::optional<Clock::time_point> Exchange::availableAt(std::size_t candidate, Clock::time_point now) const {
  const auto& target = plan_.candidates[candidate];
  return target.provider->isLocal() ? std::optional(now) : context_.generation->pool.availableAt(target, excluded_, now);
}

const resilience::RetryConfig& Exchange::retryPolicy() const {
  return plan_.candidates.front().provider->config().retry;
}

std::string Exchange::routedBody(const routing::Target& target) const {
  std::string body = plan_.rawBody;
  // Every copy of "model" is set to the routed one: a repeated key must not reach the upstream
  // unrouted. A body that names the routed model once already stays as it is.
  if (!plan_.modelNamedOnce || plan_.clientModel != target.upstreamModel) {
    core::replaceTopLevelString(body, "model", target.upstreamModel);
  }
  return body;
}

bool Exchange::prepareAttempt(const routing::Target& target, upstream::Request& out) {
  const auto* provider = target.provider;
  if (plan_.countTokens) {
    mode_ = Mode::Passthrough;
    out = provider->countTokensRequest(routedBody(target), plan_.hints);
    return true;
  }
  if (provider->passthroughDialect() == plan_.dialect && !plan_.rewritten && !keepsAnswer()) {
    // Fast path: the body as the client wrote it, but for the model.
    mode_ = Mode::Passthrough;
    out = provider->passthroughRequest(routedBody(target), plan_.clientStream, plan_.hints);
    return true;
  }
  const auto converting = Clock::now();
  // A rewritten request is no longer what its body says: it is encoded afresh, not from the cache.
  auto encoded = plan_.rewritten ? provider->encodeRequest(*plan_.request, target.upstreamModel, plan_.hints)
                                 : context_.generation->conversions.convert(*provider, plan_.dialect, plan_.rawBody,
                                                                            *plan_.request, target.upstreamModel, plan_.hints);
  auto& stages = sink_->log().stages;
  stages.convertMs = std::max(0.0, stages.convertMs) + std::chrono::duration<double, std::milli>(Clock::now() - converting).count();
  if (!encoded.ok()) {
    // Not the endpoint's fault: no verdict on its health.
    endpoint_->release();
    endpoint_ = nullptr;
    fail(encoded.error());
    return false;
  }
  mode_ = Mode::Translated;
  decoder_ = provider->makeDecoder(*plan_.request);
  out = std::move(encoded.value());
  return true;
}

void Exchange::startLocal(providers::LocalReply reply) {
  local_ = std::move(reply);
  localNext_ = 0;
  if (plan_.clientStream) sink_->startStream(200, "text/event-stream", timingHeaders());
  timer_.expires_after(local_->firstEventDelay);
  timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (!ec) self->contain("local reply", [&] { self->playLocal(); });
  });
}

void Exchange::playLocal() {
  if (done_) return;
  auto& events = local_->events;
  const bool paced = plan_.clientStream && local_->eventInterval.count() > 0;
  // Without pacing everything goes out in one write; with it, one visible event per interval.
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
    self->timer_.expires_after(self->local_->eventInterval);
    self->timer_.async_wait([self](boost::system::error_code ec) {
      if (!ec) self->contain("local reply", [&] { self->playLocal(); });
    });
  };
  if (sink_->congested() && !headless_) {
    sink_->onDrained(next);
  } else {
    next();
  }
}

void Exchange::onResponseHead(const upstream::ResponseHead& head) {
  contain("upstream response head", [&] { takeResponseHead(head); });
}

void Exchange::onBody(std::string_view bytes) {
  contain("upstream body", [&] { takeBody(bytes); });
}

void Exchange::onComplete(std::error_code ec) {
  contain("upstream completion", [&] { takeCompletion(ec); });
}

void Exchange::takeResponseHead(const upstream::ResponseHead& head) {
  if (done_) return;
  upstreamStatus_ = head.status;
  timeToFirstByte_ = std::chrono::duration_cast<Millis>(Clock::now() - attemptStarted_);
  sink_->log().stages.upstreamFirstByteMs = sinceReceived();
  sink_->log().stages.upstreamConnectMs = head.connectMs;
  upstreamContentType_ = std::string(head.header("content-type"));
  if (head.status < 200 || head.status >= 300) {
    upstreamFailed_ = true;
    retryDelay_ = resilience::parseRetryAfter(head.header("retry-after-ms"), head.header("retry-after"),
                                              std::chrono::system_clock::now());
    return;
  }
  if (plan_.clientStream) {
    const bool eventStream = upstreamContentType_.rfind("text/event-stream", 0) == 0;
    sink_->startStream(200,
                       mode_ == Mode::Passthrough && !eventStream && !upstreamContentType_.empty()
                           ? upstreamContentType_
                           : std::string("text/event-stream"),
                       timingHeaders());
  }
}

void Exchange::writeContent(std::string bytes) {
  contentSent_ = true;
  sink_->writeChunk(std::move(bytes));
}

void Exchange::takeBody(std::string_view bytes) {
  if (done_) return;
  if (upstreamFailed_) {
    if (buffered_.size() < kMaxErrorBody) buffered_.append(bytes.substr(0, kMaxErrorBody - buffered_.size()));
    return;
  }
  if (mode_ == Mode::Passthrough) {
    if (!plan_.clientStream) {
      if (buffered_.size() + bytes.size() > kMaxBufferedBody) {
        fail(GatewayError::make(ErrorKind::Protocol, "upstream_response_too_large", "upstream response is too large"));
        return;
      }
      buffered_.append(bytes);
      return;
    }
    writeContent(std::string(bytes));
    // Read along only to notice usage and in-stream errors for the log.
    passthroughScanner_.feed(bytes, [this](const stream::SseEvent& event) { scanPassthroughEvent(event.type, event.data); });
    applyBackpressure();
    return;
  }
  events_.clear();
  if (auto error = decoder_->feed(bytes, events_)) {
    attemptFailed(std::move(*error));
    return;
  }
  emit(events_);
  applyBackpressure();
}

void Exchange::scanPassthroughEvent(std::string_view type, std::string_view data) {
  // Only the few events that carry usage or an error are parsed.
  const unsigned found = kUsageOrError.foundIn(data);
  const bool hasUsage = (found & 1u) != 0;
  const bool hasError = type == "error" || (found & 2u) != 0;
  if (!hasUsage && !hasError) return;
  const json event = core::parseJson(data);
  if (!event.is_object()) return;
  if (auto usage = usageIn(plan_.dialect, event)) noteUsage(*usage);
  if (hasError && event.contains("error") && !event["error"].is_null()) {
    sink_->log().errorCode = "upstream_stream_error";
    log::message(spdlog::level::warn, "request " + plan_.requestId + ": upstream " + provider_->name() +
                                          " sent an error inside the stream");
  }
}

void Exchange::noteUsage(const core::Usage& usage) {
  // Counts the upstream sent in a shape we could not read stay unknown; the answer is relayed as it came.
  if (!usage.present) return;
  sink_->log().inputTokens = usage.inputTokens;
  sink_->log().outputTokens = usage.outputTokens;
  if (admission_ && !plan_.cachedAnswer && !following()) admission_->reportUsage(usage.inputTokens, usage.outputTokens);
}

void Exchange::applyBackpressure() {
  // Headless, nobody reads this client's queue: the followers read at their own pace.
  if (!transfer_ || headless_ || !sink_->congested()) return;
  if (plan_.flight && plan_.leadsFlight && plan_.flight->followers() > 0) {
    // Others read this answer too: this client's pace does not hold them back. Too far
    // behind, it is cut, as a follower would be, and the call goes on for the others.
    if (sink_->queuedBytes() > kMaxFollowerBacklog && goHeadless("client too slow, cut")) sink_->abort();
    return;
  }
  transfer_->pause();
  sink_->onDrained([self = shared_from_this()] {
    self->contain("client drained", [&] {
      if (self->transfer_) self->transfer_->resume();
    });
  });
}

void Exchange::takeCompletion(std::error_code ec) {
  if (done_) return;
  transfer_.reset();
  endUpstreamWait();
  if (ec) {
    attemptFailed(upstream::classify(ec, upstreamStatus_ != 0));
    return;
  }
  if (upstreamFailed_) {
    log::message(upstreamStatus_ >= 500 ? spdlog::level::warn : spdlog::level::info,
                 "request " + plan_.requestId + ": upstream " + provider_->name() + " answered HTTP " +
                     std::to_string(upstreamStatus_) + " (attempt " + std::to_string(attempts_) + ")");
    GatewayError error = provider_->decodeError(static_cast<int>(upstreamStatus_), buffered_);
    // Without a header, a delay the body gave (Gemini's RetryInfo) counts the same.
    if (!retryDelay_) retryDelay_ = resilience::parseRetryAfter({}, error.retryAfter, std::chrono::system_clock::now());
    if (retryDelay_) error.retryAfter = resilience::retryAfterSeconds(*retryDelay_);
    attemptFailed(std::move(error));
    return;
  }
  if (mode_ == Mode::Passthrough) {
    // The usage is read along with the validity check, as text: no document is built for the
    // fast path.
    core::TopLevelMember usage[] = {{"usage"}};
    if (!plan_.clientStream && !core::isValidJson(buffered_, usage)) {
      // A truncated or garbled answer would reach the client as a 200 its SDK cannot parse.
      attemptFailed(core::malformedUpstream("upstream " + provider_->name() + " answered with a body that is not valid JSON"));
      return;
    }
    releaseEndpoint(nullptr);
    done_ = true;
    if (plan_.clientStream) {
      sink_->endStream();
    } else {
      if (!usage[0].value.empty()) noteUsage(api::decodeUsageText(plan_.dialect, usage[0].value));
      sink_->sendResponse(static_cast<int>(upstreamStatus_),
                          upstreamContentType_.empty() ? std::string_view("application/json") : upstreamContentType_,
                          std::move(buffered_), timingHeaders());
    }
    return;
  }
  events_.clear();
  if (auto error = decoder_->finish(events_)) {
    attemptFailed(std::move(*error));
    return;
  }
  releaseEndpoint(nullptr);
  emit(events_);
  finishClient();
}

void Exchange::releaseEndpoint(const GatewayError* failure) {
  if (endpoint_ == nullptr) return;
  if (failure == nullptr) {
    endpoint_->recordSuccess(timeToFirstByte_);
  } else {
    endpoint_->recordFailure(*failure);
    if (failure->kind == ErrorKind::RateLimited) {
      // A rate-limited key takes no traffic for as long as the upstream asked (1 s if it did not
      // say), at most kLongestCoolDown: then one request probes it again.
      endpoint_->coolDown(Clock::now() + std::min(retryDelay_.value_or(Millis(1000)), resilience::kLongestCoolDown));
    }
  }
  endpoint_ = nullptr;
}

void Exchange::attemptFailed(GatewayError error) {
  if (done_) return;
  endUpstreamWait();
  if (transfer_) {
    transfer_->cancel();
    transfer_.reset();
  }
  if (refreshRejectedCredential(error)) return;
  // A deployment that timed out is not tried again in this request unless the policy says so.
  if (endpoint_ != nullptr && error.kind == ErrorKind::Timeout && !retryPolicy().sameDeploymentAfterTimeout) {
    excluded_.push_back(endpoint_);
  }
  releaseEndpoint(&error);
  const auto now = Clock::now();
  std::vector<resilience::CandidateState> candidates;
  for (std::size_t index = 0; index < plan_.candidates.size(); ++index) {
    const auto at = availableAt(index, now);
    candidates.push_back({tried_[index], at && *at <= now, at.has_value()});
  }
  std::optional<Millis> timeLeft;
  if (plan_.deadline) timeLeft = std::chrono::duration_cast<Millis>(*plan_.deadline - now);
  const auto decision = resilience::decideRetry({.error = error,
                                                 .policy = retryPolicy(),
                                                 .contentSent = contentSent_,
                                                 .attempts = attempts_,
                                                 .failed = currentCandidate_,
                                                 .candidates = std::move(candidates),
                                                 .retryAfter = retryDelay_,
                                                 .timeLeft = timeLeft,
                                                 .unitRandom = unitRandom()});
  if (decision.action == resilience::RetryDecision::Action::GiveUp) {
    if (mode_ == Mode::Passthrough && upstreamFailed_ && !sink_->started() && api::isErrorBody(plan_.dialect, buffered_)) {
      // Same dialect: the client gets the upstream's error exactly as it was sent.
      done_ = true;
      keepalive_.cancel();
      sink_->log().errorCode = "upstream_http_" + std::to_string(upstreamStatus_);
      sink_->sendResponse(static_cast<int>(upstreamStatus_), "application/json", std::move(buffered_),
                          timingHeaders(errorHeaders(error)));
      return;
    }
    if (resilience::isRetryable(error) && !contentSent_) {
      log::message(spdlog::level::info, "request " + plan_.requestId + ": not retrying " + error.code + ": " + decision.reason);
    }
    fail(std::move(error));
    return;
  }
  if (!context_.generation->pool.budget(*provider_).tryRetry()) {
    log::message(spdlog::level::warn, "request " + plan_.requestId + ": retry budget of " + provider_->name() +
                                          " exhausted; not retrying " + error.code);
    fail(std::move(error));
    return;
  }
  nextCandidate_ = decision.candidate;
  const auto* next = plan_.candidates[nextCandidate_].provider;
  context_.metrics.retries.with({next->name()}).add();
  if (next != provider_) context_.metrics.fallbacks.with({provider_->name(), next->name()}).add();
  log::message(spdlog::level::info, "request " + plan_.requestId + ": attempt " + std::to_string(attempts_) + " on " +
                                        provider_->name() + " failed (" + error.code + "); retrying on " + next->name() +
                                        " in " + std::to_string(decision.delay.count()) + " ms");
  lastError_ = std::move(error);
  timer_.expires_after(decision.delay);
  timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (!ec) self->contain("retry timer", [&] { self->runAttempt(); });
  });
}

bool Exchange::refreshRejectedCredential(const GatewayError& error) {
  const auth::OAuthAccount* account = provider_ != nullptr ? provider_->account(credential_) : nullptr;
  if (account == nullptr || credentialRefreshed_ || contentSent_ || !provider_->credentialRejected(error)) {
    return false;
  }
  // An expired or revoked OAuth token: refresh it once (or wait for the refresh running) and
  // try the same target again; this does not count as an attempt.
  credentialRefreshed_ = true;
  if (endpoint_ != nullptr) {
    endpoint_->release();
    endpoint_ = nullptr;
  }
  log::message(spdlog::level::info, "request " + plan_.requestId + ": upstream " + provider_->name() +
                                        " rejected the token of " + account->label() + "; refreshing it");
  const auto attempt = attempts_;
  context_.generation->refresher.refreshNow(
      *account, std::move(tokenSent_), context_.loop.get_executor(),
      [self = shared_from_this(), error, attempt](bool usable) {
        if (self->done_) return;
        self->contain("credential refresh", [&] {
          if (!usable) {
            self->fail(error);
            return;
          }
          self->attempts_ = attempt - 1;
          self->nextCandidate_ = self->currentCandidate_;
          self->runAttempt();
        });
      });
  return true;
}

std::string Exchange::defaultId() const {
  return plan_.responseId.empty() ? api::responseId(plan_.dialect, plan_.requestId) : plan_.responseId;
}

api::StreamWriter& Exchange::writer(const core::ChatEvent* first) {
  if (!writer_) {
    // The first event fixes the id and model every chunk repeats.
    const bool start = first != nullptr && first->kind == core::EventKind::Start;
    const bool upstreamId = start && !first->id.empty() && plan_.responseId.empty();
    writer_ = api::makeStreamWriter(plan_.dialect, upstreamId ? first->id : defaultId(),
                                    start && !first->name.empty() ? first->name : plan_.clientModel, plan_.includeUsage,
                                    plan_.requestEcho);
  }
  return *writer_;
}

void Exchange::emit(const std::vector<core::ChatEvent>& events) {
  if (events.empty() || done_) return;
  if (plan_.flight && plan_.leadsFlight) plan_.flight->publish(events);
  std::string out;
  for (const auto& event : events) {
    if (event.kind == core::EventKind::UsageReport) noteUsage(event.usage);
    if (plan_.clientStream) writer(&event).encode(event, out);
    if (!plan_.clientStream || keepsAnswer()) accumulator_.add(event);
  }
  if (!out.empty()) writeContent(std::move(out));
}

void Exchange::finishClient() {
  if (done_) return;
  done_ = true;
  keepalive_.cancel();
  auto& response = accumulator_.response();
  if (response.id.empty() || !plan_.responseId.empty()) response.id = defaultId();
  if (response.model.empty()) response.model = plan_.clientModel;
  if (response.choices.empty()) response.choices.push_back(core::Choice{});
  // Kept before the answer's last byte leaves: a client that continues the conversation the
  // moment it has the answer finds it.
  const bool keep = keepsAnswer() && response.choices.front().finish != core::FinishReason::Error;
  if (plan_.flight && plan_.leadsFlight) plan_.flight->end(Flight::State::Landed);
  stopFollowing();
  if (plan_.clientStream) {
    std::string out;
    writer(nullptr).finish(out);
    if (keep) keepAnswer(response, writer_->answeredDocument());
    sink_->writeChunk(std::move(out));
    sink_->endStream();
    return;
  }
  std::string body = api::encodeResponse(plan_.dialect, response, plan_.requestEcho);
  if (keep) keepAnswer(response, body);
  sink_->sendResponse(200, "application/json", std::move(body), timingHeaders());
}

void Exchange::keepAnswer(const core::ChatResponse& response, std::string_view document) noexcept {
  const auto report = [this](const char* what) noexcept {
    try {
      log::message(spdlog::level::err, "request " + plan_.requestId + ": the answer could not be kept: " + what);
    } catch (...) {
      // Not even the log line: the answer still goes.
    }
  };
  try {
    if (plan_.onAnswered) plan_.onAnswered(response, document);
    if (storesInCache()) context_.responseCache.store(context_.worker, plan_.cache->key, response, plan_.cache->ttl);
  } catch (const std::exception& error) {
    report(error.what());
  } catch (...) {
    report("an exception of unknown type");
  }
}

void Exchange::fail(GatewayError error) {
  if (done_) return;
  if (plan_.flight && plan_.leadsFlight) plan_.flight->end(Flight::State::Failed);
  stopFollowing();
  endUpstreamWait();
  releaseEndpoint(&error);
  done_ = true;
  keepalive_.cancel();
  if (transfer_) {
    transfer_->cancel();
    transfer_.reset();
  }
  if (!error.code.empty()) sink_->log().errorCode = error.code;
  if (!sink_->started()) {
    sink_->sendResponse(error.status, "application/json", api::encodeError(plan_.dialect, error),
                        timingHeaders(errorHeaders(error)));
    return;
  }
  // The stream has begun: the error travels inside it, as the SDKs expect.
  log::message(spdlog::level::warn, "request " + plan_.requestId + ": stream from " +
                                        (provider_ != nullptr ? provider_->name() : std::string("?")) +
                                        " failed after it started (" + error.code + "): " + error.message);
  std::string out;
  writer(nullptr).encodeError(error, out);
  sink_->writeChunk(std::move(out));
  sink_->endStream();
}

void Exchange::cancel() {
  if (done_) return;
  stopFollowing();
  if (plan_.flight && plan_.leadsFlight && !headless_ && goHeadless("client went away")) return;
  if (plan_.flight && plan_.leadsFlight) plan_.flight->end(Flight::State::Failed);
  endUpstreamWait();
  done_ = true;
  if (transfer_) {
    transfer_->cancel();
    transfer_.reset();
  }
  if (endpoint_ != nullptr) {
    endpoint_->release();
    endpoint_ = nullptr;
  }
  timer_.cancel();
  keepalive_.cancel();
  log::message(spdlog::level::info, "request " + plan_.requestId + ": client went away; upstream work cancelled");
}

}  // namespace llmgate::proxy
