// Upstream traffic goes through the proxy the environment names (http_proxy and friends, read
// by libcurl), and straight to the upstream when none is named: llmgate reads the variables
// once at start instead of letting libcurl look them up on every request.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startGateway, startOpenAiUpstream, UPSTREAM_TEXT } from './harness.mjs';

const ask = (port) => fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ model: 'gpt-test', messages: [{ role: 'user', content: 'hi' }] }),
});

const withoutProxies = () => Object.fromEntries(Object.entries(process.env).filter(([name]) => !/_proxy$/i.test(name)));

test('a proxy named by http_proxy carries the upstream requests', async () => {
  const seen = [];
  const proxy = http.createServer((req, res) => {
    seen.push(req.url);
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id: 'c1', object: 'chat.completion', created: 1, model: 'gpt-test',
        choices: [{ index: 0, message: { role: 'assistant', content: 'via the proxy' }, finish_reason: 'stop' }] }));
    });
  });
  await new Promise((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const gateway = await startGateway(
    [{ name: 'up', type: 'openai', base_url: 'http://model-host.test/v1', api_key: 'k', models: ['gpt-test'], retry: { max_attempts: 1 } }],
    { env: { ...withoutProxies(), http_proxy: `http://127.0.0.1:${proxy.address().port}` } });
  try {
    for (let i = 0; i < 2; ++i) {
      const answer = await ask(gateway.port);
      assert.equal(answer.status, 200);
      assert.equal((await answer.json()).choices[0].message.content, 'via the proxy');
    }
    assert.deepEqual(seen, ['http://model-host.test/v1/chat/completions', 'http://model-host.test/v1/chat/completions'],
      'the absolute URL a proxy receives');
  } finally {
    assert.equal(await gateway.stop(), 0);
    proxy.close();
  }
});

test('without a proxy in the environment requests go straight to the upstream', async () => {
  const upstream = await startOpenAiUpstream();
  const gateway = await startGateway(
    [{ name: 'up', type: 'openai', base_url: `http://127.0.0.1:${upstream.address().port}/v1`, api_key: 'k', models: ['gpt-test'], retry: { max_attempts: 1 } }],
    { env: withoutProxies() });
  try {
    const answer = await ask(gateway.port);
    assert.equal(answer.status, 200);
    assert.equal((await answer.json()).choices[0].message.content, UPSTREAM_TEXT);
    assert.equal(upstream.received.at(-1).url, '/v1/chat/completions');
  } finally {
    assert.equal(await gateway.stop(), 0);
    upstream.close();
  }
});
