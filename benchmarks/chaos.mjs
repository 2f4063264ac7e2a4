#!/usr/bin/env node
// Chaos load harness: the P0 proof that llmgate's process never dies and never leaves a client
// hanging, whatever its upstreams and its clients do.
//
//   node benchmarks/chaos.mjs [--seconds 600] [--rate 200] [--seed 1] [--concurrency 2000] [--bin build/llmgate]
//
// One Node process (built-ins only, loopback only) plays both sides of llmgate, which it starts as
// a subprocess with a generated config:
//  - a fault-injecting upstream on one port speaking OpenAI chat.completions, Anthropic Messages,
//    Gemini generateContent and Kiro (AWS event-stream) under /openai, /anthropic, /gemini, /kiro.
//    About half its answers are healthy; the rest are delayed, hung, reset, truncated, garbage,
//    valid JSON with wrong types, rate limits, error storms or dribbled a byte at a time;
//  - open-loop OpenAI and Anthropic clients at --rate requests a second (at most --concurrency in
//    flight) that sometimes abort, read slowly or send malformed or wrongly typed requests.
// Every 5 s it samples llmgate's RSS and open fds; if llmgate died it counts a CRASH, keeps its
// log tail and restarts it. A client request with neither a complete answer nor an error after
// 40 s is HUNG. Exit code 0 only with no crash, no hung request and no harness error.
// --seed fixes the random choices; their interleaving still depends on timing.

import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { chmodSync, closeSync, copyFileSync, existsSync, fstatSync, mkdtempSync, openSync, readFileSync, readSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { crc32 } from 'node:zlib';
import { setTimeout as sleep } from 'node:timers/promises';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const HARD_TIMEOUT_MS = 40000;       // a client request unanswered this long is HUNG
const SAMPLE_EVERY_MS = 5000;
const PROGRESS_EVERY_SAMPLES = 6;    // one progress line every 30 s
const UPSTREAM_SETTLE_MS = 12000;    // after the last client: longer than any llmgate upstream timeout
const MAX_CRASHES = 20;              // past this the verdict is clear and restarting is pointless
const MAX_SAMPLES_KEPT = 10;         // hung requests and harness errors listed in the report
const J = JSON.stringify;

const USAGE = `usage: node benchmarks/chaos.mjs [--seconds N] [--rate N] [--seed N] [--concurrency N] [--bin PATH]
  --seconds      load duration (default 600)
  --rate         client requests per second, open loop (default 200)
  --seed         PRNG seed (default 1)
  --concurrency  cap on client requests in flight (default 2000)
  --bin          llmgate binary (default build/llmgate)`;

function fail(message) {
  console.error(message);
  process.exit(2);
}

function parseOptions(argv) {
  const options = { seconds: 600, rate: 200, seed: 1, concurrency: 2000, bin: path.join(repoRoot, 'build', 'llmgate') };
  for (let i = 0; i < argv.length; i += 2) {
    const name = argv[i].startsWith('--') ? argv[i].slice(2) : '';
    if (name === 'help') {
      console.log(USAGE);
      process.exit(0);
    }
    const value = argv[i + 1];
    if (!(name in options) || value === undefined) fail(`bad argument: ${argv[i]}\n${USAGE}`);
    if (name === 'bin') {
      options.bin = path.resolve(value);
      continue;
    }
    const number = Number(value);
    if (!Number.isInteger(number) || number < (name === 'seed' ? 0 : 1)) fail(`--${name} wants a positive integer, got ${value}`);
    options[name] = number;
  }
  return options;
}

// ---------------------------------------------------------------------------------------------
// Seeded randomness

/** mulberry32: tiny and reproducible for a given seed. */
function makeRandom(seed) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (low, high) => low + Math.floor(next() * (high - low + 1)),
    chance: (p) => next() < p,
    pick: (list) => list[Math.floor(next() * list.length)],
    bytes: (count) => Buffer.from(Array.from({ length: count }, () => Math.floor(next() * 256))),
    weighted(table) {
      let roll = next() * table.total;
      for (const [value, weight] of table.entries) if ((roll -= weight) < 0) return value;
      return table.entries[table.entries.length - 1][0];
    },
  };
}

const weights = (table) => ({ entries: Object.entries(table), total: Object.values(table).reduce((a, b) => a + b, 0) });
const once = (make) => {
  let value;
  return () => (value ??= make());
};

// ---------------------------------------------------------------------------------------------
// Upstream wire formats: a healthy answer per dialect, error answers, and poisoned bodies and
// stream frames (valid framing, wrong JSON types or nonsense in every position we could find).

const TEXT = ['Chaos ', 'says ', 'hello ', 'in ', 'a ', 'few ', 'parts.'];
const THINKING = 'Thinking it over.';
const TOOL_INPUT = { city: 'Paris', days: 3 };
const HUGE_TEXT = 'A'.repeat(2 << 20);   // a single 2 MiB SSE line / frame
const inThirds = (text) => [text.slice(0, 4), text.slice(4, 9), text.slice(9)];
const stringOrNull = (value) => (typeof value === 'string' ? value : null);
const sseData = (payload) => `data: ${payload}\n\n`;
const anthropicEvent = (type, data) => `event: ${type}\ndata: ${J({ type, ...data })}\n\n`;
const ERROR_STATUSES = [400, 403, 500, 502, 503, 504, 529];
const STORM_STATUSES = [429, 500, 503, 529];

function jsonAnswer(status, body, headers = {}) {
  const bytes = Buffer.from(J(body));
  return { status, headers: { 'content-type': 'application/json', 'content-length': bytes.length, ...headers }, parts: [bytes] };
}

const streamAnswer = (contentType, frames) => ({ status: 200, headers: { 'content-type': contentType }, parts: frames.map((f) => Buffer.from(f)) });

/** What a healthy answer says, whatever its wire format. */
const planAnswer = (random, ctx) => ({
  tool: ctx.toolName && random.chance(0.5) ? { id: `call_${random.int(1, 999999)}`, name: ctx.toolName, input: TOOL_INPUT } : null,
  thinking: random.chance(0.2),
});

