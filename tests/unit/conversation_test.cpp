// Conversations on the IR: turns, the answer as a turn, context shaping; the bounded cache and
// the conversation store built on it.
#include <gtest/gtest.h>

#include <thread>

#include "llmgate/core/bounded_cache.hpp"
#include "llmgate/core/conversation.hpp"
#include "llmgate/proxy/conversation_store.hpp"

namespace llmgate::core {
namespace {

Message text(Role role, std::string content) {
  Message message;
  message.role = role;
  message.content.push_back(ContentPart::makeText(std::move(content)));
  return message;
}

Message toolCall(std::string id) {
  Message message;
  message.role = Role::Assistant;
  message.content.push_back(ContentPart::makeToolCall(std::move(id), "lookup", R"({"q":"x"})"));
  return message;
}

Message toolResult(std::string id, std::string content = "result") {
  Message message;
  message.role = Role::Tool;
  message.content.push_back(ContentPart::makeToolResult(std::move(id), std::move(content)));
  return message;
}

std::vector<std::string> texts(const std::vector<Message>& messages) {
  std::vector<std::string> out;
  for (const auto& message : messages) {
    std::string line;
    for (const auto& part : message.content) line += part.kind == PartKind::ToolResult ? "result:" + part.toolCallId
                                                      : part.kind == PartKind::ToolCall ? "call:" + part.toolCallId
                                                                                        : part.text;
    out.push_back(line);
  }
  return out;
}

// user 1; assistant calls t1; tool result t1; user text sent along with the results (a turn of
// its own: cutting before it drops the call with its result); assistant; user 2; assistant; user 3
std::vector<Message> agentConversation() {
  return {text(Role::User, "u1"),      toolCall("t1"),          toolResult("t1"), text(Role::User, "reminder"),
          text(Role::Assistant, "a1"), text(Role::User, "u2"), text(Role::Assistant, "a2"), text(Role::User, "u3")};
}

TEST(Conversation, TurnsStartAtUserMessagesThatAreNotOnlyToolResults) {
  EXPECT_EQ(turnStarts(agentConversation()), (std::vector<std::size_t>{0, 3, 5, 7}));
  std::vector<Message> twoInARow{text(Role::User, "u1"), text(Role::User, "more"), text(Role::Assistant, "a1"),
                                 text(Role::User, "u2")};
  EXPECT_EQ(turnStarts(twoInARow), (std::vector<std::size_t>{0, 3})) << "user messages in a row are one turn";
  // A system message before the first user message belongs to no turn.
  std::vector<Message> withSystem{text(Role::System, "s"), text(Role::User, "u1"), text(Role::Assistant, "a1")};
  EXPECT_EQ(turnStarts(withSystem), (std::vector<std::size_t>{1}));
  EXPECT_TRUE(turnStarts({}).empty());
}

TEST(Conversation, NoTurnStartsBetweenACallAndItsResult) {
  // A client that put its next question before the tool's result: cutting there would keep the
  // result and drop its call.
  std::vector<Message> messages{text(Role::User, "u1"), toolCall("t1"), text(Role::User, "meanwhile"), toolResult("t1"),
                                text(Role::Assistant, "a1"), text(Role::User, "u2")};
  EXPECT_EQ(turnStarts(messages), (std::vector<std::size_t>{0, 5}));
}

TEST(Conversation, KeepLastTurnsNeverSeparatesACallFromItsResult) {
  auto messages = agentConversation();
  EXPECT_EQ(keepLastTurns(messages, 2), 2u);
  EXPECT_EQ(texts(messages), (std::vector<std::string>{"u2", "a2", "u3"}));

  messages = agentConversation();
  EXPECT_EQ(keepLastTurns(messages, 3), 1u);
  EXPECT_EQ(texts(messages), (std::vector<std::string>{"reminder", "a1", "u2", "a2", "u3"}))
      << "the call and its result went together";

  messages = agentConversation();
  EXPECT_EQ(keepLastTurns(messages, 4), 0u);
  EXPECT_EQ(messages.size(), 8u);
  EXPECT_EQ(keepLastTurns(messages, 0), 0u) << "0 keeps everything";
  EXPECT_EQ(messages.size(), 8u);

  std::vector<Message> leading{text(Role::System, "s"), text(Role::User, "u1"), text(Role::Assistant, "a1"),
                               text(Role::User, "u2")};
  EXPECT_EQ(keepLastTurns(leading, 1), 1u);
  EXPECT_EQ(texts(leading), (std::vector<std::string>{"s", "u2"})) << "what precedes the first turn stays";
}

TEST(Conversation, CutTurnsKeepTheSystemMessagesBetweenThem) {
  std::vector<Message> messages{text(Role::User, "u1"), text(Role::System, "mid"), text(Role::Assistant, "a1"),
                                text(Role::User, "u2")};
  EXPECT_EQ(keepLastTurns(messages, 1), 1u);
  EXPECT_EQ(texts(messages), (std::vector<std::string>{"mid", "u2"}));
}

TEST(Conversation, UnansweredToolCallsOfKeptTurnsGo) {
  std::vector<Message> messages{text(Role::User, "u1"), toolCall("t1"), toolResult("t1"), text(Role::User, "u2"),
                                toolCall("t2"), text(Role::User, "new")};
  Message mixed = text(Role::Assistant, "let me check");
  mixed.content.push_back(ContentPart::makeToolCall("t3", "lookup", "{}"));
  messages.insert(messages.begin() + 5, mixed);
  EXPECT_EQ(dropUnansweredToolCalls(messages, 6), 2u);
  EXPECT_EQ(texts(messages), (std::vector<std::string>{"u1", "call:t1", "result:t1", "u2", "let me check", "new"}))
      << "t1 is answered and stays; t2's message had only the call and goes; t3's text stays";
  std::vector<Message> own{toolCall("mine"), text(Role::User, "x")};
  EXPECT_EQ(dropUnansweredToolCalls(own, 0), 0u) << "the client's own messages are not touched";
  EXPECT_EQ(own.size(), 2u);
}

TEST(Conversation, AnswerTurnCarriesTextThinkingAndToolCalls) {
  ChatResponse response;
  Choice choice;
  choice.text = "hello";
  choice.thinking = "hmm";
  choice.thinkingSignature = "sig";
  choice.toolCalls.push_back({"call_1", "lookup", "{}"});
  response.choices.push_back(choice);
  const Message turn = answerTurn(response);
  EXPECT_EQ(turn.role, Role::Assistant);
  ASSERT_EQ(turn.content.size(), 3u);
  EXPECT_EQ(turn.content[0].kind, PartKind::Thinking);
  EXPECT_EQ(turn.content[0].signature, "sig");
  EXPECT_EQ(turn.content[1].text, "hello");
  EXPECT_EQ(turn.content[2].kind, PartKind::ToolCall);
  EXPECT_EQ(turn.content[2].toolCallId, "call_1");
  EXPECT_TRUE(answerTurn(ChatResponse{}).content.empty());
}

TEST(ContextShaping, DropsDuplicateSystemPromptsAndRepeatedMessages) {
  ChatRequest request;
  request.system = {"be brief", "be brief", "use metric units"};
  request.messages = {text(Role::User, "hi"), text(Role::User, "hi"), text(Role::Assistant, "hello"),
                      text(Role::User, "again"), text(Role::User, "again")};
  ContextShaping shaping;
  shaping.dropDuplicates = true;
  const auto report = shapeContext(request, shaping);
  EXPECT_EQ(report.duplicatesDropped, 3u);
  EXPECT_EQ(request.system, (std::vector<std::string>{"be brief", "use metric units"}));
  EXPECT_EQ(texts(request.messages), (std::vector<std::string>{"hi", "hello", "again"}));
  EXPECT_EQ(report.summary(shaping), "dedupe;dropped=3");
}

TEST(ContextShaping, ToolCallsAndResultsAreNeverDeduplicated) {
  ChatRequest request;
  request.messages = {text(Role::User, "u"), toolCall("t1"), toolCall("t1"), toolResult("t1"), toolResult("t1"),
                      text(Role::User, "end")};
  ContextShaping shaping;
  shaping.dropDuplicates = true;
  EXPECT_EQ(shapeContext(request, shaping).duplicatesDropped, 0u);
  EXPECT_EQ(request.messages.size(), 6u);
}

TEST(ContextShaping, FitsTheWindowByDroppingWholeOldestTurns) {
  ChatRequest request;
  request.system = {"sys"};
  const std::string big(4000, 'x');  // about 1000 tokens
  request.messages = {text(Role::User, big),      toolCall("t1"),         toolResult("t1", big),
                      text(Role::Assistant, big), text(Role::User, big), text(Role::Assistant, "a"),
                      text(Role::User, "last")};
  request.maxTokens = 100;
  ContextShaping shaping;
  shaping.contextWindowTokens = 2200;  // 2100 for the input: the first turn (~3000) must go
  const auto report = shapeContext(request, shaping);
  EXPECT_EQ(report.turnsTrimmed, 1u);
  EXPECT_FALSE(report.overWindow);
  EXPECT_EQ(texts(request.messages), (std::vector<std::string>{big, "a", "last"}));
  EXPECT_LE(report.estimatedTokens, 2100);
  EXPECT_EQ(report.estimatedTokens, estimateInputTokens(request));
  EXPECT_EQ(report.summary(shaping), "fit;trimmed=1;tokens=" + std::to_string(report.estimatedTokens));
}

TEST(ContextShaping, TheLastTurnStaysEvenOverTheWindow) {
  ChatRequest request;
  request.messages = {text(Role::User, "old"), text(Role::Assistant, "a"), text(Role::User, std::string(40000, 'y'))};
  ContextShaping shaping;
  shaping.contextWindowTokens = 5000;
  shaping.reservedOutputTokens = 1000;
  const auto report = shapeContext(request, shaping);
  EXPECT_EQ(report.turnsTrimmed, 1u);
  EXPECT_TRUE(report.overWindow);
  ASSERT_EQ(request.messages.size(), 1u);
  EXPECT_NE(report.summary(shaping).find(";over_window"), std::string::npos);
}

TEST(ContextShaping, StepsRunInOrderAndReportWhatTheyDid) {
  ChatRequest request;
  request.messages = {text(Role::User, "u1"), text(Role::Assistant, "a1"), text(Role::User, "u2"),
                      text(Role::Assistant, "a2"), text(Role::Assistant, "a2"), text(Role::User, "u3")};
  ContextShaping shaping;
  shaping.keepLastTurns = 2;
  shaping.dropDuplicates = true;
  shaping.contextWindowTokens = 100000;
  const auto report = shapeContext(request, shaping);
  EXPECT_TRUE(report.changed());
  EXPECT_EQ(texts(request.messages), (std::vector<std::string>{"u2", "a2", "u3"}));
  EXPECT_EQ(report.summary(shaping), "dedupe;dropped=1, last_turns;dropped=1, fit;trimmed=0;tokens=" +
                                         std::to_string(estimateInputTokens(request)));
  ChatRequest untouched;
  untouched.messages = {text(Role::User, "only")};
  EXPECT_FALSE(shapeContext(untouched, shaping).changed());
}

TEST(BoundedCache, KeepsWithinItsBytesDroppingTheLeastRecentlyUsed) {
  BoundedCache<std::string> cache(3 * (100 + 1 + 160));  // three entries of 100 bytes with 1-byte keys
  const auto later = BoundedCache<std::string>::Clock::now() + std::chrono::hours(1);
  for (const char* key : {"a", "b", "c"}) cache.insert(key, std::make_shared<const std::string>(key), 100, later);
  ASSERT_NE(cache.find("a"), nullptr);  // a is now the most recently used
  cache.insert("d", std::make_shared<const std::string>("d"), 100, later);
  EXPECT_EQ(cache.find("b"), nullptr) << "b was the least recently used";
  EXPECT_EQ(*cache.find("a"), "a");
  EXPECT_NE(cache.find("c"), nullptr);
  EXPECT_NE(cache.find("d"), nullptr);
  auto stats = cache.stats();
  EXPECT_EQ(stats.entries, 3u);
  EXPECT_EQ(stats.evictions, 1u);
  EXPECT_LE(stats.bytes, stats.maxBytes);

  cache.insert("huge", std::make_shared<const std::string>("x"), 10000, later);
  EXPECT_EQ(cache.find("huge"), nullptr) << "larger than the bound: not kept";
  EXPECT_EQ(cache.stats().entries, 3u) << "and it pushed nothing out";

  cache.insert("a", std::make_shared<const std::string>("a2"), 100, later);
  EXPECT_EQ(*cache.find("a"), "a2");
  EXPECT_EQ(cache.stats().entries, 3u) << "a replacement is one entry";
  EXPECT_TRUE(cache.erase("a"));
  EXPECT_FALSE(cache.erase("a"));
  EXPECT_EQ(cache.find("a"), nullptr);
}

TEST(BoundedCache, AnEntryTooLargeToKeepStillReplacesTheOldOne) {
  BoundedCache<std::string> cache(1000);
  const auto later = BoundedCache<std::string>::Clock::now() + std::chrono::hours(1);
  cache.insert("window", std::make_shared<const std::string>("old"), 10, later);
  cache.insert("window", std::make_shared<const std::string>("new"), 5000, later);
  EXPECT_EQ(cache.find("window"), nullptr) << "a stale value must not be served in place of one not kept";
  EXPECT_EQ(cache.stats().bytes, 0u);
}

TEST(BoundedCache, ExpiredEntriesArePurgedWithoutBeingAskedFor) {
  BoundedCache<int> cache(1 << 20);
  const auto now = BoundedCache<int>::Clock::now();
  cache.insert("short", std::make_shared<const int>(1), 8, now + std::chrono::seconds(1));
  cache.insert("long", std::make_shared<const int>(2), 8, now + std::chrono::hours(1));
  cache.insert("short2", std::make_shared<const int>(3), 8, now + std::chrono::seconds(1));
  EXPECT_EQ(cache.purgeExpired(now + std::chrono::seconds(2)), 2u);
  EXPECT_EQ(cache.stats().entries, 1u);
  EXPECT_EQ(cache.stats().expirations, 2u);
  EXPECT_EQ(*cache.find("long"), 2);
}

TEST(BoundedCache, EntriesExpire) {
  BoundedCache<int> cache(1 << 20);
  const auto now = BoundedCache<int>::Clock::now();
  cache.insert("k", std::make_shared<const int>(7), 8, now + std::chrono::seconds(10));
  EXPECT_EQ(*cache.find("k", now + std::chrono::seconds(9)), 7);
  EXPECT_EQ(cache.find("k", now + std::chrono::seconds(10)), nullptr);
  EXPECT_EQ(cache.stats().expirations, 1u);
  EXPECT_EQ(cache.stats().entries, 0u) << "an expired entry found is removed";
  cache.insert("gone", std::make_shared<const int>(1), 8, now + std::chrono::seconds(1));
  EXPECT_FALSE(cache.erase("gone", now + std::chrono::seconds(2))) << "an expired entry is not there to delete";
}

TEST(BoundedCache, ReadersKeepWhatTheyFoundWhileOthersReplaceIt) {
  BoundedCache<std::string> cache(1 << 16);
  const auto later = BoundedCache<std::string>::Clock::now() + std::chrono::hours(1);
  cache.insert("k", std::make_shared<const std::string>(std::string(100, 'a')), 100, later);
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        if (t % 2 == 0) {
          cache.insert("k", std::make_shared<const std::string>(std::string(100, static_cast<char>('a' + i % 26))), 100, later);
        } else if (auto found = cache.find("k")) {
          if (found->size() != 100 || found->find_first_not_of(found->front()) != std::string::npos) ++wrong;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(cache.stats().entries, 1u);
}

}  // namespace
}  // namespace llmgate::core

namespace llmgate::proxy {
namespace {

TEST(ConversationStore, EntriesBelongToTheirCallerAndKind) {
  ConversationStore store(1 << 20);
  StoredConversation conversation;
  conversation.history.push_back(core::Message{core::Role::User, {core::ContentPart::makeText("hi")}, ""});
  conversation.response = R"({"id":"resp_1"})";
  store.store(ConversationStore::Kind::Response, "alice", "resp_1", conversation, std::chrono::seconds(60));
  ASSERT_NE(store.find(ConversationStore::Kind::Response, "alice", "resp_1"), nullptr);
  EXPECT_EQ(store.find(ConversationStore::Kind::Response, "alice", "resp_1")->response, conversation.response);
  EXPECT_EQ(store.find(ConversationStore::Kind::Response, "bob", "resp_1"), nullptr);
  EXPECT_EQ(store.find(ConversationStore::Kind::Session, "alice", "resp_1"), nullptr);
  EXPECT_FALSE(store.erase(ConversationStore::Kind::Response, "bob", "resp_1"));
  EXPECT_TRUE(store.erase(ConversationStore::Kind::Response, "alice", "resp_1"));
  EXPECT_EQ(store.find(ConversationStore::Kind::Response, "alice", "resp_1"), nullptr);
}

TEST(ConversationStore, AConversationFitsWithinABoundByItsOldestTurns) {
  StoredConversation conversation;
  for (int turn = 0; turn < 10; ++turn) {
    conversation.history.push_back(core::Message{core::Role::User, {core::ContentPart::makeText(std::string(1000, 'u'))}, ""});
    conversation.history.push_back(core::Message{core::Role::Assistant, {core::ContentPart::makeText("a" + std::to_string(turn))}, ""});
  }
  const std::size_t perTurn = conversation.bytes() / 10;
  EXPECT_TRUE(conversation.fitWithin(3 * perTurn + perTurn / 2));
  ASSERT_EQ(conversation.history.size(), 6u);
  EXPECT_EQ(conversation.history.back().joinedText(), "a9");
  EXPECT_LE(conversation.bytes(), 3 * perTurn + perTurn / 2);
  EXPECT_FALSE(conversation.fitWithin(10)) << "the last turn alone is larger";
  EXPECT_EQ(conversation.history.size(), 2u);
}

TEST(ConversationStore, IdsAndSessionNames) {
  const std::string a = newResponseId();
  const std::string b = newResponseId();
  EXPECT_NE(a, b);
  EXPECT_EQ(a.size(), 5u + 32u);
  EXPECT_EQ(a.rfind("resp_", 0), 0u);
  EXPECT_EQ(a.find_first_not_of("0123456789abcdef", 5), std::string::npos);
  EXPECT_TRUE(validSessionId("user-42:thread_7.a"));
  EXPECT_FALSE(validSessionId(""));
  EXPECT_FALSE(validSessionId(std::string(129, 'a')));
  EXPECT_FALSE(validSessionId("has space"));
  EXPECT_FALSE(validSessionId("new\nline"));
}

}  // namespace
}  // namespace llmgate::proxy
