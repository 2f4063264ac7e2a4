#include "llmgate/proxy/conversation_store.hpp"

#include <algorithm>
#include <stdexcept>

#include <openssl/rand.h>

#include "llmgate/core/conversation.hpp"
#include "llmgate/core/hex.hpp"

namespace llmgate::proxy {
namespace {

std::size_t weight(const core::Message& message) {
  std::size_t bytes = sizeof(core::Message) + message.name.size();
  for (const auto& part : message.content) {
    bytes += sizeof(core::ContentPart) + part.text.size() + part.imageUrl.size() + part.imageDetail.size() +
             part.toolCallId.size() + part.toolName.size() + part.arguments.size() + part.signature.size();
  }
  return bytes;
}

}  // namespace

std::size_t StoredConversation::bytes() const {
  std::size_t total = response.size();
  for (const auto& prompt : system) total += sizeof(std::string) + prompt.size();
  for (const auto& message : history) total += weight(message);
  return total;
}

bool StoredConversation::fitWithin(std::size_t maxBytes) {
  std::size_t total = bytes();
  if (total <= maxBytes) return true;
  const auto starts = core::turnStarts(history);
  std::size_t drop = 0;  // whole turns, oldest first; the last one stays
  for (std::size_t turn = 0; turn + 1 < starts.size() && total > maxBytes; ++turn, ++drop) {
    for (std::size_t i = starts[turn]; i < starts[turn + 1]; ++i) total -= weight(history[i]);
  }
  core::keepLastTurns(history, starts.size() - drop);
  return bytes() <= maxBytes;
}

std::string ConversationStore::key(Kind kind, std::string_view caller, std::string_view id) {
  std::string out(kind == Kind::Response ? "r:" : "s:");
  out += caller;
  out += ':';
  out += id;
  return out;
}

std::shared_ptr<const StoredConversation> ConversationStore::find(Kind kind, std::string_view caller, std::string_view id) {
  return entries_.find(key(kind, caller, id));
}

void ConversationStore::store(Kind kind, std::string_view caller, std::string_view id, StoredConversation conversation,
                              std::chrono::seconds ttl) {
  const std::size_t bytes = conversation.bytes();
  entries_.insert(key(kind, caller, id), std::make_shared<const StoredConversation>(std::move(conversation)), bytes,
                  core::BoundedCache<StoredConversation>::Clock::now() + ttl);
}

bool ConversationStore::erase(Kind kind, std::string_view caller, std::string_view id) {
  return entries_.erase(key(kind, caller, id));
}

bool validSessionId(std::string_view id) {
  return !id.empty() && id.size() <= 128 && std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == ':' || c == '-';
  });
}

std::string newResponseId() {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof bytes) != 1) throw std::runtime_error("no random bytes for a response id");
  return "resp_" + core::hexEncode(bytes, sizeof bytes);
}

}  // namespace llmgate::proxy
