#include "llmgate/auth/token_refresher.hpp"

#include <algorithm>
#include <charconv>
#include <random>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "llmgate/core/hex.hpp"
#include "llmgate/core/json_read.hpp"
#include "llmgate/log/log.hpp"

namespace llmgate::auth {
namespace {

// The schedule is re-checked at least this often, so a wall-clock jump or a suspended machine
// cannot make a refresh late by more than this.
constexpr std::chrono::milliseconds kMaxSleep{30000};
constexpr std::chrono::milliseconds kMinInterval{10000};
constexpr std::chrono::milliseconds kRefreshTimeout{30000};
constexpr std::size_t kMaxAnswer = 256 * 1024;
// Replicas sharing tokens: the lock outlives the longest refresh; the others look for the new
// token this often, and refresh themselves when none came for this long.
constexpr std::chrono::milliseconds kLockHold = kRefreshTimeout + std::chrono::milliseconds(5000);
constexpr std::chrono::milliseconds kSharedPoll{250};
constexpr std::chrono::milliseconds kMaxSharedWait = kLockHold + std::chrono::milliseconds(5000);
// How long after start a due refresh waits for the first connection to Redis, and how often it looks.
constexpr std::chrono::milliseconds kFirstConnectWait{3000};
constexpr std::chrono::milliseconds kFirstConnectPoll{50};
constexpr const char* kReleaseScript =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";
// Publishes a token (ARGV[2]) obtained at ARGV[1] unless Redis holds one obtained as late: a
// late or replayed publish never replaces a newer token. Kept ARGV[3] ms.
constexpr const char* kPublishScript =
    "local at = redis.call('HGET', KEYS[1], 'at') "
    "if at and tonumber(at) and tonumber(at) >= tonumber(ARGV[1]) then return 0 end "
    "redis.call('HSET', KEYS[1], 'at', ARGV[1], 'token', ARGV[2]) "
    "redis.call('PEXPIRE', KEYS[1], ARGV[3]) return 1";

std::string randomOwner() {
  std::random_device source;
  unsigned char bytes[16];
  for (auto& byte : bytes) byte = static_cast<unsigned char>(source());
  return core::hexEncode(bytes, sizeof bytes);
}

}  // namespace

struct TokenRefresher::Slot {
  Slot(std::shared_ptr<OAuthAccount> a, boost::asio::io_context& io) : account(std::move(a)), timer(io), poll(io) {}
  std::shared_ptr<OAuthAccount> account;
  boost::asio::steady_timer timer;
  boost::asio::steady_timer poll;  ///< waiting for another replica's token
  bool inFlight = false;
  bool holdsLock = false;             ///< the account's lock in Redis is this refresher's
  bool obtainedHere = false;          ///< the token this refresh ends with is for this refresher to publish
  std::int64_t sharedWaitUntilMs = 0;  ///< when waiting for another replica gives up
  int failures = 0;
  std::int64_t retryAtMs = 0;      // after a failed background refresh
  std::int64_t refreshedAtMs = 0;  // last successful refresh
  std::vector<std::pair<boost::asio::any_io_executor, std::function<void(bool)>>> waiters;
};

// One refresh exchange: collects the answer, then hands it back to the refresher.
class TokenRefresher::Attempt : public upstream::TransferHandler {
 public:
  Attempt(TokenRefresher& owner, Slot& slot) : owner_(owner), slot_(slot) {}
  // Not from inside the client's callback: the next refresh may start a transfer at once.
  static void done(TokenRefresher& owner, Slot& slot, bool ok) {
    boost::asio::post(*owner.io_, [&owner, &slot, ok] { owner.guard(slot, [&] { owner.finished(slot, ok); }); });
  }
  void onResponseHead(const upstream::ResponseHead& head) override { status_ = head.status; }
  void onBody(std::string_view bytes) override {
    if (body_.size() < kMaxAnswer) body_.append(bytes.substr(0, kMaxAnswer - body_.size()));
  }
  void onComplete(std::error_code ec) override {
    // Whatever happens here, the slot must hear the outcome: requests wait on it.
    try {
      takeAnswer(ec);
    } catch (const std::exception& error) {
      slot_.account->noteRefreshFailure(std::string("refresh answer could not be handled: ") + error.what());
      log::message(spdlog::level::err, "oauth account " + slot_.account->label() + ": refresh answer could not be handled");
      done(owner_, slot_, false);
    }
  }

