// Shared pieces of the SDK suites: loopback upstreams that speak the providers' real protocols,
// and llmgate itself started as a subprocess in front of them.
import assert from 'node:assert/strict';
import http from 'node:http';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const binary = process.env.LLMGATE_BIN ?? path.join(here, '..', '..', 'build', 'llmgate');

export const UPSTREAM_TEXT = 'Hello from the upstream, streamed in parts.';

function lastTurn(body) {
  const last = body.messages[body.messages.length - 1];
  const blocks = typeof last.content === 'string' ? [{ type: 'text', text: last.content }] : (last.content ?? []);
  const text = blocks.map((b) => b.text ?? (typeof b.content === 'string' ? b.content : '')).join('');
  const answersTool = last.role === 'tool' || blocks.some((b) => b.type === 'tool_result');
  return { text: typeof last.content === 'string' && last.role === 'tool' ? last.content : text, answersTool };
}

// What either upstream answers, independent of its wire format. When tools are offered it calls
// `toolCall` ({name, input}) if that one is offered, else the first with {city: "Paris"}.
function plan(body, offered, toolCall) {
  const { text, answersTool } = lastTurn(body);
  if (text.includes('ERROR429')) return { status: 429, kind: 'rate_limit', message: 'Rate limit reached' };
  if (text.includes('ERROR400')) return { status: 400, kind: 'invalid_request', message: "Invalid 'messages'" };
  if (text.includes('OVERLOAD')) return { status: 529, kind: 'overloaded', message: 'Overloaded' };
  if (offered.length && !answersTool) {
    const tool = toolCall && offered.includes(toolCall.name) ? toolCall : { name: offered[0], input: { city: 'Paris' } };
    return { tool: { id: 'call_up_1', ...tool } };
  }
  return { text: answersTool ? `It is ${text}.` : UPSTREAM_TEXT };
}

// A tool call's arguments as a stream sends them: the JSON text in three pieces.
function argumentPieces(input) {
  const text = JSON.stringify(input);
  const third = Math.ceil(text.length / 3);
  return [text.slice(0, third), text.slice(third, 2 * third), text.slice(2 * third)];
}

function serve(handler) {
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (d) => { raw += d; });
    req.on('end', () => {
      if (req.method === 'GET') {
        // llmgate asks keyed upstreams for their model list when a client lists models: an empty one.
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ object: 'list', data: [], models: [] }));
        return;
      }
      const body = JSON.parse(raw);
      server.received.push({ url: req.url, headers: req.headers, body });
      handler(req, body, res);
    });
  });
  server.received = [];
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

function sendEvents(res, frames) {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  let i = 0;
  const next = () => {
    if (i < frames.length) {
      res.write(frames[i++]);
      setTimeout(next, 2);
    } else {
      res.end();
    }
  };
  next();
}

/**
 * The upstreams below record every request body in `server.received` and take
 * `{ toolCall: {name, input} }` to choose the tool they call (see plan()).
 */

/** An OpenAI Chat Completions server. */
export function startOpenAiUpstream({ toolCall } = {}) {
  const chunk = (id, delta, finish = null) => ({
    id, object: 'chat.completion.chunk', created: 1727346168, model: 'gpt-test-2024',
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
  });
  return serve((req, body, res) => {
    const reply = plan(body, (body.tools ?? []).map((t) => t.function?.name), toolCall);
    if (reply.status) {
      const type = { rate_limit: 'requests', invalid_request: 'invalid_request_error', overloaded: 'server_error' }[reply.kind];
      res.writeHead(reply.status, { 'content-type': 'application/json', ...(reply.status === 429 ? { 'retry-after': '1' } : {}) });
      res.end(JSON.stringify({ error: { message: reply.message, type, param: reply.kind === 'invalid_request' ? 'messages' : null, code: reply.kind === 'rate_limit' ? 'rate_limit_exceeded' : null } }));
      return;
    }
    const usage = { prompt_tokens: 11, completion_tokens: 7, total_tokens: 18 };
    const call = reply.tool && { id: reply.tool.id, type: 'function', function: { name: reply.tool.name, arguments: JSON.stringify(reply.tool.input) } };
    const id = 'chatcmpl-up';
    if (!body.stream) {
      const message = call ? { role: 'assistant', content: null, refusal: null, tool_calls: [call] } : { role: 'assistant', content: reply.text, refusal: null };
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id, object: 'chat.completion', created: 1727346168, model: 'gpt-test-2024',
        choices: [{ index: 0, message, logprobs: null, finish_reason: call ? 'tool_calls' : 'stop' }], usage }));
      return;
    }
    const events = [];
    if (call) {
      events.push(chunk(id, { role: 'assistant', content: null, tool_calls: [{ index: 0, id: call.id, type: 'function', function: { name: call.function.name, arguments: '' } }] }));
      for (const part of argumentPieces(reply.tool.input)) events.push(chunk(id, { tool_calls: [{ index: 0, function: { arguments: part } }] }));
      events.push(chunk(id, {}, 'tool_calls'));
    } else {
      events.push(chunk(id, { role: 'assistant', content: '' }));
      for (const word of reply.text.split(/(?= )/)) events.push(chunk(id, { content: word }));
      events.push(chunk(id, {}, 'stop'));
    }
    if (body.stream_options?.include_usage) events.push({ ...chunk(id, {}), choices: [], usage });
    sendEvents(res, [...events.map((e) => `data: ${JSON.stringify(e)}\n\n`), 'data: [DONE]\n\n']);
  });
}

