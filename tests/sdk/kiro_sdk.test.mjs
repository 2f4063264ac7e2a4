// Both official SDKs through llmgate to a loopback CodeWhisperer (Kiro) that answers in genuine
// AWS event-stream frames: text, streams, tool round trips and exception frames.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { startGateway, startKiroUpstream, UPSTREAM_TEXT, anthropicToolRoundTrip } from './harness.mjs';

let upstream;
let gateway;
let openai;
let anthropic;

before(async () => {
  upstream = await startKiroUpstream();
  const credentials = path.join(mkdtempSync(path.join(tmpdir(), 'llmgate-kiro-')), 'kiro-auth-token.json');
  writeFileSync(credentials, JSON.stringify({ accessToken: 'kiro-token', refreshToken: 'r', expiresAt: '2099-01-01T00:00:00.000Z', authMethod: 'social' }));
  gateway = await startGateway([
    { name: 'kiro', type: 'kiro', base_url: `http://127.0.0.1:${upstream.address().port}`, credentials, models: ['claude-sonnet-4-5'], retry: { max_attempts: 1 } },
  ]);
  openai = new OpenAI({ apiKey: 'unused', baseURL: `http://127.0.0.1:${gateway.port}/v1`, maxRetries: 0 });
  anthropic = new Anthropic({ apiKey: 'unused', baseURL: `http://127.0.0.1:${gateway.port}`, maxRetries: 0 });
});

after(async () => {
  assert.equal(await gateway.stop(), 0, 'llmgate exits 0 on SIGTERM');
  upstream.close();
});

const schema = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] };

test('Anthropic SDK: text, stream, streamed tool round trip', async () => {
  const ask = (content, extra = {}) => ({ model: 'claude-sonnet-4-5', max_tokens: 100, messages: [{ role: 'user', content }], ...extra });
  const whole = await anthropic.messages.create(ask('Say hello'));
  assert.equal(whole.content[0].text, UPSTREAM_TEXT);
  assert.equal(whole.stop_reason, 'end_turn');
  assert.deepEqual([whole.usage.input_tokens, whole.usage.output_tokens], [11, 7]);

  const stream = anthropic.messages.stream(ask('Say hello'));
  let deltas = 0;
  stream.on('text', () => { deltas += 1; });
  const streamed = await stream.finalMessage();
  assert.equal(streamed.content[0].text, UPSTREAM_TEXT);
  assert.ok(deltas > 1, 'one delta per frame');

  for (const stream of [false, true]) {
    const { use, answer } = await anthropicToolRoundTrip(anthropic, 'claude-sonnet-4-5', stream);
    assert.ok(use.id);
    assert.equal(answer, 'It is 18C.');
  }
});

test('OpenAI SDK: streamed text and a tool call', async () => {
  const stream = await openai.chat.completions.create({ model: 'claude-sonnet-4-5', messages: [{ role: 'user', content: 'Say hello' }], stream: true, stream_options: { include_usage: true } });
  let text = '';
  let usage = null;
  for await (const part of stream) {
    if (part.usage) usage = part.usage;
    for (const choice of part.choices) text += choice.delta.content ?? '';
  }
  assert.equal(text, UPSTREAM_TEXT);
  assert.equal(usage.total_tokens, 18);
  const call = await openai.chat.completions.create({ model: 'claude-sonnet-4-5', messages: [{ role: 'user', content: 'Weather?' }],
    tools: [{ type: 'function', function: { name: 'get_weather', parameters: schema } }] });
  assert.equal(call.choices[0].finish_reason, 'tool_calls');
  assert.deepEqual(JSON.parse(call.choices[0].message.tool_calls[0].function.arguments), { city: 'Paris' });
});

test('exception frames reach the SDKs as their error classes', async () => {
  await assert.rejects(anthropic.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 10, messages: [{ role: 'user', content: 'ERROR400' }] }),
    (error) => error instanceof Anthropic.BadRequestError && error.message.includes("Invalid 'messages'"));
  await assert.rejects(openai.chat.completions.create({ model: 'claude-sonnet-4-5', messages: [{ role: 'user', content: 'ERROR429' }] }),
    (error) => error instanceof OpenAI.RateLimitError && error.message.includes('Rate limit reached'));
});
