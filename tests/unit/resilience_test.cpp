#include "llmgate/resilience/endpoint_health.hpp"
#include "llmgate/resilience/retry_policy.hpp"

#include <gtest/gtest.h>

namespace llmgate::resilience {
namespace {

using namespace std::chrono_literals;

core::GatewayError errorOf(core::ErrorKind kind, int status) {
  auto error = core::GatewayError::make(kind, "x", "x");
  error.status = status;
  return error;
}

TEST(RetryAfter, WaitsAreSentAsWholeSecondsRoundedUp) {
  EXPECT_EQ(retryAfterSeconds(Millis(0)), "0");
  EXPECT_EQ(retryAfterSeconds(Millis(1)), "1");
  EXPECT_EQ(retryAfterSeconds(Millis(1000)), "1");
  EXPECT_EQ(retryAfterSeconds(Millis(1001)), "2");
  EXPECT_EQ(retryAfterSeconds(Millis(59500)), "60");
}

TEST(RetryAfter, MillisecondsSecondsAndEveryHttpDateForm) {
  const auto now = std::chrono::system_clock::from_time_t(784111777);  // Sun, 06 Nov 1994 08:49:37 GMT
  EXPECT_EQ(parseRetryAfter("1500", "", now), Millis(1500));
  EXPECT_EQ(parseRetryAfter("250.5", "9", now), Millis(251));  // retry-after-ms wins
  EXPECT_EQ(parseRetryAfter("", "7", now), Millis(7000));
  EXPECT_EQ(parseRetryAfter("", "1.5", now), Millis(1500));
  EXPECT_EQ(parseRetryAfter("", "Sun, 06 Nov 1994 08:49:47 GMT", now), Millis(10000));
  EXPECT_EQ(parseRetryAfter("", "Sunday, 06-Nov-94 08:49:57 GMT", now), Millis(20000));
  EXPECT_EQ(parseRetryAfter("", "Sun Nov  6 08:50:07 1994", now), Millis(30000));
  EXPECT_EQ(parseRetryAfter("", "Sun, 06 Nov 1994 08:00:00 GMT", now), Millis(0));  // in the past
  EXPECT_FALSE(parseRetryAfter("", "soon", now));
  EXPECT_FALSE(parseRetryAfter("-5", "", now));
  EXPECT_FALSE(parseRetryAfter("", "", now));
}

TEST(RetryAfter, WaitsTooLongToRepresentAreCappedNotOverflowed) {
  const auto now = std::chrono::system_clock::from_time_t(784111777);
  for (const auto& [ms, seconds] : std::vector<std::pair<std::string, std::string>>{
           {"1e300", ""}, {"", "1e300"}, {"", "99999999999999999999"}, {"", "Fri, 31 Dec 9999 23:59:59 GMT"}}) {
    EXPECT_EQ(parseRetryAfter(ms, seconds, now), kLongestRetryAfter) << ms << seconds;
  }
  // What the gateway then does with it: no clock arithmetic overflows.
  EXPECT_GT(Clock::now() + *parseRetryAfter("", "1e300", now), Clock::now());
}

TEST(Backoff, LinearWithJitterAndCap) {
  RetryConfig config;
  config.baseDelay = 100ms;
  config.maxDelay = 250ms;
  config.jitter = 0.2;
  EXPECT_EQ(backoff(config, 1, 0.5), 100ms);
  EXPECT_EQ(backoff(config, 2, 0.5), 200ms);
  EXPECT_EQ(backoff(config, 1, 0.0), 80ms);
  EXPECT_EQ(backoff(config, 1, 0.999), 119ms);
  EXPECT_EQ(backoff(config, 5, 0.5), 250ms);
}

TEST(Retryable, ClassificationDecidesAlone) {
  EXPECT_TRUE(isRetryable(errorOf(core::ErrorKind::Connect, 502)));
  EXPECT_TRUE(isRetryable(errorOf(core::ErrorKind::Timeout, 504)));
  EXPECT_TRUE(isRetryable(errorOf(core::ErrorKind::RateLimited, 429)));
  EXPECT_TRUE(isRetryable(errorOf(core::ErrorKind::Upstream, 503)));
  EXPECT_TRUE(isRetryable(errorOf(core::ErrorKind::Protocol, 502)));
  EXPECT_TRUE(isRetryable(errorOf(core::ErrorKind::InvalidRequest, 408)));
  EXPECT_TRUE(isRetryable(errorOf(core::ErrorKind::InvalidRequest, 409)));
  EXPECT_FALSE(isRetryable(errorOf(core::ErrorKind::InvalidRequest, 400)));
  EXPECT_FALSE(isRetryable(errorOf(core::ErrorKind::Authentication, 401)));
  EXPECT_FALSE(isRetryable(errorOf(core::ErrorKind::NotFound, 404)));
  EXPECT_FALSE(isRetryable(errorOf(core::ErrorKind::Cancelled, 499)));
  EXPECT_FALSE(countsAgainstEndpoint(errorOf(core::ErrorKind::RateLimited, 429)));
  EXPECT_FALSE(countsAgainstEndpoint(errorOf(core::ErrorKind::InvalidRequest, 400)));
  EXPECT_TRUE(countsAgainstEndpoint(errorOf(core::ErrorKind::Connect, 502)));
}

TEST(RetryBudget, RatioOfRequestsPlusATrickle) {
  RetryConfig config;
  config.budgetRatio = 0.5;
  config.budgetMinPerSecond = 0;
  RetryBudget budget(config);
  const auto t0 = Clock::now();
  EXPECT_TRUE(budget.tryRetry(t0));  // one token to start with
  EXPECT_FALSE(budget.tryRetry(t0));
  budget.recordRequest();
  budget.recordRequest();
  EXPECT_TRUE(budget.tryRetry(t0));
  EXPECT_FALSE(budget.tryRetry(t0));
  config.budgetRatio = 0;
  config.budgetMinPerSecond = 2;
  RetryBudget trickle(config);
  EXPECT_TRUE(trickle.tryRetry(t0));
  EXPECT_TRUE(trickle.tryRetry(t0));
  EXPECT_FALSE(trickle.tryRetry(t0));
  EXPECT_TRUE(trickle.tryRetry(t0 + 600ms));  // a token every half second
}

TEST(EndpointHealth, OpensAfterThresholdProbesThenClosesAfterSuccesses) {
  BreakerConfig config;  // 5 failures, 60 s open, 3 successes, 1 probe
  EndpointHealth health(config, "test#0");
  const auto t0 = Clock::now();
  const auto failure = errorOf(core::ErrorKind::Upstream, 503);
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(health.tryAcquire(t0));
    health.recordFailure(failure, t0);
  }
  EXPECT_EQ(health.state(t0), BreakerState::Closed);
  ASSERT_TRUE(health.tryAcquire(t0));
  health.recordFailure(failure, t0);
  EXPECT_EQ(health.state(t0), BreakerState::Open);
  EXPECT_FALSE(health.tryAcquire(t0 + 59s));
  // Half-open after the cool-down: one probe at a time.
  EXPECT_EQ(health.state(t0 + 60s), BreakerState::HalfOpen);
  ASSERT_TRUE(health.tryAcquire(t0 + 60s));
  EXPECT_FALSE(health.tryAcquire(t0 + 60s));
  health.recordSuccess(10ms, t0 + 60s);
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(health.tryAcquire(t0 + 61s));
    EXPECT_EQ(health.state(t0 + 61s), BreakerState::HalfOpen);
    health.recordSuccess(10ms, t0 + 61s);
  }
  EXPECT_EQ(health.state(t0 + 61s), BreakerState::Closed);
}