const openAi = {
  context: (url, body) => ({
    stream: body?.stream === true,
    includeUsage: body?.stream_options?.include_usage === true,
    toolName: stringOrNull(body?.tools?.[0]?.function?.name),
  }),
  answer(ctx, plan) {
    const head = { id: 'chatcmpl-chaos', created: 1727346168, model: 'chaos-model' };
    const usage = { prompt_tokens: 11, completion_tokens: 7, total_tokens: 18 };
    const call = plan.tool && { id: plan.tool.id, type: 'function', function: { name: plan.tool.name, arguments: J(plan.tool.input) } };
    const finish = call ? 'tool_calls' : 'stop';
    if (!ctx.stream) {
      const message = call
        ? { role: 'assistant', content: null, tool_calls: [call] }
        : { role: 'assistant', content: TEXT.join(''), ...(plan.thinking ? { reasoning_content: THINKING } : {}) };
      return jsonAnswer(200, { ...head, object: 'chat.completion', choices: [{ index: 0, message, logprobs: null, finish_reason: finish }], usage });
    }
    const chunk = (delta, finishReason = null) =>
      sseData(J({ ...head, object: 'chat.completion.chunk', choices: [{ index: 0, delta, finish_reason: finishReason }] }));
    const frames = [chunk({ role: 'assistant', content: '' })];
    if (plan.thinking) frames.push(chunk({ reasoning_content: THINKING }));
    if (call) {
      frames.push(chunk({ tool_calls: [{ index: 0, id: call.id, type: 'function', function: { name: call.function.name, arguments: '' } }] }));
      for (const part of inThirds(call.function.arguments)) frames.push(chunk({ tool_calls: [{ index: 0, function: { arguments: part } }] }));
    } else {
      for (const word of TEXT) frames.push(chunk({ content: word }));
    }
    frames.push(chunk({}, finish));
    if (ctx.includeUsage) frames.push(sseData(J({ ...head, object: 'chat.completion.chunk', choices: [], usage })));
    frames.push(sseData('[DONE]'));
    return streamAnswer('text/event-stream', frames);
  },
  error: (status, message) =>
    jsonAnswer(status, { error: { message, type: status === 429 ? 'requests' : 'server_error', param: null, code: status === 429 ? 'rate_limit_exceeded' : null } }),
  poisonBodies: [
    { choices: {} },
    { choices: null, usage: { prompt_tokens: '7', completion_tokens: [], total_tokens: {} } },
    { id: 5, object: [], created: 'x', model: {}, choices: [5] },
    { choices: [{ index: 'x', message: [], finish_reason: 5 }] },
    { choices: [{ index: 0, message: { role: 5, content: 5 }, finish_reason: 'stop' }] },
    { choices: [{ index: 0, message: { role: 'assistant', content: null, tool_calls: {} } }] },
    { choices: [{ index: 0, message: { role: 'assistant', content: null, tool_calls: [{ id: 7, type: 5, function: { name: [], arguments: {} } }] }, finish_reason: 'tool_calls' }] },
    { choices: [{ index: 0, message: { role: 'assistant', content: null, tool_calls: [5, null, 'x', { function: null }] } }] },
    { choices: [{ index: 0, message: { role: 'assistant', content: [{ type: 'text', text: 5 }] } }] },
    { choices: [{ index: 0, message: { role: 'assistant', content: 'ok', reasoning_content: 5 } }], usage: [] },
    { choices: [], usage: { prompt_tokens: -1, completion_tokens: 1e308, total_tokens: 1.5 } },
    { choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }], usage: { prompt_tokens: '7' } },
    { choices: [{}] },
    { error: 5 },
    { error: { message: 5, type: [], code: {} } },
    [], null, 5, 'x', true, {},
  ],
  poisonFrames: [
    ...[
      { choices: {} },
      { choices: [5, null] },
      { choices: [{ index: 'x', delta: [] }] },
      { choices: [{ index: 0, delta: null }] },
      { choices: [{ index: 0, delta: { content: 5 } }] },
      { choices: [{ index: 0, delta: { role: [], content: {} } }] },
      { choices: [{ index: 0, delta: { tool_calls: {} } }] },
      { choices: [{ index: 0, delta: { tool_calls: [5, null] } }] },
      { choices: [{ index: 0, delta: { tool_calls: [{ index: 'x', id: 7, function: { name: [], arguments: 5 } }] } }] },
      { choices: [{ index: 0, delta: { tool_calls: [{ index: 4294967295, id: 'call_big', function: { name: 'f', arguments: '{' } }] } }] },
      { choices: [{ index: 0, delta: { tool_calls: [{ index: -1, id: 'call_neg', function: { name: 'f' } }] } }] },
      { choices: [{ index: 0, delta: { tool_calls: [{ index: 1e18, function: { arguments: 'x' } }] } }] },
      { choices: [{ index: 0, delta: { tool_calls: [{ index: 3, function: { arguments: 'no start' } }] } }] },
      { choices: [{ index: 1e18, delta: { content: 'x' } }] },
      { choices: [{ index: 0, delta: {}, finish_reason: 5 }] },
      { choices: [{ index: 0, delta: { reasoning_content: [] } }] },
      { choices: [{ index: 0, delta: { content: HUGE_TEXT } }] },
      { choices: [], usage: { prompt_tokens: '7', completion_tokens: null } },
      { usage: [] },
      { error: { message: 5 } },
      { error: 'boom' },
      5, 'x', [], null,
    ].map((payload) => sseData(J(payload))),
    'data: {\n\n',
    'data: {"choices":[{"index":0,"delta":{"content":"\\u12"}}]}\n\n',
    'data: [DONE]\n\n',
    ': keep-alive\n\n',
    'event: error\ndata: {"error":{"message":"x"}}\n\n',
    'data: {"choices":[{"index":0,"delta":{"content":"cr"}}]}\r\r',
    'retry: abc\nid: x\n\n',
    'data:\n\n',
  ].map((frame) => Buffer.from(frame)),
};

const anthropic = {
  context(url, body) {
    const countTokens = url.endsWith('/count_tokens');
    return { stream: !countTokens && body?.stream === true, countTokens, toolName: stringOrNull(body?.tools?.[0]?.name) };
  },
  answer(ctx, plan) {
    if (ctx.countTokens) return jsonAnswer(200, { input_tokens: 12 });
    const blocks = [];
    if (plan.thinking) blocks.push({ type: 'thinking', thinking: THINKING, signature: 'c2lnbmF0dXJl' });
    blocks.push(plan.tool ? { type: 'tool_use', id: plan.tool.id, name: plan.tool.name, input: plan.tool.input } : { type: 'text', text: TEXT.join('') });
    const message = {
      id: 'msg_chaos', type: 'message', role: 'assistant', model: 'chaos-model', content: blocks,
      stop_reason: plan.tool ? 'tool_use' : 'end_turn', stop_sequence: null, usage: { input_tokens: 11, output_tokens: 7 },
    };
    if (!ctx.stream) return jsonAnswer(200, message);
    const frames = [anthropicEvent('message_start', { message: { ...message, content: [], stop_reason: null } })];
    blocks.forEach((block, index) => {
      if (block.type === 'thinking') {
        frames.push(
          anthropicEvent('content_block_start', { index, content_block: { type: 'thinking', thinking: '' } }),
          anthropicEvent('content_block_delta', { index, delta: { type: 'thinking_delta', thinking: block.thinking } }),
          anthropicEvent('content_block_delta', { index, delta: { type: 'signature_delta', signature: block.signature } }));
      } else if (block.type === 'tool_use') {
        frames.push(anthropicEvent('content_block_start', { index, content_block: { ...block, input: {} } }));
        for (const part of inThirds(J(block.input))) frames.push(anthropicEvent('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: part } }));
      } else {
        frames.push(anthropicEvent('content_block_start', { index, content_block: { type: 'text', text: '' } }), anthropicEvent('ping', {}));
        for (const word of TEXT) frames.push(anthropicEvent('content_block_delta', { index, delta: { type: 'text_delta', text: word } }));
      }
      frames.push(anthropicEvent('content_block_stop', { index }));
    });
    frames.push(
      anthropicEvent('message_delta', { delta: { stop_reason: message.stop_reason, stop_sequence: null }, usage: { output_tokens: 7 } }),
      anthropicEvent('message_stop', {}));
    return streamAnswer('text/event-stream', frames);
  },
  error: (status, message) =>
    jsonAnswer(status, { type: 'error', error: { type: { 429: 'rate_limit_error', 529: 'overloaded_error', 400: 'invalid_request_error' }[status] ?? 'api_error', message } }),
  poisonBodies: [
    { type: 'message', content: 5 },
    { type: 'message', content: [5, null, 'x'] },
    { type: 'message', role: 'assistant', content: [{ type: 'text', text: 5 }], usage: { input_tokens: '7', output_tokens: [] } },
    { type: 'message', content: [{ type: 'tool_use', id: 7, name: [], input: 'x' }], stop_reason: 'tool_use' },
    { type: 'message', content: [{ type: 'thinking', thinking: 5, signature: {} }] },
    { type: 'message', content: [{ type: 'unknown_block', foo: 1 }], stop_reason: [] },
    { type: 'message', content: [{ type: 'text', text: 'ok' }], usage: null, stop_reason: 5, model: 7, id: [] },
    { type: 'error', error: 'x' },
    { type: 'error', error: { type: [], message: 5 } },
    { input_tokens: '12' },
    { input_tokens: -1 },
    [], null, 5, 'x', {},
  ],
  poisonFrames: [
    anthropicEvent('message_start', { message: [] }),
    anthropicEvent('message_start', { message: { id: 5, role: [], content: 5, usage: { input_tokens: '7', output_tokens: null } } }),
    anthropicEvent('content_block_start', { index: '0', content_block: { type: 'text', text: '' } }),
    anthropicEvent('content_block_start', { index: 0, content_block: 5 }),
    anthropicEvent('content_block_start', { index: 0, content_block: { type: 'tool_use', id: 7, name: [], input: 'x' } }),
    anthropicEvent('content_block_start', { index: 4294967295, content_block: { type: 'text', text: '' } }),
    anthropicEvent('content_block_start', { index: 1e18, content_block: { type: 'thinking', thinking: [] } }),
    anthropicEvent('content_block_delta', { index: 0, delta: null }),
    anthropicEvent('content_block_delta', { index: '0', delta: { type: 'text_delta', text: 5 } }),
    anthropicEvent('content_block_delta', { index: 99, delta: { type: 'text_delta', text: 'orphan' } }),
    anthropicEvent('content_block_delta', { index: -1, delta: [] }),
    anthropicEvent('content_block_delta', { index: 0, delta: { type: 'input_json_delta', partial_json: {} } }),
    anthropicEvent('content_block_delta', { index: 0, delta: { type: 'thinking_delta', thinking: [] } }),
    anthropicEvent('content_block_delta', { index: 0, delta: { type: 'signature_delta', signature: 5 } }),
    anthropicEvent('content_block_delta', { index: 0, delta: { type: 'text_delta', text: HUGE_TEXT } }),
    anthropicEvent('content_block_stop', { index: 'x' }),
    anthropicEvent('content_block_stop', { index: 7 }),
    anthropicEvent('message_delta', { delta: null, usage: null }),
    anthropicEvent('message_delta', { delta: { stop_reason: 5 }, usage: { output_tokens: '7' } }),
    anthropicEvent('message_stop', { extra: [] }),
    anthropicEvent('error', { error: 'overloaded' }),
    anthropicEvent('error', { error: { type: 5, message: [] } }),
    'event: message_start\ndata: 5\n\n',
    'event: content_block_delta\ndata: {\n\n',
    'event: ping\ndata: null\n\n',
    'data: {"type":"content_block_delta"}\n\n',
    'event: 5\ndata: {"type":[]}\n\n',
    'event: content_block_delta\n\n',
    ': comment only\n\n',
    'event: content_block_delta\rdata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"cr"}}\r\r',
  ].map((frame) => Buffer.from(frame)),
};

const GEMINI_POISON = [
  { candidates: {} },
  { candidates: [null, 5] },
  { candidates: [{ content: null, finishReason: 5 }] },
  { candidates: [{ content: { parts: {} } }] },
  { candidates: [{ content: { role: 5, parts: [5, null] } }] },
  { candidates: [{ content: { parts: [{ text: 5 }] } }] },
  { candidates: [{ content: { parts: [{ functionCall: { name: [], args: 'x' } }] } }] },
  { candidates: [{ content: { parts: [{ functionCall: 5 }] } }] },
  { candidates: [{ content: { parts: [{ functionCall: { name: 'get_weather', args: [] } }] } }] },
  { candidates: [{ content: { parts: [{ text: 'a', thought: 'yes', thoughtSignature: 5 }] } }] },
  { candidates: [{ content: { parts: [{ text: 'ok' }] }, finishReason: 'STOP', index: 'x' }], usageMetadata: { promptTokenCount: '7', candidatesTokenCount: [], totalTokenCount: {} } },
  { candidates: [], usageMetadata: [] },
  { promptFeedback: { blockReason: [] } },
  { promptFeedback: 5 },
  { error: { code: 'x', message: 5, status: [], details: {} } },
  { error: { code: 429, message: 'x', details: [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: 5 }, 7] } },
  [], null, 5, 'x', {},
];

const gemini = {
  context: (url, body) => ({
    stream: url.includes(':streamGenerateContent'),
    toolName: stringOrNull(body?.tools?.[0]?.functionDeclarations?.[0]?.name),
  }),
  answer(ctx, plan) {
    const answer = (parts, finish) => ({
      candidates: [{ content: { role: 'model', parts }, ...(finish ? { finishReason: 'STOP' } : {}), index: 0 }],
      usageMetadata: { promptTokenCount: 11, candidatesTokenCount: 7, totalTokenCount: 18 }, modelVersion: 'chaos-model', responseId: 'chaos-1',
    });
    const thought = plan.thinking ? [{ text: THINKING, thought: true }] : [];
    const call = plan.tool && { functionCall: { name: plan.tool.name, args: plan.tool.input }, ...(plan.thinking ? { thoughtSignature: 'c2lnbmF0dXJl' } : {}) };
    if (!ctx.stream) return jsonAnswer(200, answer([...thought, call ?? { text: TEXT.join('') }], true));
    const chunks = thought.length ? [answer(thought, false)] : [];
    if (call) chunks.push(answer([call], true));
    else TEXT.forEach((word, i) => chunks.push(answer([{ text: word }], i === TEXT.length - 1)));
    return streamAnswer('text/event-stream', chunks.map((c) => `data: ${J(c)}\r\n\r\n`));
  },
  error: (status, message, random) =>
    jsonAnswer(status, {
      error: {
        code: status, message, status: { 429: 'RESOURCE_EXHAUSTED', 400: 'INVALID_ARGUMENT', 403: 'PERMISSION_DENIED', 503: 'UNAVAILABLE' }[status] ?? 'INTERNAL',
        details: status === 429 ? [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: random.pick(['1.5s', '0s', '30s', 'soon', '-3s', '1e12s', 5]) }] : [],
      },
    }),
  poisonBodies: GEMINI_POISON,
  poisonFrames: [...GEMINI_POISON.map((p) => `data: ${J(p)}\r\n\r\n`), 'data: {\r\n\r\n', 'data: [DONE]\r\n\r\n', 'data: \r\n\r\n'].map((f) => Buffer.from(f)),
};

