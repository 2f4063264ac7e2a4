// Property: core::isValidJson accepts exactly what nlohmann::json::accept accepts (the routing
// fast path swapped one for the other), apart from two of nlohmann's leniencies it refuses by
// design: a leading byte-order mark, and anything after a NUL byte (nlohmann stops reading
// there, so "{}\0junk" passes it). Input with a NUL byte must therefore be refused. A
// disagreement aborts with both verdicts.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include <nlohmann/json.hpp>

#include "llmgate/core/json_text.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const bool ours = llmgate::core::isValidJson(text);
  const bool reference = text.substr(0, 3) != "\xEF\xBB\xBF" && text.find('\0') == std::string_view::npos &&
                         nlohmann::json::accept(text);
  if (ours != reference) {
    std::fprintf(stderr, "isValidJson says %d, nlohmann::json::accept says %d\n", ours, reference);
    std::abort();
  }
  return 0;
}
