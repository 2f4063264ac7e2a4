// Work that waits for the end of what the thread is doing now. While a TurnScope is open on a
// thread, defer() queues work and the outermost scope runs it as it closes, still inside the
// same event-loop handler: a request's upstream transfer is sent once its handling is settled,
// and the chunks one upstream read brings leave in one write instead of one each, without a
// trip through the loop.
#pragma once

#include <functional>

namespace llmgate::core {

class TurnScope {
 public:
  TurnScope() noexcept;
  /// The outermost scope runs what was deferred, in order (work deferred meanwhile too).
  ~TurnScope();
  TurnScope(const TurnScope&) = delete;
  TurnScope& operator=(const TurnScope&) = delete;

  /// Queues `work` for the end of the outermost scope open on this thread; false, with nothing
  /// queued, when none is open. The work must catch and report what it throws: what escapes
  /// is dropped. No loop may be run while a scope is open (what waits would wait for it).
  static bool defer(std::function<void()> work);
};

}  // namespace llmgate::core
