// In-flight coalescing: identical requests (one response-cache key) that arrive while the first
// is still upstream follow it instead of asking again. The first (the leader) publishes its
// answer's events as they come; each follower reads them at its own pace, on its own worker,
// and writes them in its client's dialect. The upstream call goes on while anyone still waits
// for it: a leader whose client left keeps it going for the followers, and the last one to
// leave ends it.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "llmgate/core/chat.hpp"

namespace llmgate::proxy {

class Flights;

class Flight {
 public:
  /// Called without a lock held, from any thread: must post to the loop it belongs to.
  using Notify = std::function<void()>;
  enum class State { Flying, Landed, Failed };

  Flight(Flights& registry, std::string key) : registry_(registry), key_(std::move(key)) {}

  // The leader's side.
  void publish(const std::vector<core::ChatEvent>& events);
  /// The answer is whole (Landed) or will not come (Failed: followers then ask on their own).
  void end(State state);
  /// The leader's client left: true when followers still wait (the leader goes on without a
  /// client, and `cancelLeader` is called once the last of them leaves); false when none do.
  bool leaderLeft(Notify cancelLeader);

  // A follower's side: boarded (Flights::board) until it follows, or leaves before it does.
  std::uint64_t follow(Notify notify);
  void unfollow(std::uint64_t follower);
  void unboard();
  struct Read {
    std::vector<core::ChatEvent> events;  ///< up to the most asked for, from the follower's cursor
    std::size_t left = 0;                 ///< events published and still unread after these
    State state = State::Flying;
  };
  /// Up to `most` events published from `cursor` on (which moves past them), and how the
  /// flight stands.
  Read read(std::size_t& cursor, std::size_t most) const;
  /// How far a follower at `cursor` is behind the leader, in bytes of answer.
  std::size_t bytesBehind(std::size_t cursor) const;
  std::size_t followers() const;

 private:
  void notifyFollowers(std::unique_lock<std::mutex>& lock);
  /// The headless leader's cancel, taken when nobody waits for the answer any more (the lock held).
  Notify cancelWhenNobodyWaits();

  Flights& registry_;
  const std::string key_;
  mutable std::mutex mutex_;
  std::vector<core::ChatEvent> events_;
  std::vector<std::size_t> ends_;  ///< bytes of answer up to the end of each event
  State state_ = State::Flying;
  std::map<std::uint64_t, Notify> followers_;
  std::size_t boarding_ = 0;  ///< followers boarded that do not follow yet: they wait too
  friend class Flights;
  std::uint64_t nextFollower_ = 1;
  Notify cancelLeader_;  ///< set while the leader flies on for its followers alone
};

/// The flights in the air, by key. Outlives every Exchange (the Gateway owns it).
class Flights {
 public:
  struct Boarding {
    std::shared_ptr<Flight> flight;
    bool leads = false;
  };
  /// The flight of `key`: a new one the caller leads, or the one in the air it follows.
  Boarding board(const std::string& key);
  /// `flight` no longer takes followers (it ended): a new request under `key` leads a new one.
  void land(const std::string& key, const Flight* flight);
  std::uint64_t coalesced() const;

 private:
  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::weak_ptr<Flight>> flying_;
  std::uint64_t coalesced_ = 0;  ///< requests that followed another
};

}  // namespace llmgate::proxy