/** An Anthropic Messages server. */
export function startAnthropicUpstream({ toolCall } = {}) {
  return serve((req, body, res) => {
    // Current SDKs send the key as a bearer token, older ones and llmgate as x-api-key.
    if (req.headers['x-api-key'] !== 'upstream-key' && req.headers.authorization !== 'Bearer upstream-key') {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ type: 'error', error: { type: 'authentication_error', message: 'invalid x-api-key' } }));
      return;
    }
    const reply = plan(body, (body.tools ?? []).map((t) => t.name), toolCall);
    if (reply.status) {
      const type = { rate_limit: 'rate_limit_error', invalid_request: 'invalid_request_error', overloaded: 'overloaded_error' }[reply.kind];
      res.writeHead(reply.status, { 'content-type': 'application/json', ...(reply.status === 429 ? { 'retry-after': '1' } : {}) });
      res.end(JSON.stringify({ type: 'error', error: { type, message: reply.message } }));
      return;
    }
    const block = reply.tool ? { type: 'tool_use', id: 'toolu_up_1', name: reply.tool.name, input: reply.tool.input } : { type: 'text', text: reply.text };
    const usage = { input_tokens: 11, output_tokens: 7, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 };
    const message = { id: 'msg_up_1', type: 'message', role: 'assistant', model: body.model, content: [block],
      stop_reason: reply.tool ? 'tool_use' : 'end_turn', stop_sequence: null, usage };
    if (!body.stream) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(message));
      return;
    }
    const frame = (type, data) => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
    const frames = [frame('message_start', { message: { ...message, content: [], stop_reason: null, usage: { ...usage, output_tokens: 1 } } })];
    if (reply.tool) {
      frames.push(frame('content_block_start', { index: 0, content_block: { ...block, input: {} } }));
      for (const part of ['', ...argumentPieces(reply.tool.input)]) frames.push(frame('content_block_delta', { index: 0, delta: { type: 'input_json_delta', partial_json: part } }));
    } else {
      frames.push(frame('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }));
      frames.push(frame('ping', {}));
      for (const word of reply.text.split(/(?= )/)) frames.push(frame('content_block_delta', { index: 0, delta: { type: 'text_delta', text: word } }));
    }
    frames.push(frame('content_block_stop', { index: 0 }));
    frames.push(frame('message_delta', { delta: { stop_reason: message.stop_reason, stop_sequence: null }, usage: { output_tokens: 7 } }));
    frames.push(frame('message_stop', {}));
    sendEvents(res, frames);
  });
}

