#include "llmgate/redis/redis_client.hpp"

#include <algorithm>
#include <charconv>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <boost/asio/post.hpp>

#include "llmgate/log/log.hpp"

namespace llmgate::redis {
namespace {

constexpr std::chrono::milliseconds kMaxBackoff{5000};

bool parseNumber(std::string_view text, int& out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

Reply copyReply(const redisReply& from) {
  Reply to;
  switch (from.type) {
    case REDIS_REPLY_INTEGER:
      to.type = Reply::Type::Integer;
      to.integer = from.integer;
      break;
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
      to.type = from.type == REDIS_REPLY_STRING ? Reply::Type::String
                : from.type == REDIS_REPLY_STATUS ? Reply::Type::Status
                                                  : Reply::Type::Error;
      to.text.assign(from.str, from.len);
      break;
    case REDIS_REPLY_ARRAY:
      to.type = Reply::Type::Array;
      to.elements.reserve(from.elements);
      for (std::size_t i = 0; i < from.elements; ++i) to.elements.push_back(copyReply(*from.element[i]));
      break;
    default: break;  // nil
  }
  return to;
}

}  // namespace

std::optional<Endpoint> parseUrl(std::string_view url, std::string& error) {
  constexpr std::string_view kScheme = "redis://";
  if (url.rfind(kScheme, 0) != 0) {
    error = "expected redis://[[user]:password@]host[:port][/db]";
    return std::nullopt;
  }
  std::string_view rest = url.substr(kScheme.size());
  Endpoint endpoint;
  if (const auto at = rest.rfind('@'); at != std::string_view::npos) {
    const std::string_view credentials = rest.substr(0, at);
    rest = rest.substr(at + 1);
    const auto colon = credentials.find(':');
    if (colon == std::string_view::npos) {
      endpoint.password = std::string(credentials);
    } else {
      endpoint.user = std::string(credentials.substr(0, colon));
      endpoint.password = std::string(credentials.substr(colon + 1));
    }
  }
  if (const auto slash = rest.find('/'); slash != std::string_view::npos) {
    const std::string_view database = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
    if (!database.empty() && (!parseNumber(database, endpoint.database) || endpoint.database < 0)) {
      error = "the database after / must be a number";
      return std::nullopt;
    }
  }
  if (const auto colon = rest.rfind(':'); colon != std::string_view::npos) {
    if (!parseNumber(rest.substr(colon + 1), endpoint.port) || endpoint.port < 1 || endpoint.port > 65535) {
      error = "the port must be a number from 1 to 65535";
      return std::nullopt;
    }
    rest = rest.substr(0, colon);
  }
  if (rest.empty()) {
    error = "no host";
    return std::nullopt;
  }
  endpoint.host = std::string(rest);
  return endpoint;
}

struct Client::Pending {
  ReplyHandler handler;
  std::chrono::steady_clock::time_point deadline;
  bool answered = false;
};

Client::Client(boost::asio::io_context& loop, Endpoint endpoint, std::chrono::milliseconds timeout,
               ConnectionStats& stats)
    : loop_(loop), endpoint_(std::move(endpoint)), timeout_(timeout), stats_(stats), reconnect_(loop), deadline_(loop) {}

Client::~Client() { close(); }

void Client::open() {
  boost::asio::post(loop_, [weak = weak_from_this()] {
    if (auto self = weak.lock(); self && !self->closed_) self->connect();
  });
}

void Client::close() {
  closed_ = true;
  reconnect_.cancel();
  deadline_.cancel();
  // Handlers are dropped, not called: whoever waits on them is being torn down as well.
  for (auto& pending : pending_) pending->answered = true;
  if (context_ != nullptr) redisAsyncFree(context_);  // runs cleanup(), which forgets the context
  pending_.clear();
}

void Client::connect() {
  redisAsyncContext* context = redisAsyncConnect(endpoint_.host.c_str(), endpoint_.port);
  if (context == nullptr) {
    scheduleReconnect();
    return;
  }
  if (context->err != 0) {
    log::message(spdlog::level::warn, std::string("redis: cannot connect to ") + endpoint_.host + ":" +
                                          std::to_string(endpoint_.port) + ": " + context->errstr);
    redisAsyncFree(context);
    scheduleReconnect();
    return;
  }
  context_ = context;
  ++connection_;
  context->data = this;
  context->ev.data = this;
  context->ev.addRead = &Client::addRead;
  context->ev.delRead = &Client::delRead;
  context->ev.addWrite = &Client::addWrite;
  context->ev.delWrite = &Client::delWrite;
  context->ev.cleanup = &Client::cleanup;
  socket_.emplace(loop_, context->c.fd);
  redisAsyncSetConnectCallback(context, &Client::onConnect);
  redisAsyncSetDisconnectCallback(context, &Client::onDisconnect);
  // Sent first on the new connection, so every later command runs authenticated on its database.
  if (!endpoint_.password.empty()) {
    std::vector<std::string> auth{"AUTH"};
    if (!endpoint_.user.empty()) auth.push_back(endpoint_.user);
    auth.push_back(endpoint_.password);
    command(std::move(auth), [](const Reply* reply) {
      if (reply != nullptr && reply->type == Reply::Type::Error) log::message(spdlog::level::err, "redis: AUTH refused: " + reply->text);
    });
  }
  if (endpoint_.database != 0) command({"SELECT", std::to_string(endpoint_.database)}, [](const Reply*) {});
}

void Client::onConnect(const redisAsyncContext* context, int status) {
  auto* self = static_cast<Client*>(context->data);
  if (status != REDIS_OK) {
    log::message(spdlog::level::warn, "redis: cannot connect to " + self->endpoint_.host + ":" +
                                          std::to_string(self->endpoint_.port) + ": " +
                                          (context->errstr != nullptr ? context->errstr : "unknown error"));
    return;  // hiredis frees the context next: cleanup() schedules the next try
  }
  self->ready_ = true;
  self->backoff_ = std::chrono::milliseconds(100);
  self->stats_.connected.fetch_add(1);
  self->stats_.connects.fetch_add(1);
  log::message(spdlog::level::info, "redis: connected to " + self->endpoint_.host + ":" + std::to_string(self->endpoint_.port));
}

void Client::onDisconnect(const redisAsyncContext* context, int status) {
  if (status == REDIS_OK) return;  // ours (close or a deadline): said there
  auto* self = static_cast<Client*>(context->data);
  log::message(spdlog::level::warn, "redis: connection to " + self->endpoint_.host + ":" + std::to_string(self->endpoint_.port) +
                                        " lost: " + (context->errstr != nullptr ? context->errstr : "closed by the server"));
}

void Client::cleanup(void* data) {
  auto* self = static_cast<Client*>(data);
  if (self->ready_) self->stats_.connected.fetch_sub(1);
  self->ready_ = false;
  self->context_ = nullptr;
  self->wantRead_ = self->wantWrite_ = false;
  // The descriptor is hiredis' to close: released, which also ends the waits on it.
  if (self->socket_) {
    self->socket_->release();
    self->socket_.reset();
  }
  self->reading_ = self->writing_ = false;
  if (!self->closed_) self->scheduleReconnect();
}

void Client::scheduleReconnect() {
  if (closed_) return;
  reconnect_.expires_after(backoff_);
  backoff_ = std::min(backoff_ * 2, kMaxBackoff);
  reconnect_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
    auto self = weak.lock();
    if (ec || !self || self->closed_ || self->context_ != nullptr) return;
    self->connect();
  });
}

