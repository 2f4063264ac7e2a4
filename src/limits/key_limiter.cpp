#include "llmgate/limits/key_limiter.hpp"

#include <algorithm>
#include <cmath>

#include <openssl/sha.h>

#include <boost/asio/post.hpp>

#include "llmgate/core/hex.hpp"
#include "llmgate/log/log.hpp"

namespace llmgate::limits {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr double kMinuteMs = 60000.0;

// One admission for every replica at once: refills the key's buckets by the time elapsed (on
// Redis' clock, the same for all), refuses when one is short, else takes from both. Returns
// {reason or "", wait ms, requests left, tokens left, budget used}.
constexpr const char* kAdmitScript = R"(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rpm, tpm, cost, budget = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local s = redis.call('HMGET', KEYS[1], 'r', 't', 'at')
local elapsed = math.max(0, now - (tonumber(s[3]) or now))
local r = math.min(rpm, (tonumber(s[1]) or rpm) + elapsed * rpm / 60000)
local tk = math.min(tpm, (tonumber(s[2]) or tpm) + elapsed * tpm / 60000)
local used = 0
if budget > 0 then used = tonumber(redis.call('GET', KEYS[2]) or '0') end
local reason, wait = '', 0
local want = math.min(cost, tpm)
if rpm > 0 and r < 1 then
  reason, wait = 'rpm', (1 - r) * 60000 / rpm
elseif tpm > 0 and tk < want then
  reason, wait = 'tpm', (want - tk) * 60000 / tpm
elseif budget > 0 and used >= budget then
  reason = 'budget'
else
  if rpm > 0 then r = r - 1 end
  if tpm > 0 then tk = tk - cost end
end
redis.call('HSET', KEYS[1], 'r', tostring(r), 't', tostring(tk), 'at', now)
redis.call('PEXPIRE', KEYS[1], 120000)
return {reason, math.ceil(wait), math.floor(r), math.floor(tk), used}
)";

// A bucket refilled at `perMinute` up to `perMinute`, by the time elapsed.
double refilled(double level, std::int64_t perMinute, double elapsedMs) {
  return std::min(static_cast<double>(perMinute), level + elapsedMs * static_cast<double>(perMinute) / kMinuteMs);
}

milliseconds msToFill(double missing, std::int64_t perMinute) {
  if (missing <= 0 || perMinute <= 0) return milliseconds(0);
  return milliseconds(static_cast<std::int64_t>(std::ceil(missing * kMinuteMs / static_cast<double>(perMinute))));
}

// The start of the budget period that holds at `now` (UTC), and its end.
std::pair<std::chrono::sys_seconds, std::chrono::sys_seconds> periodAround(const std::string& period,
                                                                           std::chrono::system_clock::time_point now) {
  using namespace std::chrono;
  if (period == "hour") {
    const auto start = floor<hours>(now);
    return {start, start + hours(1)};
  }
  const auto today = floor<days>(now);
  if (period == "week") {
    // 1970-01-01 was a Thursday: weeks begin on Monday, as ISO 8601 says.
    const auto start = today - days((today.time_since_epoch().count() + 3) % 7);
    return {start, start + days(7)};
  }
  if (period == "month") {
    const year_month_day date{today};
    const auto start = sys_days{date.year() / date.month() / 1};
    return {start, sys_days{(date.year() / date.month() + months(1)) / 1}};
  }
  return {today, today + days(1)};
}

std::int64_t budgetWindowStart(const std::string& period) {
  return periodAround(period, std::chrono::system_clock::now()).first.time_since_epoch().count();
}

}  // namespace

/// One key's state in this process.
struct KeyState {
  std::mutex mutex;
  std::string name;
  // token buckets (local decisions)
  bool fresh = true;
  double requests = 0;
  double tokens = 0;
  Clock::time_point at;
  // budget (local decisions; Redis keeps the shared one)
  std::int64_t budgetPeriodStart = 0;
  std::int64_t budgetUsed = 0;
  std::int64_t inFlight = 0;
  // counters
  std::uint64_t admitted = 0, inputTokens = 0, outputTokens = 0;
  std::map<std::string, std::uint64_t> rejected;
};

std::string resetText(milliseconds wait) {
  if (wait.count() < 1000) return std::to_string(std::max<std::int64_t>(wait.count(), 0)) + "ms";
  const std::int64_t seconds = (wait.count() + 999) / 1000;
  std::string text;
  if (seconds >= 3600) text += std::to_string(seconds / 3600) + "h";
  if (seconds >= 60) text += std::to_string(seconds / 60 % 60) + "m";
  return text + std::to_string(seconds % 60) + "s";
}

