// Micro benchmarks of the per-request and per-chunk work, each next to a baseline measured in
// the same run (scripts/bench.sh prints the ratios).
#include <benchmark/benchmark.h>
#include <zlib.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "llmgate/api/anthropic_codec.hpp"
#include "llmgate/api/openai_codec.hpp"
#include "llmgate/config/config.hpp"
#include "llmgate/core/json_field.hpp"
#include "llmgate/core/json_text.hpp"
#include "llmgate/proxy/conversion_cache.hpp"
#include "llmgate/stream/event_stream_parser.hpp"
#include "llmgate/stream/sse_parser.hpp"
#include "providers/anthropic/anthropic_codec.hpp"
#include "providers/kiro/kiro_stream.hpp"

namespace {

using nlohmann::json;

std::string readFixture(const std::string& name, const std::string& dir = "openai") {
  std::ifstream file(std::string(LLMGATE_FIXTURES_DIR) + "/" + dir + "/" + name, std::ios::binary);
  std::ostringstream out;
  out << file.rdbuf();
  return out.str();
}

const std::string& allCaptures() {
  static const std::string text = [] {
    std::string all;
    for (const char* name : {"stream_text_stop.sse", "stream_tool_call_single.sse", "stream_tool_calls_parallel.sse",
                             "stream_finish_length.sse", "stream_n3_choices.sse", "stream_refusal.sse"}) {
      all += readFixture(name);
    }
    return all;
  }();
  return text;
}

// A realistic chat request body of about 8 KiB: history, a tool, options.
const std::string& requestBody() {
  static const std::string body = [] {
    json messages = json::array({{{"role", "system"}, {"content", "You are a helpful assistant."}}});
    for (int i = 0; i < 20; ++i) {
      messages.push_back({{"role", "user"}, {"content", "Question number " + std::to_string(i) + std::string(150, 'q')}});
      messages.push_back({{"role", "assistant"}, {"content", "Answer number " + std::to_string(i) + std::string(150, 'a')}});
    }
    json body{{"model", "alias-model"},
              {"messages", messages},
              {"stream", true},
              {"temperature", 0.7},
              {"tools", json::array({{{"type", "function"},
                                      {"function", {{"name", "get_weather"},
                                                    {"parameters", {{"type", "object"},
                                                                    {"properties", {{"city", {{"type", "string"}}}}}}}}}}})}};
    return body.dump();
  }();
  return body;
}

// Baseline: the least any line parser must do, one pass looking for line ends.
void BM_SseBaselineLineScan(benchmark::State& state) {
  const std::string& text = allCaptures();
  for (auto _ : state) {
    benchmark::DoNotOptimize(std::count(text.begin(), text.end(), '\n'));
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_SseBaselineLineScan);

// The SSE parser over the recorded streams, fed in network-sized pieces.
void BM_SseParser(benchmark::State& state) {
  const std::string& text = allCaptures();
  const std::size_t piece = static_cast<std::size_t>(state.range(0));
  for (auto _ : state) {
    llmgate::stream::SseParser parser;
    std::size_t events = 0;
    for (std::size_t at = 0; at < text.size(); at += piece) {
      parser.feed(std::string_view(text).substr(at, piece), [&](const llmgate::stream::SseEvent&) { ++events; });
    }
    benchmark::DoNotOptimize(events);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_SseParser)->Arg(64)->Arg(16384);

// Fast path: rewrite the model in place ...
void BM_ModelRewriteSplice(benchmark::State& state) {
  for (auto _ : state) {
    std::string body = requestBody();
    llmgate::core::replaceTopLevelString(body, "model", "gpt-4o-2024-08-06");
    benchmark::DoNotOptimize(body);
  }
}
BENCHMARK(BM_ModelRewriteSplice);

// ... against the baseline of parsing, editing and re-serializing the document.
void BM_ModelRewriteBaselineParseDump(benchmark::State& state) {
  for (auto _ : state) {
    json parsed = json::parse(requestBody());
    parsed["model"] = "gpt-4o-2024-08-06";
    std::string body = parsed.dump();
    benchmark::DoNotOptimize(body);
  }
}
BENCHMARK(BM_ModelRewriteBaselineParseDump);

// Routing validates every request body: the hand-written validator ...
void BM_ValidateRequest(benchmark::State& state) {
  const std::string body = requestBody();
  for (auto _ : state) benchmark::DoNotOptimize(llmgate::core::isValidJson(body));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * body.size()));
}
BENCHMARK(BM_ValidateRequest);

// ... against nlohmann's accept (no document built either), which it replaced.
void BM_ValidateRequestBaselineAccept(benchmark::State& state) {
  const std::string body = requestBody();
  for (auto _ : state) benchmark::DoNotOptimize(json::accept(body));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * body.size()));
}
BENCHMARK(BM_ValidateRequestBaselineAccept);

