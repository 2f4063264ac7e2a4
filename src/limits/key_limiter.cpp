#include "llmgate/limits/key_limiter.hpp"

#include <algorithm>
#include <cmath>

#include <openssl/sha.h>

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
if redis.replicate_commands then redis.replicate_commands() end
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
local keep = 120000
if tpm > 0 then keep = math.max(keep, math.ceil((tpm - tk) * 60000 / tpm) + 60000) end
redis.call('PEXPIRE', KEYS[1], keep)
return {reason, math.ceil(wait), math.floor(r), math.floor(tk), used}
)";

// What an answer used, once it ended: the tokens its estimate over- or under-charged given back
// to the bucket (only when the bucket is still there: it keeps its time), and the budget spent.
constexpr const char* kSettleScript = R"(
local refund, used, ttl, tpm = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
if tpm > 0 and refund ~= 0 and redis.call('HEXISTS', KEYS[1], 'at') == 1 then
  local level = tonumber(redis.call('HINCRBYFLOAT', KEYS[1], 't', refund))
  local keep = math.ceil(math.max(tpm - level, 0) * 60000 / tpm) + 60000
  if redis.call('PTTL', KEYS[1]) < keep then redis.call('PEXPIRE', KEYS[1], keep) end
end
if used > 0 and ttl > 0 then
  redis.call('INCRBY', KEYS[2], used)
  redis.call('EXPIRE', KEYS[2], ttl)
end
return 1
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

  /// What the budget's current `period` has spent, started afresh when a new one began (the
  /// lock held).
  std::int64_t& budgetSpent(const std::string& period) {
    const auto start = budgetWindowStart(period);
    if (budgetPeriodStart != start) {
      budgetPeriodStart = start;
      budgetUsed = 0;
    }
    return budgetUsed;
  }
};

namespace {

// The x-ratelimit-* figures of `key`'s buckets, holding `requestsLeft` and `tokensLeft`.
void describeBuckets(Decision& decision, const config::GatewayKey& key, double requestsLeft, double tokensLeft) {
  if (key.rpm > 0) {
    decision.limitRequests = key.rpm;
    decision.remainingRequests = static_cast<std::int64_t>(std::clamp(std::floor(requestsLeft), 0.0, static_cast<double>(key.rpm)));
    decision.resetRequests = msToFill(static_cast<double>(key.rpm) - requestsLeft, key.rpm);
  }
  if (key.tpm > 0) {
    decision.limitTokens = key.tpm;
    decision.remainingTokens = static_cast<std::int64_t>(std::clamp(std::floor(tokensLeft), 0.0, static_cast<double>(key.tpm)));
    decision.resetTokens = msToFill(static_cast<double>(key.tpm) - tokensLeft, key.tpm);
  }
}

}  // namespace

std::string resetText(milliseconds wait) {
  if (wait.count() < 1000) return std::to_string(std::max<std::int64_t>(wait.count(), 0)) + "ms";
  const std::int64_t seconds = (wait.count() + 999) / 1000;
  std::string text;
  if (seconds >= 3600) text += std::to_string(seconds / 3600) + "h";
  if (seconds >= 60) text += std::to_string(seconds / 60 % 60) + "m";
  return text + std::to_string(seconds % 60) + "s";
}

Admission::Admission(KeyLimiter& limiter, std::shared_ptr<KeyState> state, const config::GatewayKey& key,
                     std::int64_t estimatedTokens, std::weak_ptr<redis::Client> redis)
    : limiter_(limiter),
      state_(std::move(state)),
      tpm_(key.tpm),
      budgetTokens_(key.budgetTokens),
      budgetPeriod_(key.budgetPeriod),
      estimate_(estimatedTokens),
      redis_(std::move(redis)) {}

void Admission::reportUsage(std::int64_t inputTokens, std::int64_t outputTokens) {
  // Counts only grow along an answer; a later report may carry one of them alone (Anthropic's
  // message_delta has the output only).
  inputTokens_ = std::max(inputTokens_, inputTokens);
  outputTokens_ = std::max(outputTokens_, outputTokens);
}