Admission::Admission(KeyLimiter& limiter, std::shared_ptr<KeyState> state, const config::GatewayKey& key,
                     std::int64_t estimatedTokens, std::weak_ptr<redis::Client> sharedBy)
    : limiter_(limiter),
      state_(std::move(state)),
      tpm_(key.tpm),
      budgetTokens_(key.budgetTokens),
      budgetPeriod_(key.budgetPeriod),
      estimate_(estimatedTokens),
      sharedBy_(std::move(sharedBy)) {}

void Admission::reportUsage(std::int64_t inputTokens, std::int64_t outputTokens) {
  inputTokens_ = inputTokens;
  outputTokens_ = outputTokens;
}

Admission::~Admission() {
  try {
    const bool reported = inputTokens_ >= 0 || outputTokens_ >= 0;
    const std::int64_t used = reported ? std::max<std::int64_t>(inputTokens_, 0) + std::max<std::int64_t>(outputTokens_, 0) : estimate_;
    const std::int64_t refund = estimate_ - used;  // negative: the answer cost more than estimated
    {
      std::lock_guard lock(state_->mutex);
      --state_->inFlight;
      if (reported) {
        state_->inputTokens += static_cast<std::uint64_t>(std::max<std::int64_t>(inputTokens_, 0));
        state_->outputTokens += static_cast<std::uint64_t>(std::max<std::int64_t>(outputTokens_, 0));
      }
      if (tpm_ > 0) state_->tokens = std::min(static_cast<double>(tpm_), state_->tokens + static_cast<double>(refund));
      if (budgetTokens_ > 0) {
        const auto period = budgetWindowStart(budgetPeriod_);
        if (state_->budgetPeriodStart != period) {
          state_->budgetPeriodStart = period;
          state_->budgetUsed = 0;
        }
        state_->budgetUsed += used;
      }
    }
    const auto client = sharedBy_.lock();
    if (!client || !client->ready()) return;
    const auto ignore = [](const redis::Reply*) {};
    if (tpm_ > 0 && refund != 0) {
      client->command({"HINCRBYFLOAT", limiter_.redisKey("limits", state_->name), "t", std::to_string(refund)}, ignore);
    }
    if (budgetTokens_ > 0 && used > 0) {
      std::chrono::seconds untilEnd{0};
      auto key = limiter_.budgetKey(state_->name, budgetPeriod_, untilEnd);
      client->command({"INCRBY", key, std::to_string(used)}, ignore);
      // Kept a day past its period: long enough for a replica whose clock lags.
      client->command({"EXPIRE", std::move(key), std::to_string(untilEnd.count() + 86400)}, ignore);
    }
  } catch (...) {
    // A destructor: what could not be settled stays charged at the estimate.
  }
}

KeyLimiter::KeyLimiter(config::RedisConfig redis) : redisConfig_(std::move(redis)) {
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(kAdmitScript), std::char_traits<char>::length(kAdmitScript), digest);
  scriptSha_ = core::hexEncode(digest, SHA_DIGEST_LENGTH);
}

KeyLimiter::~KeyLimiter() { detach(); }

void KeyLimiter::attach(const std::vector<boost::asio::io_context*>& loops) {
  if (redisConfig_.url.empty()) return;
  std::string error;
  const auto endpoint = redis::parseUrl(redisConfig_.url, error);
  if (!endpoint) {
    log::message(spdlog::level::err, "redis.url: " + error + "; limits are kept per replica");
    return;
  }
  for (auto* loop : loops) {
    clients_.push_back(std::make_shared<redis::Client>(*loop, *endpoint, milliseconds(redisConfig_.timeoutMs), redisStats_));
    clients_.back()->open();
  }
}

void KeyLimiter::detach() {
  for (auto& client : clients_) client->close();
  clients_.clear();
}

std::shared_ptr<KeyState> KeyLimiter::stateOf(const std::string& name) {
  std::lock_guard lock(statesMutex_);
  auto& state = states_[name];
  if (!state) {
    state = std::make_shared<KeyState>();
    state->name = name;
  }
  return state;
}

std::string KeyLimiter::redisKey(const std::string& kind, const std::string& name) const {
  return redisConfig_.keyPrefix + kind + ":" + name;
}