void BM_OpenAiDecodeRequest(benchmark::State& state) {
  for (auto _ : state) {
    auto request = llmgate::api::openai::decodeRequest(json::parse(requestBody()));
    benchmark::DoNotOptimize(request.ok());
  }
}
BENCHMARK(BM_OpenAiDecodeRequest);

// Encoding 100 text deltas as chunks: the per-token cost of the translated path ...
void BM_StreamEncoderTextDeltas(benchmark::State& state) {
  for (auto _ : state) {
    llmgate::api::openai::StreamEncoder encoder("chatcmpl-123", "gpt-4o", 1727346168, true);
    std::string out;
    for (int i = 0; i < 100; ++i) encoder.encode(llmgate::core::ChatEvent::textDelta(" token"), out);
    encoder.finish(out);
    benchmark::DoNotOptimize(out);
  }
  state.SetItemsProcessed(state.iterations() * 100);
}
BENCHMARK(BM_StreamEncoderTextDeltas);

// ... against building each chunk as a JSON document.
void BM_StreamEncoderBaselineJsonDom(benchmark::State& state) {
  for (auto _ : state) {
    std::string out;
    for (int i = 0; i < 100; ++i) {
      json chunk{{"id", "chatcmpl-123"}, {"object", "chat.completion.chunk"}, {"created", 1727346168}, {"model", "gpt-4o"},
                 {"choices", json::array({{{"index", 0}, {"delta", {{"content", " token"}}}, {"logprobs", nullptr},
                                           {"finish_reason", nullptr}}})}};
      out += "data: " + chunk.dump() + "\n\n";
    }
    benchmark::DoNotOptimize(out);
  }
  state.SetItemsProcessed(state.iterations() * 100);
}
BENCHMARK(BM_StreamEncoderBaselineJsonDom);

// ---- AWS event stream (Kiro) ---------------------------------------------------------------

void appendU32(std::string& out, std::uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((value >> shift) & 0xff);
}

// A Kiro-like answer: the captured frames plus 200 text frames built the same way (real CRCs).
const std::string& eventStream() {
  static const std::string bytes = [] {
    std::string all = readFixture("q_cli_capture06_first3frames.bin", "kiro");
    auto header = [](const std::string& name, const std::string& value) {
      std::string out(1, static_cast<char>(name.size()));
      out += name;
      out += '\x07';
      out += static_cast<char>(value.size() >> 8);
      out += static_cast<char>(value.size() & 0xff);
      return out + value;
    };
    const std::string headers = header(":event-type", "assistantResponseEvent") +
                                header(":content-type", "application/json") + header(":message-type", "event");
    for (int i = 0; i < 200; ++i) {
      const std::string payload = R"({"content":"token )" + std::to_string(i) + R"( of a streamed answer"})";
      std::string frame;
      appendU32(frame, static_cast<std::uint32_t>(16 + headers.size() + payload.size()));
      appendU32(frame, static_cast<std::uint32_t>(headers.size()));
      appendU32(frame, static_cast<std::uint32_t>(::crc32(0, reinterpret_cast<const Bytef*>(frame.data()), 8)));
      frame += headers + payload;
      appendU32(frame, static_cast<std::uint32_t>(::crc32(0, reinterpret_cast<const Bytef*>(frame.data()), frame.size())));
      all += frame;
    }
    return all;
  }();
  return bytes;
}

// Baseline: the CRC32 pass every correct decoder must make over the bytes (zlib's crc32).
void BM_EventStreamBaselineCrcOnly(benchmark::State& state) {
  const std::string& bytes = eventStream();
  for (auto _ : state) {
    benchmark::DoNotOptimize(::crc32(0, reinterpret_cast<const Bytef*>(bytes.data()), bytes.size()));
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes.size()));
}
BENCHMARK(BM_EventStreamBaselineCrcOnly);

// The decoder (both CRCs checked, headers parsed), fed in network-sized reads.
void BM_EventStreamParser(benchmark::State& state) {
  const std::string& bytes = eventStream();
  const std::size_t piece = static_cast<std::size_t>(state.range(0));
  for (auto _ : state) {
    llmgate::stream::EventStreamParser parser;
    std::size_t messages = 0;
    for (std::size_t at = 0; at < bytes.size(); at += piece) {
      parser.feed(std::string_view(bytes).substr(at, piece), [&](const llmgate::stream::EventStreamMessage&) { ++messages; });
    }
    benchmark::DoNotOptimize(messages);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes.size()));
}
BENCHMARK(BM_EventStreamParser)->Arg(64)->Arg(16384);