 private:
  void takeAnswer(std::error_code ec) {
    OAuthAccount& account = *slot_.account;
    std::string problem;
    if (ec) {
      problem = "refresh request failed: " + upstream::classify(ec, status_ != 0).message;
    } else if (status_ < 200 || status_ >= 300) {
      // The answer may echo tokens: only the status is kept.
      problem = "refresh endpoint answered HTTP " + std::to_string(status_);
    } else {
      const auto current = account.token();
      const auto answer = core::parseJson(body_);
      auto token = answer.is_object() ? account.readRefreshAnswer(*current, answer)
                                      : core::Result<OAuthToken>(core::GatewayError::make(
                                            core::ErrorKind::Protocol, "oauth_refresh_malformed", "answer is not JSON"));
      if (token.ok()) {
        account.install(std::move(token.value()));
        log::message(spdlog::level::info, "oauth account " + account.label() + ": access token refreshed");
        done(owner_, slot_, true);
        return;
      }
      problem = "refresh answer unusable: " + token.error().message;
    }
    account.noteRefreshFailure(problem);
    log::message(spdlog::level::warn, "oauth account " + account.label() + ": " + problem);
    done(owner_, slot_, false);
  }

  TokenRefresher& owner_;
  Slot& slot_;
  long status_ = 0;
  std::string body_;
};

TokenRefresher::TokenRefresher(std::vector<std::shared_ptr<OAuthAccount>> accounts, config::UpstreamPoolConfig pool,
                               config::RedisConfig redis)
    : accounts_(std::move(accounts)), pool_(pool), redisSettings_(std::move(redis)), owner_(randomOwner()) {}

TokenRefresher::~TokenRefresher() { stop(); }

void TokenRefresher::start() {
  if (accounts_.empty() || thread_.joinable()) return;
  work_.emplace(io_->get_executor());
  client_ = std::make_unique<upstream::HttpClient>(*io_, pool_);
  for (const auto& account : accounts_) slots_.push_back(std::make_unique<Slot>(account, *io_));
  if (!redisSettings_.url.empty()) {
    redis_ = std::make_shared<redis::Client>(*io_, redisSettings_, redisStats_);
    redis_->open();
    firstConnectBy_ = std::chrono::steady_clock::now() + kFirstConnectWait;
  }
  boost::asio::post(*io_, [this] {
    for (auto& slot : slots_) schedule(*slot);
  });
  thread_ = std::thread([this] {
    for (;;) {
      try {
        io_->run();
        return;
      } catch (const std::exception& error) {
        log::message(spdlog::level::critical, std::string("token refresher: an exception escaped (it goes on): ") + error.what());
      }
    }
  });
}

void TokenRefresher::stop() {
  if (!thread_.joinable()) return;
  boost::asio::post(*io_, [this] {
    for (auto& slot : slots_) {
      slot->timer.cancel();
      slot->poll.cancel();
      for (auto& [executor, done] : slot->waiters) boost::asio::post(executor, [done = std::move(done)] { done(false); });
      slot->waiters.clear();
    }
    client_.reset();  // cancels transfers in flight
    if (redis_) redis_->close();  // a lock held expires by itself
    redis_.reset();
    work_.reset();
    io_->stop();
  });
  thread_.join();
  slots_.clear();
  // Handlers still queued refer to the slots just freed: they go with their loop, never run.
  io_ = std::make_unique<boost::asio::io_context>();
}

void TokenRefresher::retire() {
  if (!thread_.joinable()) return;
  boost::asio::post(*io_, [this] {
    retired_ = true;
    for (auto& slot : slots_) slot->timer.cancel();
  });
}

void TokenRefresher::schedule(Slot& slot) {
  if (retired_) return;
  const std::int64_t now = nowEpochMs();
  std::int64_t due = slot.account->refreshDueMs();
  if (due == 0 && slot.retryAtMs == 0) return;  // unknown expiry: refreshed on demand only
  if (slot.retryAtMs != 0) due = due == 0 ? slot.retryAtMs : std::max(due, slot.retryAtMs);
  // A token that lives shorter than the lead would be refreshed in a loop: wait a little.
  if (slot.refreshedAtMs != 0) due = std::max(due, slot.refreshedAtMs + kMinInterval.count());
  if (due <= now) {
    beginSafely(slot);
    return;
  }
  slot.timer.expires_after(std::min(kMaxSleep, std::chrono::milliseconds(due - now)));
  slot.timer.async_wait([this, &slot](boost::system::error_code ec) {
    if (!ec && !slot.inFlight) schedule(slot);
  });
}

void TokenRefresher::refreshNow(const OAuthAccount& account, std::shared_ptr<const OAuthToken> rejected,
                                boost::asio::any_io_executor executor, std::function<void(bool)> done) {
  if (!thread_.joinable()) {
    boost::asio::post(executor, [done = std::move(done)] { done(false); });
    return;
  }
  boost::asio::post(*io_, [this, &account, rejected = std::move(rejected), executor, done = std::move(done)]() mutable {
    for (auto& slot : slots_) {
      if (slot->account.get() != &account) continue;
      if (!slot->inFlight && account.token() != rejected) {
        // Refreshed since the rejected token was read: the caller just retries.
        boost::asio::post(executor, [done = std::move(done)] { done(true); });
        return;
      }
      slot->waiters.emplace_back(executor, std::move(done));
      if (!slot->inFlight) beginSafely(*slot);
      return;
    }
    boost::asio::post(executor, [done = std::move(done)] { done(false); });
  });
}

template <class Step>
void TokenRefresher::guard(Slot& slot, Step&& step) noexcept {
  // Every path ends in finished(): requests may be waiting on this refresh.
  try {
    step();
    return;
  } catch (const std::exception& error) {
    try {
      log::message(spdlog::level::err, "oauth account " + slot.account->label() + ": refreshing failed: " + error.what());
    } catch (...) {
      // not even the log line
    }
  } catch (...) {
  }
  if (!slot.inFlight) return;
  try {
    finished(slot, false);
  } catch (...) {
    slot.inFlight = false;  // its waiters hear when the refresher stops
  }
}

void TokenRefresher::beginSafely(Slot& slot) {
  guard(slot, [&] { begin(slot); });
}

void TokenRefresher::begin(Slot& slot) {
  slot.timer.cancel();
  slot.inFlight = true;
  if (redis_ && redisStats_.connects.load() == 0 && std::chrono::steady_clock::now() < firstConnectBy_) {
    // Just started: a refresh due now waits for Redis to be asked first (the other replicas,
    // started alike, may hold a newer token).
    slot.poll.expires_after(kFirstConnectPoll);
    slot.poll.async_wait([this, &slot](boost::system::error_code ec) {
      if (!ec) beginSafely(slot);
    });
    return;
  }
  if (slot.account->adoptNewerFromFile()) {
    slot.obtainedHere = true;  // the CLI that owns the file refreshed it: the others get it too
    boost::asio::post(*io_, [this, &slot] { guard(slot, [&] { finished(slot, true); }); });
    return;
  }
  if (redis_ && redis_->ready()) {
    slot.sharedWaitUntilMs = nowEpochMs() + kMaxSharedWait.count();
    consultShared(slot);
    return;
  }
  refreshHere(slot);
}

std::string TokenRefresher::sharedKey(const Slot& slot, const char* what) const {
  // Replicas running one config name their accounts alike (provider#index).
  return redisSettings_.keyPrefix + "oauth:{" + slot.account->label() + "}:" + what;
}

void TokenRefresher::consultShared(Slot& slot) {
  redis_->command({"HMGET", sharedKey(slot, "token"), "at", "token"}, [this, &slot](const redis::Reply* reply) {
    guard(slot, [&] {
      if (reply == nullptr || reply->type == redis::Reply::Type::Error) return refreshHere(slot);  // no Redis to share with
      if (const auto shared = sharedToken(*reply); shared && slot.account->adoptShared(shared->second, shared->first)) {
        return finished(slot, true);
      }
      takeLock(slot);
    });
  });
}

void TokenRefresher::takeLock(Slot& slot) {
  redis_->command({"SET", sharedKey(slot, "lock"), owner_, "NX", "PX", std::to_string(kLockHold.count())},
                  [this, &slot](const redis::Reply* locked) {
    guard(slot, [&] {
      if (locked == nullptr || locked->type == redis::Reply::Type::Error) return refreshHere(slot);
      if (locked->type == redis::Reply::Type::Status) {
        slot.holdsLock = true;
        return refreshHere(slot);
      }
      // Another replica refreshes: its token is looked for again shortly.
      if (nowEpochMs() >= slot.sharedWaitUntilMs) {
        log::message(spdlog::level::warn, "oauth account " + slot.account->label() +
                                              ": no token from the replica refreshing it; refreshing here");
        return refreshHere(slot);
      }
      slot.poll.expires_after(kSharedPoll);
      slot.poll.async_wait([this, &slot](boost::system::error_code ec) {
        if (!ec) guard(slot, [&] { consultShared(slot); });  // an error: stopping
      });
    });
  });
}

std::optional<std::pair<std::int64_t, std::string>> TokenRefresher::sharedToken(const redis::Reply& reply) {
  // HMGET's answer: [at, token], nil where absent.
  using Type = redis::Reply::Type;
  if (reply.type != Type::Array || reply.elements.size() != 2 || reply.elements[0].type != Type::String ||
      reply.elements[1].type != Type::String) {
    return std::nullopt;
  }
  const std::string& at = reply.elements[0].text;
  std::int64_t obtainedAtMs = 0;
  const auto [end, ec] = std::from_chars(at.data(), at.data() + at.size(), obtainedAtMs);
  if (ec != std::errc() || end != at.data() + at.size() || obtainedAtMs <= 0) return std::nullopt;
  return std::make_pair(obtainedAtMs, reply.elements[1].text);
}

void TokenRefresher::refreshHere(Slot& slot) {
  sent_.fetch_add(1, std::memory_order_relaxed);
  slot.obtainedHere = true;
  upstream::Request request = slot.account->refreshRequest(*slot.account->token());
  request.timeouts.firstByte = kRefreshTimeout;
  request.timeouts.total = kRefreshTimeout;
  client_->start(std::move(request), std::make_shared<Attempt>(*this, slot));
}

void TokenRefresher::finished(Slot& slot, bool ok) {
  slot.inFlight = false;
  for (auto& [executor, done] : slot.waiters) boost::asio::post(executor, [done = std::move(done), ok] { done(ok); });
  slot.waiters.clear();
  const bool publish = redis_ && ok && slot.obtainedHere;
  const bool release = slot.holdsLock;
  slot.obtainedHere = false;
  slot.holdsLock = false;
  try {
    if (publish) {
      // Published whether or not the lock was taken (Redis may have come up since), so that no
      // replica refreshes again with the refresh token this one just used; replayed once Redis
      // is back when it is down (the script keeps a newer token).
      const auto expiresAtMs = slot.account->token()->expiresAtMs;
      const std::int64_t keepMs = expiresAtMs > 0 ? std::max<std::int64_t>(1000, expiresAtMs - nowEpochMs()) : 86400000;
      redis_->commandEventually({"EVAL", kPublishScript, "1", sharedKey(slot, "token"),
                                 std::to_string(slot.account->obtainedAtMs()), slot.account->sharedText(),
                                 std::to_string(keepMs)});
    }
    // After the token: a replica that finds the lock gone finds the token.
    if (release) redis_->command({"EVAL", kReleaseScript, "1", sharedKey(slot, "lock"), owner_}, nullptr);
  } catch (const std::exception& error) {
    log::message(spdlog::level::warn, "oauth account " + slot.account->label() + ": the token could not be shared: " + error.what());
  }
  if (ok) {
    slot.failures = 0;
    slot.retryAtMs = 0;
    slot.refreshedAtMs = nowEpochMs();
  } else {
    // Back off linearly (5 s, 10 s, ... up to a minute) instead of hammering the endpoint.
    slot.failures = std::min(slot.failures + 1, 12);
    slot.retryAtMs = nowEpochMs() + 5000LL * slot.failures;
  }
  schedule(slot);
}

}  // namespace llmgate::auth
