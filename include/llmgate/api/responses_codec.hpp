// The OpenAI Responses API (POST /v1/responses) as llmgate's clients speak it: decode their
// requests into the IR, encode response objects, the streaming event sequence and errors. Every
// provider is reached through the IR (no upstream speaks it on the fast path yet). Pure
// functions: no I/O.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "llmgate/api/dialect.hpp"
#include "llmgate/core/chat.hpp"
#include "llmgate/core/error.hpp"
#include "llmgate/core/result.hpp"

namespace llmgate::api::responses {

/// Decodes a parsed /v1/responses body. Errors are 400s naming the offending field.
core::Result<core::ChatRequest> decodeRequest(const nlohmann::json& body);

/// What a response object repeats of the request that asked for it, as the client sent it
/// (instructions, tools, tool_choice, sampling, max_output_tokens, previous_response_id, store,
/// metadata, ...), from the request body `decodeRequest` accepted.
nlohmann::json requestEcho(const nlohmann::json& body);

/// Encodes a `response` object (status completed, or incomplete when the answer was cut),
/// repeating `echo` (requestEcho; null repeats nothing and leaves the defaults).
std::string encodeResponse(const core::ChatResponse& response, const nlohmann::json& echo = {});

/// Turns ChatEvents into the Responses event sequence: response.created, response.in_progress,
/// then per output item (reasoning, message, function_call) its .added, deltas, .done events,
/// and response.completed (or response.incomplete) carrying the whole response. Every event is
/// `event: <type>` plus `data: {"type":..., "sequence_number":...}`; there is no [DONE].
/// One per response; not thread-safe.
class StreamEncoder : public StreamWriter {
 public:
  StreamEncoder(std::string id, std::string model, nlohmann::json echo = {});

  void encode(const core::ChatEvent& event, std::string& out) override;
  /// Ends the open items and appends response.completed (or response.incomplete).
  void finish(std::string& out) override;
  /// Appends an `error` event and response.failed.
  void encodeError(const core::GatewayError& error, std::string& out) override;
  /// The response object response.completed (or .incomplete) carried.
  std::string answeredDocument() const override;

 private:
  enum class ItemKind { Reasoning, Message, FunctionCall };
  struct Item {
    ItemKind kind;
    std::size_t outputIndex;
    std::string id = {};
    std::string text = {};     ///< reasoning summary, message text, or function arguments
    std::string refusal = {};  ///< message only
    std::string callId = {};   ///< function call only
    std::string name = {};     ///< function call only
    bool open = true;
    bool refusalFirst = false;  ///< message only: its refusal part opened before its text
  };
  void emit(std::string_view type, nlohmann::json data, std::string& out);
  /// A delta event (text, refusal, summary or arguments) of `item`; `indexName` names the
  /// part index member (content_index, summary_index), null for none.
  void emitDelta(std::string_view type, const Item& item, const char* indexName, std::size_t index,
                 std::string_view delta, std::string& out);
  void begin(std::string& out);
  Item& openItem(ItemKind kind, std::string& out);
  void closeItem(Item& item, std::string& out);
  void closeOpenItems(std::string& out);
  nlohmann::json itemJson(const Item& item) const;
  nlohmann::json responseJson(std::string_view status) const;

  std::string id_;
  std::string model_;
  nlohmann::json echo_;
  std::int64_t createdAt_;
  std::uint64_t sequence_ = 0;
  bool begun_ = false;
  std::vector<Item> items_;
  std::map<int, std::size_t> toolItems_;  ///< the IR's tool index -> its item in items_
  std::optional<std::size_t> textItem_;   ///< the message item taking text now
  std::optional<std::size_t> reasoningItem_;
  core::FinishReason finish_ = core::FinishReason::None;
  core::Usage usage_;
  nlohmann::json answered_;  ///< the final response object, once finished
};

}  // namespace llmgate::api::responses
