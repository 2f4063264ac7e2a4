#include "llmgate/proxy/gateway_auth.hpp"

#include <openssl/sha.h>

#include <gtest/gtest.h>

#include "llmgate/core/hex.hpp"

namespace llmgate::proxy {
namespace {

const std::vector<config::GatewayKey> kNoNamedKeys;

GatewayAuth plainKeys(const std::vector<std::string>& keys) { return GatewayAuth(keys, kNoNamedKeys); }

TEST(GatewayAuth, NoKeysMeansOpen) {
  const auto auth = plainKeys({});
  EXPECT_FALSE(auth.enabled());
  const Caller caller = auth.identify("", "");
  EXPECT_TRUE(caller.known);
  EXPECT_EQ(caller.tag, "");
  EXPECT_EQ(caller.key, nullptr);
}

TEST(GatewayAuth, AcceptsBearerOrXApiKeyForAnyConfiguredKey) {
  const auto auth = plainKeys({"key-one", "key-two"});
  EXPECT_TRUE(auth.identify("Bearer key-one", "").known);
  EXPECT_TRUE(auth.identify("", "key-two").known);
  EXPECT_TRUE(auth.identify("Bearer wrong", "key-one").known);  // x-api-key is checked first
}

TEST(GatewayAuth, RejectsMissingWrongAndMalformedCredentials) {
  const auto auth = plainKeys({"key-one"});
  for (const auto* authorization : {"", "Bearer key-on", "Bearer key-one2", "key-one", "Basic key-one", "Bearer "}) {
    const Caller caller = auth.identify(authorization, "");
    EXPECT_FALSE(caller.known) << authorization;
    EXPECT_FALSE(caller.revoked) << authorization;
  }
}

TEST(GatewayAuth, IdentifiesEachKeyByATagThatIsNotTheKey) {
  const auto auth = plainKeys({"key-one", "key-two"});
  const auto one = auth.identify("Bearer key-one", "");
  const auto two = auth.identify("", "key-two");
  ASSERT_TRUE(one.known);
  ASSERT_TRUE(two.known);
  EXPECT_NE(one.tag, two.tag);
  EXPECT_EQ(one.tag.size(), 16u);
  EXPECT_EQ(auth.identify("", "key-one").tag, one.tag) << "the same key, however presented, is the same caller";
  EXPECT_EQ(one.tag.find("key"), std::string::npos);
  EXPECT_EQ(plainKeys({"key-one"}).identify("Bearer key-one", "").tag, one.tag) << "stable across reloads";
}

TEST(GatewayAuth, NamedKeysCarryTheirLimitsAndMayBeGivenByDigest) {
  std::vector<config::GatewayKey> named(3);
  named[0].name = "team-a";
  named[0].key = "sk-team-a";
  named[0].rpm = 60;
  named[1].name = "team-b";
  unsigned char digest[SHA256_DIGEST_LENGTH];
  const std::string teamB = "sk-team-b";
  SHA256(reinterpret_cast<const unsigned char*>(teamB.data()), teamB.size(), digest);
  named[1].keySha256 = core::hexEncode(digest, sizeof digest);
  named[2].name = "gone";
  named[2].key = "sk-gone";
  named[2].disabled = true;
  const GatewayAuth auth({"plain"}, named);

  const Caller a = auth.identify("Bearer sk-team-a", "");
  ASSERT_TRUE(a.known);
  ASSERT_NE(a.key, nullptr);
  EXPECT_EQ(a.key->name, "team-a");
  EXPECT_EQ(a.key->rpm, 60);
  const Caller b = auth.identify("", "sk-team-b");
  ASSERT_TRUE(b.known);
  ASSERT_NE(b.key, nullptr);
  EXPECT_EQ(b.key->name, "team-b");
  EXPECT_NE(a.tag, b.tag);
  const Caller plain = auth.identify("Bearer plain", "");
  EXPECT_TRUE(plain.known);
  EXPECT_EQ(plain.key, nullptr);
  const Caller gone = auth.identify("Bearer sk-gone", "");
  EXPECT_FALSE(gone.known);
  EXPECT_TRUE(gone.revoked);
  EXPECT_TRUE(gone.tag.empty());
  EXPECT_FALSE(auth.identify("Bearer " + named[1].keySha256, "").known) << "the digest itself is not a key";
}

TEST(GatewayAuth, TheSameKeyTwiceIsAConfigErrorNamingNoKey) {
  std::vector<config::GatewayKey> named(2);
  named[0].name = "a";
  named[0].key = "sk-dup";
  named[1].name = "b";
  named[1].key = "sk-dup";
  named[1].disabled = true;
  try {
    GatewayAuth auth({}, named);
    FAIL() << "accepted";
  } catch (const config::ConfigError& error) {
    EXPECT_STREQ(error.what(), "auth: the same key is given twice (key \"a\" and key \"b\")");
  }
  EXPECT_THROW(GatewayAuth({"sk-dup"}, std::vector<config::GatewayKey>(named.begin(), named.begin() + 1)), config::ConfigError);
}

}  // namespace
}  // namespace llmgate::proxy