/** A Gemini generateContent / streamGenerateContent?alt=sse server (x-goog-api-key auth). */
export function startGeminiUpstream() {
  return serve((req, body, res) => {
    const match = req.url.match(/^\/v1beta\/models\/([^:]+):(generateContent|streamGenerateContent\?alt=sse)$/);
    if (!match || req.headers['x-goog-api-key'] !== 'upstream-key') {
      res.writeHead(match ? 400 : 404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 400, message: 'API key not valid. Please pass a valid API key.', status: 'INVALID_ARGUMENT' } }));
      return;
    }
    // The gateway's translation, read back into the shape plan() understands.
    const last = body.contents[body.contents.length - 1];
    const result = last.parts.find((p) => p.functionResponse)?.functionResponse.response.result;
    const text = last.parts.map((p) => p.text ?? '').join('');
    const messages = [{ role: result ? 'tool' : 'user', content: result ?? text }];
    const reply = plan({ messages }, (body.tools?.[0]?.functionDeclarations ?? []).map((d) => d.name));
    if (reply.status) {
      const status = { rate_limit: 'RESOURCE_EXHAUSTED', invalid_request: 'INVALID_ARGUMENT', overloaded: 'UNAVAILABLE' }[reply.kind];
      const details = reply.status === 429 ? [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '1.2s' }] : [];
      res.writeHead(reply.status === 529 ? 503 : reply.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: reply.status, message: reply.message, status, details } }));
      return;
    }
    const usageMetadata = { promptTokenCount: 11, candidatesTokenCount: 7, totalTokenCount: 18 };
    const answer = (parts, finish) => ({
      candidates: [{ content: { role: 'model', parts }, ...(finish ? { finishReason: 'STOP' } : {}), index: 0 }],
      usageMetadata, modelVersion: match[1], responseId: 'gemini-resp-1',
    });
    const call = reply.tool && { functionCall: { name: reply.tool.name, args: reply.tool.input } };
    if (match[2] === 'generateContent') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(answer(call ? [call] : [{ text: reply.text }], true)));
      return;
    }
    const chunks = call ? [answer([call], true)] : reply.text.split(/(?= )/).map((word, i, all) => answer([{ text: word }], i === all.length - 1));
    sendEvents(res, chunks.map((c) => `data: ${JSON.stringify(c)}\r\n\r\n`));
  });
}

// One AWS event-stream message (big-endian lengths, zlib CRC32s) with string headers.
function awsFrame(headers, payload) {
  const encoded = Buffer.concat(Object.entries(headers).map(([name, value]) => {
    const n = Buffer.from(name);
    const v = Buffer.from(value);
    const length = Buffer.alloc(2);
    length.writeUInt16BE(v.length);
    return Buffer.concat([Buffer.from([n.length]), n, Buffer.from([7]), length, v]);
  }));
  const body = Buffer.from(payload);
  const prelude = Buffer.alloc(12);
  prelude.writeUInt32BE(16 + encoded.length + body.length, 0);
  prelude.writeUInt32BE(encoded.length, 4);
  prelude.writeUInt32BE(crc32(prelude.subarray(0, 8)), 8);
  const message = Buffer.concat([prelude, encoded, body]);
  const tail = Buffer.alloc(4);
  tail.writeUInt32BE(crc32(message));
  return Buffer.concat([message, tail]);
}

const kiroEvent = (type, payload) => awsFrame({ ':event-type': type, ':content-type': 'application/json', ':message-type': 'event' }, JSON.stringify(payload));

/** A CodeWhisperer generateAssistantResponse server answering in genuine event-stream frames. */
export function startKiroUpstream({ toolCall } = {}) {
  return serve((req, body, res) => {
    if (req.url !== '/generateAssistantResponse' || req.headers.authorization !== 'Bearer kiro-token') {
      res.writeHead(403, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ message: 'The bearer token included in the request is invalid.', reason: null }));
      return;
    }
    const current = body.conversationState.currentMessage.userInputMessage;
    const context = current.userInputMessageContext ?? {};
    const result = context.toolResults?.[0]?.content?.[0]?.text;
    const messages = [{ role: result ? 'tool' : 'user', content: result ?? current.content }];
    const reply = plan({ messages }, (context.tools ?? []).map((t) => t.toolSpecification?.name), toolCall);
    const frames = [];
    if (reply.status === 429) {
      frames.push(awsFrame({ ':exception-type': 'ThrottlingException', ':content-type': 'application/json', ':message-type': 'exception' },
        JSON.stringify({ message: reply.message })));
    } else if (reply.status) {
      frames.push(awsFrame({ ':exception-type': 'ValidationException', ':content-type': 'application/json', ':message-type': 'exception' },
        JSON.stringify({ message: reply.message })));
    } else if (reply.tool) {
      const input = JSON.stringify(reply.tool.input);
      for (const part of [input.slice(0, 5), input.slice(5)]) frames.push(kiroEvent('toolUseEvent', { name: reply.tool.name, toolUseId: 'tooluse_up_1', input: part }));
      frames.push(kiroEvent('toolUseEvent', { name: reply.tool.name, toolUseId: 'tooluse_up_1', stop: true }));
    } else {
      for (const word of reply.text.split(/(?= )/)) frames.push(kiroEvent('assistantResponseEvent', { content: word }));
    }
    frames.push(kiroEvent('messageMetadataEvent', { tokenUsage: { uncachedInputTokens: 11, outputTokens: 7 } }));
    res.writeHead(200, { 'content-type': 'application/vnd.amazon.eventstream' });
    let i = 0;
    const next = () => (i < frames.length ? (res.write(frames[i++]), setTimeout(next, 2)) : res.end());
    next();
  });
}

