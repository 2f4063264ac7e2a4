#include "providers/deepseek/deepseek_provider.hpp"

namespace llmgate::providers::deepseek {

DeepSeekProvider::DeepSeekProvider(const config::ProviderConfig& config)
    : OpenAiProvider(config, "https://api.deepseek.com", {"reasoning_passback"}) {
  config::JsonReader reader(config.block, "providers." + config.name);
  encodeOptions_.reasoningOnToolCallTurns = reader.boolean("reasoning_passback", true);
}

std::unique_ptr<Provider> create(const config::ProviderConfig& config) {
  return std::make_unique<DeepSeekProvider>(config);
}

}  // namespace llmgate::providers::deepseek
