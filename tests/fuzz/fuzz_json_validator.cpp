// Properties:
// - core::isValidJson (the routing fast path's validator) and core::parseJson (nlohmann's parser
//   with a nesting bound, used wherever a document is built from outside JSON) accept exactly
//   the same texts: grammar, escapes, UTF-8, numbers, and the depth bound;
// - core::parseJson builds the document nlohmann's own parser builds, value for value and type
//   for type (its text, dumped, is the same);
// - the top-level members the validator reads along are the document's (the last of a
//   repeated key), and core::TextFields reads their counts as FieldReader reads the document.
// A disagreement aborts, saying which.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string_view>

#include "llmgate/core/json_field.hpp"
#include "llmgate/core/json_read.hpp"
#include "llmgate/core/json_text.hpp"

namespace {

void disagree(const char* what) {
  std::fprintf(stderr, "%s\n", what);
  std::abort();
}

void checkMembers(std::string_view text, const nlohmann::json& document) {
  using namespace llmgate::core;
  TopLevelMember members[] = {{"model"}, {"stream"}, {"usage"}, {"a"}};
  if (!isValidJson(text, members)) disagree("isValidJson with members refuses what it accepts without");
  for (const auto& member : members) {
    const auto it = document.is_object() ? document.find(member.key) : document.end();
    if (it == document.end()) {
      if (!member.value.empty() || member.count != 0) disagree("a member read that the document does not have");
      continue;
    }
    if (member.count == 0 || parseJson(member.value) != *it) disagree("a member read is not the document's");
    std::optional<TypeMismatch> documentMismatch;
    bool textMismatch = false;
    const FieldReader reader(document, "x", documentMismatch);
    const TextFields fields(text, textMismatch);
    if (fields.integer(member.key) != reader.integer(member.key)) disagree("TextFields::integer differs");
    if (fields.object(member.key).has_value() != (reader.object(member.key) != nullptr)) disagree("TextFields::object differs");
    if (textMismatch != documentMismatch.has_value()) disagree("TextFields mismatch differs");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const bool validated = llmgate::core::isValidJson(text);
  const nlohmann::json document = llmgate::core::parseJson(text);
  const bool parsed = !document.is_discarded();
  if (validated != parsed) {
    std::fprintf(stderr, "isValidJson says %d, parseJson says %d\n", validated, parsed);
    std::abort();
  }
  if (validated) {
    const nlohmann::json reference = nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
    if (reference.is_discarded() || reference.dump() != document.dump()) disagree("parseJson built another document than nlohmann");
    checkMembers(text, document);
  }
  return 0;
}