const weatherTools = [{ name: 'get_weather', description: 'Weather by city', input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } }];
export const anthropicAsk = (model, content, extra = {}) => ({ model, max_tokens: 256, messages: [{ role: 'user', content }], ...extra });
export const textOf = (message) => message.content.filter((b) => b.type === 'text').map((b) => b.text).join('');

/** With the Anthropic SDK: the model calls get_weather for Paris, gets "18C" back, and answers. */
export async function anthropicToolRoundTrip(client, model, stream) {
  const first = anthropicAsk(model, 'Weather in Paris?', { tools: weatherTools });
  const call = stream ? await client.messages.stream(first).finalMessage() : await client.messages.create(first);
  assert.equal(call.stop_reason, 'tool_use');
  const use = call.content.find((b) => b.type === 'tool_use');
  assert.deepEqual(use.input, { city: 'Paris' });
  const second = {
    ...first,
    messages: [...first.messages, { role: 'assistant', content: call.content },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: '18C' }] }],
  };
  const answer = stream ? await client.messages.stream(second).finalMessage() : await client.messages.create(second);
  return { use, answer: textOf(answer) };
}

/**
 * Runs a client CLI (Claude Code, Codex) to its end; resolves to { code, stdout, stderr }. Killed
 * after 90 s, so that a hung run fails its test instead of the suite.
 */
export function runCli(binary, args, { cwd, env }) {
  const child = spawn(binary, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => { stdout += d; });
  child.stderr.on('data', (d) => { stderr += d; });
  const killer = setTimeout(() => child.kill('SIGKILL'), 90000);
  return new Promise((resolve) => child.on('close', (code) => {
    clearTimeout(killer);
    resolve({ code, stdout, stderr });
  }));
}

/**
 * Starts llmgate on a free port with `providers`; resolves to { child, port, config, log(), logged(pattern), stop() }
 * (`config`: the path of the config file it reads, for reload tests).
 * `server` is merged into the config's server block; `top` into the top level (auth,
 * context_shaping, conversations, ...); `openFilesLimit` starts it under that RLIMIT_NOFILE
 * (soft and hard).
 */
export function startGateway(providers, { server, top, openFilesLimit, env } = {}) {
  const dir = mkdtempSync(path.join(tmpdir(), 'llmgate-sdk-'));
  const config = path.join(dir, 'config.json');
  writeFileSync(config, JSON.stringify({ ...top, ...(server ? { server } : {}), providers }));
  const args = ['--config', config, '--host', '127.0.0.1', '--port', '0', '--threads', '2'];
  const child = openFilesLimit
    ? spawn('sh', ['-c', `ulimit -n ${openFilesLimit} && exec "$0" "$@"`, binary, ...args], { stdio: ['ignore', 'ignore', 'pipe'], env: env ?? process.env })
    : spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe'], env: env ?? process.env });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  return new Promise((resolve, reject) => {
    let log = '';
    const timer = setTimeout(() => reject(new Error(`llmgate did not start:\n${log}`)), 10000);
    child.stderr.on('data', (d) => {
      log += d;
      const match = log.match(/listening on http:\/\/127\.0\.0\.1:(\d+)/);
      if (match) {
        clearTimeout(timer);
        // Access lines are written in batches every 200 ms: logged() waits for a line to come.
        const logged = async (pattern, limitMs = 5000) => {
          const end = Date.now() + limitMs;
          while (!pattern.test(log) && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
          return log;
        };
        resolve({ child, port: Number(match[1]), config, log: () => log, logged, stop: () => { child.kill('SIGTERM'); return exited; } });
      }
    });
    child.on('exit', (code) => reject(new Error(`llmgate exited with ${code}:\n${log}`)));
  });
}
