// The official Anthropic Node SDK pointed at llmgate: (a) in front of a loopback Claude-speaking
// server it must see what it sees there directly (fast path); (b) in front of an OpenAI-speaking
// server it must get the same answers translated (text, stream, tool use round trip, errors).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import { anthropicAsk, anthropicToolRoundTrip as toolRoundTrip, startAnthropicUpstream, startGateway, startOpenAiUpstream, textOf, UPSTREAM_TEXT } from './harness.mjs';

let claudeUpstream;
let openaiUpstream;
let gateway;
let direct;
let viaGateway;

before(async () => {
  claudeUpstream = await startAnthropicUpstream();
  openaiUpstream = await startOpenAiUpstream();
  gateway = await startGateway([
    { name: 'claude', type: 'anthropic', base_url: `http://127.0.0.1:${claudeUpstream.address().port}`, api_key: 'upstream-key', models: ['claude-test'], retry: { max_attempts: 1 } },
    { name: 'gpt', type: 'openai', base_url: `http://127.0.0.1:${openaiUpstream.address().port}/v1`, api_key: 'upstream-key', models: ['gpt-test'], retry: { max_attempts: 1 } },
  ]);
  direct = new Anthropic({ apiKey: 'upstream-key', baseURL: `http://127.0.0.1:${claudeUpstream.address().port}`, maxRetries: 0 });
  viaGateway = new Anthropic({ apiKey: 'client-key-not-forwarded', baseURL: `http://127.0.0.1:${gateway.port}`, maxRetries: 0 });
});

after(async () => {
  assert.equal(await gateway.stop(), 0, 'llmgate exits 0 on SIGTERM');
  claudeUpstream.close();
  openaiUpstream.close();
});

const ask = anthropicAsk;

test('fast path: text, stream and usage are what Claude sends', async () => {
  const a = await direct.messages.create(ask('claude-test', 'Say hello'));
  const b = await viaGateway.messages.create(ask('claude-test', 'Say hello'));
  assert.equal(textOf(b), UPSTREAM_TEXT);
  assert.deepEqual(b, a);
  const sa = await direct.messages.stream(ask('claude-test', 'Say hello')).finalMessage();
  const sb = await viaGateway.messages.stream(ask('claude-test', 'Say hello')).finalMessage();
  assert.deepEqual(sb, sa);
});

test('fast path: tool use round trip, plain and streamed', async () => {
  for (const stream of [false, true]) {
    const { use, answer } = await toolRoundTrip(viaGateway, 'claude-test', stream);
    assert.equal(use.id, 'toolu_up_1');
    assert.equal(answer, 'It is 18C.');
  }
});

test('translated: an OpenAI upstream answers Anthropic clients with the same text and usage', async () => {
  const plain = await viaGateway.messages.create(ask('gpt-test', 'Say hello'));
  assert.equal(plain.type, 'message');
  assert.equal(textOf(plain), UPSTREAM_TEXT);
  assert.equal(plain.stop_reason, 'end_turn');
  assert.equal(plain.usage.input_tokens, 11);
  assert.equal(plain.usage.output_tokens, 7);
  const streamed = await viaGateway.messages.stream(ask('gpt-test', 'Say hello')).finalMessage();
  assert.equal(textOf(streamed), UPSTREAM_TEXT);
  assert.equal(streamed.stop_reason, 'end_turn');
  assert.equal(streamed.usage.output_tokens, 7);
});

test('translated: tool use round trip, plain and streamed', async () => {
  for (const stream of [false, true]) {
    const { use, answer } = await toolRoundTrip(viaGateway, 'gpt-test', stream);
    assert.equal(use.name, 'get_weather');
    assert.equal(answer, 'It is 18C.');
  }
});

test('errors surface as the SDK exception classes on both paths', async () => {
  for (const model of ['claude-test', 'gpt-test']) {
    const bad = await viaGateway.messages.create(ask(model, 'ERROR400')).catch((e) => e);
    assert.ok(bad instanceof Anthropic.BadRequestError, `${model}: ${bad?.constructor?.name}`);
  }
  const overloaded = await viaGateway.messages.create(ask('claude-test', 'OVERLOAD')).catch((e) => e);
  assert.ok(overloaded instanceof Anthropic.InternalServerError);
  assert.equal(overloaded.status, 529);
  assert.equal(overloaded.error.error.type, 'overloaded_error');
  const unknown = await viaGateway.messages.create(ask('no-such-model', 'hi')).catch((e) => e);
  assert.ok(unknown instanceof Anthropic.NotFoundError);
  assert.equal(unknown.error.error.type, 'not_found_error');
  // Last: a 429 cools that key down for the second the upstream asked for.
  for (const model of ['claude-test', 'gpt-test']) {
    const limited = await viaGateway.messages.create(ask(model, 'ERROR429')).catch((e) => e);
    assert.ok(limited instanceof Anthropic.RateLimitError, `${model}: ${limited?.constructor?.name}`);
    assert.equal(limited.status, 429);
    assert.equal(limited.error.type, 'error');
  }
});

test('count_tokens and models list', async () => {
  const counted = await viaGateway.messages.countTokens({ model: 'gpt-test', messages: [{ role: 'user', content: 'twelve chars' }] });
  assert.equal(counted.input_tokens, 3);
  const models = [];
  for await (const model of viaGateway.models.list()) models.push(model.id);
  assert.deepEqual(models.sort(), ['claude-test', 'gpt-test']);
});
