// Property: core::isValidJson (the routing fast path's validator) and core::parseJson (nlohmann's
// parser with a nesting bound, used wherever a document is built from outside JSON) accept
// exactly the same texts: grammar, escapes, UTF-8, numbers, and the depth bound. A disagreement
// aborts with both verdicts.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "llmgate/core/json_read.hpp"
#include "llmgate/core/json_text.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const bool validated = llmgate::core::isValidJson(text);
  const bool parsed = !llmgate::core::parseJson(text).is_discarded();
  if (validated != parsed) {
    std::fprintf(stderr, "isValidJson says %d, parseJson says %d\n", validated, parsed);
    std::abort();
  }
  return 0;
}
