// The official OpenAI Node SDK pointed at llmgate (openai provider in front of a loopback
// OpenAI-compatible server) must see exactly what it sees when pointed at that server directly.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startGateway, startOpenAiUpstream, UPSTREAM_TEXT } from './harness.mjs';

let upstream;
let gateway;
let direct;
let viaGateway;

before(async () => {
  upstream = await startOpenAiUpstream();
  gateway = await startGateway([
    { name: 'mock', type: 'mock', models: ['mock'] },
    { name: 'up', type: 'openai', base_url: `http://127.0.0.1:${upstream.address().port}/v1`, api_key: 'upstream-key', models: ['gpt-test'], retry: { max_attempts: 1 } },
  ]);
  direct = new OpenAI({ apiKey: 'upstream-key', baseURL: `http://127.0.0.1:${upstream.address().port}/v1`, maxRetries: 0 });
  viaGateway = new OpenAI({ apiKey: 'unused', baseURL: `http://127.0.0.1:${gateway.port}/v1`, maxRetries: 0 });
});

after(async () => {
  assert.equal(await gateway.stop(), 0, 'llmgate exits 0 on SIGTERM');
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
  assert.equal(b.choices[0].message.content, UPSTREAM_TEXT);
  assert.deepEqual(b.choices, a.choices);
  assert.deepEqual(b.usage, a.usage);
});

test('streamed text, finish reason and usage are identical', async () => {
  const a = await collect(direct, question);
  const b = await collect(viaGateway, question);
  assert.equal(b.text, UPSTREAM_TEXT);
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
  // The 429 last: llmgate then cools that key down for the second the upstream asked for.
  for (const [content, ErrorClass, status] of [['ERROR400', OpenAI.BadRequestError, 400], ['ERROR429', OpenAI.RateLimitError, 429]]) {
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
  const call = await viaGateway.chat.completions.stream({ model: 'mock', messages: [{ role: 'user', content: 'weather? use get_weather' }], tools }).finalChatCompletion();
  assert.deepEqual(JSON.parse(call.choices[0].message.tool_calls[0].function.arguments), { city: 'mock' });
});
