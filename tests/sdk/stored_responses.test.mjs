// Conversations kept on the gateway, through the official OpenAI Node SDK: stored Responses
// (previous_response_id, responses.retrieve / delete, store: false, per gateway key), the
// x-llmgate-session window on Chat Completions and Messages, and per-route context shaping. The
// recording upstreams show what the gateway really sent.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { startGateway, startOpenAiUpstream, startAnthropicUpstream, UPSTREAM_TEXT } from './harness.mjs';

const KEY_A = 'gateway-key-a';
const KEY_B = 'gateway-key-b';

let openaiUpstream;
let anthropicUpstream;
let gateway;
let client;   // key A
let clientB;  // key B

const providers = (openaiPort, anthropicPort) => [
  { name: 'up', type: 'openai', base_url: `http://127.0.0.1:${openaiPort}/v1`, api_key: 'upstream-key', models: ['gpt-test'], retry: { max_attempts: 1 } },
  { name: 'claude', type: 'anthropic', base_url: `http://127.0.0.1:${anthropicPort}`, api_key: 'upstream-key', models: ['claude-test'], retry: { max_attempts: 1 } },
];

const openaiClient = (port, apiKey) => new OpenAI({ apiKey, baseURL: `http://127.0.0.1:${port}/v1`, maxRetries: 0 });

before(async () => {
  openaiUpstream = await startOpenAiUpstream();
  anthropicUpstream = await startAnthropicUpstream();
  gateway = await startGateway(providers(openaiUpstream.address().port, anthropicUpstream.address().port),
    { top: { auth: { api_keys: [KEY_A, KEY_B] } } });
  client = openaiClient(gateway.port, KEY_A);
  clientB = openaiClient(gateway.port, KEY_B);
});

after(async () => {
  assert.equal(await gateway.stop(), 0, 'llmgate exits 0 on SIGTERM');
  openaiUpstream.close();
  anthropicUpstream.close();
});

const upstreamFor = (model) => (model === 'gpt-test' ? openaiUpstream : anthropicUpstream);

// A message's text, whether its content is a string or a list of blocks / parts.
const flat = (content) => (typeof content === 'string' ? content : (content ?? []).map((b) => b.text ?? '').join(''));
// An upstream request's conversation as [role, text] pairs (both wire formats).
const turns = (messages) => messages.map((m) => [m.role, flat(m.content)]);
// The text of a response's message items.
const textOf = (response) => response.output.filter((item) => item.type === 'message')
  .flatMap((item) => item.content).filter((part) => part.type === 'output_text').map((part) => part.text).join('');

const RESPONSE_ID = /^resp_[0-9a-f]{32}$/;