TEST(EndpointHealth, FailedProbeReopensAndRateLimitsOnlyCoolDown) {
  BreakerConfig config;
  config.failureThreshold = 1;
  config.openFor = 1s;
  EndpointHealth health(config, "test#0");
  const auto t0 = Clock::now();
  ASSERT_TRUE(health.tryAcquire(t0));
  health.recordFailure(errorOf(core::ErrorKind::Connect, 502), t0);
  ASSERT_TRUE(health.tryAcquire(t0 + 1s));
  health.recordFailure(errorOf(core::ErrorKind::Timeout, 504), t0 + 1s);
  EXPECT_EQ(health.state(t0 + 1s), BreakerState::Open);
  EXPECT_FALSE(health.tryAcquire(t0 + 1500ms));

  EndpointHealth limited(config, "test#1");
  ASSERT_TRUE(limited.tryAcquire(t0));
  limited.recordFailure(errorOf(core::ErrorKind::RateLimited, 429), t0);
  EXPECT_EQ(limited.state(t0), BreakerState::Closed);
  limited.coolDown(t0 + 2s);
  EXPECT_FALSE(limited.tryAcquire(t0 + 1s));
  EXPECT_TRUE(limited.tryAcquire(t0 + 2s));
  EXPECT_EQ(limited.inFlight(), 1);
  limited.release();
  EXPECT_EQ(limited.inFlight(), 0);
}

TEST(EndpointHealth, LatencyEwma) {
  EndpointHealth health(BreakerConfig{}, "test#0");
  EXPECT_LT(health.latencyEwmaMs(), 0);  // unmeasured
  ASSERT_TRUE(health.tryAcquire());
  health.recordSuccess(100ms);
  EXPECT_DOUBLE_EQ(health.latencyEwmaMs(), 100);
  ASSERT_TRUE(health.tryAcquire());
  health.recordSuccess(200ms);
  EXPECT_DOUBLE_EQ(health.latencyEwmaMs(), 120);
}

}  // namespace
}  // namespace llmgate::resilience
