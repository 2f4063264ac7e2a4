#include "llmgate/redis/connections.hpp"

namespace llmgate::redis {

void Connections::attach(const std::vector<boost::asio::io_context*>& loops) {
  if (!configured()) return;
  for (auto* loop : loops) {
    clients_.push_back(std::make_shared<Client>(*loop, settings_, stats_, scripts_));
    clients_.back()->open();
  }
}

void Connections::detach() {
  for (auto& client : clients_) client->close();
  clients_.clear();
}

ConnectionsReport Connections::report() const {
  ConnectionsReport report;
  report.configured = configured();
  report.connected = stats_.connected.load();
  report.workers = static_cast<std::int64_t>(clients_.size());
  report.connects = stats_.connects.load();
  report.failures = stats_.failures.load();
  report.timeouts = stats_.timeouts.load();
  return report;
}

}  // namespace llmgate::redis
