#include "llmgate/proxy/gateway_auth.hpp"

#include <gtest/gtest.h>

namespace llmgate::proxy {
namespace {

TEST(GatewayAuth, NoKeysMeansOpen) {
  GatewayAuth auth({});
  EXPECT_FALSE(auth.enabled());
  EXPECT_TRUE(auth.identify("", "").has_value());
}

TEST(GatewayAuth, AcceptsBearerOrXApiKeyForAnyConfiguredKey) {
  GatewayAuth auth({"key-one", "key-two"});
  EXPECT_TRUE(auth.identify("Bearer key-one", "").has_value());
  EXPECT_TRUE(auth.identify("", "key-two").has_value());
  EXPECT_TRUE(auth.identify("Bearer wrong", "key-one").has_value());  // x-api-key is checked first
}

TEST(GatewayAuth, RejectsMissingWrongAndMalformedCredentials) {
  GatewayAuth auth({"key-one"});
  EXPECT_FALSE(auth.identify("", "").has_value());
  EXPECT_FALSE(auth.identify("Bearer key-on", "").has_value());
  EXPECT_FALSE(auth.identify("Bearer key-one2", "").has_value());
  EXPECT_FALSE(auth.identify("key-one", "").has_value());
  EXPECT_FALSE(auth.identify("Basic key-one", "").has_value());
  EXPECT_FALSE(auth.identify("Bearer ", "").has_value());
}

TEST(GatewayAuth, IdentifiesEachKeyByATagThatIsNotTheKey) {
  GatewayAuth auth({"key-one", "key-two"});
  const auto one = auth.identify("Bearer key-one", "");
  const auto two = auth.identify("", "key-two");
  ASSERT_TRUE(one.has_value());
  ASSERT_TRUE(two.has_value());
  EXPECT_NE(*one, *two);
  EXPECT_EQ(one->size(), 16u);
  EXPECT_EQ(auth.identify("", "key-one"), one) << "the same key, however presented, is the same caller";
  EXPECT_EQ(one->find("key"), std::string::npos);
  EXPECT_FALSE(auth.identify("Bearer nope", "").has_value());
  EXPECT_EQ(GatewayAuth({}).identify("", ""), std::optional<std::string>(""));
  EXPECT_EQ(GatewayAuth({"key-one"}).identify("Bearer key-one", ""), one) << "stable across reloads";
}

}  // namespace
}  // namespace llmgate::proxy
