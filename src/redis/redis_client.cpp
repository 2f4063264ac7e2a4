#include "llmgate/redis/redis_client.hpp"

#include <algorithm>
#include <charconv>

#include <hiredis/hiredis.h>
#include <hiredis/read.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

#include "llmgate/log/log.hpp"

namespace llmgate::redis {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::chrono::milliseconds kMaxBackoff{5000};
constexpr std::chrono::milliseconds kMinConnectTime{1000};
// Replies llmgate asks for are small: a larger array, or this much read without a whole reply,
// is a server that is not answering what it was asked.
constexpr int kMaxArrayElements = 1024;
constexpr std::size_t kMaxUnparsedBytes = 8 * 1024 * 1024;

// hiredis' own reply functions, with arrays bounded.
redisReplyObjectFunctions boundedFunctions() {
  redisReader* probe = redisReaderCreate();
  redisReplyObjectFunctions functions = *probe->fn;
  redisReaderFree(probe);
  return functions;
}
const redisReplyObjectFunctions kDefaultFunctions = boundedFunctions();

void* createBoundedArray(const redisReadTask* task, int elements) {
  if (elements > kMaxArrayElements) return nullptr;  // the reader reports it as an error
  return kDefaultFunctions.createArray(task, elements);
}

redisReplyObjectFunctions kBoundedFunctions = [] {
  redisReplyObjectFunctions functions = kDefaultFunctions;
  functions.createArray = &createBoundedArray;
  return functions;
}();

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

Client::Client(boost::asio::io_context& loop, const config::RedisConfig& settings, ConnectionStats& stats,
               std::vector<std::string> scripts)
    : loop_(loop),
      settings_(settings),
      stats_(stats),
      scripts_(std::move(scripts)),
      resolver_(loop),
      socket_(loop),
      reconnect_(loop),
      deadline_(loop) {}

Client::~Client() { close(); }

void Client::open() {
  boost::asio::post(loop_, [weak = weak_from_this()] {
    if (auto self = weak.lock(); self && !self->closed_) self->connect();
  });
}

void Client::close() {
  closed_ = true;
  endConnection();
  reconnect_.cancel();
  // Handlers are dropped, not called: whoever waits on them is being torn down as well.
  pending_.clear();
  deferred_.clear();
}

void Client::endConnection() {
  if (ready_) stats_.connected.fetch_sub(1);
  ready_ = connecting_ = false;
  ++connection_;  // what is still in flight for the old one is ignored
  boost::system::error_code ignored;
  socket_.close(ignored);
  resolver_.cancel();
  deadline_.cancel();
  deadlineArmed_ = false;
  outgoing_.clear();
  writing_.clear();
  writeInFlight_ = false;
  if (reader_ != nullptr) {
    redisReaderFree(reader_);
    reader_ = nullptr;
  }
}

void Client::connect() {
  connecting_ = true;
  const auto serial = ++connection_;
  reader_ = redisReaderCreateWithFunctions(&kBoundedFunctions);
  armDeadline();
  resolver_.async_resolve(settings_.host, std::to_string(settings_.port),
                          [weak = weak_from_this(), serial](const boost::system::error_code& ec,
                                                            const boost::asio::ip::tcp::resolver::results_type& results) {
    auto self = weak.lock();
    if (!self || self->connection_ != serial) return;
    if (ec) return self->drop("cannot resolve " + self->settings_.host + ": " + ec.message());
    boost::asio::async_connect(self->socket_, results,
                               [weak, serial](const boost::system::error_code& ec, const boost::asio::ip::tcp::endpoint&) {
      auto self = weak.lock();
      if (!self || self->connection_ != serial) return;
      if (ec) return self->drop("cannot connect: " + ec.message());
      self->onConnected();
    });
  });
}

void Client::onConnected() {
  boost::system::error_code ignored;
  socket_.set_option(boost::asio::ip::tcp::no_delay(true), ignored);
  readMore();
  // Authenticated and on its database before anything else; ready once it answers a PING
  // (a server that accepts connections but never answers is not ready).
  const auto deadline = Clock::now() + std::max<std::chrono::milliseconds>(kMinConnectTime, std::chrono::milliseconds(settings_.timeoutMs));
  if (!settings_.password.empty()) {
    std::vector<std::string> auth{"AUTH"};
    if (!settings_.user.empty()) auth.push_back(settings_.user);
    auth.push_back(settings_.password);
    send(auth, Pending{nullptr, deadline, Role::Setup});
  }
  if (settings_.database != 0) send({"SELECT", std::to_string(settings_.database)}, Pending{nullptr, deadline, Role::Setup});
  // Loaded on every connection (a restarted Redis has forgotten them), so that EVALSHA finds them.
  for (const auto& script : scripts_) send({"SCRIPT", "LOAD", script}, Pending{nullptr, deadline, Role::Setup});
  send({"PING"}, Pending{nullptr, deadline, Role::Ping});
}

void Client::answerHandshake(Role role, const Reply& reply) {
  if (reply.type == Reply::Type::Error) return drop("refused: " + reply.text);
  if (role == Role::Setup) return;  // OK, or a script's SHA
  if (reply.type != Reply::Type::Status || reply.text != "PONG") return drop("not Redis: PING was not answered PONG");
  connecting_ = false;
  ready_ = true;
  backoff_ = std::chrono::milliseconds(100);
  stats_.connected.fetch_add(1);
  stats_.connects.fetch_add(1);
  log::message(spdlog::level::info, "redis: connected to " + settings_.host + ":" + std::to_string(settings_.port));
  auto deferred = std::move(deferred_);
  deferred_.clear();
  for (const auto& args : deferred) send(args, Pending{nullptr, Clock::now() + std::chrono::milliseconds(settings_.timeoutMs), Role::Command});
}

void Client::command(const std::vector<std::string>& args, ReplyHandler handler) {
  if (!ready_) {
    stats_.failures.fetch_add(1);
    boost::asio::post(loop_, [handler = std::move(handler)] {
      Pending pending{handler, {}, Role::Command};
      answer(pending, nullptr);
    });
    return;
  }
  send(args, Pending{std::move(handler), Clock::now() + std::chrono::milliseconds(settings_.timeoutMs), Role::Command});
}

void Client::commandEventually(const std::vector<std::string>& args) {
  if (ready_) return command(args, nullptr);
  if (closed_) return;
  if (deferred_.size() >= kMaxDeferred) deferred_.pop_front();
  deferred_.push_back(args);
}

void Client::send(const std::vector<std::string>& args, Pending pending) {
  // RESP: an array of bulk strings (hiredis' formatter goes through printf: 8k instructions a command).
  const auto appendLength = [this](char type, std::size_t length) {
    char digits[24];
    const auto end = std::to_chars(digits, digits + sizeof digits, length).ptr;
    outgoing_ += type;
    outgoing_.append(digits, end);
    outgoing_ += "\r\n";
  };
  appendLength('*', args.size());
  for (const auto& arg : args) {
    appendLength('$', arg.size());
    outgoing_ += arg;
    outgoing_ += "\r\n";
  }
  pending_.push_back(std::move(pending));
  flush();
  armDeadline();
}

void Client::flush() {
  if (writeInFlight_ || outgoing_.empty()) return;
  writeInFlight_ = true;
  writing_.swap(outgoing_);
  boost::asio::async_write(socket_, boost::asio::buffer(writing_),
                           [weak = weak_from_this(), serial = connection_](const boost::system::error_code& ec, std::size_t) {
    auto self = weak.lock();
    if (!self || self->connection_ != serial) return;
    self->writeInFlight_ = false;
    self->writing_.clear();
    if (ec) return self->drop("write failed: " + ec.message());
    self->flush();
  });
}

void Client::readMore() {
  socket_.async_read_some(boost::asio::buffer(readBuffer_),
                          [weak = weak_from_this(), serial = connection_](const boost::system::error_code& ec, std::size_t bytes) {
    auto self = weak.lock();
    if (!self || self->connection_ != serial) return;
    if (ec) return self->drop(ec == boost::asio::error::eof ? std::string("closed by the server") : ec.message());
    try {
      self->take(bytes);
    } catch (const std::exception& error) {
      return self->drop(std::string("reading a reply failed: ") + error.what());
    }
    if (self->connection_ == serial) self->readMore();
  });
}

void Client::take(std::size_t bytes) {
  const auto serial = connection_;
  if (redisReaderFeed(reader_, readBuffer_.data(), bytes) != REDIS_OK) return drop("out of memory reading a reply");
  while (connection_ == serial) {
    void* raw = nullptr;
    if (redisReaderGetReply(reader_, &raw) != REDIS_OK) return drop(std::string("not the Redis protocol: ") + reader_->errstr);
    if (raw == nullptr) break;  // the rest of the reply has not come yet
    std::unique_ptr<redisReply, void (*)(void*)> reply(static_cast<redisReply*>(raw), &freeReplyObject);
    if (pending_.empty()) return drop("a reply to no command");
    Pending pending = std::move(pending_.front());
    pending_.pop_front();
    Reply copied = copyReply(*reply);
    if (pending.role != Role::Command) {
      answerHandshake(pending.role, copied);
    } else {
      answer(pending, &copied);
    }
  }
  if (connection_ == serial && reader_->len - reader_->pos > kMaxUnparsedBytes) drop("a reply larger than any llmgate asks for");
}

void Client::answer(Pending& pending, const Reply* reply) noexcept {
  if (!pending.handler) return;
  try {
    auto handler = std::move(pending.handler);
    handler(reply);
  } catch (const std::exception& error) {
    log::message(spdlog::level::err, std::string("redis: a reply handler failed: ") + error.what());
  } catch (...) {
    log::message(spdlog::level::err, "redis: a reply handler failed");
  }
}

void Client::drop(const std::string& why) {
  if (closed_) return;
  log::message(spdlog::level::warn, "redis: " + settings_.host + ":" + std::to_string(settings_.port) + ": " + why +
                                        " (requests go on with local state; reconnecting in " +
                                        std::to_string(backoff_.count()) + " ms)");
  endConnection();
  reconnect_.expires_after(backoff_);
  backoff_ = std::min(backoff_ * 2, kMaxBackoff);
  reconnect_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
    auto self = weak.lock();
    if (ec || !self || self->closed_ || self->ready_ || self->connecting_) return;
    self->connect();
  });
  auto pending = std::move(pending_);
  pending_.clear();
  for (auto& entry : pending) {
    if (entry.role != Role::Command) continue;
    stats_.failures.fetch_add(1);
    answer(entry, nullptr);
  }
}