// AWS event-stream message: prelude (total length, headers length, prelude CRC32), headers,
// payload, message CRC32; the overrides forge broken frames.
function eventStreamMessage(headers, payload, { totalLength, headersLength, badPreludeCrc = false, badMessageCrc = false } = {}) {
  const body = Buffer.from(payload);
  const prelude = Buffer.alloc(12);
  prelude.writeUInt32BE(totalLength ?? 16 + headers.length + body.length, 0);
  prelude.writeUInt32BE(headersLength ?? headers.length, 4);
  prelude.writeUInt32BE((crc32(prelude.subarray(0, 8)) ^ (badPreludeCrc ? 1 : 0)) >>> 0, 8);
  const message = Buffer.concat([prelude, headers, body]);
  const tail = Buffer.alloc(4);
  tail.writeUInt32BE((crc32(message) ^ (badMessageCrc ? 1 : 0)) >>> 0);
  return Buffer.concat([message, tail]);
}

// One header: name length, name, value type, value (already carrying its length prefix if any).
function rawHeader(name, type, value) {
  const encodedName = Buffer.from(name);
  return Buffer.concat([Buffer.from([encodedName.length]), encodedName, Buffer.from([type]), value]);
}

function stringHeaders(headers) {
  return Buffer.concat(Object.entries(headers).map(([name, value]) => {
    const encoded = Buffer.from(value);
    const length = Buffer.alloc(2);
    length.writeUInt16BE(encoded.length);
    return rawHeader(name, 7, Buffer.concat([length, encoded]));
  }));
}

const eventHeaders = (type) => stringHeaders({ ':event-type': type, ':content-type': 'application/json', ':message-type': 'event' });
const kiroEvent = (type, payload) => eventStreamMessage(eventHeaders(type), J(payload));
const int32 = (value) => {
  const bytes = Buffer.alloc(4);
  bytes.writeInt32BE(value);
  return bytes;
};
const KIRO_CONTENT_TYPE = 'application/vnd.amazon.eventstream';

const kiro = {
  context(url, body) {
    const refresh = url.endsWith('/refreshToken');
    const userInput = body?.conversationState?.currentMessage?.userInputMessage;
    return { stream: !refresh, refresh, toolName: stringOrNull(userInput?.userInputMessageContext?.tools?.[0]?.toolSpecification?.name) };
  },
  answer(ctx, plan) {
    if (ctx.refresh) return jsonAnswer(200, { accessToken: 'kiro-token', refreshToken: 'kiro-refresh', expiresIn: 3600 });
    const frames = [];
    if (plan.tool) {
      for (const part of inThirds(J(plan.tool.input))) frames.push(kiroEvent('toolUseEvent', { name: plan.tool.name, toolUseId: plan.tool.id, input: part }));
      frames.push(kiroEvent('toolUseEvent', { name: plan.tool.name, toolUseId: plan.tool.id, stop: true }));
    } else {
      for (const word of TEXT) frames.push(kiroEvent('assistantResponseEvent', { content: word }));
    }
    frames.push(
      kiroEvent('meteringEvent', { unit: 'credit', usage: 0.01 }),
      kiroEvent('contextUsageEvent', { contextUsagePercentage: 1.5 }),
      kiroEvent('messageMetadataEvent', { tokenUsage: { uncachedInputTokens: 11, outputTokens: 7 } }));
    return streamAnswer(KIRO_CONTENT_TYPE, frames);
  },
  error(status, message, random) {
    if (status === 429 && random.chance(0.5)) {
      // Kiro also throttles inside a 200 stream, as an exception frame.
      const headers = stringHeaders({ ':message-type': 'exception', ':exception-type': 'ThrottlingException', ':content-type': 'application/json' });
      return streamAnswer(KIRO_CONTENT_TYPE, [eventStreamMessage(headers, J({ message }))]);
    }
    const type = { 429: 'ThrottlingException', 400: 'ValidationException', 403: 'AccessDeniedException' }[status] ?? 'InternalServerException';
    // This 403 text makes llmgate refresh the token (from /kiro/refreshToken, faults included).
    const text = status === 403 ? 'The bearer token included in the request is invalid.' : message;
    return jsonAnswer(status, { message: text, __type: `com.amazon.aws.codewhisperer#${type}` });
  },
  // Non-streaming Kiro answers are token refreshes.
  poisonBodies: [
    { accessToken: 5, expiresIn: 'x' },
    { accessToken: '', refreshToken: [] },
    { accessToken: 'kiro-token', expiresIn: -1 },
    { accessToken: 'kiro-token', expiresIn: 0 },
    { accessToken: 'kiro-token', expiresIn: 1e308 },
    [], null, 'x',
  ],
  poisonFrames: [
    kiroEvent('assistantResponseEvent', { content: 5 }),
    kiroEvent('assistantResponseEvent', { content: null }),
    kiroEvent('assistantResponseEvent', { content: { text: 'x' } }),
    kiroEvent('assistantResponseEvent', { content: HUGE_TEXT }),
    kiroEvent('assistantResponseEvent', []),
    kiroEvent('assistantResponseEvent', 'just a string'),
    kiroEvent('toolUseEvent', { name: [], toolUseId: 7 }),
    kiroEvent('toolUseEvent', { name: 'get_weather', toolUseId: 'tooluse_x', input: 5 }),
    kiroEvent('toolUseEvent', { name: 'get_weather', toolUseId: 'tooluse_x', input: { city: 'Paris' }, stop: 'yes' }),
    kiroEvent('toolUseEvent', { toolUseId: 'tooluse_y', input: '{"city"' }),
    kiroEvent('toolUseEvent', { stop: true }),
    kiroEvent('toolUseEvent', null),
    kiroEvent('contextUsageEvent', { contextUsagePercentage: '50' }),
    kiroEvent('contextUsageEvent', { contextUsagePercentage: 1e308 }),
    kiroEvent('contextUsageEvent', { contextUsagePercentage: -1 }),
    kiroEvent('messageMetadataEvent', { tokenUsage: [] }),
    kiroEvent('messageMetadataEvent', { tokenUsage: { uncachedInputTokens: '11', outputTokens: -5, cacheReadInputTokens: {} } }),
    eventStreamMessage(eventHeaders('assistantResponseEvent'), 'not json'),
    eventStreamMessage(eventHeaders('assistantResponseEvent'), ''),
    eventStreamMessage(stringHeaders({ ':message-type': 'exception', ':exception-type': 'ThrottlingException' }), J({ message: 5 })),
    eventStreamMessage(stringHeaders({ ':message-type': 'exception' }), 'x'),
    eventStreamMessage(stringHeaders({ ':message-type': 'error' }), ''),
    eventStreamMessage(stringHeaders({ ':message-type': 'error', ':error-code': '', ':error-message': '' }), ''),
    eventStreamMessage(Buffer.alloc(0), '{}'),
    eventStreamMessage(Buffer.concat([rawHeader(':event-type', 4, int32(5)), rawHeader(':message-type', 0, Buffer.alloc(0))]), '{}'),
    eventStreamMessage(rawHeader(':event-type', 12, Buffer.from('x')), '{}'),                          // unknown header type
    eventStreamMessage(Buffer.from([200, 0x3a]), '{}'),                                                // header name longer than the block
    eventStreamMessage(eventHeaders('assistantResponseEvent'), '{"content":"x"}', { badMessageCrc: true }),
    eventStreamMessage(eventHeaders('assistantResponseEvent'), '{"content":"x"}', { badPreludeCrc: true }),
    eventStreamMessage(eventHeaders('assistantResponseEvent'), '{"content":"x"}', { totalLength: 0xffffffff }),
    eventStreamMessage(eventHeaders('assistantResponseEvent'), '{"content":"x"}', { totalLength: 8 }),
    eventStreamMessage(eventHeaders('assistantResponseEvent'), '{"content":"x"}', { totalLength: 20 << 20 }),  // never arrives
    eventStreamMessage(eventHeaders('assistantResponseEvent'), '{"content":"x"}', { headersLength: 0xfffffff0 }),
  ],
};