void Client::addRead(void* data) {
  auto* self = static_cast<Client*>(data);
  self->wantRead_ = true;
  if (!self->reading_) self->watchReadable();
}

void Client::delRead(void* data) { static_cast<Client*>(data)->wantRead_ = false; }

void Client::addWrite(void* data) {
  auto* self = static_cast<Client*>(data);
  self->wantWrite_ = true;
  if (!self->writing_) self->watchWritable();
}

void Client::delWrite(void* data) { static_cast<Client*>(data)->wantWrite_ = false; }

void Client::watchReadable() {
  if (!socket_) return;
  reading_ = true;
  socket_->async_wait(boost::asio::posix::stream_descriptor::wait_read,
                      [weak = weak_from_this(), serial = connection_](boost::system::error_code ec) {
    auto self = weak.lock();
    // A wait of a connection that has gone since (its descriptor released) ends here.
    if (!self || self->connection_ != serial || self->context_ == nullptr) return;
    self->reading_ = false;
    if (ec) return;
    redisAsyncHandleRead(self->context_);  // may run reply handlers, and may free the connection
    if (self->connection_ == serial && self->context_ != nullptr && self->wantRead_ && !self->reading_) self->watchReadable();
  });
}

void Client::watchWritable() {
  if (!socket_) return;
  writing_ = true;
  socket_->async_wait(boost::asio::posix::stream_descriptor::wait_write,
                      [weak = weak_from_this(), serial = connection_](boost::system::error_code ec) {
    auto self = weak.lock();
    if (!self || self->connection_ != serial || self->context_ == nullptr) return;
    self->writing_ = false;
    if (ec) return;
    redisAsyncHandleWrite(self->context_);
    if (self->connection_ == serial && self->context_ != nullptr && self->wantWrite_ && !self->writing_) self->watchWritable();
  });
}

