// The models the upstreams themselves list (OpenAI's, Anthropic's, Gemini's list endpoints),
// asked for when a client first lists models and kept for a while, so that /v1/models names what
// a client may ask for beyond the configured names (a pattern such as claude-* routes names no
// config lists). Nothing is asked at start: a gateway that nobody lists models on sends nothing.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "llmgate/providers/provider.hpp"
#include "llmgate/upstream/http_client.hpp"

namespace llmgate::proxy {

class ModelCatalog : public std::enable_shared_from_this<ModelCatalog> {
 public:
  /// A fetched list is used this long before it is fetched again (as the seeds cache model lists).
  static constexpr std::chrono::minutes kFreshFor{5};
  /// The longest a first listing waits for an upstream's list (connect included).
  static constexpr std::chrono::seconds kFetchTimeout{3};

  struct Listing {
    std::string id;
    std::string provider;
  };

  /// `providers` must outlive the catalog and its fetches (see whenListed). Lists the enabled
  /// providers that have a list endpoint and an API key (OAuth accounts carry their own
  /// endpoints: not listed).
  explicit ModelCatalog(const std::vector<std::unique_ptr<providers::Provider>>& providers);

  /// Posts `ready` to `loop` once the lists can be answered from: at once when every list has
  /// been fetched before (one older than kFreshFor is fetched again meanwhile, in the
  /// background), else when the first fetches end, each within kFetchTimeout. Fetches go through
  /// `client` (call on its thread); one per provider at a time; a failed one keeps the last list.
  /// Each fetch holds `providersOwner` (what owns the providers) until it ends.
  void whenListed(upstream::HttpClient& client, boost::asio::io_context& loop, std::shared_ptr<const void> providersOwner,
                  std::function<void()> ready);

  /// What the upstreams listed, provider by provider in config order. Any thread.
  std::vector<Listing> listed() const;

 private:
  class Fetch;
  struct Entry {
    const providers::Provider* provider;
    std::vector<std::string> ids;
    std::chrono::steady_clock::time_point fetchedAt{};
    bool fetched = false;
    bool inFlight = false;
  };
  struct Waiter {
    boost::asio::io_context* loop;
    std::function<void()> ready;
  };
  void store(std::size_t entry, std::vector<std::string> ids, bool succeeded);

  mutable std::mutex mutex_;
  std::vector<Entry> entries_;
  std::vector<Waiter> waiters_;  // listings that wait for a first fetch
};

}  // namespace llmgate::proxy
