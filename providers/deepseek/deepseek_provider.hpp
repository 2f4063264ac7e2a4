// `deepseek` provider: DeepSeek's OpenAI-compatible API. Reasoning arrives as
// `reasoning_content` (relayed untouched to OpenAI clients, thinking blocks for Anthropic
// clients); thinking mode wants it back on assistant turns that called tools.
#pragma once

#include "providers/openai/openai_provider.hpp"

namespace llmgate::providers::deepseek {

class DeepSeekProvider : public openai::OpenAiProvider {
 public:
  explicit DeepSeekProvider(const config::ProviderConfig& config);
};

std::unique_ptr<Provider> create(const config::ProviderConfig& config);

}  // namespace llmgate::providers::deepseek
