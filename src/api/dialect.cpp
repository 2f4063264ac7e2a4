#include "llmgate/api/dialect.hpp"

#include "llmgate/api/openai_codec.hpp"

namespace llmgate::api {

core::Dialect dialectForPath(std::string_view) { return core::Dialect::OpenAi; }

std::string encodeError(core::Dialect dialect, const core::GatewayError& error) {
  switch (dialect) {
    case core::Dialect::OpenAi:
    case core::Dialect::Anthropic:  // its own shape arrives with the Anthropic dialect
      return openai::encodeError(error);
  }
  return openai::encodeError(error);
}

}  // namespace llmgate::api