Admission::~Admission() {
  if (!admitted_) {
    std::lock_guard lock(state_->mutex);
    --state_->inFlight;
    return;
  }
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
      // The local bucket was charged only when it decided.
      if (tpm_ > 0 && !decidedShared_) {
        state_->tokens = std::min(static_cast<double>(tpm_), state_->tokens + static_cast<double>(refund));
      }
      if (budgetTokens_ > 0) state_->budgetSpent(budgetPeriod_) += used;
    }
    const auto client = redis_.lock();
    const bool refundShared = tpm_ > 0 && decidedShared_ && refund != 0;
    const bool spend = budgetTokens_ > 0 && used > 0;
    if (!client || (!refundShared && !spend)) return;
    std::chrono::seconds untilEnd{0};
    auto budgetKey = limiter_.budgetKey(state_->name, budgetPeriod_, untilEnd);
    // Sent even when Redis did not decide, and kept until it is back when it is down: what was
    // spent counts for every replica.
    // By its SHA: every connection loads it first (after a SCRIPT FLUSH, until the next
    // connection, what is settled is lost).
    client->commandEventually({"EVALSHA", limiter_.settleSha_, "2", limiter_.limitsKey(state_->name), std::move(budgetKey),
                               std::to_string(refundShared ? refund : 0), std::to_string(spend ? used : 0),
                               // Kept a day past its period: long enough for a replica whose clock lags.
                               std::to_string(spend ? untilEnd.count() + 86400 : 0), std::to_string(tpm_)});
  } catch (...) {
    // A destructor: what could not be settled stays charged at the estimate.
  }
}

