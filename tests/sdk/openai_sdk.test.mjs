// The official OpenAI Node SDK pointed at llmgate (openai provider in front of a loopback
// OpenAI-compatible server) must see exactly what it sees when pointed at that server directly.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';

const here = path.dirname(fileURLToPath(import.meta.url));
const binary = process.env.LLMGATE_BIN ?? path.join(here, '..', '..', 'build', 'llmgate');

// ---- a loopback OpenAI-compatible upstream -------------------------------------------------

const chunk = (id, delta, finish = null) => ({
  id, object: 'chat.completion.chunk', created: 1727346168, model: 'gpt-test-2024',
  choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
});

function answer(body) {
  const last = body.messages[body.messages.length - 1];
  const text = typeof last.content === 'string' ? last.content : '';
  if (text.includes('ERROR429')) {
    return { status: 429, headers: { 'retry-after': '1' },
      json: { error: { message: 'Rate limit reached for gpt-test', type: 'requests', param: null, code: 'rate_limit_exceeded' } } };
  }
  if (text.includes('ERROR400')) {
    return { status: 400, json: { error: { message: "Invalid 'messages'", type: 'invalid_request_error', param: 'messages', code: null } } };
  }
  const usage = { prompt_tokens: 11, completion_tokens: 7, total_tokens: 18 };
  if (body.tools && last.role !== 'tool') {
    const call = { id: 'call_up_1', type: 'function', function: { name: body.tools[0].function.name, arguments: '{"city":"Paris"}' } };
    return { toolCall: call, usage };
  }
  return { text: last.role === 'tool' ? `It is ${text}.` : 'Hello from the upstream, streamed in parts.', usage };
}

function startUpstream() {
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (d) => { raw += d; });
    req.on('end', () => {
      const body = JSON.parse(raw);
      const reply = answer(body);
      if (reply.status) {
        res.writeHead(reply.status, { 'content-type': 'application/json', ...(reply.headers ?? {}) });
        res.end(JSON.stringify(reply.json));
        return;
      }
      const id = 'chatcmpl-up';
      if (!body.stream) {
        const message = reply.toolCall
          ? { role: 'assistant', content: null, refusal: null, tool_calls: [reply.toolCall] }
          : { role: 'assistant', content: reply.text, refusal: null };
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ id, object: 'chat.completion', created: 1727346168, model: 'gpt-test-2024',
          choices: [{ index: 0, message, logprobs: null, finish_reason: reply.toolCall ? 'tool_calls' : 'stop' }], usage: reply.usage }));
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const events = [];
      if (reply.toolCall) {
        events.push(chunk(id, { role: 'assistant', content: null, tool_calls: [{ index: 0, id: reply.toolCall.id, type: 'function', function: { name: reply.toolCall.function.name, arguments: '' } }] }));
        for (const part of ['{"city"', ':"Par', 'is"}']) events.push(chunk(id, { tool_calls: [{ index: 0, function: { arguments: part } }] }));
        events.push(chunk(id, {}, 'tool_calls'));
      } else {
        events.push(chunk(id, { role: 'assistant', content: '' }));
        for (const word of reply.text.split(/(?= )/)) events.push(chunk(id, { content: word }));
        events.push(chunk(id, {}, 'stop'));
      }
      if (body.stream_options?.include_usage) events.push({ ...chunk(id, {}), choices: [], usage: reply.usage });
      let i = 0;
      const next = () => {
        if (i < events.length) {
          res.write(`data: ${JSON.stringify(events[i++])}\n\n`);
          setTimeout(next, 2);
        } else {
          res.end('data: [DONE]\n\n');
        }
      };
      next();
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

// ---- llmgate in front of it -------------------------------------------------------------

function startGateway(upstreamPort) {
  const dir = mkdtempSync(path.join(tmpdir(), 'llmgate-sdk-'));
  const config = path.join(dir, 'config.json');
  writeFileSync(config, JSON.stringify({
    providers: [
      { name: 'mock', type: 'mock', models: ['mock'] },
      { name: 'up', type: 'openai', base_url: `http://127.0.0.1:${upstreamPort}/v1`, api_key: 'upstream-key', models: ['gpt-test'] },
    ],
  }));
  const child = spawn(binary, ['--config', config, '--host', '127.0.0.1', '--port', '0', '--threads', '2'], { stdio: ['ignore', 'ignore', 'pipe'] });
  return new Promise((resolve, reject) => {
    let log = '';
    const timer = setTimeout(() => reject(new Error(`llmgate did not start:\n${log}`)), 10000);
    child.stderr.on('data', (d) => {
      log += d;
      const match = log.match(/listening on http:\/\/127\.0\.0\.1:(\d+)/);
      if (match) {
        clearTimeout(timer);
        resolve({ child, port: Number(match[1]) });
      }
    });
    child.on('exit', (code) => reject(new Error(`llmgate exited with ${code}:\n${log}`)));
  });
}

