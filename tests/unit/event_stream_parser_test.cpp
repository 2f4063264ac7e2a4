#include "llmgate/stream/event_stream_parser.hpp"

#include <fstream>

#include <gtest/gtest.h>

#include "common/event_stream_writer.hpp"
#include "fixture_util.hpp"

namespace llmgate::stream {
namespace {

using testing::eventStreamMessage;
using testing::fromHex;
using testing::stringHeader;

struct Seen {
  std::string eventType;
  std::string messageType;
  std::string payload;
  std::size_t headers = 0;
};

struct Run {
  std::vector<Seen> messages;
  std::optional<EventStreamError> error;
  bool midMessage = false;
};

// Feeds `bytes` cut at `cuts` (ascending offsets).
Run feed(const std::string& bytes, const std::vector<std::size_t>& cuts = {}) {
  EventStreamParser parser;
  Run run;
  std::size_t from = 0;
  std::vector<std::size_t> ends = cuts;
  ends.push_back(bytes.size());
  for (std::size_t end : ends) {
    run.error = parser.feed(std::string_view(bytes).substr(from, end - from), [&](const EventStreamMessage& m) {
      run.messages.push_back({std::string(m.header(":event-type")), std::string(m.header(":message-type")),
                              std::string(m.payload), m.headers.size()});
    });
    from = end;
  }
  run.midMessage = parser.midMessage();
  return run;
}

std::vector<std::string> hexLines(const std::string& fixture) {
  std::vector<std::string> out;
  std::istringstream in(testing::readFixture(fixture));
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) out.push_back(fromHex(line));
  }
  return out;
}

TEST(EventStreamParser, DecodesTheReferenceVectors) {
  const auto vectors = hexLines("aws-eventstream/aws_c_event_stream_vectors.hex");
  ASSERT_EQ(vectors.size(), 3u);
  std::string all;
  for (const auto& v : vectors) all += v;
  const auto run = feed(all);
  ASSERT_FALSE(run.error) << run.error->message;
  ASSERT_EQ(run.messages.size(), 3u);
  EXPECT_EQ(run.messages[0].payload, "");
  EXPECT_EQ(run.messages[0].headers, 0u);
  EXPECT_EQ(run.messages[1].payload, "{'foo':'bar'}");
  EXPECT_EQ(run.messages[2].payload, "{'foo':'bar'}");
  ASSERT_EQ(run.messages[2].headers, 1u);
  EventStreamParser parser;
  parser.feed(vectors[2], [](const EventStreamMessage& m) { EXPECT_EQ(m.header("content-type"), "application/json"); });
}

TEST(EventStreamParser, DecodesAllTenHeaderTypes) {
  // The AWS event-stream header types: one of every type, generated with zlib CRCs.
  const std::string bytes = fromHex(
      "0000008000000059c67386ab017400016601016202fd017303fed4016904fffeee90016c05fffffffed5fa0e000362696e060004000102ff0373"
      "747207000668c3a96c6c6f027473080000019b7ca98d03026964090f1e2d3c4b5a69788796a5b4c3d2e1f07b2264656c7461223a7b227465787422"
      "3a226869227d7d00de1228");
  EventStreamParser parser;
  int seen = 0;
  const auto error = parser.feed(bytes, [&](const EventStreamMessage& m) {
    ++seen;
    ASSERT_EQ(m.headers.size(), 10u);
    EXPECT_EQ(m.headers[0].type, HeaderType::BoolTrue);
    EXPECT_EQ(m.headers[1].type, HeaderType::BoolFalse);
    EXPECT_EQ(m.headers[2].integer, -3);
    EXPECT_EQ(m.headers[3].integer, -300);
    EXPECT_EQ(m.headers[4].integer, -70000);
    EXPECT_EQ(m.headers[5].integer, -5000000000LL);
    EXPECT_EQ(m.headers[6].bytes, std::string("\x00\x01\x02\xff", 4));
    EXPECT_EQ(m.header("str"), "h\xc3\xa9llo");
    EXPECT_EQ(m.headers[8].type, HeaderType::Timestamp);
    EXPECT_EQ(m.headers[8].integer, 1767323045123LL);
    EXPECT_EQ(m.headers[9].bytes, fromHex("0f1e2d3c4b5a69788796a5b4c3d2e1f0"));
    EXPECT_EQ(m.payload, R"({"delta":{"text":"hi"}})");
  });
  EXPECT_FALSE(error);
  EXPECT_EQ(seen, 1);
}

