#include "llmgate/proxy/model_catalog.hpp"

#include <algorithm>

#include <boost/asio/post.hpp>

#include "llmgate/log/log.hpp"

namespace llmgate::proxy {
namespace {

constexpr std::size_t kMaxAnswerBytes = 4 * 1024 * 1024;

}  // namespace

// One list fetch: collects the answer and hands it back. Holds the catalog and the providers'
// owner (the answer is decoded by its provider) until the transfer ends.
class ModelCatalog::Fetch : public upstream::TransferHandler {
 public:
  Fetch(std::shared_ptr<ModelCatalog> catalog, std::size_t entry, std::shared_ptr<const void> providersOwner)
      : catalog_(std::move(catalog)), entry_(entry), providersOwner_(std::move(providersOwner)) {}
  void onResponseHead(const upstream::ResponseHead& head) override { status_ = head.status; }
  void onBody(std::string_view bytes) override {
    if (body_.size() < kMaxAnswerBytes) body_.append(bytes.substr(0, kMaxAnswerBytes - body_.size()));
  }
  void onComplete(std::error_code ec) override {
    const auto& catalog = catalog_;
    const auto& provider = *catalog->entries_[entry_].provider;
    if (ec || status_ < 200 || status_ >= 300) {
      log::message(spdlog::level::info, "model list of " + provider.name() + " not fetched (" +
                                            (ec ? upstream::classify(ec, status_ != 0).code : "HTTP " + std::to_string(status_)) + ")");
      catalog->store(entry_, {}, false);
      return;
    }
    std::vector<std::string> ids;
    try {
      ids = provider.decodeModelList(body_);
    } catch (const std::exception& error) {
      // Settled either way: listings may be waiting for this fetch.
      log::message(spdlog::level::warn, "model list of " + provider.name() + " not read: " + error.what());
      catalog->store(entry_, {}, false);
      return;
    }
    catalog->store(entry_, std::move(ids), true);
  }

 private:
  std::shared_ptr<ModelCatalog> catalog_;
  std::size_t entry_;
  std::shared_ptr<const void> providersOwner_;
  long status_ = 0;
  std::string body_;
};

ModelCatalog::ModelCatalog(const std::vector<std::unique_ptr<providers::Provider>>& providers) {
  for (const auto& provider : providers) {
    const bool keyed = !provider->config().apiKeys.empty() && provider->account(0) == nullptr;
    if (provider->config().enabled && keyed && provider->modelListRequest()) entries_.push_back({provider.get(), {}});
  }
}

void ModelCatalog::whenListed(upstream::HttpClient& client, boost::asio::io_context& loop,
                              std::shared_ptr<const void> providersOwner, std::function<void()> ready) {
  const auto now = std::chrono::steady_clock::now();
  std::vector<std::size_t> due;
  bool firstFetchPending = false;
  {
    std::lock_guard lock(mutex_);
    for (std::size_t i = 0; i < entries_.size(); ++i) {
      Entry& entry = entries_[i];
      if (!entry.inFlight && (!entry.fetched || now - entry.fetchedAt >= kFreshFor)) {
        entry.inFlight = true;
        due.push_back(i);
      }
      firstFetchPending = firstFetchPending || !entry.fetched;
    }
    if (firstFetchPending) waiters_.push_back({&loop, std::move(ready)});
  }
  if (!firstFetchPending) boost::asio::post(loop, std::move(ready));
  for (std::size_t i : due) {
    const auto& provider = *entries_[i].provider;
    try {
      upstream::Request out = *provider.modelListRequest();
      provider.authorize(0, out);
      out.timeouts.connect = out.timeouts.firstByte = out.timeouts.idle = out.timeouts.total = kFetchTimeout;
      client.start(std::move(out), std::make_shared<Fetch>(shared_from_this(), i, providersOwner));
    } catch (const std::exception& error) {
      // Marked in flight above: settle it, or the listings waiting for it would wait forever.
      log::message(spdlog::level::warn, "model list of " + provider.name() + " not asked for: " + error.what());
      store(i, {}, false);
    }
  }
}

void ModelCatalog::store(std::size_t entry, std::vector<std::string> ids, bool succeeded) {
  std::vector<Waiter> settled;
  {
    std::lock_guard lock(mutex_);
    Entry& slot = entries_[entry];
    slot.inFlight = false;
    // A failure is tried again at the next listing after kFreshFor, like a success.
    slot.fetched = true;
    slot.fetchedAt = std::chrono::steady_clock::now();
    if (succeeded) slot.ids = std::move(ids);
    const bool allFetched = std::all_of(entries_.begin(), entries_.end(), [](const Entry& e) { return e.fetched; });
    if (allFetched) settled.swap(waiters_);
  }
  for (auto& waiter : settled) boost::asio::post(*waiter.loop, std::move(waiter.ready));
}

std::vector<ModelCatalog::Listing> ModelCatalog::listed() const {
  std::lock_guard lock(mutex_);
  std::vector<Listing> out;
  for (const auto& entry : entries_) {
    for (const auto& id : entry.ids) out.push_back({id, entry.provider->name()});
  }
  return out;
}

}  // namespace llmgate::proxy
