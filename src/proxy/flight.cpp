#include "llmgate/proxy/flight.hpp"

#include <algorithm>

namespace llmgate::proxy {

void Flight::notifyFollowers(std::unique_lock<std::mutex>& lock) {
  std::vector<Notify> notify;
  notify.reserve(followers_.size());
  for (const auto& [id, callback] : followers_) notify.push_back(callback);
  lock.unlock();
  for (const auto& callback : notify) {
    try {
      callback();
    } catch (...) {
      // That follower ends with its own deadline; the others are still told.
    }
  }
}

void Flight::publish(const std::vector<core::ChatEvent>& events) {
  if (events.empty()) return;
  std::unique_lock lock(mutex_);
  if (state_ != State::Flying) return;
  for (const auto& event : events) {
    ends_.push_back((ends_.empty() ? 0 : ends_.back()) + sizeof(core::ChatEvent) + event.text.size() + event.id.size() +
                    event.name.size());
    events_.push_back(event);
  }
  notifyFollowers(lock);
}

void Flight::end(State state) {
  registry_.land(key_, this);
  std::unique_lock lock(mutex_);
  if (state_ != State::Flying) return;
  state_ = state;
  cancelLeader_ = nullptr;
  notifyFollowers(lock);
}

bool Flight::leaderLeft(Notify cancelLeader) {
  std::lock_guard lock(mutex_);
  if ((followers_.empty() && boarding_ == 0) || state_ != State::Flying) return false;
  cancelLeader_ = std::move(cancelLeader);
  return true;
}

std::uint64_t Flight::follow(Notify notify) {
  std::lock_guard lock(mutex_);
  if (boarding_ > 0) --boarding_;
  const auto id = nextFollower_++;
  followers_.emplace(id, std::move(notify));
  return id;
}

Flight::Notify Flight::cancelWhenNobodyWaits() {
  if (!followers_.empty() || boarding_ > 0) return nullptr;
  Notify cancel = std::move(cancelLeader_);
  cancelLeader_ = nullptr;
  return cancel;
}

void Flight::unfollow(std::uint64_t follower) {
  Notify cancel;
  {
    std::lock_guard lock(mutex_);
    if (followers_.erase(follower) == 0) return;
    cancel = cancelWhenNobodyWaits();
  }
  if (cancel) cancel();  // nobody waits any more for the leader that had lost its client
}

void Flight::unboard() {
  Notify cancel;
  {
    std::lock_guard lock(mutex_);
    if (boarding_ == 0) return;
    --boarding_;
    cancel = cancelWhenNobodyWaits();
  }
  if (cancel) cancel();
}

Flight::Read Flight::read(std::size_t& cursor, std::size_t most) const {
  std::lock_guard lock(mutex_);
  Read out;
  const std::size_t end = std::min(events_.size(), cursor + most);
  if (cursor < end) {
    out.events.assign(events_.begin() + static_cast<std::ptrdiff_t>(cursor), events_.begin() + static_cast<std::ptrdiff_t>(end));
    cursor = end;
  }
  out.left = events_.size() - cursor;
  out.state = state_;
  return out;
}

std::size_t Flight::bytesBehind(std::size_t cursor) const {
  std::lock_guard lock(mutex_);
  if (ends_.empty() || cursor >= ends_.size()) return 0;
  return ends_.back() - (cursor == 0 ? 0 : ends_[cursor - 1]);
}

std::size_t Flight::followers() const {
  std::lock_guard lock(mutex_);
  return followers_.size();
}

Flights::Boarding Flights::board(const std::string& key) {
  std::lock_guard lock(mutex_);
  auto& slot = flying_[key];
  if (auto flight = slot.lock()) {
    ++coalesced_;
    // Counted as waiting from now: a leader whose client leaves before this one follows goes on.
    std::lock_guard flightLock(flight->mutex_);
    ++flight->boarding_;
    return {std::move(flight), false};
  }
  auto flight = std::make_shared<Flight>(*this, key);
  slot = flight;
  return {std::move(flight), true};
}

void Flights::land(const std::string& key, const Flight* flight) {
  std::lock_guard lock(mutex_);
  auto it = flying_.find(key);
  if (it == flying_.end()) return;
  auto current = it->second.lock();
  if (!current || current.get() == flight) flying_.erase(it);
}

std::uint64_t Flights::coalesced() const {
  std::lock_guard lock(mutex_);
  return coalesced_;
}

}  // namespace llmgate::proxy
