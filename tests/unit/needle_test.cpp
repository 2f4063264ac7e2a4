#include "llmgate/core/needle.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace llmgate::core {
namespace {

unsigned expectedBits(std::string_view haystack, const std::vector<std::string_view>& texts) {
  unsigned bits = 0;
  for (std::size_t i = 0; i < texts.size(); ++i) {
    if (haystack.find(texts[i]) != std::string_view::npos) bits |= 1u << i;
  }
  return bits;
}

// Needles answer what string_view::find answers for each text, at every position and length
// around the sixteen-byte blocks they read, with the bytes that make candidates (each text's
// first two) all over the haystack; alone, in pairs (as the relay uses them), and with a text
// of one byte or none (which take the byte loop).
TEST(Needles, FindWhatFindFinds) {
  const std::vector<std::vector<std::string_view>> sets = {
      {"\"usage\":{"}, {"\"error\""}, {"\"usage\":{", "\"error\""}, {"ab", "aX"}, {"aXa", "b"},
      {"a", "X", "ab", "\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\""}, {"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"", "}e"}, {"", "ab"}};
  std::mt19937 random(7);
  const std::string alphabet = "\"usage:{error}aXb ";
  std::vector<int> seen(1u << 4, 0);
  for (const auto& texts : sets) {
    const Needles needles(texts);
    for (std::size_t length = 0; length <= 70; ++length) {
      for (int trial = 0; trial < 40; ++trial) {
        std::string haystack(length, ' ');
        for (auto& c : haystack) c = alphabet[random() % alphabet.size()];
        // Most texts get one of the texts planted somewhere, ends included.
        const std::string_view planted = texts[random() % texts.size()];
        if (trial % 4 != 0 && length >= planted.size()) {
          haystack.replace(random() % (length - planted.size() + 1), planted.size(), planted);
        }
        const unsigned expected = expectedBits(haystack, texts);
        EXPECT_EQ(needles.foundIn(haystack), expected) << "in " << haystack;
        ++seen[expected];
      }
    }
  }
  // Every answer of the pair, none and both included, was exercised.
  for (unsigned bits = 0; bits < 4; ++bits) EXPECT_GT(seen[bits], 100) << bits;
}

TEST(Needles, FindUsageAtTheVeryEndOfALongEventOnly) {
  const Needles needles({"\"usage\":{", "\"error\""});
  std::string event = R"({"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[],)";
  EXPECT_EQ(needles.foundIn(event + R"("usage":null})"), 0u);
  EXPECT_EQ(needles.foundIn(event + R"("usage":{"prompt_tokens":9}})"), 1u);
  EXPECT_EQ(needles.foundIn(event + R"("error":{"message":"x"},"usage":{"prompt_tokens":9}})"), 3u);
  const std::string tail = R"("usage":{)";
  for (std::size_t cut = 1; cut < tail.size(); ++cut) EXPECT_EQ(needles.foundIn(event + tail.substr(0, cut)), 0u) << cut;
  EXPECT_EQ(needles.foundIn(""), 0u);
}

}  // namespace
}  // namespace llmgate::core