const weather = [{ type: 'function', name: 'get_weather', description: 'Weather by city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } }];

// What a continuation from a response that is gone (or never was, or is someone else's) must be.
const previousNotFound = (error) => {
  assert.ok(error instanceof OpenAI.BadRequestError, `${error}`);
  assert.equal(error.status, 400);
  assert.equal(error.code, 'previous_response_not_found');
  assert.equal(error.param, 'previous_response_id');
  return true;
};
const notFound = (error) => {
  assert.ok(error instanceof OpenAI.NotFoundError, `${error}`);
  assert.equal(error.status, 404);
  return true;
};

for (const model of ['gpt-test', 'claude-test']) {
  test(`${model}: previous_response_id sends the stored conversation upstream, without the old instructions`, async () => {
    const upstream = upstreamFor(model);
    const first = await client.responses.create({ model, instructions: 'Answer in one line.', input: 'My name is Ada.' });
    assert.match(first.id, RESPONSE_ID);
    assert.equal(first.output_text, UPSTREAM_TEXT);
    const firstSent = upstream.received.at(-1).body;
    // The instructions did reach the upstream the first time.
    if (model === 'gpt-test') assert.deepEqual(firstSent.messages[0], { role: 'system', content: 'Answer in one line.' });
    else assert.equal(flat(firstSent.system), 'Answer in one line.');

    const { data: second, response } = await client.responses
      .create({ model, previous_response_id: first.id, input: 'What is my name?' }).withResponse();
    assert.match(second.id, RESPONSE_ID);
    assert.notEqual(second.id, first.id);
    assert.equal(second.output_text, UPSTREAM_TEXT);
    assert.equal(response.headers.get('x-llmgate-context'), 'prior_turns=1');
    const sent = upstream.received.at(-1).body;
    assert.deepEqual(turns(sent.messages), [
      ['user', 'My name is Ada.'],
      ['assistant', UPSTREAM_TEXT],
      ['user', 'What is my name?'],
    ]);
    assert.ok(!JSON.stringify(sent).includes('Answer in one line.'), `instructions carried over: ${JSON.stringify(sent)}`);
    if (model === 'claude-test') assert.equal(sent.system, undefined);

    // A chain: the third request holds both earlier turns.
    const { data: third, response: thirdHead } = await client.responses
      .create({ model, previous_response_id: second.id, input: 'And again?', instructions: 'Be kind.' }).withResponse();
    assert.equal(thirdHead.headers.get('x-llmgate-context'), 'prior_turns=2');
    assert.equal(third.output_text, UPSTREAM_TEXT);
    const thirdSent = upstream.received.at(-1).body;
    const chain = [['user', 'My name is Ada.'], ['assistant', UPSTREAM_TEXT], ['user', 'What is my name?'], ['assistant', UPSTREAM_TEXT], ['user', 'And again?']];
    if (model === 'gpt-test') assert.deepEqual(turns(thirdSent.messages), [['system', 'Be kind.'], ...chain]);
    else {
      assert.deepEqual(turns(thirdSent.messages), chain);
      assert.equal(flat(thirdSent.system), 'Be kind.');
    }
    assert.ok(!JSON.stringify(thirdSent).includes('Answer in one line.'));
  });

  test(`${model}: responses.retrieve gives back what create answered`, async () => {
    const created = await client.responses.create({ model, input: 'Say hello', max_output_tokens: 64 });
    const got = await client.responses.retrieve(created.id);
    assert.equal(got.id, created.id);
    assert.equal(got.object, 'response');
    assert.equal(got.status, 'completed');
    assert.deepEqual(got.output, created.output);
    assert.deepEqual(got.usage, created.usage);
    assert.deepEqual([got.usage.input_tokens, got.usage.output_tokens], [11, 7]);
    assert.equal(got.output_text, UPSTREAM_TEXT);
    assert.deepEqual(got, created, 'the stored object is the create answer');
  });

  test(`${model}: a streamed response is retrieved with the stream's id and item ids`, async () => {
    const stream = client.responses.stream({ model, input: 'Say hello' });
    let completed;
    for await (const event of stream) if (event.type === 'response.completed') completed = event.response;
    const final = await stream.finalResponse();
    assert.ok(completed, 'the stream ends with response.completed');
    assert.match(completed.id, RESPONSE_ID);
    assert.equal(final.id, completed.id);
    const got = await client.responses.retrieve(completed.id);
    assert.equal(got.id, completed.id);
    assert.equal(got.status, 'completed');
    assert.ok(completed.output.length > 0 && completed.output.every((item) => typeof item.id === 'string' && item.id.length > 0),
      JSON.stringify(completed.output));
    assert.deepEqual(got.output.map((item) => item.id), completed.output.map((item) => item.id));
    assert.equal(textOf(got), UPSTREAM_TEXT);
    // And it can be continued like a created one.
    await client.responses.create({ model, previous_response_id: completed.id, input: 'More.' });
    assert.deepEqual(turns(upstreamFor(model).received.at(-1).body.messages),
      [['user', 'Say hello'], ['assistant', UPSTREAM_TEXT], ['user', 'More.']]);
  });

  test(`${model}: a function call continued with previous_response_id reaches the upstream with its result`, async () => {
    const upstream = upstreamFor(model);
    const first = await client.responses.create({ model, input: 'Weather in Paris?', tools: weather });
    const call = first.output.find((item) => item.type === 'function_call');
    assert.ok(call, JSON.stringify(first.output));
    assert.equal(call.name, 'get_weather');
    assert.deepEqual(JSON.parse(call.arguments), { city: 'Paris' });
    const { data: second, response } = await client.responses.create({
      model, previous_response_id: first.id, tools: weather,
      input: [{ type: 'function_call_output', call_id: call.call_id, output: '18C' }],
    }).withResponse();
    assert.equal(response.headers.get('x-llmgate-context'), 'prior_turns=1');
    assert.equal(second.output_text, 'It is 18C.');
    const sent = upstream.received.at(-1).body;
    if (model === 'gpt-test') {
      assert.equal(sent.messages.length, 3, JSON.stringify(sent.messages));
      assert.deepEqual(turns(sent.messages.slice(0, 1)), [['user', 'Weather in Paris?']]);
      const assistant = sent.messages[1];
      assert.equal(assistant.role, 'assistant');
      assert.equal(assistant.tool_calls.length, 1);
      assert.equal(assistant.tool_calls[0].id, call.call_id);
      assert.equal(assistant.tool_calls[0].function.name, 'get_weather');
      assert.deepEqual(JSON.parse(assistant.tool_calls[0].function.arguments), { city: 'Paris' });
      assert.deepEqual(sent.messages[2], { role: 'tool', tool_call_id: call.call_id, content: '18C' });
    } else {
      assert.equal(sent.messages.length, 3, JSON.stringify(sent.messages));
      assert.deepEqual(turns(sent.messages.slice(0, 1)), [['user', 'Weather in Paris?']]);
      const [use] = sent.messages[1].content.filter((b) => b.type === 'tool_use');
      assert.equal(sent.messages[1].role, 'assistant');
      assert.equal(use.id, call.call_id);
      assert.equal(use.name, 'get_weather');
      assert.deepEqual(use.input, { city: 'Paris' });
      assert.equal(sent.messages[2].role, 'user');
      const [result] = sent.messages[2].content.filter((b) => b.type === 'tool_result');
      assert.equal(result.tool_use_id, call.call_id);
      assert.equal(flat(result.content), '18C');
    }
  });
}

test('responses.delete removes a stored response: retrieve is a 404, continuing a 400', async () => {
  const created = await client.responses.create({ model: 'gpt-test', input: 'Remember this.' });
  assert.deepEqual(await client.responses.delete(created.id), { id: created.id, object: 'response', deleted: true });
  await assert.rejects(client.responses.retrieve(created.id), notFound);
  const before = openaiUpstream.received.length;
  await assert.rejects(client.responses.create({ model: 'gpt-test', previous_response_id: created.id, input: 'Recall it.' }), previousNotFound);
  assert.equal(openaiUpstream.received.length, before, 'nothing went upstream');
  await assert.rejects(client.responses.delete(created.id), notFound, 'a second delete finds nothing');
  // An id the gateway never issued is the same 400.
  await assert.rejects(client.responses.create({ model: 'gpt-test', previous_response_id: `resp_${'0'.repeat(32)}`, input: 'x' }), previousNotFound);
});

test('store: false keeps nothing: retrieve is a 404 and it cannot be continued', async () => {
  const created = await client.responses.create({ model: 'gpt-test', input: 'Forget this.', store: false });
  assert.match(created.id, RESPONSE_ID);
  assert.equal(created.output_text, UPSTREAM_TEXT);
  await assert.rejects(client.responses.retrieve(created.id), notFound);
  await assert.rejects(client.responses.create({ model: 'gpt-test', previous_response_id: created.id, input: 'x' }), previousNotFound);
});

test('a stored response belongs to the gateway key that made it', async () => {
  const created = await client.responses.create({ model: 'gpt-test', input: 'Key A speaking.' });
  await assert.rejects(clientB.responses.retrieve(created.id), notFound);
  await assert.rejects(clientB.responses.create({ model: 'gpt-test', previous_response_id: created.id, input: 'x' }), previousNotFound);
  await assert.rejects(clientB.responses.delete(created.id), notFound);
  // Key B's attempts changed nothing for key A.
  const got = await client.responses.retrieve(created.id);
  assert.equal(got.id, created.id);
  assert.deepEqual(got.output, created.output);
  const { response } = await client.responses.create({ model: 'gpt-test', previous_response_id: created.id, input: 'Still there?' }).withResponse();
  assert.equal(response.headers.get('x-llmgate-context'), 'prior_turns=1');
  assert.deepEqual(turns(openaiUpstream.received.at(-1).body.messages),
    [['user', 'Key A speaking.'], ['assistant', UPSTREAM_TEXT], ['user', 'Still there?']]);
  // And the gateway still wants a key.
  await assert.rejects(openaiClient(gateway.port, 'not-a-gateway-key').responses.retrieve(created.id), (error) => error.status === 401);
});

test('x-llmgate-session on chat.completions keeps the conversation; the client sends only the new turn', async () => {
  const ask = (text, session, as = client) => as.chat.completions
    .create({ model: 'gpt-test', messages: [{ role: 'user', content: text }] }, { headers: { 'x-llmgate-session': session } })
    .withResponse();
  const sent = () => openaiUpstream.received.at(-1).body.messages;

  const one = await ask('One.', 'sdk-session-1');
  assert.equal(one.data.choices[0].message.content, UPSTREAM_TEXT);
  assert.equal(one.response.headers.get('x-llmgate-context'), null, 'nothing prepended to the first request');
  assert.deepEqual(turns(sent()), [['user', 'One.']]);

  const two = await ask('Two.', 'sdk-session-1');
  assert.equal(two.response.headers.get('x-llmgate-context'), 'prior_turns=1');
  assert.deepEqual(turns(sent()), [['user', 'One.'], ['assistant', UPSTREAM_TEXT], ['user', 'Two.']]);

  const three = await ask('Three.', 'sdk-session-1');
  assert.equal(three.data.choices[0].message.content, UPSTREAM_TEXT);
  assert.equal(three.response.headers.get('x-llmgate-context'), 'prior_turns=2');
  assert.deepEqual(turns(sent()), [
    ['user', 'One.'], ['assistant', UPSTREAM_TEXT],
    ['user', 'Two.'], ['assistant', UPSTREAM_TEXT],
    ['user', 'Three.'],
  ]);

  // Another session id starts empty, and so does the same id under another gateway key.
  const other = await ask('Fresh.', 'sdk-session-2');
  assert.equal(other.response.headers.get('x-llmgate-context'), null);
  assert.deepEqual(turns(sent()), [['user', 'Fresh.']]);
  const otherKey = await ask('Key B.', 'sdk-session-1', clientB);
  assert.equal(otherKey.response.headers.get('x-llmgate-context'), null);
  assert.deepEqual(turns(sent()), [['user', 'Key B.']]);

  // A session id outside [A-Za-z0-9._:-] is refused.
  await assert.rejects(ask('Bad.', 'no spaces allowed'), (error) => error.status === 400);
});

test('x-llmgate-session on /v1/messages (Anthropic SDK) keeps the conversation too', async () => {
  const anthropic = new Anthropic({ apiKey: KEY_A, baseURL: `http://127.0.0.1:${gateway.port}`, maxRetries: 0 });
  const ask = (text) => anthropic.messages
    .create({ model: 'claude-test', max_tokens: 64, messages: [{ role: 'user', content: text }] }, { headers: { 'x-llmgate-session': 'sdk-messages-1' } })
    .withResponse();
  const first = await ask('Hi.');
  assert.equal(first.response.headers.get('x-llmgate-context'), null);
  assert.equal(first.data.content[0].text, UPSTREAM_TEXT);
  const second = await ask('Hi again.');
  assert.equal(second.response.headers.get('x-llmgate-context'), 'prior_turns=1');
  assert.deepEqual(turns(anthropicUpstream.received.at(-1).body.messages),
    [['user', 'Hi.'], ['assistant', UPSTREAM_TEXT], ['user', 'Hi again.']]);
});

test('context_shaping keep_last_turns sends the system prompt and the last turn only', async () => {
  const upstream = await startOpenAiUpstream();
  const shaped = await startGateway(providers(upstream.address().port, anthropicUpstream.address().port),
    { top: { context_shaping: { 'gpt-test': { keep_last_turns: 1 } } } });
  try {
    const shapedClient = openaiClient(shaped.port, 'unused');
    const messages = [
      { role: 'system', content: 'You are terse.' },
      { role: 'user', content: 'First.' }, { role: 'assistant', content: 'A1.' },
      { role: 'user', content: 'Second.' }, { role: 'assistant', content: 'A2.' },
      { role: 'user', content: 'Third.' },
    ];
    const { data, response } = await shapedClient.chat.completions.create({ model: 'gpt-test', messages }).withResponse();
    assert.equal(data.choices[0].message.content, UPSTREAM_TEXT);
    assert.equal(response.headers.get('x-llmgate-context'), 'last_turns;dropped=2');
    assert.deepEqual(turns(upstream.received.at(-1).body.messages), [['system', 'You are terse.'], ['user', 'Third.']]);

    // Without a system prompt only the last turn goes.
    await shapedClient.chat.completions.create({ model: 'gpt-test', messages: messages.slice(1) });
    assert.deepEqual(turns(upstream.received.at(-1).body.messages), [['user', 'Third.']]);

    // A model without shaping is sent as it is.
    const { response: plain } = await shapedClient.chat.completions
      .create({ model: 'claude-test', max_tokens: 64, messages: messages.slice(1) }).withResponse();
    assert.equal(plain.headers.get('x-llmgate-context'), null);
    assert.equal(anthropicUpstream.received.at(-1).body.messages.length, 5);
  } finally {
    assert.equal(await shaped.stop(), 0);
    upstream.close();
  }
});
