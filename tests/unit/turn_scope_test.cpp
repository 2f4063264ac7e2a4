#include "llmgate/core/turn_scope.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <thread>

namespace llmgate::core {
namespace {

TEST(TurnScope, WithoutAScopeNothingIsQueued) {
  bool ran = false;
  EXPECT_FALSE(TurnScope::defer([&] { ran = true; }));
  EXPECT_FALSE(ran);
}

TEST(TurnScope, TheOutermostScopeRunsTheWorkInOrderAsItEnds) {
  std::string order;
  {
    const TurnScope outer;
    {
      const TurnScope inner;
      EXPECT_TRUE(TurnScope::defer([&] { order += 'a'; }));
    }
    EXPECT_EQ(order, "") << "the inner scope ran the work";
    EXPECT_TRUE(TurnScope::defer([&] { order += 'b'; }));
    order += '-';
  }
  EXPECT_EQ(order, "-ab");
  EXPECT_FALSE(TurnScope::defer([] {})) << "the scope is still open after it ended";
}

TEST(TurnScope, WorkDeferredByDeferredWorkJoinsTheSameRun) {
  std::string order;
  {
    const TurnScope scope;
    TurnScope::defer([&] {
      order += 'a';
      // A scope opened by the work (a curl run inside a deferred send) nests in the closing one.
      const TurnScope nested;
      EXPECT_TRUE(TurnScope::defer([&] { order += 'c'; }));
    });
    TurnScope::defer([&] { order += 'b'; });
  }
  EXPECT_EQ(order, "abc");
}

TEST(TurnScope, WorkThatThrowsDoesNotStopTheRest) {
  bool after = false;
  {
    const TurnScope scope;
    TurnScope::defer([] { throw std::runtime_error("out of memory"); });
    TurnScope::defer([&] { after = true; });
  }
  EXPECT_TRUE(after);
}

TEST(TurnScope, AScopeLeftByAnExceptionStillRunsItsWorkAndCloses) {
  bool ran = false;
  try {
    const TurnScope scope;
    TurnScope::defer([&] { ran = true; });
    throw std::runtime_error("the handler failed");
  } catch (const std::runtime_error&) {
  }
  EXPECT_TRUE(ran);
  EXPECT_FALSE(TurnScope::defer([] {}));
}

TEST(TurnScope, ScopesBelongToTheirThread) {
  const TurnScope scope;
  bool queuedElsewhere = true;
  std::thread([&] { queuedElsewhere = TurnScope::defer([] {}); }).join();
  EXPECT_FALSE(queuedElsewhere);
}

}  // namespace
}  // namespace llmgate::core
