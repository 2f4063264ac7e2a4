#include "llmgate/proxy/gateway_auth.hpp"

#include <gtest/gtest.h>

namespace llmgate::proxy {
namespace {

TEST(GatewayAuth, NoKeysMeansOpen) {
  GatewayAuth auth({});
  EXPECT_FALSE(auth.enabled());
  EXPECT_TRUE(auth.allows("", ""));
}

TEST(GatewayAuth, AcceptsBearerOrXApiKeyForAnyConfiguredKey) {
  GatewayAuth auth({"key-one", "key-two"});
  EXPECT_TRUE(auth.allows("Bearer key-one", ""));
  EXPECT_TRUE(auth.allows("", "key-two"));
  EXPECT_TRUE(auth.allows("Bearer wrong", "key-one"));  // x-api-key is checked first
}

TEST(GatewayAuth, RejectsMissingWrongAndMalformedCredentials) {
  GatewayAuth auth({"key-one"});
  EXPECT_FALSE(auth.allows("", ""));
  EXPECT_FALSE(auth.allows("Bearer key-on", ""));
  EXPECT_FALSE(auth.allows("Bearer key-one2", ""));
  EXPECT_FALSE(auth.allows("key-one", ""));
  EXPECT_FALSE(auth.allows("Basic key-one", ""));
  EXPECT_FALSE(auth.allows("Bearer ", ""));
}

}  // namespace
}  // namespace llmgate::proxy
