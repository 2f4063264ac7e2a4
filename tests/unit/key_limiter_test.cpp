#include "llmgate/limits/key_limiter.hpp"

#include <gtest/gtest.h>

#include <thread>

namespace llmgate::limits {
namespace {

using std::chrono::milliseconds;

struct Outcome {
  Decision decision;
  std::shared_ptr<Admission> admission;
};

// In memory (no redis.url): decided at once, on the calling thread.
Outcome admitNow(KeyLimiter& limiter, const config::GatewayKey& key, std::int64_t tokens) {
  Outcome outcome;
  bool called = false;
  limiter.admit(0, key, tokens, [&](const Decision& decision, std::shared_ptr<Admission> admission) {
    called = true;
    outcome = {decision, std::move(admission)};
  });
  EXPECT_TRUE(called);
  return outcome;
}

config::GatewayKey key(const std::string& name) {
  config::GatewayKey key;
  key.name = name;
  key.key = "sk-" + name;
  return key;
}

TEST(ResetText, WritesDurationsAsOpenAiDoes) {
  EXPECT_EQ(resetText(milliseconds(0)), "0ms");
  EXPECT_EQ(resetText(milliseconds(20)), "20ms");
  EXPECT_EQ(resetText(milliseconds(999)), "999ms");
  EXPECT_EQ(resetText(milliseconds(1000)), "1s");
  EXPECT_EQ(resetText(milliseconds(1001)), "2s") << "rounded up: waiting less would be refused again";
  EXPECT_EQ(resetText(milliseconds(360000)), "6m0s");
  EXPECT_EQ(resetText(milliseconds(3723000)), "1h2m3s");
}

TEST(KeyLimiter, RequestsPerMinuteIsATokenBucket) {
  redis::Connections noRedis({});
  KeyLimiter limiter(noRedis);
  auto limited = key("a");
  limited.rpm = 2;
  const auto first = admitNow(limiter, limited, 1);
  ASSERT_TRUE(first.decision.admitted);
  EXPECT_EQ(first.decision.limitRequests, 2);
  EXPECT_EQ(first.decision.remainingRequests, 1);
  EXPECT_EQ(first.decision.limitTokens, -1) << "no tokens limit";
  EXPECT_FALSE(first.decision.shared);
  EXPECT_TRUE(admitNow(limiter, limited, 1).decision.admitted);
  const auto refused = admitNow(limiter, limited, 1);
  EXPECT_FALSE(refused.decision.admitted);
  EXPECT_EQ(refused.decision.reason, "rpm");
  EXPECT_EQ(refused.admission, nullptr);
  // Two a minute: one comes back every 30 s.
  EXPECT_GT(refused.decision.retryAfter, milliseconds(29000));
  EXPECT_LE(refused.decision.retryAfter, milliseconds(30000));
  EXPECT_LE(refused.decision.resetRequests, milliseconds(60000));
  const auto usage = limiter.usage();
  ASSERT_EQ(usage.size(), 1u);
  EXPECT_EQ(usage[0].requests, 2u);
  EXPECT_EQ(usage[0].rejected.at("rpm"), 1u);
}

TEST(KeyLimiter, TokensAreChargedOnEstimateThenSettledToWhatWasUsed) {
  redis::Connections noRedis({});
  KeyLimiter limiter(noRedis);
  auto limited = key("t");
  limited.tpm = 100;
  {
    auto outcome = admitNow(limiter, limited, 60);
    ASSERT_TRUE(outcome.decision.admitted);
    EXPECT_EQ(outcome.decision.remainingTokens, 40);
    EXPECT_FALSE(admitNow(limiter, limited, 60).decision.admitted) << "40 left on estimate";
    outcome.admission->reportUsage(5, 5);
  }  // settled: 60 estimated, 10 used
  const auto after = admitNow(limiter, limited, 60);
  ASSERT_TRUE(after.decision.admitted);
  EXPECT_NEAR(static_cast<double>(after.decision.remainingTokens), 30, 1);
  const auto usage = limiter.usage();
  EXPECT_EQ(usage[0].inputTokens, 5u);
  EXPECT_EQ(usage[0].outputTokens, 5u);
}

TEST(KeyLimiter, UsageReportedInPiecesCountsWhole) {
  redis::Connections noRedis({});
  KeyLimiter limiter(noRedis);
  auto limited = key("pieces");
  limited.budgetTokens = 1000;
  {
    auto outcome = admitNow(limiter, limited, 50);
    // Anthropic's stream: message_start has the input, message_delta the output alone.
    outcome.admission->reportUsage(120, 0);
    outcome.admission->reportUsage(0, 30);
  }
  const auto usage = limiter.usage();
  EXPECT_EQ(usage[0].inputTokens, 120u);
  EXPECT_EQ(usage[0].outputTokens, 30u);
  EXPECT_EQ(usage[0].budgetUsed, 150);
}

TEST(KeyLimiter, ARefusedRequestGivesItsSlotBackAndIsChargedNothing) {
  redis::Connections noRedis({});
  KeyLimiter limiter(noRedis);
  auto limited = key("refused");
  limited.rpm = 1;
  limited.maxConcurrent = 5;
  limited.budgetTokens = 100;
  auto first = admitNow(limiter, limited, 10);
  ASSERT_TRUE(first.decision.admitted);
  for (int i = 0; i < 10; ++i) EXPECT_FALSE(admitNow(limiter, limited, 10).decision.admitted);
  EXPECT_EQ(limiter.usage()[0].inFlight, 1) << "only the admitted one";
  first.admission.reset();
  EXPECT_EQ(limiter.usage()[0].inFlight, 0);
  EXPECT_EQ(limiter.usage()[0].budgetUsed, 10) << "the estimate: the answer reported nothing";
}

TEST(KeyLimiter, ARequestLargerThanTheWholeBucketWaitsForAFullOne) {
  redis::Connections noRedis({});
  KeyLimiter limiter(noRedis);
  auto limited = key("big");
  limited.tpm = 10;
  auto outcome = admitNow(limiter, limited, 500);
  ASSERT_TRUE(outcome.decision.admitted) << "it could never pass otherwise";
  outcome.admission->reportUsage(400, 100);
  outcome.admission.reset();
  const auto next = admitNow(limiter, limited, 1);
  EXPECT_FALSE(next.decision.admitted);
  EXPECT_EQ(next.decision.reason, "tpm");
  EXPECT_GT(next.decision.retryAfter, milliseconds(60000)) << "490 tokens in debt at 10 a minute";
}

TEST(KeyLimiter, RequestsInFlightAreHeldUntilTheAdmissionGoes) {
  redis::Connections noRedis({});
  KeyLimiter limiter(noRedis);
  auto limited = key("c");
  limited.maxConcurrent = 2;
  auto one = admitNow(limiter, limited, 1);
  auto two = admitNow(limiter, limited, 1);
  ASSERT_TRUE(one.decision.admitted && two.decision.admitted);
  const auto three = admitNow(limiter, limited, 1);
  EXPECT_FALSE(three.decision.admitted);
  EXPECT_EQ(three.decision.reason, "concurrency");
  EXPECT_EQ(limiter.usage()[0].inFlight, 2);
  one.admission.reset();
  EXPECT_EQ(limiter.usage()[0].inFlight, 1);
  EXPECT_TRUE(admitNow(limiter, limited, 1).decision.admitted);
}

TEST(KeyLimiter, ABudgetIsSpentByWhatAnswersUsedAndRenewsWithItsPeriod) {
  redis::Connections noRedis({});
  KeyLimiter limiter(noRedis);
  auto limited = key("b");
  limited.budgetTokens = 100;
  limited.budgetPeriod = "hour";
  admitNow(limiter, limited, 1).admission->reportUsage(60, 50);
  const auto refused = admitNow(limiter, limited, 1);
  EXPECT_FALSE(refused.decision.admitted);
  EXPECT_EQ(refused.decision.reason, "budget");
  EXPECT_GT(refused.decision.retryAfter, milliseconds(0));
  EXPECT_LE(refused.decision.retryAfter, milliseconds(3600 * 1000)) << "until the next hour";
  EXPECT_EQ(limiter.usage()[0].budgetUsed, 110);
}

TEST(KeyLimiter, KeysAreCountedApartAndAKeyWithoutLimitsIsOnlyCounted) {
  redis::Connections noRedis({});
  KeyLimiter limiter(noRedis);
  auto limited = key("x");
  limited.rpm = 1;
  const auto open = key("y");
  EXPECT_TRUE(admitNow(limiter, limited, 1).decision.admitted);
  EXPECT_FALSE(admitNow(limiter, limited, 1).decision.admitted);
  for (int i = 0; i < 50; ++i) {
    const auto outcome = admitNow(limiter, open, 1000000);
    ASSERT_TRUE(outcome.decision.admitted);
    EXPECT_EQ(outcome.decision.limitRequests, -1);
  }
  for (const auto& usage : limiter.usage()) EXPECT_EQ(usage.requests, usage.name == "y" ? 50u : 1u);
}

TEST(KeyLimiter, ThreadsSharingAKeyNeverAdmitMoreThanItsLimit) {
  redis::Connections noRedis({});
  KeyLimiter limiter(noRedis);
  auto limited = key("race");
  limited.rpm = 100;
  std::atomic<int> admitted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 100; ++i) {
        limiter.admit(0, limited, 1, [&](const Decision& decision, std::shared_ptr<Admission>) {
          if (decision.admitted) ++admitted;
        });
      }
    });
  }
  for (auto& thread : threads) thread.join();
  // The bucket refills 100 a minute: a few more may come back while the threads run.
  EXPECT_GE(admitted.load(), 100);
  EXPECT_LE(admitted.load(), 102);
}

}  // namespace
}  // namespace llmgate::limits
