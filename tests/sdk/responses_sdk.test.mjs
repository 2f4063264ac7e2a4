// The official OpenAI Node SDK's Responses API (client.responses.create and .stream) against
// llmgate, translated to every kind of upstream: the built-in mock, an OpenAI Chat Completions
// server and an Anthropic Messages server; text, usage, streaming events and tool round trips.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startGateway, startOpenAiUpstream, startAnthropicUpstream, UPSTREAM_TEXT } from './harness.mjs';

let openaiUpstream;
let anthropicUpstream;
let gateway;
let client;

before(async () => {
  openaiUpstream = await startOpenAiUpstream();
  anthropicUpstream = await startAnthropicUpstream();
  gateway = await startGateway([
    { name: 'mock', type: 'mock', models: ['mock'] },
    { name: 'up', type: 'openai', base_url: `http://127.0.0.1:${openaiUpstream.address().port}/v1`, api_key: 'upstream-key', models: ['gpt-test'], retry: { max_attempts: 1 } },
    { name: 'claude', type: 'anthropic', base_url: `http://127.0.0.1:${anthropicUpstream.address().port}`, api_key: 'upstream-key', models: ['claude-test'], retry: { max_attempts: 1 } },
  ]);
  client = new OpenAI({ apiKey: 'unused', baseURL: `http://127.0.0.1:${gateway.port}/v1`, maxRetries: 0 });
});

after(async () => {
  assert.equal(await gateway.stop(), 0, 'llmgate exits 0 on SIGTERM');
  openaiUpstream.close();
  anthropicUpstream.close();
});

// The text of a response's message items (the SDK adds output_text to create()'s answers only).
const textOf = (response) => response.output.filter((item) => item.type === 'message')
  .flatMap((item) => item.content).filter((part) => part.type === 'output_text').map((part) => part.text).join('');