TEST(EventStreamParser, CapturedKiroFramesDecodeTheSameAtEverySplitPoint) {
  const std::string bytes = testing::readFixture("kiro/q_cli_capture06_first3frames.bin");
  ASSERT_EQ(bytes.size(), 427u);
  const auto whole = feed(bytes);
  ASSERT_FALSE(whole.error) << whole.error->message;
  ASSERT_EQ(whole.messages.size(), 3u);
  EXPECT_EQ(whole.messages[0].eventType, "initial-response");
  EXPECT_EQ(whole.messages[1].eventType, "assistantResponseEvent");
  EXPECT_EQ(whole.messages[1].messageType, "event");
  EXPECT_EQ(whole.messages[1].payload, "{\"content\":\"\xe4\xbd\xa0\",\"modelId\":\"auto\"}");
  for (std::size_t cut = 1; cut < bytes.size(); ++cut) {
    const auto split = feed(bytes, {cut});
    ASSERT_FALSE(split.error) << cut;
    ASSERT_EQ(split.messages.size(), 3u) << cut;
    for (std::size_t i = 0; i < 3; ++i) ASSERT_EQ(split.messages[i].payload, whole.messages[i].payload) << cut;
  }
  // Byte by byte.
  std::vector<std::size_t> everyByte;
  for (std::size_t i = 1; i < bytes.size(); ++i) everyByte.push_back(i);
  EXPECT_EQ(feed(bytes, everyByte).messages.size(), 3u);
  // All six captured frames.
  std::string all;
  for (const auto& frame : hexLines("kiro/q_cli_capture_frames.hex")) all += frame;
  EXPECT_EQ(feed(all).messages.size(), 6u);
}

TEST(EventStreamParser, CorruptionIsAClearErrorThatSticks) {
  const std::string good = eventStreamMessage(stringHeader(":message-type", "event"), "{}");
  std::string badPrelude = good;
  badPrelude[8] ^= 1;
  EXPECT_NE(feed(badPrelude).error->message.find("prelude CRC"), std::string::npos);
  std::string badMessage = good;
  badMessage[badMessage.size() - 6] ^= 1;  // a payload byte
  EXPECT_NE(feed(badMessage).error->message.find("message CRC"), std::string::npos);
  // The error is reported again for later bytes, and nothing more is decoded.
  EventStreamParser parser;
  int seen = 0;
  EXPECT_TRUE(parser.feed(badPrelude, [&](const EventStreamMessage&) { ++seen; }));
  EXPECT_TRUE(parser.feed(good, [&](const EventStreamMessage&) { ++seen; }));
  EXPECT_EQ(seen, 0);
}

// A prelude with valid CRC claiming the given lengths.
std::string prelude(std::uint32_t total, std::uint32_t headers) {
  std::string out;
  testing::appendU32(out, total);
  testing::appendU32(out, headers);
  testing::appendU32(out, testing::zlibCrc(out, 8));
  return out;
}

TEST(EventStreamParser, LengthsAreCheckedBeforeAnythingIsBuffered) {
  EXPECT_NE(feed(prelude(15, 0)).error->message.find("below 16"), std::string::npos);
  EXPECT_NE(feed(prelude(0xFFFFFFFF, 0)).error->message.find("exceeds 24 MiB"), std::string::npos);
  EXPECT_NE(feed(prelude(40, 30)).error->message.find("headers length"), std::string::npos);
  // A valid prelude for a large message: held, not failed, until the rest comes.
  EventStreamParser parser;
  EXPECT_FALSE(parser.feed(prelude(1000, 0), [](const EventStreamMessage&) {}));
  EXPECT_TRUE(parser.midMessage());
  EXPECT_EQ(parser.bufferedBytes(), 12u);
}

TEST(EventStreamParser, MalformedHeadersAreErrors) {
  std::string unknownType;
  unknownType += '\x01';
  unknownType += 'x';
  unknownType += '\x0a';  // type 10 does not exist
  EXPECT_NE(feed(eventStreamMessage(unknownType, "")).error->message.find("unknown type 10"), std::string::npos);
  std::string truncated = stringHeader(":message-type", "event");
  truncated.resize(truncated.size() - 2);  // the value is shorter than its length says
  EXPECT_NE(feed(eventStreamMessage(truncated, "")).error->message.find("truncated"), std::string::npos);
  std::string emptyName("\x00\x00", 2);
  EXPECT_TRUE(feed(eventStreamMessage(emptyName, "")).error);
}

TEST(EventStreamParser, TruncatedStreamIsSeenAsMidMessage) {
  const std::string frame = testing::awsEvent("assistantResponseEvent", R"({"content":"Hi"})");
  for (std::size_t keep : {std::size_t{5}, std::size_t{12}, frame.size() - 1}) {
    const auto run = feed(frame.substr(0, keep));
    EXPECT_FALSE(run.error);
    EXPECT_TRUE(run.midMessage) << keep;
    EXPECT_TRUE(run.messages.empty());
  }
  EXPECT_FALSE(feed(frame).midMessage);
}

}  // namespace
}  // namespace llmgate::stream
