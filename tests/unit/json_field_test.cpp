#include "llmgate/core/json_field.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include "llmgate/core/json_read.hpp"
#include "llmgate/core/json_text.hpp"
#include <nlohmann/json.hpp>

namespace llmgate::core {
namespace {

// The single value of `key`, or nullopt when it is absent.
std::optional<TextSpan> findTopLevelValue(std::string_view json, std::string_view key) {
  auto found = findTopLevelValues(json, key);
  if (found.size() != 1) return std::nullopt;
  return found.front();
}

TEST(JsonField, FindsTopLevelValuesOfEveryType) {
  const std::string text = R"( { "a" : {"model":"inner"}, "b":[1,"]",{"x":"}"}], "s":"q\"uote", "n": -1.5e3 ,"model":"gpt" } )";
  auto model = findTopLevelValue(text, "model");
  ASSERT_TRUE(model);
  EXPECT_EQ(text.substr(model->offset, model->length), "\"gpt\"");
  auto s = findTopLevelValue(text, "s");
  ASSERT_TRUE(s);
  EXPECT_EQ(text.substr(s->offset, s->length), R"("q\"uote")");
  auto n = findTopLevelValue(text, "n");
  ASSERT_TRUE(n);
  EXPECT_EQ(text.substr(n->offset, n->length), "-1.5e3");
  auto b = findTopLevelValue(text, "b");
  ASSERT_TRUE(b);
  EXPECT_EQ(text.substr(b->offset, b->length), R"([1,"]",{"x":"}"}])");
  EXPECT_FALSE(findTopLevelValue(text, "x"));
  EXPECT_FALSE(findTopLevelValue("[1,2]", "model"));
}

TEST(JsonField, ReplaceRewritesOnlyTheTopLevelModel) {
  std::string text = R"({"messages":[{"role":"user","content":"{\"model\":\"keep\"}"}],"metadata":{"model":"keep"},"model":"alias","stream":true})";
  ASSERT_TRUE(replaceTopLevelString(text, "model", "real\"model"));
  auto parsed = nlohmann::json::parse(text);
  EXPECT_EQ(parsed["model"], "real\"model");
  EXPECT_EQ(parsed["metadata"]["model"], "keep");
  EXPECT_EQ(parsed["messages"][0]["content"], "{\"model\":\"keep\"}");
  EXPECT_EQ(parsed["stream"], true);
}

TEST(JsonField, EscapedBackslashesBeforeAQuoteAreHandled) {
  const std::string text = R"({"a":"ends with backslash \\","b":"quote \" and \\\" mix","model":"m"})";
  ASSERT_TRUE(nlohmann::json::accept(text));
  auto model = findTopLevelValue(text, "model");
  ASSERT_TRUE(model);
  EXPECT_EQ(text.substr(model->offset, model->length), "\"m\"");
  auto b = findTopLevelValue(text, "b");
  ASSERT_TRUE(b);
  EXPECT_EQ(nlohmann::json::parse(text.substr(b->offset, b->length)), "quote \" and \\\" mix");
}

TEST(JsonField, ARepeatedKeyHasEveryCopyReplaced) {
  // Found by fuzzing: parsers disagree on which copy wins, so the routed model goes into all.
  std::string text = R"({"model":"cheap","messages":[],"model":"expensive"})";
  ASSERT_EQ(findTopLevelValues(text, "model").size(), 2u);
  ASSERT_TRUE(replaceTopLevelString(text, "model", "routed"));
  EXPECT_EQ(text, R"({"model":"routed","messages":[],"model":"routed"})");
}

TEST(JsonField, ReplaceRefusesNonStringOrMissingMember) {
  std::string text = R"({"model":5})";
  EXPECT_FALSE(replaceTopLevelString(text, "model", "x"));
  std::string absent = R"({"other":"x"})";
  EXPECT_FALSE(replaceTopLevelString(absent, "model", "x"));
  EXPECT_EQ(absent, R"({"other":"x"})");
}

