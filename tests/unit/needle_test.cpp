#include "llmgate/core/needle.hpp"

#include <gtest/gtest.h>

#include <algorithm>
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
      {"a", "X", "ab", "\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\""}, {"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"", "}e"}, {"", "ab"},
      {"ab", "aX", "}e"}, {"ab", "aX", "}e", "\"error\""}};
  std::mt19937 random(7);
  const std::string alphabet = "\"usage:{error}aXb ";
  for (const auto& texts : sets) {
    std::vector<int> seen(1u << texts.size(), 0);
    const Needles needles(texts);
    for (std::size_t length = 0; length <= 70; ++length) {
      for (int trial = 0; trial < 40; ++trial) {
        std::string haystack(length, ' ');
        for (auto& c : haystack) c = alphabet[random() % alphabet.size()];
        // A quarter of the haystacks get nothing planted, a quarter one text, a quarter
        // another, a quarter every text (a later one may overwrite an earlier); ends included.
        const auto plant = [&](std::string_view text) {
          if (length >= text.size()) haystack.replace(random() % (length - text.size() + 1), text.size(), text);
        };
        if (trial % 4 == 1) plant(texts[0]);
        if (trial % 4 == 2) plant(texts[random() % texts.size()]);
        if (trial % 4 == 3) {
          for (const auto text : texts) plant(text);
        }
        const unsigned expected = expectedBits(haystack, texts);
        EXPECT_EQ(needles.foundIn(haystack), expected) << "in " << haystack;
        ++seen[expected];
      }
    }
    // Of each set: each text found (and, without an empty text, none), were exercised; of a
    // pair, both together too.
    if (std::find(texts.begin(), texts.end(), "") == texts.end()) EXPECT_GT(seen[0], 50) << texts[0];
    for (std::size_t i = 0; i < texts.size(); ++i) {
      int withIt = 0;
      for (unsigned bits = 0; bits < seen.size(); ++bits) withIt += (bits >> i & 1u) != 0 ? seen[bits] : 0;
      EXPECT_GT(withIt, 50) << texts[i];
    }
    if (texts.size() == 2) EXPECT_GT(seen[3], 20) << texts[0] << " " << texts[1];
  }
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
