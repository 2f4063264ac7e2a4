#include "llmgate/core/turn_scope.hpp"

#include <deque>
#include <utility>

namespace llmgate::core {
namespace {

struct ThreadTurn {
  int depth = 0;
  std::deque<std::function<void()>> deferred;
};

ThreadTurn& threadTurn() noexcept {
  thread_local ThreadTurn turn;
  return turn;
}

}  // namespace

TurnScope::TurnScope() noexcept { ++threadTurn().depth; }

TurnScope::~TurnScope() {
  ThreadTurn& turn = threadTurn();
  if (turn.depth > 1) {
    --turn.depth;
    return;
  }
  // Still open while the work runs, so that what it defers joins this run instead of running
  // inside it.
  while (!turn.deferred.empty()) {
    auto work = std::move(turn.deferred.front());
    turn.deferred.pop_front();
    try {
      work();
    } catch (...) {
    }
  }
  turn.depth = 0;
}

bool TurnScope::defer(std::function<void()> work) {
  ThreadTurn& turn = threadTurn();
  if (turn.depth == 0) return false;
  turn.deferred.push_back(std::move(work));
  return true;
}

}  // namespace llmgate::core