TEST(JsonValidation, AgreesWithNlohmannOnTheGrammar) {
  const std::vector<std::string> cases = {
      // valid
      R"({"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"stream":true})",
      "  [1, -0, 0.5, -1.25e+10, 2E-3, 1e-99999, 1e308, 123456789012345678901234567890, 18446744073709551616]  ",
      // numbers near and past the largest double
      "1e99999", "-1e309", "1.7976931348623159e308", "1" + std::string(400, '0'), "0." + std::string(400, '0') + "1e400",
      R"({"a":{},"b":[],"c":null,"d":false,"e":[[[[]]]],"f":"\" \\ \/ \b \f \n \r \t \u00e9 \ud83d\ude00"})",
      "\"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80\"", "0", "-1", "\"\"", "{}", "[]", " \t\r\n{} ",
      // invalid
      "", " ", "{", "}", "[1,]", "{,}", R"({"a":1,})", R"({"a" 1})", R"({a:1})", "[1 2]", "01", "-", "1.", ".5",
      "1e", "1e+", "+1", "tru", "nul", "trueX", "[true false]", "{} {}", R"("unterminated)", "\"tab\tinside\"",
      R"("\x")", R"("\u12")", R"("\ud800")", R"("\udc00")", R"("\ud800\u0041")", "\"\xC0\xAF\"", "\"\xED\xA0\x80\"",
      "\"\xF4\x90\x80\x80\"", "\"\x80\"", "\"\xE2\x82\"", std::string("\"nul\0byte\"", 10), "[1]x", "NaN", "[-]",
      // nlohmann skips a leading byte-order mark and stops reading at a NUL; both are refused here
      "\xEF\xBB\xBF{}", std::string("{}\0junk", 7)};
  for (const auto& text : cases) {
    const bool lenient = text.rfind("\xEF\xBB\xBF", 0) == 0 || text.find('\0') != std::string::npos;
    const bool expected = !lenient && nlohmann::json::accept(text);
    EXPECT_EQ(isValidJson(text), expected) << text;
    EXPECT_EQ(!parseJson(text).is_discarded(), expected) << text;
  }
  // Nesting is bounded (copies and dumps of a document recurse per level), the same for the
  // validator and the parser.
  const auto nested = [](std::size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); };
  EXPECT_TRUE(isValidJson(nested(kMaxJsonDepth)));
  EXPECT_FALSE(parseJson(nested(kMaxJsonDepth)).is_discarded());
  EXPECT_FALSE(isValidJson(nested(kMaxJsonDepth + 1)));
  EXPECT_TRUE(parseJson(nested(kMaxJsonDepth + 1)).is_discarded());
  EXPECT_FALSE(isValidJson(std::string(100000, '[') + std::string(100000, ']')));  // no recursion either way
  EXPECT_TRUE(parseJson(std::string(100000, '{') ).is_discarded());
  EXPECT_FALSE(isValidJson(std::string(kMaxJsonDepth, '[') + std::string(kMaxJsonDepth - 1, ']')));
}

TEST(JsonValidation, ReadsTheTopLevelMembersAskedForInTheSameWalk) {
  const std::string text =
      R"( { "meta":{"model":"inner","stream":true}, "model" : "first" ,"list":[{"model":"x"}],)"
      R"( "\u006dodel":"escaped", "stream":false, "usage":{"prompt_tokens":9,"details":{}} , "empty" : [ ] ,)"
      R"( "model":"last" } )";
  TopLevelMember members[] = {{"model"}, {"stream"}, {"usage"}, {"empty"}, {"absent"}};
  ASSERT_TRUE(isValidJson(text, members));
  EXPECT_EQ(members[0].value, "\"last\"");  // a repeated key means its last value; nested ones are not top level
  EXPECT_EQ(members[0].count, 2u);             // the escaped spelling is not counted
  EXPECT_EQ(members[1].value, "false");
  EXPECT_EQ(members[1].count, 1u);
  EXPECT_EQ(members[2].value, R"({"prompt_tokens":9,"details":{}})");
  EXPECT_EQ(members[3].value, "[ ]");
  EXPECT_TRUE(members[4].value.empty());
  EXPECT_EQ(members[4].count, 0u);

  // Values left from an earlier call are cleared; a text that is not an object has no members.
  ASSERT_TRUE(isValidJson(R"([{"model":"a"}])", members));
  EXPECT_TRUE(members[0].value.empty());
  EXPECT_EQ(members[0].count, 0u);
  ASSERT_TRUE(isValidJson(R"({"model":{}})", members));
  EXPECT_EQ(members[0].value, "{}");
  ASSERT_TRUE(isValidJson(R"({"model":"end"})", members));
  EXPECT_EQ(members[0].value, "\"end\"");
  EXPECT_FALSE(isValidJson(R"({"model":"a",})", members));
}