const DIALECTS = { openai: openAi, anthropic, gemini, kiro };

// ---------------------------------------------------------------------------------------------
// Fault-injecting upstream

const FAULTS = weights({
  healthy: 50, delay: 7, hang: 3, resetBeforeHead: 4, resetAfterHead: 3, resetMidBody: 4, truncated: 4,
  garbage: 4, wrongTypes: 10, rateLimited: 4, errorStatus: 3, dribble: 3, empty: 1,
});

const RETRY_AFTER = [
  () => ({}),
  () => ({ 'retry-after': '0' }),
  () => ({ 'retry-after': '1' }),
  () => ({ 'retry-after': '3' }),                   // longer than retry.max_delay_ms: goes to the client
  () => ({ 'retry-after': '-5' }),
  () => ({ 'retry-after': '1.5' }),
  () => ({ 'retry-after': 'soon' }),
  () => ({ 'retry-after': '99999999999999999999999' }),
  () => ({ 'retry-after': new Date(Date.now() + 1500).toUTCString() }),
  () => ({ 'retry-after': 'Wed, 21 Oct 2015 07:28:00 GMT' }),
  () => ({ 'retry-after-ms': '800' }),
  () => ({ 'retry-after-ms': 'NaN' }),
];

const withRetryAfter = (answer, random) => ({ ...answer, headers: { ...answer.headers, ...random.pick(RETRY_AFTER)() } });

/** Every 15-40 s, 2-5 s during which 90% of requests get 429/500/503/529. */
function makeStorms(random) {
  let until = 0;
  let next = Date.now() + random.int(5000, 20000);
  return () => {
    const now = Date.now();
    if (now >= next) {
      until = now + random.int(2000, 5000);
      next = until + random.int(15000, 40000);
    }
    return now < until && random.chance(0.9) ? random.pick(STORM_STATUSES) : 0;
  };
}

/** The first n bytes of parts (n random), frame boundaries kept. */
function cutParts(parts, random) {
  const total = parts.reduce((sum, part) => sum + part.length, 0);
  let left = random.int(0, Math.max(0, total - 1));
  const kept = [];
  for (const part of parts) {
    if (left <= 0) break;
    kept.push(part.subarray(0, left));
    left -= part.length;
  }
  return kept;
}

function garbageAnswer(dialect, ctx, random, healthy) {
  const noise = random.bytes(random.int(1, 4096));
  if (!ctx.stream) return { status: 200, headers: { 'content-type': random.pick(['application/json', 'text/html', 'application/octet-stream']) }, parts: [noise] };
  const at = random.int(0, healthy.parts.length);
  const junk = dialect === kiro || random.chance(0.5) ? noise : Buffer.concat([Buffer.from('data: '), noise, Buffer.from('\n\n')]);
  return { ...healthy, parts: [...healthy.parts.slice(0, at), junk, ...(random.chance(0.5) ? healthy.parts.slice(at) : [])] };
}

function poisonedAnswer(dialect, ctx, random, healthy) {
  if (!ctx.stream) return jsonAnswer(random.chance(0.2) ? random.pick([400, 429, 500, 503]) : 200, random.pick(dialect.poisonBodies));
  const parts = [...healthy.parts];
  const count = random.chance(0.2) ? parts.length : 1;   // now and then every frame is poisoned
  for (let i = 0; i < count; i += 1) parts.splice(random.int(0, parts.length - 1), random.chance(0.5) ? 1 : 0, random.pick(dialect.poisonFrames));
  return { ...healthy, parts };
}

// An exchange is one upstream request; `closed` turns true when its socket goes away, which
// stops every timer that would write to it.
function play(exchange, answer, finish = () => exchange.res.end()) {
  if (exchange.closed) return;
  exchange.res.writeHead(answer.status, answer.headers);
  let next = 0;
  // finish() follows the last part at once: a client holding a complete body reuses the
  // connection right away, and a gap would make its next request queue behind this one.
  const step = () => {
    if (exchange.closed) return;
    if (next < answer.parts.length) exchange.res.write(answer.parts[next++]);
    if (next === answer.parts.length) finish();
    else setTimeout(step, 3);
  };
  step();
}

function dribble(exchange, answer) {
  const bytes = Buffer.concat(answer.parts);
  exchange.res.writeHead(answer.status, answer.headers);
  let sent = 0;
  const step = () => {
    if (exchange.closed) return;
    if (sent === bytes.length) {
      exchange.res.end();
      return;
    }
    exchange.res.write(bytes.subarray(sent, ++sent));
    setTimeout(step, 50);
  };
  step();
}

const after = (exchange, ms, action) => setTimeout(() => exchange.closed || action(), ms);

function inject(exchange, dialect, ctx, random, stormStatus) {
  const { req, res } = exchange;
  const healthy = () => dialect.answer(ctx, planAnswer(random, ctx));
  switch (exchange.fault) {
    case 'healthy': return play(exchange, healthy());
    case 'delay': return after(exchange, random.int(0, 3000), () => play(exchange, healthy()));
    case 'hang': return undefined;
    case 'resetBeforeHead': return req.socket?.destroy();
    case 'resetAfterHead': {
      const answer = healthy();
      res.writeHead(answer.status, answer.headers);
      res.flushHeaders();
      return after(exchange, random.int(0, 200), () => res.destroy());
    }
    case 'resetMidBody': {
      const answer = healthy();
      return play(exchange, { ...answer, parts: cutParts(answer.parts, random) }, () => after(exchange, 10, () => res.destroy()));
    }
    case 'truncated': {
      const answer = healthy();
      const headers = { ...answer.headers };
      if (random.chance(0.5)) delete headers['content-length'];   // else it still promises the whole body
      return play(exchange, { ...answer, headers, parts: cutParts(answer.parts, random) });
    }
    case 'garbage': return play(exchange, garbageAnswer(dialect, ctx, random, healthy()));
    case 'wrongTypes': return play(exchange, poisonedAnswer(dialect, ctx, random, healthy()));
    case 'rateLimited': return play(exchange, withRetryAfter(dialect.error(429, 'Rate limit reached', random), random));
    case 'errorStatus': return play(exchange, dialect.error(random.pick(ERROR_STATUSES), 'Chaos error', random));
    case 'storm': return play(exchange, withRetryAfter(dialect.error(stormStatus, 'Storm', random), random));
    case 'dribble': return dribble(exchange, healthy());
    case 'empty': return play(exchange, { status: 200, headers: { 'content-type': healthy().headers['content-type'] }, parts: [] });
    default: throw new Error(`unknown fault ${exchange.fault}`);
  }
}

