// `mock` provider: answers in-process, deterministically, with no API key. It is what
// config/default.json serves so a fresh gateway answers at once; also handy for load tests.
#pragma once

#include "llmgate/providers/provider.hpp"

namespace llmgate::providers::mock {

class MockProvider : public Provider {
 public:
  explicit MockProvider(const config::ProviderConfig& config);

  bool isLocal() const override { return true; }
  std::optional<LocalReply> respondLocally(const core::ChatRequest& request,
                                           const std::string& model) const override;

 private:
  std::chrono::milliseconds latency_;
  std::chrono::milliseconds chunkDelay_;
  std::int64_t chunkCount_;
  std::string fixedReply_;
  bool alwaysCallTools_ = false;  ///< tool_calls: "always" (every offered tool call answered with a call)

  /// The tool this request makes the mock call, or null for a text answer: the one tool_choice
  /// names or requires, else one the last user turn names (any offered one with "always").
  const core::Tool* toolToCall(const core::ChatRequest& request) const;
};

std::unique_ptr<Provider> create(const config::ProviderConfig& config);

}  // namespace llmgate::providers::mock