TEST(JsonValidation, WithMembersAcceptsWhatItAcceptsWithout) {
  TopLevelMember members[] = {{"a"}, {"model"}};
  for (const std::string text : {R"({"a":[1,{"b":[]}],"model":"m"})", R"({"a":1 "model":2})", R"({"a":[}})",
                                 R"({"a":"\ud800"})", R"({"model"})", "{}", "[]", "\"s\"", ""}) {
    EXPECT_EQ(isValidJson(text, members), isValidJson(text)) << text;
  }
}

// TextFields answers what FieldReader answers over the parsed document, mismatches included.
TEST(TextFields, ReadsAsFieldReaderReadsTheDocument) {
  const std::vector<std::string> texts = {
      R"({"n":9,"neg":-3,"zero":-0,"big":9223372036854775807,"over":9223372036854775808,)"
      R"("frac":1.0,"exp":1e2,"s":"5","t":true,"a":[1],"o":{"n":2},"nul":null,"n":10})",
      R"( { "o" : { "n" : 7 } , "s" : { } } )", "[1,2]", "\"text\"", "12", "null", "{}",
      // more members than the reader indexes: the later ones are found by a walk each
      R"({"a1":1,"a2":2,"a3":3,"a4":4,"a5":5,"a6":6,"a7":7,"a8":8,"a9":9,"n":1,"a10":10,"o":{"n":3},"n":12,"s":"x"})",
      R"({"a1":1,"a2":2,"a3":3,"a4":4,"a5":5,"a6":6,"a7":7,"a8":8,"a9":9,"n":1})",
      R"({"s":"esc \"q\" \\ \n \u00e9 \ud83d\ude00 \/","a":[{"x":"]"},"[",[]],"t":"","s2":"\\"})"};
  const std::vector<std::string> keys = {"n", "neg", "zero", "big", "over", "frac", "exp", "s", "s2", "t", "a", "o", "nul", "absent"};
  for (const auto& text : texts) {
    const nlohmann::json document = parseJson(text);
    ASSERT_FALSE(document.is_discarded()) << text;
    ASSERT_TRUE(isValidJson(text)) << text;
    for (const auto& key : keys) {
      std::optional<TypeMismatch> documentMismatch;
      bool textMismatch = false;
      const FieldReader reader(document, "x", documentMismatch);
      const TextFields fields(text, textMismatch);
      EXPECT_EQ(fields.isObject(), document.is_object()) << text;
      EXPECT_EQ(fields.integer(key), reader.integer(key)) << text << " " << key;
      EXPECT_EQ(textMismatch, documentMismatch.has_value()) << text << " " << key;
      documentMismatch.reset();
      textMismatch = false;
      const auto object = fields.object(key);
      EXPECT_EQ(object.has_value(), reader.object(key) != nullptr) << text << " " << key;
      EXPECT_EQ(textMismatch, documentMismatch.has_value()) << text << " " << key;
      if (object) EXPECT_EQ(object->integer("n"), FieldReader(*reader.object(key), "x", documentMismatch).integer("n"));
      documentMismatch.reset();
      textMismatch = false;
      const std::string* documentString = reader.string(key);
      EXPECT_EQ(fields.string(key), documentString != nullptr ? std::optional<std::string>(*documentString) : std::nullopt)
          << text << " " << key;
      EXPECT_EQ(textMismatch, documentMismatch.has_value()) << text << " " << key;
      documentMismatch.reset();
      textMismatch = false;
      const auto array = fields.array(key);
      const nlohmann::json* documentArray = reader.array(key);
      ASSERT_EQ(array.has_value(), documentArray != nullptr) << text << " " << key;
      EXPECT_EQ(textMismatch, documentMismatch.has_value()) << text << " " << key;
      if (array) {
        // Its items, walked one at a time, are the document's.
        TextItems items(*array);
        std::string_view item;
        std::size_t count = 0;
        while (items.next(item)) {
          ASSERT_LT(count, documentArray->size()) << text;
          EXPECT_EQ(parseJson(item), (*documentArray)[count]) << text << " item " << count;
          ++count;
        }
        EXPECT_EQ(count, documentArray->size()) << text;
      }
    }
  }
}