function startUpstream(random, noteHarnessError) {
  const stats = { received: 0, byDialect: { openai: 0, anthropic: 0, gemini: 0, kiro: 0, other: 0 }, faults: {}, open: new Set() };
  const stormStatus = makeStorms(random);
  const server = http.createServer((req, res) => {
    stats.received += 1;
    const exchange = { req, res, closed: false, fault: 'before body' };
    stats.open.add(exchange);
    // The socket's close too: a response queued behind another one on a keep-alive connection
    // has no socket yet and never emits its own close when that connection dies.
    const { socket } = req;
    const markClosed = () => {
      exchange.closed = true;
      stats.open.delete(exchange);
    };
    socket.on('close', markClosed);
    res.on('close', () => {
      markClosed();
      socket.off('close', markClosed);
    });
    res.on('error', () => {});
    req.on('error', () => {});
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => {
      if (exchange.closed) return;
      const name = req.url.split('/')[1];
      const dialect = Object.hasOwn(DIALECTS, name) ? DIALECTS[name] : null;
      stats.byDialect[dialect ? name : 'other'] += 1;
      if (!dialect) {
        res.writeHead(404).end();
        return;
      }
      let body = null;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString());
      } catch {
        // llmgate passes some client bodies through as they are; such a request still gets an answer
      }
      const ctx = dialect.context(req.url, body);
      const storm = stormStatus();
      exchange.fault = storm ? 'storm' : random.weighted(FAULTS);
      stats.faults[exchange.fault] = (stats.faults[exchange.fault] ?? 0) + 1;
      try {
        inject(exchange, dialect, ctx, random, storm);
      } catch (error) {
        noteHarnessError(error);
        res.destroy();
      }
    });
  });
  server.requestTimeout = 0;   // a hung exchange stays open until llmgate gives up on it
  server.on('clientError', (error, socket) => socket.destroy());
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, stats, port: server.address().port })));
}

// ---------------------------------------------------------------------------------------------
// llmgate as a subprocess

const MODELS = {
  mock: ['mock'],
  'mock-slow': ['mock-slow'],
  openai: ['gpt-4o', 'gpt-4o-mini', 'o3-mini'],
  anthropic: ['claude-sonnet-4-5', 'claude-haiku-4-5'],
  gemini: ['gemini-2.5-flash', 'gemini-2.5-pro'],
  kiro: ['claude-opus-4-5', 'auto'],
};
const ROUTES = {
  'chaos-fallback': { strategy: 'ordered', targets: ['openai/gpt-4o', 'anthropic/claude-sonnet-4-5', 'gemini/gemini-2.5-flash', 'kiro/auto'] },
  'chaos-balanced': { strategy: 'least_busy', targets: ['gemini/gemini-2.5-pro', 'kiro/claude-opus-4-5', 'openai/gpt-4o-mini'] },
};
const ALIASES = { 'chaos-alias': 'anthropic/claude-haiku-4-5' };

