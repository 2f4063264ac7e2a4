#include "llmgate/stream/sse_parser.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "fixture_util.hpp"

namespace llmgate::stream {
namespace {

struct Seen {
  std::string type;
  std::string data;
  std::string id;
  bool operator==(const Seen& other) const { return type == other.type && data == other.data && id == other.id; }
};

std::vector<Seen> parseInPieces(std::string_view text, const std::vector<std::size_t>& cuts) {
  SseParser parser;
  std::vector<Seen> seen;
  auto collect = [&](const SseEvent& event) {
    seen.push_back({std::string(event.type), std::string(event.data), std::string(event.lastEventId)});
  };
  std::size_t from = 0;
  for (std::size_t cut : cuts) {
    parser.feed(text.substr(from, cut - from), collect);
    from = cut;
  }
  parser.feed(text.substr(from), collect);
  return seen;
}

std::vector<Seen> parseWhole(std::string_view text) { return parseInPieces(text, {}); }

TEST(SseParser, MultiLineDataJoinsWithLf) {
  auto events = parseWhole("data: a\ndata: b\n\n");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].data, "a\nb");
  EXPECT_EQ(events[0].type, "message");
}

TEST(SseParser, OneLeadingSpaceIsStrippedOnly) {
  auto events = parseWhole("data:x\n\ndata: x\n\ndata:  x\n\n");
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].data, "x");
  EXPECT_EQ(events[1].data, "x");
  EXPECT_EQ(events[2].data, " x");
}

TEST(SseParser, EmptyDataLineDispatchesEmptyEventButEventOnlyDoesNot) {
  auto events = parseWhole("data\n\nevent: x\n\ndata:\n\n");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].data, "");
  EXPECT_EQ(events[1].data, "");
  EXPECT_EQ(events[1].type, "message");  // the event type of the undelivered block was reset
}

TEST(SseParser, EventTypeAppliesToItsBlockOnly) {
  auto events = parseWhole("event: ping\ndata: {}\n\ndata: next\n\n");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].type, "ping");
  EXPECT_EQ(events[1].type, "message");
}

TEST(SseParser, CommentsAndUnknownFieldsAreIgnored) {
  auto events = parseWhole(": keep-alive\nfoo: bar\nData: no\ndata: yes\n\n");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].data, "yes");
}

TEST(SseParser, LineEndingsMayBeCrLfLfOrLoneCr) {
  auto events = parseWhole("data: a\r\n\r\ndata: b\r\rdata: c\n\ndata: d\r\ndata: e\r\r\n");
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0].data, "a");
  EXPECT_EQ(events[1].data, "b");
  EXPECT_EQ(events[2].data, "c");
  EXPECT_EQ(events[3].data, "d\ne");
}

TEST(SseParser, CrLfSplitAcrossFeedsIsOneLineEnd) {
  // "data: a\r" | "\n" | "\r\n" must give one event, not an extra empty line in between.
  auto events = parseInPieces("data: a\r\ndata: b\r\n\r\n", {8, 9});
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].data, "a\nb");
}

TEST(SseParser, BomStrippedOnceAtStartEvenWhenSplit) {
  const std::string text = "\xEF\xBB\xBF" "data: x\n\n\xEF\xBB\xBF" "data: y\n\n";
  for (std::size_t cut = 1; cut < 4; ++cut) {
    auto events = parseInPieces(text, {cut});
    // A BOM later in the stream is just bytes: that line's field name is not "data".
    ASSERT_EQ(events.size(), 1u) << cut;
    EXPECT_EQ(events[0].data, "x");
  }
}

TEST(SseParser, IdPersistsAndIdWithNulIsIgnored) {
  auto events = parseWhole(std::string("id: 7\ndata: a\n\ndata: b\n\nid: x\0y\ndata: c\n\n", 41));
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].id, "7");
  EXPECT_EQ(events[1].id, "7");
  EXPECT_EQ(events[2].id, "7");
}

TEST(SseParser, RetryAcceptsDigitsOnly) {
  SseParser parser;
  parser.feed("retry: 1500\n\nretry: 2x\n\n", [](const SseEvent&) {});
  EXPECT_EQ(parser.retryMs(), 1500);
}

TEST(SseParser, UnterminatedFinalEventIsNotDispatched) {
  auto events = parseWhole("data: complete\n\ndata: partial");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].data, "complete");
}

class SseFixture : public ::testing::TestWithParam<const char*> {};

TEST_P(SseFixture, EverySplitPointGivesTheSameEvents) {
  const std::string text = testing::readFixture(std::string("openai/") + GetParam());
  const auto expected = parseWhole(text);
  ASSERT_GT(expected.size(), 3u);
  EXPECT_EQ(expected.back().data, "[DONE]");
  for (std::size_t cut = 1; cut < text.size(); ++cut) {
    ASSERT_EQ(parseInPieces(text, {cut}), expected) << "split at byte " << cut;
  }
  std::vector<std::size_t> everyByte;
  for (std::size_t i = 1; i < text.size(); ++i) everyByte.push_back(i);
  EXPECT_EQ(parseInPieces(text, everyByte), expected);
}

TEST_P(SseFixture, CrLfVersionGivesTheSameEvents) {
  const std::string text = testing::readFixture(std::string("openai/") + GetParam());
  std::string crlf;
  for (char c : text) {
    if (c == '\n') crlf += "\r\n";
    else crlf.push_back(c);
  }
  const auto expected = parseWhole(text);
  for (std::size_t cut = 1; cut < crlf.size(); cut += 7) {
    ASSERT_EQ(parseInPieces(crlf, {cut}), expected) << "split at byte " << cut;
  }
}

INSTANTIATE_TEST_SUITE_P(OpenAiCaptures, SseFixture,
                         ::testing::Values("stream_text_stop.sse", "stream_tool_call_single.sse",
                                           "stream_tool_calls_parallel.sse", "stream_finish_length.sse",
                                           "stream_n3_choices.sse", "stream_refusal.sse"));

TEST(SseParser, BuffersOnlyTheUnfinishedLine) {
  SseParser parser;
  int count = 0;
  parser.feed("data: one\n\ndata: tw", [&](const SseEvent&) { ++count; });
  EXPECT_EQ(count, 1);
  EXPECT_EQ(parser.bufferedBytes(), 8u);
}

TEST(SseParser, AnEventOverTheBoundStopsTheParseAndFreesWhatItHeld) {
  for (const std::string& oversized : {"data: " + std::string(100, 'x') + "\n",          // one long line
                                       std::string(30, 'd').replace(0, 6, "data: ") + "\n" + "data: " +
                                           std::string(60, 'y') + "\n"}) {  // several lines of one event
    SseParser parser(64);
    std::vector<std::string> seen;
    const auto collect = [&](const SseEvent& event) { seen.emplace_back(event.data); };
    parser.feed("data: small\n\n", collect);
    // Fed in pieces, so that the unfinished line is what grows.
    for (std::size_t at = 0; at < oversized.size(); at += 7) parser.feed(oversized.substr(at, 7), collect);
    parser.feed("\ndata: after\n\n", collect);
    EXPECT_TRUE(parser.overflowed());
    EXPECT_EQ(parser.bufferedBytes(), 0u);
    EXPECT_EQ(seen, std::vector<std::string>{"small"});
  }
  SseParser roomy(64);
  int count = 0;
  roomy.feed("data: " + std::string(50, 'z') + "\n\n", [&](const SseEvent&) { ++count; });
  EXPECT_EQ(count, 1);
  EXPECT_FALSE(roomy.overflowed());
}

}  // namespace
}  // namespace llmgate::stream