// The whole Kiro answer path: frames to IR events (JSON payloads parsed).
void BM_KiroDecoderToEvents(benchmark::State& state) {
  const std::string& bytes = eventStream();
  const auto request = llmgate::api::openai::decodeRequest(json::parse(requestBody())).value();
  for (auto _ : state) {
    llmgate::providers::kiro::KiroDecoder decoder(request, 200000);
    std::vector<llmgate::core::ChatEvent> events;
    decoder.feed(bytes, events);
    decoder.finish(events);
    benchmark::DoNotOptimize(events.size());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes.size()));
}
BENCHMARK(BM_KiroDecoderToEvents);

// ---- conversions: IR to each upstream, and the cache in front of them ----------------------

std::unique_ptr<llmgate::providers::Provider> makeProvider(const json& block) {
  auto config = llmgate::config::parseConfig(json{{"providers", {block}}}.dump(), [](const std::string&) { return std::nullopt; });
  return llmgate::providers::createProvider(config.providers[0], "providers[0]");
}

const std::vector<std::unique_ptr<llmgate::providers::Provider>>& encodeTargets() {
  static const auto providers = [] {
    std::vector<std::unique_ptr<llmgate::providers::Provider>> out;
    out.push_back(makeProvider({{"name", "openai"}, {"type", "openai"}}));
    out.push_back(makeProvider({{"name", "anthropic"}, {"type", "anthropic"}}));
    out.push_back(makeProvider({{"name", "gemini"}, {"type", "gemini"}}));
    return out;
  }();
  return providers;
}

// IR -> upstream body for OpenAI, Anthropic and Gemini (arg = index), 8 KiB request.
void BM_EncodeRequest(benchmark::State& state) {
  const auto request = llmgate::api::openai::decodeRequest(json::parse(requestBody())).value();
  const auto& provider = *encodeTargets()[static_cast<std::size_t>(state.range(0))];
  state.SetLabel(provider.name());
  for (auto _ : state) {
    auto encoded = provider.encodeRequest(request, "model", {});
    benchmark::DoNotOptimize(encoded.ok());
  }
}
BENCHMARK(BM_EncodeRequest)->Arg(0)->Arg(1)->Arg(2);

void BM_AnthropicDecodeRequest(benchmark::State& state) {
  const auto request = llmgate::api::openai::decodeRequest(json::parse(requestBody())).value();
  const std::string body = llmgate::providers::anthropic::encodeRequest(request, "claude", 1024).dump();
  for (auto _ : state) {
    auto decoded = llmgate::api::anthropic::decodeRequest(json::parse(body));
    benchmark::DoNotOptimize(decoded.ok());
  }
}
BENCHMARK(BM_AnthropicDecodeRequest);

// The conversion of an 8 KiB OpenAI request for Gemini: every time (a miss) ...
void BM_ConversionCacheMiss(benchmark::State& state) {
  const auto request = llmgate::api::openai::decodeRequest(json::parse(requestBody())).value();
  llmgate::proxy::ConversionCache cache(llmgate::config::ConversionCacheConfig{0, 1 << 20});
  for (auto _ : state) {
    auto encoded = cache.convert(*encodeTargets()[2], llmgate::core::Dialect::OpenAi, requestBody(), request, "gemini", {});
    benchmark::DoNotOptimize(encoded.ok());
  }
}
BENCHMARK(BM_ConversionCacheMiss);

// ... and from the cache (full-body key comparison and a copy of the stored request).
void BM_ConversionCacheHit(benchmark::State& state) {
  const auto request = llmgate::api::openai::decodeRequest(json::parse(requestBody())).value();
  llmgate::proxy::ConversionCache cache(llmgate::config::ConversionCacheConfig{});
  cache.convert(*encodeTargets()[2], llmgate::core::Dialect::OpenAi, requestBody(), request, "gemini", {});
  for (auto _ : state) {
    auto encoded = cache.convert(*encodeTargets()[2], llmgate::core::Dialect::OpenAi, requestBody(), request, "gemini", {});
    benchmark::DoNotOptimize(encoded.ok());
  }
}
BENCHMARK(BM_ConversionCacheHit);

}  // namespace

BENCHMARK_MAIN();
