#include "llmgate/core/needle.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace llmgate::core {
namespace {

// Needle answers what string_view::find answers, at every position and length around the
// sixteen-byte blocks it reads, with the bytes that make candidates (first, second, last) all
// over the text.
TEST(Needle, FindsWhatFindFinds) {
  const std::vector<std::string> needles = {"\"usage\":{", "\"error\"", "ab", "a", "aXa", "\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\""};
  std::mt19937 random(7);
  const std::string alphabet = "\"usage:{error}aXb ";
  int found = 0;
  for (const auto& text : needles) {
    const Needle needle(text);
    for (std::size_t length = 0; length <= 70; ++length) {
      for (int trial = 0; trial < 40; ++trial) {
        std::string haystack(length, ' ');
        for (auto& c : haystack) c = alphabet[random() % alphabet.size()];
        // Half the texts get the needle planted somewhere, ends included.
        if (trial % 2 == 0 && length >= text.size()) haystack.replace(random() % (length - text.size() + 1), text.size(), text);
        const bool expected = std::string_view(haystack).find(text) != std::string_view::npos;
        EXPECT_EQ(needle.foundIn(haystack), expected) << "needle " << text << " in " << haystack;
        found += expected ? 1 : 0;
      }
    }
  }
  EXPECT_GT(found, 1000);  // both answers were exercised
}

TEST(Needle, FindsItAtTheVeryEndOfALongEventOnly) {
  const Needle usage("\"usage\":{");
  std::string event = R"({"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[],)";
  EXPECT_FALSE(usage.foundIn(event + R"("usage":null})"));
  EXPECT_TRUE(usage.foundIn(event + R"("usage":{"prompt_tokens":9}})"));
  const std::string tail = R"("usage":{)";
  for (std::size_t cut = 1; cut < tail.size(); ++cut) EXPECT_FALSE(usage.foundIn(event + tail.substr(0, cut))) << cut;
  EXPECT_FALSE(usage.foundIn(""));
}

}  // namespace
}  // namespace llmgate::core