const weather = [{ type: 'function', name: 'get_weather', description: 'Weather by city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } }];

test('responses.create through the mock provider', async () => {
  const response = await client.responses.create({ model: 'mock', input: 'hi', instructions: 'Be brief.' });
  assert.equal(response.object, 'response');
  assert.equal(response.status, 'completed');
  assert.match(response.id, /^resp_/);
  assert.equal(response.output_text, 'Hello from the llmgate mock provider. You said: hi');
  assert.ok(response.usage.input_tokens > 0 && response.usage.output_tokens > 0);
  assert.equal(response.usage.total_tokens, response.usage.input_tokens + response.usage.output_tokens);
});

for (const model of ['gpt-test', 'claude-test']) {
  test(`${model}: responses.create answers with the upstream's text and usage`, async () => {
    const response = await client.responses.create({ model, input: [{ role: 'user', content: [{ type: 'input_text', text: 'Say hello' }] }], max_output_tokens: 64 });
    assert.equal(response.output_text, UPSTREAM_TEXT);
    assert.equal(response.output.length, 1);
    assert.equal(response.output[0].type, 'message');
    assert.equal(response.output[0].role, 'assistant');
    assert.deepEqual([response.usage.input_tokens, response.usage.output_tokens, response.usage.total_tokens], [11, 7, 18]);
  });

  test(`${model}: responses.stream delivers the event sequence the SDK assembles`, async () => {
    const stream = client.responses.stream({ model, input: 'Say hello' });
    const types = [];
    const sequence = [];
    let deltas = '';
    const doneItems = [];
    for await (const event of stream) {
      types.push(event.type);
      sequence.push(event.sequence_number);
      if (event.type === 'response.output_text.delta') deltas += event.delta;
      if (event.type === 'response.output_item.done') doneItems[event.output_index] = event.item;
    }
    const final = await stream.finalResponse();
    // The items as the stream finished them are the final response's output, index for index.
    assert.deepEqual(final.output.map((item) => JSON.stringify({ ...item, content: item.content?.map(({ parsed, ...part }) => part) })),
      doneItems.map((item) => JSON.stringify(item)));
    assert.equal(deltas, UPSTREAM_TEXT);
    assert.equal(textOf(final), UPSTREAM_TEXT);
    assert.equal(final.status, 'completed');
    assert.deepEqual([final.usage.input_tokens, final.usage.output_tokens], [11, 7]);
    assert.deepEqual(sequence, sequence.map((_, i) => i), 'sequence numbers count from 0 without gaps');
    assert.deepEqual(types.slice(0, 4), ['response.created', 'response.in_progress', 'response.output_item.added', 'response.content_part.added']);
    assert.deepEqual(types.slice(-4), ['response.output_text.done', 'response.content_part.done', 'response.output_item.done', 'response.completed']);
  });

  for (const stream of [false, true]) {
    test(`${model}: a function tool round trip${stream ? ', streamed' : ''}`, async () => {
      const input = [{ role: 'user', content: 'Weather in Paris?' }];
      const first = stream
        ? await client.responses.stream({ model, input, tools: weather }).finalResponse()
        : await client.responses.create({ model, input, tools: weather });
      const call = first.output.find((item) => item.type === 'function_call');
      assert.ok(call, JSON.stringify(first.output));
      assert.equal(call.name, 'get_weather');
      assert.deepEqual(JSON.parse(call.arguments), { city: 'Paris' });
      assert.equal(call.call_id, model === 'gpt-test' ? 'call_up_1' : 'toolu_up_1');
      const followUp = [...input, call, { type: 'function_call_output', call_id: call.call_id, output: '18C' }];
      const second = stream
        ? await client.responses.stream({ model, input: followUp, tools: weather }).finalResponse()
        : await client.responses.create({ model, input: followUp, tools: weather });
      assert.equal(textOf(second), 'It is 18C.');
      if (!stream) assert.equal(second.output_text, 'It is 18C.');
      // The upstream saw the call and its result in its own format.
      const upstream = model === 'gpt-test' ? openaiUpstream : anthropicUpstream;
      const sent = upstream.received.at(-1).body;
      if (model === 'gpt-test') {
        assert.equal(sent.messages.at(-2).tool_calls[0].function.name, 'get_weather');
        assert.deepEqual(sent.messages.at(-1), { role: 'tool', tool_call_id: call.call_id, content: '18C' });
        assert.equal(sent.tools[0].function.name, 'get_weather');
      } else {
        assert.equal(sent.messages.at(-2).content.find((b) => b.type === 'tool_use').name, 'get_weather');
        assert.equal(sent.messages.at(-1).content[0].type, 'tool_result');
        assert.equal(sent.tools[0].name, 'get_weather');
      }
    });
  }
}

test('instructions and input reach the upstream as system and user turns', async () => {
  await client.responses.create({ model: 'gpt-test', instructions: 'You are terse.', input: 'Say hello', temperature: 0.2 });
  const sent = openaiUpstream.received.at(-1).body;
  assert.deepEqual(sent.messages[0], { role: 'system', content: 'You are terse.' });
  assert.deepEqual(sent.messages.at(-1), { role: 'user', content: 'Say hello' });
  assert.equal(sent.temperature, 0.2);
});

test('a wrong type is a 400 naming the field; an unknown model a 404', async () => {
  await assert.rejects(client.responses.create({ model: 'mock', input: 42 }), (error) => {
    assert.equal(error.status, 400);
    assert.equal(error.param, 'input');
    return true;
  });
  await assert.rejects(client.responses.create({ model: 'mock', input: [{ role: 'user', content: [{ type: 'input_text', text: 7 }] }] }), (error) => {
    assert.equal(error.status, 400);
    assert.equal(error.param, 'input[0].content[0].text');
    return true;
  });
  await assert.rejects(client.responses.create({ model: 'no-such-model', input: 'hi' }), (error) => error.status === 404);
  await assert.rejects(client.responses.create({ model: 'mock', input: 'hi', previous_response_id: 'resp_1' }), (error) => {
    assert.equal(error.status, 400);
    assert.equal(error.param, 'previous_response_id');
    return true;
  });
});
