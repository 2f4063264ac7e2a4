// Conversations kept on the gateway, in memory: stored Responses (store: true, continued with
// previous_response_id, read with GET /v1/responses/{id}) and x-llmgate-session windows. One
// store per process, shared by the workers and kept across config reloads; bounded in bytes,
// every entry with its time to live. Entries belong to the gateway key that made them: another
// key neither reads nor deletes them.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "llmgate/core/bounded_cache.hpp"
#include "llmgate/core/chat.hpp"

namespace llmgate::proxy {

struct StoredConversation {
  /// Stored responses: the system and developer messages of the inputs so far (instructions are
  /// not carried over, input items are, as OpenAI does).
  std::vector<std::string> system;
  std::vector<core::Message> history;  ///< every turn so far, the answer's included
  std::string response;                ///< a stored response: the response object as the client got it

  /// What it weighs in the store, about.
  std::size_t bytes() const;
  /// Drops the oldest turns until it weighs at most `maxBytes`; false when even its last turn
  /// (and what is not conversation) weighs more.
  bool fitWithin(std::size_t maxBytes);
};

class ConversationStore {
 public:
  enum class Kind { Response, Session };

  explicit ConversationStore(std::size_t maxBytes) : entries_(maxBytes) {}

  /// `caller` is who asks (GatewayAuth::identify): empty when the gateway has no keys.
  std::shared_ptr<const StoredConversation> find(Kind kind, std::string_view caller, std::string_view id);
  void store(Kind kind, std::string_view caller, std::string_view id, StoredConversation conversation,
             std::chrono::seconds ttl);
  bool erase(Kind kind, std::string_view caller, std::string_view id);
  /// Forgets what has expired (a timer calls it: entries nobody asks for again would otherwise
  /// stay until the byte bound pushes them out).
  std::size_t purgeExpired() { return entries_.purgeExpired(); }
  core::BoundedCacheStats stats() const { return entries_.stats(); }

 private:
  static std::string key(Kind kind, std::string_view caller, std::string_view id);
  core::BoundedCache<StoredConversation> entries_;
};

/// Whether `id` may name a session: 1 to 128 characters of [A-Za-z0-9._:-].
bool validSessionId(std::string_view id);

/// A new response id: "resp_" and 32 random hex digits (unique and not guessable).
std::string newResponseId();

}  // namespace llmgate::proxy
