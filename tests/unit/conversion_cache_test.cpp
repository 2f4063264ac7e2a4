#include "llmgate/proxy/conversion_cache.hpp"

#include <gtest/gtest.h>

#include "llmgate/core/lru_cache.hpp"
#include "provider_test_util.hpp"

namespace llmgate::proxy {
namespace {

TEST(LruCache, EvictsTheLeastRecentlyUsedAndCounts) {
  core::LruCache<int, std::string> cache(2);
  cache.insert(1, "one");
  cache.insert(2, "two");
  EXPECT_EQ(cache.find(1).value(), "one");  // 1 is now the most recent
  cache.insert(3, "three");                 // so 2 goes
  EXPECT_FALSE(cache.find(2));
  EXPECT_EQ(cache.find(3).value(), "three");
  cache.insert(3, "THREE");  // replacing is not an eviction
  EXPECT_EQ(cache.find(3).value(), "THREE");
  const auto stats = cache.stats();
  EXPECT_EQ(stats.hits, 3u);
  EXPECT_EQ(stats.misses, 1u);
  EXPECT_EQ(stats.evictions, 1u);
  EXPECT_EQ(stats.size, 2u);
  core::LruCache<int, int> off(0);
  off.insert(1, 1);
  EXPECT_FALSE(off.find(1));
}

TEST(LruCache, ManyEvictionsOfLongKeysKeepTheIndexRight) {
  core::LruCache<std::string, int> cache(3);
  const auto keyOf = [](int i) { return std::string(64, 'k') + std::to_string(i); };  // beyond SSO: heap keys
  for (int i = 0; i < 100; ++i) {
    cache.insert(keyOf(i), i);
    if (i % 2 == 0) cache.insert(keyOf(i), -i);  // a replacement keeps the entry and its key
  }
  EXPECT_FALSE(cache.find(keyOf(0)));
  EXPECT_FALSE(cache.find(keyOf(96)));
  EXPECT_EQ(cache.find(keyOf(97)).value(), 97);
  EXPECT_EQ(cache.find(keyOf(98)).value(), -98);
  EXPECT_EQ(cache.find(keyOf(99)).value(), 99);
  EXPECT_EQ(cache.stats().evictions, 97u);
  EXPECT_EQ(cache.stats().size, 3u);
}

class ConversionCacheTest : public ::testing::Test {
 protected:
  std::unique_ptr<providers::Provider> gemini = testing::makeProvider({{"name", "g"}, {"type", "gemini"}});
  std::unique_ptr<providers::Provider> deepseek = testing::makeProvider({{"name", "d"}, {"type", "deepseek"}});
  const std::string body = R"({"model":"m","messages":[{"role":"user","content":"hi"}]})";
  const core::ChatRequest request = testing::openAiRequest(body);
};

TEST_F(ConversionCacheTest, AHitGivesTheSameBytesAndEveryKeyPartCounts) {
  ConversionCache cache(config::ConversionCacheConfig{});
  const auto first = cache.convert(*gemini, core::Dialect::OpenAi, body, request, "gemini-2.5-flash", {});
  const auto second = cache.convert(*gemini, core::Dialect::OpenAi, body, request, "gemini-2.5-flash", {});
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(first.value().body, second.value().body);
  EXPECT_EQ(first.value().url, second.value().url);
  EXPECT_EQ(cache.stats().hits, 1u);
  // Another model, provider, dialect, hint or body is another conversion.
  EXPECT_NE(cache.convert(*gemini, core::Dialect::OpenAi, body, request, "gemini-2.5-pro", {}).value().url, first.value().url);
  cache.convert(*deepseek, core::Dialect::OpenAi, body, request, "gemini-2.5-flash", {});
  cache.convert(*gemini, core::Dialect::Anthropic, body, request, "gemini-2.5-flash", {});
  cache.convert(*gemini, core::Dialect::OpenAi, body, request, "gemini-2.5-flash", {"beta-1"});
  cache.convert(*gemini, core::Dialect::OpenAi, body + " ", request, "gemini-2.5-flash", {});
  EXPECT_EQ(cache.stats().hits, 1u);
  EXPECT_EQ(cache.stats().misses, 6u);
}

TEST_F(ConversionCacheTest, LargeBodiesFailuresAndAZeroSizeAreNotCached) {
  ConversionCache small(config::ConversionCacheConfig{100, 10});
  small.convert(*gemini, core::Dialect::OpenAi, body, request, "g", {});
  small.convert(*gemini, core::Dialect::OpenAi, body, request, "g", {});
  EXPECT_EQ(small.stats().hits + small.stats().misses, 0u);  // over max_body_bytes: not even looked up

  ConversionCache cache(config::ConversionCacheConfig{});
  const std::string orphan = R"({"model":"m","messages":[{"role":"tool","tool_call_id":"x","content":"1"}]})";
  const auto bad = testing::openAiRequest(orphan);
  EXPECT_FALSE(cache.convert(*gemini, core::Dialect::OpenAi, orphan, bad, "g", {}).ok());
  EXPECT_FALSE(cache.convert(*gemini, core::Dialect::OpenAi, orphan, bad, "g", {}).ok());
  EXPECT_EQ(cache.stats().hits, 0u);
  EXPECT_EQ(cache.stats().size, 0u);

  ConversionCache off(config::ConversionCacheConfig{0, 1 << 20});
  off.convert(*gemini, core::Dialect::OpenAi, body, request, "g", {});
  off.convert(*gemini, core::Dialect::OpenAi, body, request, "g", {});
  EXPECT_EQ(off.stats().hits, 0u);
}

}  // namespace
}  // namespace llmgate::proxy
