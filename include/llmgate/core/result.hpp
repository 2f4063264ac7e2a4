// Result<T>: a value or a GatewayError, for data-plane code that must not throw.
#pragma once

#include <utility>
#include <variant>

#include "llmgate/core/error.hpp"

namespace llmgate::core {

template <class T>
class Result {
 public:
  Result(T value) : state_(std::move(value)) {}                // NOLINT(google-explicit-constructor)
  Result(GatewayError error) : state_(std::move(error)) {}     // NOLINT(google-explicit-constructor)

  bool ok() const { return std::holds_alternative<T>(state_); }
  T& value() { return std::get<T>(state_); }
  const T& value() const { return std::get<T>(state_); }
  GatewayError& error() { return std::get<GatewayError>(state_); }
  const GatewayError& error() const { return std::get<GatewayError>(state_); }

 private:
  std::variant<T, GatewayError> state_;
};

}  // namespace llmgate::core