void Client::armDeadline() {
  Clock::time_point when;
  if (connecting_ && pending_.empty()) {
    when = Clock::now() + std::max<std::chrono::milliseconds>(kMinConnectTime, std::chrono::milliseconds(settings_.timeoutMs));
  } else if (!pending_.empty()) {
    when = pending_.front().deadline;
  } else {
    return;
  }
  // Armed for a later time (the connection's, while a command is due sooner): armed again.
  if (deadlineArmed_ && when >= armedFor_) return;
  deadlineArmed_ = true;
  armedFor_ = when;
  deadline_.expires_at(when);
  deadline_.async_wait([weak = weak_from_this(), serial = connection_, when](const boost::system::error_code& ec) {
    auto self = weak.lock();
    if (!self || ec == boost::asio::error::operation_aborted || self->connection_ != serial) return;
    self->deadlineArmed_ = false;
    const auto now = Clock::now();
    const bool late = self->pending_.empty() ? self->connecting_ && when <= now : self->pending_.front().deadline <= now;
    if (late) {
      // Redis is slow (or not Redis): every command behind this one would be as late.
      self->stats_.timeouts.fetch_add(1);
      return self->drop(self->connecting_ ? "no answer to the connection in time"
                                          : "no reply within " + std::to_string(self->settings_.timeoutMs) + " ms");
    }
    self->armDeadline();
  });
}

}  // namespace llmgate::redis
