#include <cstdlib>

#include "llmgate/config/config.hpp"

namespace llmgate::config {

EnvLookup processEnv() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

Substitution substituteEnv(const std::string& text, const EnvLookup& env) {
  Substitution result;
  result.value.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    if (c != '$' || i + 1 >= text.size()) {
      result.value.push_back(c);
      ++i;
      continue;
    }
    if (text[i + 1] == '$') {
      result.value.push_back('$');
      i += 2;
      continue;
    }
    if (text[i + 1] != '{') {
      result.value.push_back(c);
      ++i;
      continue;
    }
    const std::size_t close = text.find('}', i + 2);
    if (close == std::string::npos) throw ConfigError("unterminated ${ in \"" + text + "\"");
    const std::string inner = text.substr(i + 2, close - i - 2);
    std::string name = inner;
    std::optional<std::string> fallback;
    if (auto sep = inner.find(":-"); sep != std::string::npos) {
      name = inner.substr(0, sep);
      fallback = inner.substr(sep + 2);
    }
    if (name.empty()) throw ConfigError("empty variable name in \"" + text + "\"");
    auto value = env(name);
    // Like the shell: ":-" also applies when the variable is set but empty. Without a fallback,
    // empty counts as unset too: OPENAI_API_KEY= (as compose files pass an absent variable)
    // must not enable a provider with an empty key.
    if (!value || value->empty()) value = fallback;
    if (value) {
      result.value += *value;
    } else {
      result.missing.push_back(name);
    }
    i = close + 1;
  }
  return result;
}

}  // namespace llmgate::config