std::string KeyLimiter::budgetKey(const std::string& name, const std::string& period, std::chrono::seconds& untilEnd) const {
  const auto now = std::chrono::system_clock::now();
  const auto [start, end] = periodAround(period, now);
  untilEnd = std::chrono::duration_cast<std::chrono::seconds>(end - now);
  return redisConfig_.keyPrefix + "budget:" + name + ":" + period + ":" + std::to_string(start.time_since_epoch().count());
}

bool KeyLimiter::takeSlot(KeyState& state, const config::GatewayKey& key) {
  std::lock_guard lock(state.mutex);
  if (key.maxConcurrent > 0 && state.inFlight >= key.maxConcurrent) {
    ++state.rejected["concurrency"];
    return false;
  }
  ++state.inFlight;
  return true;
}

Decision KeyLimiter::decideLocally(KeyState& state, const config::GatewayKey& key, std::int64_t estimatedTokens) {
  Decision decision;
  const auto now = Clock::now();
  std::lock_guard lock(state.mutex);
  if (state.fresh) {
    state.fresh = false;
    state.requests = static_cast<double>(key.rpm);
    state.tokens = static_cast<double>(key.tpm);
    state.at = now;
  }
  const double elapsed = std::chrono::duration<double, std::milli>(now - state.at).count();
  state.at = now;
  state.requests = refilled(state.requests, key.rpm, elapsed);
  state.tokens = refilled(state.tokens, key.tpm, elapsed);
  const auto period = budgetWindowStart(key.budgetPeriod);
  if (state.budgetPeriodStart != period) {
    state.budgetPeriodStart = period;
    state.budgetUsed = 0;
  }
  const double wantTokens = static_cast<double>(std::min(estimatedTokens, key.tpm));
  if (key.rpm > 0 && state.requests < 1) {
    decision.admitted = false;
    decision.reason = "rpm";
    decision.retryAfter = msToFill(1 - state.requests, key.rpm);
  } else if (key.tpm > 0 && state.tokens < wantTokens) {
    decision.admitted = false;
    decision.reason = "tpm";
    decision.retryAfter = msToFill(wantTokens - state.tokens, key.tpm);
  } else if (key.budgetTokens > 0 && state.budgetUsed >= key.budgetTokens) {
    decision.admitted = false;
    decision.reason = "budget";
    const auto now = std::chrono::system_clock::now();
    decision.retryAfter = std::chrono::duration_cast<milliseconds>(periodAround(key.budgetPeriod, now).second - now);
  } else {
    if (key.rpm > 0) state.requests -= 1;
    if (key.tpm > 0) state.tokens -= static_cast<double>(estimatedTokens);
  }
  if (key.rpm > 0) {
    decision.limitRequests = key.rpm;
    decision.remainingRequests = static_cast<std::int64_t>(std::floor(std::max(state.requests, 0.0)));
    decision.resetRequests = msToFill(static_cast<double>(key.rpm) - state.requests, key.rpm);
  }
  if (key.tpm > 0) {
    decision.limitTokens = key.tpm;
    decision.remainingTokens = static_cast<std::int64_t>(std::floor(std::max(state.tokens, 0.0)));
    decision.resetTokens = msToFill(static_cast<double>(key.tpm) - state.tokens, key.tpm);
  }
  return decision;
}

void KeyLimiter::admit(std::size_t worker, const config::GatewayKey& key, std::int64_t estimatedTokens, Done done) {
  auto state = stateOf(key.name);
  if (!takeSlot(*state, key)) {
    Decision refused;
    refused.admitted = false;
    refused.reason = "concurrency";
    refused.retryAfter = milliseconds(1000);
    done(refused, nullptr);
    return;
  }
  const bool limited = key.rpm > 0 || key.tpm > 0 || key.budgetTokens > 0;
  if (limited && worker < clients_.size() && clients_[worker]->ready()) {
    decideShared(worker, key, estimatedTokens, std::move(state), std::move(done), true);
    return;
  }
  if (limited && !clients_.empty()) localDecisions_.fetch_add(1);
  auto decision = decideLocally(*state, key, estimatedTokens);
  finish(std::move(state), key, estimatedTokens, std::move(decision), done, {});
}