let upstream;
let gateway;
let direct;
let viaGateway;

before(async () => {
  upstream = await startUpstream();
  gateway = await startGateway(upstream.address().port);
  direct = new OpenAI({ apiKey: 'upstream-key', baseURL: `http://127.0.0.1:${upstream.address().port}/v1`, maxRetries: 0 });
  viaGateway = new OpenAI({ apiKey: 'unused', baseURL: `http://127.0.0.1:${gateway.port}/v1`, maxRetries: 0 });
});

after(async () => {
  const exited = new Promise((resolve) => gateway.child.on('exit', resolve));
  gateway.child.kill('SIGTERM');
  assert.equal(await exited, 0, 'llmgate exits 0 on SIGTERM');
  upstream.close();
});

const question = { model: 'gpt-test', messages: [{ role: 'user', content: 'Say hello' }] };
const tools = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } }];

async function collect(client, params) {
  const stream = await client.chat.completions.create({ ...params, stream: true, stream_options: { include_usage: true } });
  let text = '';
  let usage = null;
  let finish = null;
  for await (const part of stream) {
    if (part.usage) usage = part.usage;
    for (const choice of part.choices) {
      text += choice.delta.content ?? '';
      finish = choice.finish_reason ?? finish;
    }
  }
  return { text, usage, finish };
}

test('non-streamed text and usage are identical', async () => {
  const a = await direct.chat.completions.create(question);
  const b = await viaGateway.chat.completions.create(question);
  assert.equal(b.choices[0].message.content, 'Hello from the upstream, streamed in parts.');
  assert.deepEqual(b.choices, a.choices);
  assert.deepEqual(b.usage, a.usage);
});

test('streamed text, finish reason and usage are identical', async () => {
  const a = await collect(direct, question);
  const b = await collect(viaGateway, question);
  assert.equal(b.text, 'Hello from the upstream, streamed in parts.');
  assert.deepEqual(b, a);
  assert.equal(b.usage.total_tokens, 18);
});

test('tool calls, streamed and not, are identical', async () => {
  const params = { ...question, tools };
  const a = await direct.chat.completions.create(params);
  const b = await viaGateway.chat.completions.create(params);
  assert.deepEqual(b.choices[0].message.tool_calls, a.choices[0].message.tool_calls);
  assert.equal(b.choices[0].finish_reason, 'tool_calls');

  const streamed = async (client) => client.chat.completions.stream(params).finalChatCompletion();
  const sa = await streamed(direct);
  const sb = await streamed(viaGateway);
  assert.deepEqual(sb.choices[0].message.tool_calls, sa.choices[0].message.tool_calls);
  assert.equal(JSON.parse(sb.choices[0].message.tool_calls[0].function.arguments).city, 'Paris');
});

test('upstream errors surface as the same SDK exception classes', async () => {
  for (const [content, ErrorClass, status] of [['ERROR429', OpenAI.RateLimitError, 429], ['ERROR400', OpenAI.BadRequestError, 400]]) {
    const params = { model: 'gpt-test', messages: [{ role: 'user', content }] };
    const errA = await direct.chat.completions.create(params).catch((e) => e);
    const errB = await viaGateway.chat.completions.create(params).catch((e) => e);
    assert.ok(errB instanceof ErrorClass, `${content}: got ${errB?.constructor?.name}`);
    assert.ok(errA instanceof ErrorClass);
    assert.equal(errB.status, status);
    assert.equal(errB.message, errA.message);
    assert.equal(errB.code, errA.code);
  }
});

test('gateway errors use the SDK exception classes too', async () => {
  const unknown = await viaGateway.chat.completions.create({ ...question, model: 'no-such-model' }).catch((e) => e);
  assert.ok(unknown instanceof OpenAI.NotFoundError);
  assert.equal(unknown.code, 'model_not_found');
  const bad = await viaGateway.chat.completions.create({ model: 'mock', messages: 'not a list' }).catch((e) => e);
  assert.ok(bad instanceof OpenAI.BadRequestError);
});

test('the built-in mock works through the SDK, with tools and streaming', async () => {
  const models = await viaGateway.models.list();
  assert.deepEqual(models.data.map((m) => m.id).sort(), ['gpt-test', 'mock']);
  const text = await viaGateway.chat.completions.create({ model: 'mock', messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(text.choices[0].message.content, 'Hello from the llmgate mock provider. You said: hi');
  const streamed = await collect(viaGateway, { model: 'mock', messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(streamed.text, text.choices[0].message.content);
  assert.deepEqual(streamed.usage, text.usage);
  const call = await viaGateway.chat.completions.stream({ model: 'mock', messages: [{ role: 'user', content: 'weather?' }], tools }).finalChatCompletion();
  assert.deepEqual(JSON.parse(call.choices[0].message.tool_calls[0].function.arguments), { city: 'mock' });
});