TEST(TextItems, WalksEveryItemAndNothingElse) {
  const auto items = [](std::string_view text) {
    std::vector<std::string> out;
    TextItems walk(text);
    std::string_view item;
    while (walk.next(item)) out.emplace_back(item);
    return out;
  };
  EXPECT_EQ(items(R"( [ 1 , "a,]" , {"b":[2,3]} , [] , null ] )"),
            (std::vector<std::string>{"1", R"("a,]")", R"({"b":[2,3]})", "[]", "null"}));
  EXPECT_TRUE(items("[]").empty());
  EXPECT_TRUE(items(" [ ] ").empty());
  EXPECT_TRUE(items(R"({"a":1})").empty());
  // Not valid JSON: the walk ends, inside the text.
  EXPECT_EQ(items("[1,}"), (std::vector<std::string>{"1"}));
  EXPECT_EQ(items(R"(["cut)"), (std::vector<std::string>{R"("cut)"}));
  EXPECT_TRUE(items("").empty());
}

TEST(TextFields, TellsWhenANameIsWrittenWithAnEscape) {
  bool mismatch = false;
  EXPECT_FALSE(TextFields(R"({"a":"\u0041","b":{"\u0063":1}})", mismatch).hasEscapedKey());
  EXPECT_TRUE(TextFields(R"({"a":1,"\u0062":2})", mismatch).hasEscapedKey());
  EXPECT_TRUE(TextFields(R"({"q\"":1})", mismatch).hasEscapedKey());
}

}  // namespace
}  // namespace llmgate::core

namespace llmgate::core {
namespace {

TEST(AppendFixed, WritesWhatPrintfWouldForLogValues) {
  const auto fixed = [](double value, int decimals) {
    std::string out;
    appendFixed(out, value, decimals);
    return out;
  };
  EXPECT_EQ(fixed(0, 2), "0.00");
  EXPECT_EQ(fixed(-1, 2), "-1.00");
  EXPECT_EQ(fixed(12.345678, 3), "12.346");
  EXPECT_EQ(fixed(0.005, 2), "0.01");
  EXPECT_EQ(fixed(1999.999, 2), "2000.00");
  EXPECT_EQ(fixed(7.5, 0), "8");
  EXPECT_EQ(fixed(0.1234567, 9), "0.123457") << "at most six decimals";
  EXPECT_EQ(fixed(std::nan(""), 2), "0.00");
  EXPECT_EQ(fixed(std::numeric_limits<double>::infinity(), 2), "0.00");
  EXPECT_EQ(fixed(1e300, 2), "0.00");
  EXPECT_EQ(fixed(-0.001, 2), "0.00") << "no negative zero";
  EXPECT_EQ(fixed(0.125, 2), "0.13") << "a tie goes away from zero (printf: 0.12)";
  for (double value : {0.01, 3.14159, 42.0, 123456.789, 0.999, 1e-9, 412.7049}) {
    char expected[64];
    std::snprintf(expected, sizeof expected, "%.2f", value);
    EXPECT_EQ(fixed(value, 2), expected) << value;
  }
}

}  // namespace
}  // namespace llmgate::core
