// A live /metrics after traffic of every kind passes Prometheus' own checker (promtool, from
// Debian's prometheus package), and /v1/performance answers with real figures.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import OpenAI from 'openai';
import { startGateway, startOpenAiUpstream } from './harness.mjs';

let upstream;
let gateway;
let client;

before(async () => {
  upstream = await startOpenAiUpstream();
  gateway = await startGateway([
    { name: 'mock', type: 'mock', models: ['mock'] },
    { name: 'up', type: 'openai', base_url: `http://127.0.0.1:${upstream.address().port}/v1`, api_key: 'upstream-key', models: ['gpt-test'], retry: { max_attempts: 1 } },
  ]);
  client = new OpenAI({ apiKey: 'unused', baseURL: `http://127.0.0.1:${gateway.port}/v1`, maxRetries: 0 });
});

after(async () => {
  assert.equal(await gateway.stop(), 0);
  upstream.close();
});

const havePromtool = spawnSync('promtool', ['--version']).status === 0;

test('promtool accepts a live /metrics', { skip: havePromtool ? false : 'promtool not installed (Debian package prometheus)' }, async () => {
  await client.chat.completions.create({ model: 'gpt-test', messages: [{ role: 'user', content: 'hi' }] });
  for await (const _ of await client.chat.completions.create({ model: 'mock', messages: [{ role: 'user', content: 'hi' }], stream: true })) { /* drain */ }
  await assert.rejects(client.chat.completions.create({ model: 'gpt-test', messages: [{ role: 'user', content: 'ERROR429' }] }));
  await assert.rejects(client.chat.completions.create({ model: 'unknown', messages: [{ role: 'user', content: 'hi' }] }));
  await new Promise((resolve) => setTimeout(resolve, 50));
  const text = await (await fetch(`http://127.0.0.1:${gateway.port}/metrics`)).text();
  const checked = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  assert.equal(checked.status, 0, `promtool: ${checked.stdout}${checked.stderr}`);
  assert.match(text, /llmgate_requests_total\{endpoint="chat_completions",dialect="openai",provider="up",model="gpt-test",status="4xx"\} 1/);
  assert.match(text, /llmgate_endpoint_cooling_down\{provider="up",endpoint="up#0",model="gpt-test"\} 1/);

  // A request is counted once its last byte is written, which may be just after the client read it.
  let performance;
  for (let i = 0; i < 100; i += 1) {
    performance = await (await fetch(`http://127.0.0.1:${gateway.port}/v1/performance`)).json();
    if (performance.requests === 4) break;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.equal(performance.requests, 4, JSON.stringify(performance));
  assert.equal(performance.client_errors, 2);
  assert.ok(performance.duration_ms.p99 >= performance.duration_ms.p50);
});
