#include "llmgate/auth/oauth_account.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include <sys/stat.h>
#include <unistd.h>

#include "llmgate/config/config.hpp"
#include "llmgate/core/json_read.hpp"
#include "llmgate/log/log.hpp"

namespace llmgate::auth {

std::int64_t nowEpochMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string stringMember(const nlohmann::json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

namespace {

constexpr double kLatestEpochMs = 253402300799000.0;  // 9999-12-31T23:59:59Z
constexpr double kLongestLifetimeSeconds = 10.0 * 365 * 24 * 3600;

std::optional<double> numberMember(const nlohmann::json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || !it->is_number()) return std::nullopt;
  const double value = it->get<double>();  // checked to be a number: any of them converts
  if (!std::isfinite(value)) return std::nullopt;
  return value;
}

}  // namespace

std::optional<std::int64_t> epochMsMember(const nlohmann::json& object, const char* key) {
  const auto value = numberMember(object, key);
  if (!value || *value < 0 || *value > kLatestEpochMs) return std::nullopt;
  return static_cast<std::int64_t>(*value);
}

std::optional<std::int64_t> expiryAfterSecondsMember(const nlohmann::json& object, const char* key) {
  const auto value = numberMember(object, key);
  if (!value) return std::nullopt;
  const double seconds = std::clamp(*value, 0.0, kLongestLifetimeSeconds);
  return nowEpochMs() + static_cast<std::int64_t>(seconds * 1000);
}

OAuthAccount::OAuthAccount(std::string label, std::string path, std::chrono::milliseconds refreshLead)
    : label_(std::move(label)), path_(std::move(path)), refreshLead_(refreshLead) {}

void OAuthAccount::load(const std::string& configPath) {
  std::string problem;
  auto token = readToken(problem);
  if (!token) throw config::ConfigError(configPath + ": " + problem);
  token_.store(std::make_shared<const OAuthToken>(std::move(*token)), std::memory_order_release);
  obtainedAtMs_.store(fileWrittenAtMs(), std::memory_order_release);
}

std::int64_t OAuthAccount::fileWrittenAtMs() const {
  struct stat info {};
  if (::stat(path_.c_str(), &info) != 0) return 0;
  return static_cast<std::int64_t>(info.st_mtim.tv_sec) * 1000 + info.st_mtim.tv_nsec / 1000000;
}

std::optional<OAuthToken> OAuthAccount::readToken(std::string& problem) const {
  std::ifstream in(path_);
  if (!in) {
    problem = "cannot read credential file " + path_;
    return std::nullopt;
  }
  std::stringstream text;
  text << in.rdbuf();
  OAuthToken token;
  token.document = core::parseJson(text.str());
  if (!token.document.is_object()) {
    problem = "credential file " + path_ + " is not a JSON object";
    return std::nullopt;
  }
  if (auto wrong = readFile(token.document, token); !wrong.empty()) {
    problem = "credential file " + path_ + ": " + wrong;
    return std::nullopt;
  }
  return token;
}

bool OAuthAccount::adoptNewerFromFile() {
  std::string problem;
  auto fromFile = readToken(problem);
  const auto current = token();
  if (!fromFile || fromFile->expiresAtMs <= current->expiresAtMs) return false;
  token_.store(std::make_shared<const OAuthToken>(std::move(*fromFile)), std::memory_order_release);
  obtainedAtMs_.store(fileWrittenAtMs(), std::memory_order_release);
  log::message(spdlog::level::info, "oauth account " + label_ + ": adopted the newer token another writer put in " + path_);
  return true;
}

std::int64_t OAuthAccount::refreshDueMs() const {
  const auto current = token();
  if (!current || current->expiresAtMs == 0) return 0;
  return current->expiresAtMs - refreshLead_.count();
}

void OAuthAccount::install(OAuthToken token) {
  {
    std::lock_guard lock(statusMutex_);
    ++status_.refreshes;
    status_.lastError.clear();
  }
  keep(std::move(token), nowEpochMs());
}

std::string OAuthAccount::sharedText() const {
  const auto current = token();
  return current ? core::dumpJson(current->document) : std::string();
}

bool OAuthAccount::adoptShared(std::string_view text, std::int64_t obtainedAtMs) {
  // Only a later token: an older one may carry a refresh token that has since been used.
  if (obtainedAtMs <= this->obtainedAtMs()) return false;
  OAuthToken shared;
  shared.document = core::parseJson(text);
  if (!shared.document.is_object() || !readFile(shared.document, shared).empty()) {
    log::message(spdlog::level::warn, "oauth account " + label_ + ": the token shared in Redis is not usable (ignored)");
    return false;
  }
  if (shared.accessToken == token()->accessToken) return false;
  keep(std::move(shared), obtainedAtMs);
  log::message(spdlog::level::info, "oauth account " + label_ + ": adopted the token another replica refreshed");
  return true;
}

void OAuthAccount::keep(OAuthToken token, std::int64_t obtainedAtMs) {
  writeFile(token);
  const std::string text = token.document.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  token_.store(std::make_shared<const OAuthToken>(std::move(token)), std::memory_order_release);
  obtainedAtMs_.store(obtainedAtMs, std::memory_order_release);

  // Readers of the file (the CLI that owns it, another replica) see the old or the new file,
  // never half of one. The token is only for this user: 0600 like the CLIs write it.
  // A name of its own: two writers in this process (generations across a reload) never share it.
  static std::atomic<std::uint64_t> written{0};
  const std::string temporary =
      path_ + ".llmgate.tmp." + std::to_string(::getpid()) + "." + std::to_string(written.fetch_add(1));
  std::FILE* file = std::fopen(temporary.c_str(), "wb");
  bool ok = file != nullptr;
  if (ok) {
    ::fchmod(::fileno(file), 0600);
    ok = std::fwrite(text.data(), 1, text.size(), file) == text.size();
    ok = std::fflush(file) == 0 && ok;
    ok = ::fsync(::fileno(file)) == 0 && ok;
    ok = std::fclose(file) == 0 && ok;
  }
  if (ok) ok = std::rename(temporary.c_str(), path_.c_str()) == 0;
  if (!ok) {
    std::remove(temporary.c_str());
    log::message(spdlog::level::warn, "oauth account " + label_ + ": refreshed token could not be written back to " +
                                          path_ + " (it is used from memory until the next refresh)");
  }
}

void OAuthAccount::noteRefreshFailure(const std::string& what) {
  std::lock_guard lock(statusMutex_);
  status_.lastError = what;
  status_.lastErrorAtMs = nowEpochMs();
}

OAuthAccount::Status OAuthAccount::status() const {
  std::lock_guard lock(statusMutex_);
  Status out = status_;
  if (const auto current = token()) out.expiresAtMs = current->expiresAtMs;
  return out;
}

}  // namespace llmgate::auth