KeyLimiter::KeyLimiter(redis::Connections& redis) : redis_(redis) {
  const auto sha1 = [](const char* script) {
    unsigned char digest[SHA_DIGEST_LENGTH];
    SHA1(reinterpret_cast<const unsigned char*>(script), std::char_traits<char>::length(script), digest);
    return core::hexEncode(digest, SHA_DIGEST_LENGTH);
  };
  scriptSha_ = sha1(kAdmitScript);
  settleSha_ = sha1(kSettleScript);
  redis_.addScript(kAdmitScript);
  redis_.addScript(kSettleScript);
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

// A key's Redis keys share one hash tag, {name}: one slot, so that a script may touch both on a cluster.
std::string KeyLimiter::limitsKey(const std::string& name) const { return redis_.settings().keyPrefix + "{" + name + "}:limits"; }

std::string KeyLimiter::budgetKey(const std::string& name, const std::string& period, std::chrono::seconds& untilEnd) const {
  const auto now = std::chrono::system_clock::now();
  const auto [start, end] = periodAround(period, now);
  untilEnd = std::chrono::duration_cast<std::chrono::seconds>(end - now);
  return redis_.settings().keyPrefix + "{" + name + "}:budget:" + period + ":" + std::to_string(start.time_since_epoch().count());
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
  const double wantTokens = static_cast<double>(std::min(estimatedTokens, key.tpm));
  if (key.rpm > 0 && state.requests < 1) {
    decision.admitted = false;
    decision.reason = "rpm";
    decision.retryAfter = msToFill(1 - state.requests, key.rpm);
  } else if (key.tpm > 0 && state.tokens < wantTokens) {
    decision.admitted = false;
    decision.reason = "tpm";
    decision.retryAfter = msToFill(wantTokens - state.tokens, key.tpm);
  } else if (key.budgetTokens > 0 && state.budgetSpent(key.budgetPeriod) >= key.budgetTokens) {
    decision.admitted = false;
    decision.reason = "budget";
    const auto now = std::chrono::system_clock::now();
    decision.retryAfter = std::chrono::duration_cast<milliseconds>(periodAround(key.budgetPeriod, now).second - now);
  } else {
    if (key.rpm > 0) state.requests -= 1;
    if (key.tpm > 0) state.tokens -= static_cast<double>(estimatedTokens);
  }
  describeBuckets(decision, key, state.requests, state.tokens);
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
  // Holds the slot from here: whatever happens next (an exception included) gives it back.
  auto client = redis_.client(worker);
  auto hold = std::make_shared<Admission>(*this, std::move(state), key, estimatedTokens, client);
  const bool limited = key.rpm > 0 || key.tpm > 0 || key.budgetTokens > 0;
  if (limited && client && client->ready()) {
    decideShared(worker, key, std::move(hold), std::move(done), true);
    return;
  }
  if (limited && client) localDecisions_.fetch_add(1);
  auto decision = decideLocally(*hold->state_, key, estimatedTokens);
  finish(std::move(hold), std::move(decision), done);
}

void KeyLimiter::decideShared(std::size_t worker, const config::GatewayKey& key, std::shared_ptr<Admission> hold, Done done,
                              bool loaded) {
  // Present: replies are only handled while the connections are attached.
  auto client = redis_.client(worker);
  std::chrono::seconds untilBudgetEnd{0};
  std::vector<std::string> args{loaded ? "EVALSHA" : "EVAL", loaded ? scriptSha_ : std::string(kAdmitScript), "2",
                                limitsKey(key.name), budgetKey(key.name, key.budgetPeriod, untilBudgetEnd),
                                std::to_string(key.rpm), std::to_string(key.tpm), std::to_string(hold->estimate_),
                                std::to_string(key.budgetTokens)};
  client->command(args, [this, worker, &key, hold = std::move(hold), done = std::move(done), loaded,
                         untilBudgetEnd](const redis::Reply* reply) mutable {
    try {
      // The first use on a connection loads the script (Redis keeps it until it restarts).
      if (reply != nullptr && reply->type == redis::Reply::Type::Error && loaded && reply->text.rfind("NOSCRIPT", 0) == 0) {
        decideShared(worker, key, std::move(hold), std::move(done), false);
        return;
      }
      auto decision = sharedDecision(reply, key, untilBudgetEnd);
      if (!decision) {
        localDecisions_.fetch_add(1);
        decision = decideLocally(*hold->state_, key, hold->estimate_);
      } else {
        std::lock_guard lock(hold->state_->mutex);
        hold->state_->budgetSpent(key.budgetPeriod) = decision->budgetUsed;
      }
      finish(std::move(hold), std::move(*decision), done);
    } catch (const std::exception& error) {
      // Limits are never a reason to fail a request: admitted without them (the slot goes back).
      log::message(spdlog::level::err, std::string("limits: deciding failed, admitted without limits: ") + error.what());
      hold.reset();
      done(Decision{}, nullptr);
    }
  });
}

std::optional<Decision> KeyLimiter::sharedDecision(const redis::Reply* reply, const config::GatewayKey& key,
                                                   std::chrono::seconds untilBudgetEnd) {
  const auto& items = reply != nullptr ? reply->elements : std::vector<redis::Reply>{};
  const bool readable = reply != nullptr && reply->type == redis::Reply::Type::Array && items.size() == 5 &&
                        items[0].type == redis::Reply::Type::String &&
                        std::all_of(items.begin() + 1, items.end(), [](const auto& item) { return item.type == redis::Reply::Type::Integer; });
  if (!readable) {
    // Once in a while: a Redis that refuses scripts (NOAUTH, READONLY, CROSSSLOT) would say it per request.
    const auto now = Clock::now().time_since_epoch().count();
    auto last = lastWarning_.load();
    if (reply != nullptr && now - last > std::chrono::duration_cast<Clock::duration>(std::chrono::seconds(10)).count() &&
        lastWarning_.compare_exchange_strong(last, now)) {
      log::message(spdlog::level::warn, "redis: unexpected answer to the limits script" +
                                            (reply->type == redis::Reply::Type::Error ? ": " + reply->text : std::string()) +
                                            " (decided locally; said at most every 10 s)");
    }
    return std::nullopt;
  }
  Decision decision;
  decision.shared = true;
  decision.reason = items[0].text;
  if (!decision.reason.empty() && decision.reason != "rpm" && decision.reason != "tpm" && decision.reason != "budget") {
    return std::nullopt;
  }
  decision.admitted = decision.reason.empty();
  decision.retryAfter = decision.reason == "budget" ? std::chrono::duration_cast<milliseconds>(untilBudgetEnd)
                                                    : milliseconds(std::max<long long>(items[1].integer, 0));
  describeBuckets(decision, key, static_cast<double>(items[2].integer), static_cast<double>(items[3].integer));
  decision.budgetUsed = items[4].integer;
  return decision;
}

void KeyLimiter::finish(std::shared_ptr<Admission> hold, Decision decision, const Done& done) {
  auto& state = *hold->state_;
  if (!decision.admitted) {
    {
      std::lock_guard lock(state.mutex);
      ++state.rejected[decision.reason];
    }
    hold.reset();  // the slot goes back; nothing was charged
    done(decision, nullptr);
    return;
  }
  {
    std::lock_guard lock(state.mutex);
    ++state.admitted;
  }
  hold->admitted_ = true;
  hold->decidedShared_ = decision.shared;
  done(decision, std::move(hold));
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

}  // namespace llmgate::limits
