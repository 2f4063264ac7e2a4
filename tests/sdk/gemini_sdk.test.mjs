// Both official SDKs through llmgate to a loopback Gemini server: text, streams, tool round trips
// and errors arrive in each SDK's own shapes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { startGateway, startGeminiUpstream, UPSTREAM_TEXT, anthropicToolRoundTrip } from './harness.mjs';

let upstream;
let gateway;
let openai;
let anthropic;

before(async () => {
  upstream = await startGeminiUpstream();
  gateway = await startGateway([
    { name: 'gemini', type: 'gemini', base_url: `http://127.0.0.1:${upstream.address().port}/v1beta`, api_key: 'upstream-key', models: ['gemini-test'], retry: { max_attempts: 1 } },
  ]);
  openai = new OpenAI({ apiKey: 'unused', baseURL: `http://127.0.0.1:${gateway.port}/v1`, maxRetries: 0 });
  anthropic = new Anthropic({ apiKey: 'unused', baseURL: `http://127.0.0.1:${gateway.port}`, maxRetries: 0 });
});

after(async () => {
  assert.equal(await gateway.stop(), 0, 'llmgate exits 0 on SIGTERM');
  upstream.close();
});

const schema = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false };

test('OpenAI SDK: text, stream with usage, tool round trip', async () => {
  const whole = await openai.chat.completions.create({ model: 'gemini-test', messages: [{ role: 'user', content: 'Say hello' }] });
  assert.equal(whole.choices[0].message.content, UPSTREAM_TEXT);
  assert.equal(whole.choices[0].finish_reason, 'stop');
  assert.deepEqual([whole.usage.prompt_tokens, whole.usage.completion_tokens], [11, 7]);

  const stream = await openai.chat.completions.create({ model: 'gemini-test', messages: [{ role: 'user', content: 'Say hello' }], stream: true, stream_options: { include_usage: true } });
  let text = '';
  let usage = null;
  let deltas = 0;
  for await (const part of stream) {
    if (part.usage) usage = part.usage;
    for (const choice of part.choices) if (choice.delta.content) { text += choice.delta.content; deltas += 1; }
  }
  assert.equal(text, UPSTREAM_TEXT);
  assert.ok(deltas > 1, 'streamed in several deltas');
  assert.equal(usage.total_tokens, 18);

  const tools = [{ type: 'function', function: { name: 'get_weather', parameters: schema } }];
  const messages = [{ role: 'user', content: 'Weather in Paris?' }];
  const call = await openai.chat.completions.create({ model: 'gemini-test', messages, tools });
  assert.equal(call.choices[0].finish_reason, 'tool_calls');
  const toolCall = call.choices[0].message.tool_calls[0];
  assert.deepEqual(JSON.parse(toolCall.function.arguments), { city: 'Paris' });
  const answer = await openai.chat.completions.create({
    model: 'gemini-test', tools,
    messages: [...messages, call.choices[0].message, { role: 'tool', tool_call_id: toolCall.id, content: '18C' }],
  });
  assert.equal(answer.choices[0].message.content, 'It is 18C.');
});

test('Anthropic SDK: text, stream, tool round trip', async () => {
  const ask = (content, extra = {}) => ({ model: 'gemini-test', max_tokens: 100, messages: [{ role: 'user', content }], ...extra });
  const whole = await anthropic.messages.create(ask('Say hello'));
  assert.equal(whole.content[0].text, UPSTREAM_TEXT);
  assert.equal(whole.stop_reason, 'end_turn');
  assert.equal(whole.usage.input_tokens, 11);

  const streamed = await anthropic.messages.stream(ask('Say hello')).finalMessage();
  assert.equal(streamed.content.map((b) => b.text ?? '').join(''), UPSTREAM_TEXT);

  for (const stream of [false, true]) {
    const { use, answer } = await anthropicToolRoundTrip(anthropic, 'gemini-test', stream);
    assert.ok(use.id);
    assert.equal(answer, 'It is 18C.');
  }
});

test('Gemini errors reach each SDK as its own error class', async () => {
  await assert.rejects(anthropic.messages.create({ model: 'gemini-test', max_tokens: 10, messages: [{ role: 'user', content: 'ERROR400' }] }),
    (error) => error instanceof Anthropic.BadRequestError && error.message.includes("Invalid 'messages'"));
  // Last: the RetryInfo delay (1.2 s) cools the key down, and is what the client is told to wait.
  await assert.rejects(openai.chat.completions.create({ model: 'gemini-test', messages: [{ role: 'user', content: 'ERROR429' }] }),
    (error) => error instanceof OpenAI.RateLimitError && error.message.includes('Rate limit reached') && error.headers.get('retry-after') === '2');
});