void Client::answer(Pending& pending, const Reply* reply) noexcept {
  if (pending.answered) return;
  pending.answered = true;
  try {
    pending.handler(reply);
  } catch (const std::exception& error) {
    log::message(spdlog::level::err, std::string("redis: a reply handler failed: ") + error.what());
  } catch (...) {
    log::message(spdlog::level::err, "redis: a reply handler failed");
  }
}

void Client::command(std::vector<std::string> args, ReplyHandler handler) {
  auto pending = std::make_shared<Pending>(Pending{std::move(handler), std::chrono::steady_clock::now() + timeout_, false});
  const auto fail = [&] {
    stats_.failures.fetch_add(1);
    boost::asio::post(loop_, [pending] { answer(*pending, nullptr); });
  };
  // Before the connection is up, commands wait in hiredis' buffer: only the first ones (AUTH,
  // SELECT) are sent then; the others do without Redis rather than wait for a connect.
  if (context_ == nullptr || (!ready_ && !args.empty() && args[0] != "AUTH" && args[0] != "SELECT")) return fail();
  std::vector<const char*> argv;
  std::vector<std::size_t> lengths;
  argv.reserve(args.size());
  lengths.reserve(args.size());
  for (const auto& arg : args) {
    argv.push_back(arg.data());
    lengths.push_back(arg.size());
  }
  if (redisAsyncCommandArgv(context_, &Client::onReply, pending.get(), static_cast<int>(argv.size()), argv.data(),
                            lengths.data()) != REDIS_OK) {
    return fail();
  }
  pending_.push_back(std::move(pending));
  armDeadline();
}

void Client::onReply(redisAsyncContext* context, void* reply, void* data) {
  auto* self = static_cast<Client*>(context->data);
  auto* pending = static_cast<Pending*>(data);
  // Replies come in the order the commands went: this one is the oldest still pending.
  std::shared_ptr<Pending> keep;
  if (!self->pending_.empty() && self->pending_.front().get() == pending) {
    keep = std::move(self->pending_.front());
    self->pending_.erase(self->pending_.begin());
  }
  if (pending->answered) return;
  if (reply == nullptr) {
    self->stats_.failures.fetch_add(1);
    answer(*pending, nullptr);
    return;
  }
  Reply copied;
  try {
    copied = copyReply(*static_cast<const redisReply*>(reply));
  } catch (const std::exception&) {
    self->stats_.failures.fetch_add(1);
    answer(*pending, nullptr);
    return;
  }
  answer(*pending, &copied);
}

void Client::armDeadline() {
  if (deadlineArmed_ || pending_.empty()) return;
  deadlineArmed_ = true;
  deadline_.expires_at(pending_.front()->deadline);
  deadline_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
    auto self = weak.lock();
    if (!self || ec == boost::asio::error::operation_aborted) return;
    self->deadlineArmed_ = false;
    if (self->closed_ || self->pending_.empty()) return;
    if (self->pending_.front()->deadline <= std::chrono::steady_clock::now()) {
      // Redis is slow: every command behind this one would be as late. Start again.
      self->stats_.timeouts.fetch_add(1);
      log::message(spdlog::level::warn, "redis: no reply within " + std::to_string(self->timeout_.count()) +
                                            " ms; reconnecting (requests go on with local state)");
      self->drop();
      return;
    }
    self->armDeadline();
  });
}

void Client::drop() {
  if (context_ == nullptr) return;
  redisAsyncFree(context_);  // pending handlers get no reply; cleanup() schedules the reconnect
  pending_.clear();
}

}  // namespace llmgate::redis
