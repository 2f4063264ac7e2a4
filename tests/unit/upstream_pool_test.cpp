// The upstream pool: one health per key and configured model, keys in turn, panic picks, and
// what a retry may still use.
#include "llmgate/balancing/upstream_pool.hpp"

#include <gtest/gtest.h>

#include "llmgate/routing/router.hpp"
#include "provider_test_util.hpp"

namespace llmgate::balancing {
namespace {

using namespace std::chrono_literals;

struct Fixture {
  Fixture() {
    providers.push_back(testing::makeProvider(
        {{"name", "up"}, {"type", "openai"}, {"base_url", "http://127.0.0.1:9/v1"}, {"api_keys", {"k1", "k2"}},
         {"models", {"good", "bad", "gpt-*"}}, {"breaker", {{"failure_threshold", 1}, {"open_ms", 1000}}}}));
    providers.push_back(testing::makeProvider({{"name", "mock"}, {"type", "mock"}, {"models", {"mock"}}}));
    pool = std::make_unique<UpstreamPool>(providers);
  }
  routing::Target target(const std::string& deployment) const {
    return routing::Target{providers[0].get(), deployment, 1, deployment};
  }
  std::vector<std::unique_ptr<providers::Provider>> providers;
  std::unique_ptr<UpstreamPool> pool;
};

const auto kServerError = core::GatewayError::make(core::ErrorKind::Upstream, "upstream_http_500", "x");

TEST(UpstreamPool, KeepsOneHealthPerKeyAndConfiguredModel) {
  Fixture f;
  std::vector<std::string> seen;
  f.pool->forEachDeployment(*f.providers[0], [&](const UpstreamPool::DeploymentView& deployment) {
    seen.push_back(std::to_string(deployment.credential) + " " + deployment.model);
  });
  EXPECT_EQ(seen, (std::vector<std::string>{"0 good", "0 bad", "0 gpt-*", "0 *", "1 good", "1 bad", "1 gpt-*", "1 *"}));
  int local = 0;
  f.pool->forEachDeployment(*f.providers[1], [&](const auto&) { ++local; });
  EXPECT_EQ(local, 0);  // the mock has no upstream
  EXPECT_EQ(f.pool->health(*f.providers[0], 1, "bad")->name(), "up#1 bad");
  EXPECT_EQ(f.pool->health(*f.providers[0], 2, "bad"), nullptr);
  EXPECT_EQ(f.pool->health(*f.providers[0], 0, "never-configured"), nullptr);
}

TEST(UpstreamPool, AFailingModelLeavesTheOtherModelsOfItsKeysAlone) {
  Fixture f;
  const auto now = Clock::now();
  for (int i = 0; i < 2; ++i) {  // both keys of "bad" fail once: their circuits open
    auto picked = f.pool->pick(f.target("bad"), {}, now);
    ASSERT_TRUE(picked);
    picked->health->recordFailure(kServerError, now);
  }
  EXPECT_FALSE(f.pool->pick(f.target("bad"), {}, now));
  auto good = f.pool->pick(f.target("good"), {}, now);
  ASSERT_TRUE(good);
  good->health->release();
  // A name no entry lists exactly uses the deployment of its pattern, or "*".
  EXPECT_EQ(f.pool->pick(f.target("gpt-*"), {}, now)->health->name().substr(5), "gpt-*");
  EXPECT_EQ(f.pool->pick(routing::Target{f.providers[0].get(), "other", 1, "other"}, {}, now)->health->name().substr(5), "*");
}

TEST(UpstreamPool, KeysTakeTurnsAndSkipWhatIsCoolingOrExcluded) {
  Fixture f;
  const auto now = Clock::now();
  std::vector<std::size_t> credentials;
  for (int i = 0; i < 4; ++i) {
    auto picked = f.pool->pick(f.target("good"), {}, now);
    credentials.push_back(picked->credential);
    picked->health->release();
  }
  EXPECT_EQ(credentials, (std::vector<std::size_t>{0, 1, 0, 1}));
  auto* key0 = const_cast<EndpointHealth*>(f.pool->health(*f.providers[0], 0, "good"));
  key0->coolDown(now + 500ms);
  for (int i = 0; i < 3; ++i) {
    auto picked = f.pool->pick(f.target("good"), {}, now);
    EXPECT_EQ(picked->credential, 1u);
    picked->health->release();
  }
  const auto* key1 = f.pool->health(*f.providers[0], 1, "good");
  EXPECT_FALSE(f.pool->pick(f.target("good"), {key1}, now));
  EXPECT_EQ(f.pool->availableAt(f.target("good"), {key1}, now), now + 500ms);
  EXPECT_EQ(f.pool->availableAt(f.target("good"), {}, now), now);
  EXPECT_FALSE(f.pool->availableAt(f.target("good"), {key0, key1}, now));
}

TEST(UpstreamPool, APanicPickTakesTheDeploymentThatRecoversSoonest) {
  Fixture f;
  const auto now = Clock::now();
  auto* key0 = const_cast<EndpointHealth*>(f.pool->health(*f.providers[0], 0, "good"));
  auto* key1 = const_cast<EndpointHealth*>(f.pool->health(*f.providers[0], 1, "good"));
  key0->coolDown(now + 800ms);
  key1->coolDown(now + 300ms);
  EXPECT_FALSE(f.pool->pick(f.target("good"), {}, now));
  auto anyway = f.pool->pickAnyway(f.target("good"), {}, now);
  ASSERT_TRUE(anyway);
  EXPECT_EQ(anyway->credential, 1u);
  EXPECT_EQ(key1->inFlight(), 1);
  anyway->health->release();
  EXPECT_FALSE(f.pool->pickAnyway(f.target("good"), {key0, key1}, now));
}

TEST(UpstreamPool, SendsMadeAnywayCloseAnOpenCircuitWhenTheySucceed) {
  Fixture f;  // failure_threshold 1, success_threshold 3 (default), open 1 s
  const auto now = Clock::now();
  auto* health = const_cast<EndpointHealth*>(f.pool->health(*f.providers[0], 0, "bad"));
  ASSERT_TRUE(health->tryAcquire(now));
  health->recordFailure(kServerError, now);
  ASSERT_EQ(health->state(now), resilience::BreakerState::Open);
  EXPECT_EQ(health->availableAt(now), now + 1000ms);
  for (int i = 0; i < 3; ++i) {
    health->acquireAnyway();
    health->recordSuccess(10ms, now);
  }
  EXPECT_EQ(health->state(now), resilience::BreakerState::Closed);
  EXPECT_EQ(health->availableAt(now), now);
}

TEST(UpstreamPool, LeastBusyOrdersByTheTargetsOwnDeployments) {
  Fixture f;
  routing::Route route{"r", "r", routing::Strategy::LeastBusy, {f.target("bad"), f.target("good")}, 0};
  EXPECT_EQ(f.pool->order(route).front().deployment, "bad");  // both idle: config order
  auto busy = f.pool->pick(f.target("bad"), {});
  auto busier = f.pool->pick(f.target("bad"), {});
  EXPECT_EQ(f.pool->order(route).front().deployment, "good");
  busy->health->release();
  busier->health->release();
}

}  // namespace
}  // namespace llmgate::balancing