void KeyLimiter::decideShared(std::size_t worker, const config::GatewayKey& key, std::int64_t estimatedTokens,
                              std::shared_ptr<KeyState> state, Done done, bool loaded) {
  auto client = clients_[worker];
  std::chrono::seconds untilBudgetEnd{0};
  std::vector<std::string> args{loaded ? "EVALSHA" : "EVAL", loaded ? scriptSha_ : std::string(kAdmitScript), "2",
                                redisKey("limits", key.name), budgetKey(key.name, key.budgetPeriod, untilBudgetEnd),
                                std::to_string(key.rpm), std::to_string(key.tpm), std::to_string(estimatedTokens),
                                std::to_string(key.budgetTokens)};
  client->command(std::move(args), [this, worker, &key, estimatedTokens, state, done = std::move(done), loaded,
                                    untilBudgetEnd, weak = std::weak_ptr<redis::Client>(client)](const redis::Reply* reply) mutable {
    // The first use on a connection loads the script (Redis keeps it until it restarts).
    if (reply != nullptr && reply->type == redis::Reply::Type::Error && loaded && reply->text.rfind("NOSCRIPT", 0) == 0 &&
        worker < clients_.size()) {
      decideShared(worker, key, estimatedTokens, std::move(state), std::move(done), false);
      return;
    }
    const auto& items = reply != nullptr ? reply->elements : std::vector<redis::Reply>{};
    const bool readable = reply != nullptr && reply->type == redis::Reply::Type::Array && items.size() == 5 &&
                          items[0].type == redis::Reply::Type::String &&
                          std::all_of(items.begin() + 1, items.end(), [](const auto& item) { return item.type == redis::Reply::Type::Integer; });
    if (!readable) {
      if (reply != nullptr) {
        log::message(spdlog::level::warn, "redis: unexpected answer to the limits script" +
                                              (reply->type == redis::Reply::Type::Error ? ": " + reply->text : std::string()));
      }
      localDecisions_.fetch_add(1);
      auto decision = decideLocally(*state, key, estimatedTokens);
      finish(std::move(state), key, estimatedTokens, std::move(decision), done, {});
      return;
    }
    Decision decision;
    decision.shared = true;
    decision.reason = items[0].text;
    decision.admitted = decision.reason.empty();
    decision.retryAfter = decision.reason == "budget" ? std::chrono::duration_cast<milliseconds>(untilBudgetEnd)
                                                      : milliseconds(items[1].integer);
    if (key.rpm > 0) {
      decision.limitRequests = key.rpm;
      decision.remainingRequests = std::max<long long>(items[2].integer, 0);
      decision.resetRequests = msToFill(static_cast<double>(key.rpm - decision.remainingRequests), key.rpm);
    }
    if (key.tpm > 0) {
      decision.limitTokens = key.tpm;
      decision.remainingTokens = std::max<long long>(items[3].integer, 0);
      decision.resetTokens = msToFill(static_cast<double>(key.tpm - decision.remainingTokens), key.tpm);
    }
    {
      std::lock_guard lock(state->mutex);
      state->budgetUsed = items[4].integer;
    }
    finish(std::move(state), key, estimatedTokens, std::move(decision), done, weak);
  });
}

void KeyLimiter::finish(std::shared_ptr<KeyState> state, const config::GatewayKey& key, std::int64_t estimatedTokens,
                        Decision decision, const Done& done, std::weak_ptr<redis::Client> sharedBy) {
  if (!decision.admitted) {
    {
      std::lock_guard lock(state->mutex);
      --state->inFlight;
      ++state->rejected[decision.reason];
    }
    done(decision, nullptr);
    return;
  }
  {
    std::lock_guard lock(state->mutex);
    ++state->admitted;
  }
  done(decision, std::make_shared<Admission>(*this, std::move(state), key, estimatedTokens, std::move(sharedBy)));
}

std::vector<KeyUsage> KeyLimiter::usage() const {
  std::vector<KeyUsage> out;
  std::lock_guard lock(statesMutex_);
  for (const auto& [name, state] : states_) {
    std::lock_guard stateLock(state->mutex);
    out.push_back(KeyUsage{name, state->admitted, state->inputTokens, state->outputTokens, state->rejected,
                           state->inFlight, state->budgetUsed});
  }
  return out;
}

SharedStateReport KeyLimiter::sharedState() const {
  SharedStateReport report;
  report.configured = !redisConfig_.url.empty();
  report.connected = redisStats_.connected.load();
  report.workers = static_cast<std::int64_t>(clients_.size());
  report.connects = redisStats_.connects.load();
  report.failures = redisStats_.failures.load();
  report.timeouts = redisStats_.timeouts.load();
  report.localDecisions = localDecisions_.load();
  return report;
}

}  // namespace llmgate::limits