function gatewayConfig(upstreamPort, credentials) {
  const base = `http://127.0.0.1:${upstreamPort}`;
  const resilience = {
    timeouts: { connect_ms: 1000, first_byte_ms: 2000, idle_ms: 2000, total_ms: 6000, stream_total_ms: 10000 },
    retry: { max_attempts: 2, base_delay_ms: 100, max_delay_ms: 2000 },
    breaker: { failure_threshold: 20, open_ms: 3000 },   // opens in storms, closes again within the run
  };
  return {
    server: { host: '127.0.0.1', read_timeout_ms: 10000, write_timeout_ms: 10000, drain_timeout_ms: 2000, stream_keepalive_ms: 1500 },
    log: { level: 'warn' },
    providers: [
      { name: 'mock', type: 'mock', models: MODELS.mock },
      { name: 'mock-slow', type: 'mock', models: MODELS['mock-slow'], latency_ms: 200, chunk_delay_ms: 100 },
      { name: 'openai', type: 'openai', base_url: `${base}/openai`, api_keys: ['chaos-key-1', 'chaos-key-2'], models: MODELS.openai, ...resilience },
      { name: 'anthropic', type: 'anthropic', base_url: `${base}/anthropic`, api_key: 'chaos-key', models: MODELS.anthropic, ...resilience },
      { name: 'gemini', type: 'gemini', base_url: `${base}/gemini`, api_key: 'chaos-key', models: MODELS.gemini, ...resilience },
      { name: 'kiro', type: 'kiro', base_url: `${base}/kiro`, social_refresh_url: `${base}/kiro/refreshToken`, credentials, models: MODELS.kiro, ...resilience },
    ],
    routes: ROUTES,
    aliases: ALIASES,
  };
}

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.on('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/** GET that never rejects: { status, bytes } or { error }. */
function httpGet(port, urlPath, timeoutMs) {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, agent: false, timeout: timeoutMs }, (res) => {
      let bytes = 0;
      res.on('data', (chunk) => { bytes += chunk.length; });
      res.on('end', () => resolve({ status: res.statusCode, bytes }));
      res.on('error', (error) => resolve({ error: error.message }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer in ${timeoutMs} ms`)));
    req.on('error', (error) => resolve({ error: error.message }));
  });
}

async function waitUntil(predicate, timeoutMs, intervalMs = 100) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await predicate()) return true;
    await sleep(intervalMs);
  }
  return predicate();
}

function readProcess(pid) {
  try {
    const rssKb = readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/);
    if (!rssKb) return null;   // a zombie has no VmRSS
    return { rss: Number(rssKb[1]) * 1024, fds: readdirSync(`/proc/${pid}/fd`).length };
  } catch {
    return null;
  }
}

function tailLines(file, count) {
  try {
    const fd = openSync(file, 'r');
    const { size } = fstatSync(fd);
    const length = Math.min(size, 64 * 1024);
    const buffer = Buffer.alloc(length);
    readSync(fd, buffer, 0, length, size - length);
    closeSync(fd);
    return buffer.toString('utf8').split('\n').filter((line) => line.length > 0).slice(-count);
  } catch (error) {
    return [`(cannot read ${file}: ${error.message})`];
  }
}

class GatewayProcess {
  constructor(bin, configPath, workDir, run) {
    Object.assign(this, { bin, configPath, workDir, run });
    this.port = 0;
    this.child = null;
    this.generation = 0;
    this.logPath = '';
    this.starting = false;
    this.stopping = false;
    this.restarting = null;
    this.crashes = [];
    this.shutdown = '';
    this.shutdownCrashed = false;
  }

  /** Starts llmgate on a fresh port (a restart never waits for the old one); true once /health answers. */
  async launch() {
    this.starting = true;
    this.port = await freePort();
    this.generation += 1;
    this.logPath = path.join(this.workDir, `llmgate-${this.generation}.log`);
    const log = openSync(this.logPath, 'w');
    const child = spawn(this.bin, ['--config', this.configPath, '--port', String(this.port)], { stdio: ['ignore', log, log] });
    closeSync(log);
    this.child = child;
    // A spawn that fails (ETXTBSY, ENOENT, ...) emits 'error' and never 'exit'.
    child.on('error', (error) => {
      this.spawnError = error.message;
      if (child === this.child && child.pid === undefined) this.child = null;
    });
    child.on('exit', (code, signal) => this.onExit(child, code, signal));
    // Stops waiting early if it dies (the exit handler clears this.child).
    const up = await waitUntil(async () => this.child !== child || (await httpGet(this.port, '/health', 1000)).status === 200, 10000);
    this.starting = false;
    return up && this.child === child;
  }

  onExit(child, code, signal) {
    if (child !== this.child) return;
    this.child = null;
    if (this.stopping) {
      this.shutdown = signal ? `killed by ${signal}` : `exit code ${code}`;
      // Dying of anything but our own signals, or failing, on the way out is a crash too.
      this.shutdownCrashed = signal ? !['SIGTERM', 'SIGKILL'].includes(signal) : code !== 0;
      return;
    }
    const crash = { at: this.run.elapsed(), how: signal ? `signal ${signal}` : `exit code ${code}`, log: this.logPath, tail: tailLines(this.logPath, 40) };
    this.crashes.push(crash);
    console.log(`[${crash.at.toFixed(1).padStart(6)}s] CRASH: llmgate died (${crash.how}); log ${crash.log}`);
    if (this.starting) {
      this.run.stop('llmgate died while starting');
    } else if (this.crashes.length >= MAX_CRASHES) {
      this.run.stop(`${MAX_CRASHES} crashes`);
    } else {
      this.restarting = this.launch().then((up) => up || this.run.stop(`llmgate did not come back after a crash (${this.spawnError ?? 'no /health answer in 10 s'})`));
    }
  }

  /** SIGTERM, then SIGKILL if the drain takes more than 10 s. */
  async stop() {
    await this.restarting;
    this.stopping = true;
    const child = this.child;
    if (!child) return;
    child.kill('SIGTERM');
    if (!(await waitUntil(() => this.child === null, 10000))) {
      child.kill('SIGKILL');
      await waitUntil(() => this.child === null, 2000);
      this.shutdown = `did not stop within 10 s of SIGTERM (then ${this.shutdown || 'still running after SIGKILL'})`;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Clients

const CLIENT_BEHAVIOURS = weights({
  normal: 55, abortMidBody: 4, stallBody: 1, abortAfterSend: 5, abortAfterFirstChunk: 5, abortMidStream: 5,
  slowReader: 6, malformedBody: 7, wrongTypes: 12,
});
const SLOW_READER_PAUSES = 5;   // at most 5 pauses of <= 1 s: slow, but never the cause of a HUNG

const CONFIGURED_MODELS = [...Object.values(MODELS).flat(), ...Object.keys(ROUTES), ...Object.keys(ALIASES)];
const ODD_MODELS = [
  '', ' ', 'nosuch/x-1', 'mock/', '/mock', 'a/b/c', 'm'.repeat(5000), 'modèle-ü', 'mock\u0000x', '../../etc/passwd',
  'gemini/../../openai/chat/completions', 'gemini/x:streamGenerateContent?alt=sse#', 'gemini/a b?c=d', 'kiro/x\r\nInjected: 1',
];
const TIMEOUT_HEADERS = ['1', '250', '3000', '0', '-1', 'abc', '99999999999999999999', '1e3', ''];
const PNG_DATA_URL = 'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';
const WEATHER_SCHEMA = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] };

function pickModel(random) {
  const roll = random.next();
  if (roll < 0.5) return random.pick(CONFIGURED_MODELS);
  if (roll < 0.8) return `${random.pick(Object.keys(MODELS))}/${random.pick(['x', 'm', 'model'])}-${random.int(0, 999999)}`;
  if (roll < 0.95) return `unknown-${random.int(0, 999999)}`;   // 404
  return random.pick(ODD_MODELS);
}

function openAiRequest(random, model, stream) {
  const body = { model, messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: `Chaos request ${random.int(0, 999999)}` }] };
  if (stream) body.stream = true;
  if (stream && random.chance(0.5)) body.stream_options = { include_usage: true };
  if (random.chance(0.3)) body.max_tokens = random.int(1, 64);
  if (random.chance(0.3)) {
    body.tools = [{ type: 'function', function: { name: 'get_weather', description: 'Weather by city', parameters: WEATHER_SCHEMA } }];
    if (random.chance(0.3)) body.tool_choice = random.pick(['auto', 'required', 'none', { type: 'function', function: { name: 'get_weather' } }]);
    if (random.chance(0.3)) {
      body.messages.push(
        { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
        { role: 'tool', tool_call_id: 'call_1', content: '18C' });
    }
  }
  if (random.chance(0.05)) body.messages.push({ role: 'user', content: [{ type: 'text', text: 'And this?' }, { type: 'image_url', image_url: { url: PNG_DATA_URL } }] });
  return body;
}

function anthropicRequest(random, model, stream) {
  const body = { model, max_tokens: random.int(1, 256), messages: [{ role: 'user', content: `Chaos request ${random.int(0, 999999)}` }] };
  if (random.chance(0.3)) body.system = random.chance(0.5) ? 'Be brief.' : [{ type: 'text', text: 'Be brief.' }];
  if (stream) body.stream = true;
  if (random.chance(0.3)) {
    body.tools = [{ name: 'get_weather', description: 'Weather by city', input_schema: WEATHER_SCHEMA }];
    if (random.chance(0.3)) {
      body.messages.push(
        { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: '18C' }] });
    }
  }
  if (random.chance(0.1)) Object.assign(body, { thinking: { type: 'enabled', budget_tokens: 1024 }, max_tokens: 2048 });
  return body;
}

// Each mutation replaces a whole top-level field, so any combination of them applies cleanly.
const OPENAI_WRONG_TYPES = [
  (b) => { b.messages = {}; },
  (b) => { b.messages = 'hi'; },
  (b) => { b.messages = [5, null, 'x']; },
  (b) => { b.messages = []; },
  (b) => { b.messages = [{ role: 'user', content: 5 }]; },
  (b) => { b.messages = [{ role: [], content: 'hi' }]; },
  (b) => { b.messages = [{ role: 'user', content: [{ type: 'text', text: 5 }, { type: 'image_url', image_url: 5 }, 7] }]; },
  (b) => { b.messages = [{ role: 'user', content: [{ type: 'image_url', image_url: { url: [] } }] }]; },
  (b) => { b.messages = [{ role: 'user', content: 'hi' }, { role: 'assistant', content: null, tool_calls: {} }]; },
  (b) => {
    b.messages = [{ role: 'user', content: 'hi' }, { role: 'assistant', content: null, tool_calls: [{ id: 5, type: 'function', function: { name: 'f', arguments: {} } }] },
      { role: 'tool', tool_call_id: [], content: 5 }];
  },
  (b) => { b.messages = [{ role: 'system', content: { text: 'x' } }, { role: 'user', content: null }]; },
  (b) => { b.messages = [{ role: 'user', content: 'hi' }, { role: 'assistant', reasoning_content: 5, content: [] }]; },
  (b) => { b.max_tokens = '10'; },
  (b) => { b.max_tokens = -1; },
  (b) => { b.max_completion_tokens = 1e300; },
  (b) => { b.stream = 'yes'; },
  (b) => { b.stream_options = []; },
  (b) => { b.model = 5; },
  (b) => { b.model = null; },
  (b) => { b.tools = {}; },
  (b) => { b.tools = [5, null]; },
  (b) => { b.tools = [{ type: 'function', function: { name: [], description: null, parameters: 5 } }]; },
  (b) => { b.tools = [{ type: 'function', function: { name: 'get_weather', description: null, parameters: { type: 'object', properties: [], required: 'city' } } }]; },
  (b) => { b.tools = [{ type: 'function' }]; },
  (b) => { b.tool_choice = 5; },
  (b) => { b.tool_choice = { type: 'function', function: { name: 5 } }; },
  (b) => { b.temperature = 'hot'; b.top_p = []; },
  (b) => { b.n = '2'; b.stop = 5; },
  (b) => { b.reasoning_effort = 5; },
  (b) => { b.response_format = 'json'; },
  (b) => { b.user = 5; b.metadata = 'x'; },
];

const ANTHROPIC_WRONG_TYPES = [
  (b) => { b.messages = {}; },
  (b) => { b.messages = 'hi'; },
  (b) => { b.messages = [5]; },
  (b) => { b.messages = []; },
  (b) => { b.messages = [{ role: 'user', content: 5 }]; },
  (b) => { b.messages = [{ role: 'system', content: 'hi' }]; },
  (b) => { b.messages = [{ role: 'user', content: [{ type: 'text', text: 5 }, 7, null] }]; },
  (b) => { b.messages = [{ role: 'user', content: [{ type: 'unknown_block', x: 1 }] }]; },
  (b) => { b.messages = [{ role: 'user', content: [{ type: 'image', source: 5 }] }]; },
  (b) => { b.messages = [{ role: 'user', content: [{ type: 'image', source: { type: 'base64', media_type: 5, data: [] } }] }]; },
  (b) => {
    b.messages = [{ role: 'user', content: 'hi' }, { role: 'assistant', content: [{ type: 'tool_use', id: 5, name: [], input: 'x' }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 5, content: 5 }] }];
  },
  (b) => { b.messages = [{ role: 'user', content: 'hi' }, { role: 'assistant', content: [{ type: 'thinking', thinking: 5, signature: {} }] }]; },
  (b) => { b.max_tokens = '10'; },
  (b) => { b.max_tokens = -1; },
  (b) => { b.max_tokens = null; },
  (b) => { b.system = 5; },
  (b) => { b.system = [{ type: 'text', text: 5 }, 7]; },
  (b) => { b.tools = {}; },
  (b) => { b.tools = [{ name: [], description: null, input_schema: 5 }]; },
  (b) => { b.tools = [{ name: 'get_weather', description: null }]; },
  (b) => { b.tool_choice = 'any'; },
  (b) => { b.tool_choice = { type: 5, name: [] }; },
  (b) => { b.thinking = { type: 'enabled', budget_tokens: 'x' }; },
  (b) => { b.thinking = 5; },
  (b) => { b.stream = 'yes'; },
  (b) => { b.stop_sequences = 'x'; b.temperature = []; },
  (b) => { b.metadata = 5; },
  (b) => { b.model = 5; },
];

function wronglyTyped(random, dialect, body) {
  if (random.chance(0.05)) return random.pick([[], null, 5, 'x', true, {}]);
  const mutations = dialect === 'openai' ? OPENAI_WRONG_TYPES : ANTHROPIC_WRONG_TYPES;
  for (let i = random.int(1, 3); i > 0; i -= 1) random.pick(mutations)(body);
  return body;
}

const DEPTH = 100000;
const deepValidBody = once(() => `{"model":"mock","messages":${'['.repeat(DEPTH)}${']'.repeat(DEPTH)}}`);
const deepUnclosedBody = once(() => `{"model":"mock","messages":${'[{"a":'.repeat(DEPTH)}`);
const largeBody = once(() => J({ model: 'mock', messages: [{ role: 'user', content: 'x'.repeat(1 << 20) }] }));
const oversizeBody = once(() => J({ model: 'mock', messages: [{ role: 'user', content: 'x'.repeat(11 << 20) }] }));   // > max_body_bytes

const MALFORMED_BODIES = [
  (random, text) => text.slice(0, random.int(0, text.length - 1)),
  (random, text) => `${text} trailing`,
  (random, text) => `{${text}`,
  (random, text) => text.replace(/"/g, "'"),
  () => '',
  () => 'not json at all',
  () => '{"model":"mock","messages":[{"role":"user","content":"\\u12"}]}',
  () => '{"model":"mock","messages":[{"role":"user","content":"a\u0001b"}]}',
  () => '{"model":"mock","max_tokens":NaN,"messages":[{"role":"user","content":"hi"}]}',
  () => '{"model":"mock","max_tokens":1e400,"messages":[{"role":"user","content":"\\ud800"}]}',
  () => '{"model":"mock","messages":[{"role":"user","content":"hi"}]}\u0000',
  () => Buffer.concat([Buffer.from('{"model":"mock","messages":[{"role":"user","content":"'), Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0xed, 0xa0, 0x80]), Buffer.from('"}]}')]),
  () => deepValidBody(),
  () => deepUnclosedBody(),
  (random) => random.bytes(random.int(1, 2048)),
  (random) => (random.chance(0.1) ? oversizeBody() : largeBody()),
];

const SIDE_REQUESTS = [
  ['GET', '/v1/models', {}], ['GET', '/v1/models', { 'anthropic-version': '2023-06-01' }], ['GET', '/metrics', {}],
  ['GET', '/v1/performance', {}], ['GET', '/v1/health/detailed', {}], ['GET', '/health', {}], ['GET', '/nope', {}],
  ['GET', '/v1/chat/completions', {}], ['DELETE', '/v1/messages', {}], ['POST', '/v1/chat/completions/extra', {}],
  ['POST', '/v1/messages/count_tokens', { 'anthropic-version': '2023-06-01' }],
];

/** One client request: method, path, headers, body bytes and how the client will misbehave. */
function makeRequest(random) {
  if (random.chance(0.03)) {
    const [method, urlPath, headers] = random.pick(SIDE_REQUESTS);
    const body = method === 'POST' ? Buffer.from(J(anthropicRequest(random, pickModel(random), false))) : Buffer.alloc(0);
    return { method, path: urlPath, headers: { 'content-type': 'application/json', ...headers }, body, behaviour: 'normal', model: '', stream: false };
  }
  const dialect = random.chance(0.5) ? 'openai' : 'anthropic';
  const stream = random.chance(0.5);
  const model = pickModel(random);
  const behaviour = random.weighted(CLIENT_BEHAVIOURS);
  const request = dialect === 'openai' ? openAiRequest(random, model, stream) : anthropicRequest(random, model, stream);
  let body;
  if (behaviour === 'wrongTypes') body = Buffer.from(J(wronglyTyped(random, dialect, request)));
  else if (behaviour === 'malformedBody') body = Buffer.from(random.pick(MALFORMED_BODIES)(random, J(request)));
  else body = Buffer.from(J(request));
  const headers = { 'content-type': random.chance(0.97) ? 'application/json' : 'text/plain' };
  if (dialect === 'anthropic') headers['anthropic-version'] = '2023-06-01';
  if (dialect === 'anthropic' && random.chance(0.1)) headers['anthropic-beta'] = 'chaos-2025-01-01';
  if (random.chance(0.05)) headers['x-llmgate-timeout-ms'] = random.pick(TIMEOUT_HEADERS);
  return { method: 'POST', path: dialect === 'openai' ? '/v1/chat/completions' : '/v1/messages', headers, body, behaviour, model, stream };
}

function statusClass(status) {
  if (status >= 200 && status < 300) return '2xx';
  if (status >= 400 && status < 500) return '4xx';
  if (status >= 500 && status < 600) return '5xx';
  return 'other';
}

function makeClients(random, gateway, concurrency) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const stats = {
    sent: 0, skipped: 0, inFlight: 0, classes: { '2xx': 0, '4xx': 0, '5xx': 0, other: 0 },
    aborted: 0, network: 0, networkCauses: {}, hung: 0, hungSamples: [],
  };

  function send(spec) {
    stats.sent += 1;
    stats.inFlight += 1;
    const startedAt = Date.now();
    const progress = { status: 'no answer head', bytes: 0 };
    let settled = false;
    let req = null;
    const settle = (outcome, detail) => {
      if (settled) return false;
      settled = true;
      clearTimeout(hardTimer);
      stats.inFlight -= 1;
      if (outcome === 'answered') stats.classes[statusClass(detail)] += 1;
      else if (outcome === 'aborted') stats.aborted += 1;
      else if (outcome === 'hung') stats.hung += 1;
      else {
        stats.network += 1;
        const cause = `${detail} (client ${spec.behaviour})`;  // which misbehaviour met it
        stats.networkCauses[cause] = (stats.networkCauses[cause] ?? 0) + 1;
      }
      return true;
    };
    // Only ever destroy a request that is still ours: a settled one may have handed its
    // keep-alive socket to another request already.
    const abort = () => settle('aborted') && req.destroy();
    const hardTimer = setTimeout(() => {
      if (!settle('hung')) return;
      if (stats.hungSamples.length < MAX_SAMPLES_KEPT) {
        stats.hungSamples.push(`${spec.method} ${spec.path} model=${J(spec.model.slice(0, 60))} stream=${spec.stream} client=${spec.behaviour} ` +
          `status=${progress.status} bytes=${progress.bytes} sent at ${((startedAt - gateway.run.startedAt) / 1000).toFixed(1)} s`);
      }
      req.destroy();
    }, HARD_TIMEOUT_MS);

    try {
      req = http.request({
        host: '127.0.0.1', port: gateway.port, method: spec.method, path: spec.path, agent,
        headers: { ...spec.headers, 'content-length': spec.body.length },
      }, (res) => {
        progress.status = res.statusCode;
        let chunks = 0;
        let pauses = 0;
        if (spec.behaviour === 'abortMidStream') setTimeout(abort, random.int(50, 3000));
        res.on('data', (chunk) => {
          progress.bytes += chunk.length;
          chunks += 1;
          if (chunks === 1 && spec.behaviour === 'abortAfterFirstChunk') {
            abort();
          } else if (spec.behaviour === 'slowReader' && pauses < SLOW_READER_PAUSES) {
            pauses += 1;
            res.pause();
            setTimeout(() => res.resume(), random.int(200, 1000));
          }
        });
        res.on('end', () => settle('answered', res.statusCode));
        res.on('error', (error) => settle('network', error.code ?? error.message));
        res.on('close', () => res.complete || settle('network', 'closed mid-answer'));
      });
    } catch (error) {
      settle('network', `request refused by node: ${error.code ?? error.message}`);
      return;
    }
    req.on('error', (error) => settle('network', error.code ?? error.message));
    const half = spec.body.subarray(0, Math.floor(spec.body.length / 2));
    switch (spec.behaviour) {
      case 'abortMidBody':
        req.write(half);
        setTimeout(abort, random.int(0, 50));
        break;
      case 'stallBody':   // never finishes the body: llmgate's read timeout must end it
        req.write(half);
        break;
      case 'abortAfterSend':
        req.end(spec.body);
        setTimeout(abort, random.int(0, 30));
        break;
      default:
        req.end(spec.body);
    }
  }

  return { stats, agent, send };
}

// ---------------------------------------------------------------------------------------------
// The run

const MiB = (bytes) => (bytes === undefined ? '-' : `${(bytes / (1 << 20)).toFixed(1)} MiB`);

function printReport({ options, run, clients, upstream, gateway, samples, healthProbes, metrics, openAtEnd, harnessErrors }) {
  const { stats } = clients;
  const crashCount = gateway.crashes.length + (gateway.shutdownCrashed ? 1 : 0);
  const passed = crashCount === 0 && stats.hung === 0 && harnessErrors.count === 0;
  const alive = samples.filter((s) => s.rss !== undefined);
  const start = alive[0];
  const middle = alive.find((s) => s.at >= run.loadSeconds / 2) ?? alive[Math.floor(alive.length / 2)];
  const end = samples[samples.length - 1];
  const peak = alive.reduce((max, s) => Math.max(max, s.rss), 0);
  const list = (table) => Object.entries(table).sort((a, b) => b[1] - a[1]).map(([name, n]) => `${name} ${n}`).join(', ') || 'none';
  const lines = [
    '',
    `llmgate chaos report: seed ${options.seed}, ${run.loadSeconds.toFixed(0)} s of load at ${options.rate} req/s, concurrency cap ${options.concurrency}`,
    `  binary              ${options.bin} (a copy taken at the start)`,
    ...(run.stopReason ? [`  load stopped early  ${run.stopReason}`] : []),
    `  requests sent       ${stats.sent} (not sent, concurrency cap reached: ${stats.skipped})`,
    `  answers             2xx ${stats.classes['2xx']} | 4xx ${stats.classes['4xx']} | 5xx ${stats.classes['5xx']} | other ${stats.classes.other}`,
    `  client aborts       ${stats.aborted} (intended misbehaviour)`,
    `  network errors      ${stats.network} (${list(stats.networkCauses)})`,
    `  upstream            received ${upstream.stats.received} (${list(upstream.stats.byDialect)}); still open at the end: ${openAtEnd.length}${openAtEnd.length ? ` (${list(countBy(openAtEnd))})` : ''}`,
    `  upstream faults     ${list(upstream.stats.faults)}`,
    `  gateway RSS         start ${MiB(start?.rss)} | middle ${MiB(middle?.rss)} | end ${MiB(end?.rss)} | peak ${MiB(peak)}`,
    `  gateway fds         start ${start?.fds ?? '-'} | middle ${middle?.fds ?? '-'} | end ${end?.fds ?? '-'}`,
    `  /metrics            ${metrics.status === 200 ? `${metrics.bytes} bytes` : `failed: ${metrics.error ?? `status ${metrics.status}`}`}`,
    `  health probes       ${healthProbes.failed} failed of ${healthProbes.total}`,
    `  shutdown            ${gateway.shutdown || 'not running'}`,
    `  harness errors      ${harnessErrors.count}`,
    `  CRASHES             ${crashCount}`,
    `  HUNG                ${stats.hung}`,
    `  verdict             ${passed ? 'PASS' : 'FAIL'}`,
  ];
  gateway.crashes.forEach((crash, i) => {
    lines.push('', `crash ${i + 1} at ${crash.at.toFixed(1)} s: ${crash.how}; last ${crash.tail.length} log lines of ${crash.log}:`, ...crash.tail.map((l) => `    ${l}`));
  });
  if (stats.hungSamples.length) lines.push('', `hung requests (first ${stats.hungSamples.length}):`, ...stats.hungSamples.map((s) => `    ${s}`));
  if (harnessErrors.samples.length) lines.push('', 'harness errors (the run is not trustworthy):', ...harnessErrors.samples.map((s) => `    ${s}`));
  lines.push('', `last lines of the gateway log ${gateway.logPath}:`, ...tailLines(gateway.logPath, 10).map((l) => `    ${l}`));
  console.log(lines.join('\n'));
  return passed;
}

const countBy = (exchanges) => exchanges.reduce((table, e) => ({ ...table, [e.fault]: (table[e.fault] ?? 0) + 1 }), {});

async function main() {
  const options = parseOptions(process.argv.slice(2));
  if (!existsSync(options.bin)) fail(`no llmgate binary at ${options.bin} (build it first, or pass --bin)`);

  const harnessErrors = { count: 0, samples: [] };
  const noteHarnessError = (error) => {
    harnessErrors.count += 1;
    if (harnessErrors.samples.length < MAX_SAMPLES_KEPT) harnessErrors.samples.push(String(error?.stack ?? error).split('\n').slice(0, 4).join(' | '));
  };
  // Whatever llmgate answers must not take the harness down; a bug of ours is reported instead.
  process.on('uncaughtException', noteHarnessError);
  process.on('unhandledRejection', noteHarnessError);

  const run = {
    startedAt: Date.now(),
    loadSeconds: 0,
    stopReason: '',
    elapsed: () => (Date.now() - run.startedAt) / 1000,
    stop: (reason) => { run.stopReason ||= reason; },
  };
  const workDir = mkdtempSync(path.join(tmpdir(), 'llmgate-chaos-'));
  const upstream = await startUpstream(makeRandom(options.seed * 2 + 1), noteHarnessError);
  const credentials = path.join(workDir, 'kiro-auth-token.json');
  writeFileSync(credentials, J({ accessToken: 'kiro-token', refreshToken: 'kiro-refresh', expiresAt: '2099-01-01T00:00:00.000Z', authMethod: 'social' }));
  const configPath = path.join(workDir, 'config.json');
  writeFileSync(configPath, J(gatewayConfig(upstream.port, credentials), null, 2));

  // Restarts run the binary the run started with, even if a build relinks options.bin meanwhile.
  const binary = path.join(workDir, 'llmgate');
  copyFileSync(options.bin, binary);
  chmodSync(binary, 0o755);
  const gateway = new GatewayProcess(binary, configPath, workDir, run);
  process.on('exit', () => {
    gateway.child?.kill('SIGKILL');
    rmSync(binary, { force: true });
  });
  process.on('SIGINT', () => {
    if (run.stopReason) process.exit(130);   // second Ctrl-C: give up on the report
    run.stop('interrupted');
  });
  if (!(await gateway.launch())) {
    fail(`llmgate did not start (${gateway.spawnError ?? 'no /health answer in 10 s'}); ${gateway.logPath}:\n${tailLines(gateway.logPath, 40).join('\n')}`);
  }
  console.log(`llmgate pid ${gateway.child.pid} on port ${gateway.port}, upstream on ${upstream.port}, files in ${workDir}`);
  console.log(`load: ${options.seconds} s at ${options.rate} req/s, seed ${options.seed}, concurrency cap ${options.concurrency}`);

  const clients = makeClients(makeRandom(options.seed * 2 + 2), gateway, options.concurrency);
  const samples = [];
  const healthProbes = { total: 0, failed: 0 };
  const takeSample = async () => {
    const pid = gateway.child?.pid;
    samples.push({ at: run.elapsed(), pid, ...(pid ? readProcess(pid) : null) });
    const health = await httpGet(gateway.port, '/health', 3000);
    healthProbes.total += 1;
    if (health.status !== 200) healthProbes.failed += 1;
  };
  await takeSample();
  run.startedAt = Date.now();   // load time starts now
  let sampleCount = 0;
  const sampler = setInterval(() => {
    takeSample().then(() => {
      sampleCount += 1;
      if (sampleCount % PROGRESS_EVERY_SAMPLES) return;
      const s = samples[samples.length - 1];
      const { stats } = clients;
      console.log(`[${s.at.toFixed(0).padStart(6)}s] sent ${stats.sent}, in flight ${stats.inFlight}, 2xx ${stats.classes['2xx']}, 4xx ${stats.classes['4xx']}, ` +
        `5xx ${stats.classes['5xx']}, aborts ${stats.aborted}, network errors ${stats.network}, crashes ${gateway.crashes.length}, hung ${stats.hung}, ` +
        `RSS ${MiB(s.rss)}, fds ${s.fds ?? '-'}, upstream open ${upstream.stats.open.size}`);
    }, noteHarnessError);
  }, SAMPLE_EVERY_MS);

  // Open loop: request i is due at i / rate seconds; when the cap is reached it is counted, not queued.
  const clientRandom = makeRandom(options.seed * 2 + 3);
  let launched = 0;
  await new Promise((resolve) => {
    const ticker = setInterval(() => {
      const elapsed = run.elapsed();
      if (elapsed >= options.seconds || run.stopReason) {
        clearInterval(ticker);
        resolve();
        return;
      }
      for (const due = Math.floor(elapsed * options.rate); launched < due; launched += 1) {
        if (clients.stats.inFlight >= options.concurrency) clients.stats.skipped += 1;
        else clients.send(makeRequest(clientRandom));
      }
    }, 10);
  });
  run.loadSeconds = run.elapsed();

  console.log(`load over after ${run.loadSeconds.toFixed(1)} s; waiting for ${clients.stats.inFlight} requests in flight`);
  await waitUntil(() => clients.stats.inFlight === 0, HARD_TIMEOUT_MS + 5000);
  await waitUntil(() => upstream.stats.open.size === 0, UPSTREAM_SETTLE_MS);
  const openAtEnd = [...upstream.stats.open];
  clearInterval(sampler);
  await gateway.restarting;
  await takeSample();
  const metrics = await httpGet(gateway.port, '/metrics', 10000);
  await gateway.stop();
  upstream.server.closeAllConnections();
  upstream.server.close();
  clients.agent.destroy();

  const passed = printReport({ options, run, clients, upstream, gateway, samples, healthProbes, metrics, openAtEnd, harnessErrors });
  process.exit(passed ? 0 : 1);
}

await main();
