// Every provider type, listed explicitly: static self-registration can be dropped by the linker.
#include "llmgate/providers/provider.hpp"
#include "providers/anthropic/anthropic_provider.hpp"
#include "providers/deepseek/deepseek_provider.hpp"
#include "providers/gemini/gemini_provider.hpp"
#include "providers/kiro/kiro_provider.hpp"
#include "providers/mock/mock_provider.hpp"
#include "providers/openai/openai_provider.hpp"
#include "providers/qwen/qwen_provider.hpp"
#include "providers/zhipu/zhipu_provider.hpp"

namespace llmgate::providers {

const std::vector<ProviderFactory>& allProviderFactories() {
  static const std::vector<ProviderFactory> factories = {
      {"anthropic", anthropic::create},
      {"deepseek", deepseek::create},
      {"gemini", gemini::create},
      {"kiro", kiro::create},
      {"mock", mock::create},
      {"openai", openai::create},
      {"qwen", qwen::create},
      {"zhipu", zhipu::create},
  };
  return factories;
}

}  // namespace llmgate::providers
