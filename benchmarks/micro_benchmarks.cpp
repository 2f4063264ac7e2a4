// Micro benchmarks of the per-request and per-chunk work, each next to a baseline measured in
// the same run (scripts/bench.sh prints the ratios).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "llmgate/api/openai_codec.hpp"
#include "llmgate/core/json_field.hpp"
#include "llmgate/stream/sse_parser.hpp"

namespace {

using nlohmann::json;

std::string readFixture(const std::string& name) {
  std::ifstream file(std::string(LLMGATE_FIXTURES_DIR) + "/openai/" + name, std::ios::binary);
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

}  // namespace

BENCHMARK_MAIN();
