// Named gateway keys (auth.keys / auth.keys_file) through the official OpenAI and Anthropic Node
// SDKs: requests per minute with the x-ratelimit-* headers and a 429 the SDKs understand, the
// models a key may use, keys added and revoked by a reload, and limits shared by two llmgate
// processes through one real redis-server (and kept serving when it dies).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { startGateway, anthropicAsk } from './harness.mjs';

const base = (port) => `http://127.0.0.1:${port}`;
const openaiClient = (port, apiKey) => new OpenAI({ apiKey, baseURL: `${base(port)}/v1`, maxRetries: 0, timeout: 10000 });
const anthropicClient = (port, apiKey) => new Anthropic({ apiKey, baseURL: base(port), maxRetries: 0, timeout: 10000 });
const ask = (model = 'mock') => ({ model, messages: [{ role: 'user', content: 'hi' }] });

// One Chat Completions request with fetch; resolves to the status (the body is read and dropped).
async function chat(port, key, model = 'mock') {
  const answer = await fetch(`${base(port)}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify(ask(model)),
    signal: AbortSignal.timeout(10000),
  });
  await answer.arrayBuffer();
  return answer.status;
}

async function detailedHealth(port, key) {
  const answer = await fetch(`${base(port)}/v1/health/detailed`, {
    headers: { authorization: `Bearer ${key}` }, signal: AbortSignal.timeout(10000),
  });
  return { status: answer.status, body: await answer.json() };
}

// Generous: the suites run in parallel with CLI tests that load both cores.
async function until(condition, what, limitMs = 15000) {
  const end = Date.now() + limitMs;
  while (Date.now() < end) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.fail(`timed out waiting for ${what}`);
}

// What the SDKs must have thrown: the class, the status and (OpenAI) the error code.
const rejected = (Class, status, code) => (error) => {
  assert.ok(error instanceof Class, `expected ${Class.name}, got ${error}`);
  assert.equal(error.status, status);
  if (code !== undefined) assert.equal(error.code, code);
  return true;
};

const mockProviders = [
  { name: 'mock', type: 'mock', models: ['mock'] },
  { name: 'mock-other', type: 'mock', models: ['other'] },
];

test('rpm: x-ratelimit-* on the answers, then a 429 the OpenAI SDK reads as RateLimitError', { timeout: 60000 }, async () => {
  const gateway = await startGateway(mockProviders, { top: { auth: { keys: [{ name: 'team-a', key: 'sk-team-a', rpm: 2 }] } } });
  try {
    const client = openaiClient(gateway.port, 'sk-team-a');
    for (const remaining of ['1', '0']) {
      const { data, response } = await client.chat.completions.create(ask()).withResponse();
      assert.equal(response.status, 200);
      assert.equal(data.object, 'chat.completion');
      assert.ok(data.choices[0].message.content.length > 0);
      assert.equal(response.headers.get('x-ratelimit-limit-requests'), '2');
      assert.equal(response.headers.get('x-ratelimit-remaining-requests'), remaining);
      assert.ok(response.headers.get('x-ratelimit-reset-requests'), 'x-ratelimit-reset-requests is sent');
    }
    let thrown;
    await assert.rejects(client.chat.completions.create(ask()), (error) => {
      thrown = error;
      return rejected(OpenAI.RateLimitError, 429, 'rate_limit_exceeded')(error);
    });
    const retryAfter = thrown.headers.get('retry-after');
    const retryAfterMs = thrown.headers.get('retry-after-ms');
    assert.match(retryAfter ?? '', /^\d+$/, 'retry-after in whole seconds');
    assert.ok(Number(retryAfter) >= 1 && Number(retryAfter) <= 60, `retry-after ${retryAfter}`);
    assert.match(retryAfterMs ?? '', /^\d+(\.\d+)?$/, 'retry-after-ms');
    assert.ok(Number(retryAfterMs) > 0 && Number(retryAfterMs) <= 60000, `retry-after-ms ${retryAfterMs}`);
    assert.equal(thrown.headers.get('x-ratelimit-remaining-requests'), '0');
    await gateway.logged(/key=team-a/);
    assert.doesNotMatch(gateway.log(), /sk-team-a/, 'the key itself is never logged');
  } finally {
    assert.equal(await gateway.stop(), 0, 'llmgate exits 0 on SIGTERM');
  }
});

test('models: a model the key may not use is 403 on /v1/messages and 404 on the OpenAI endpoints', { timeout: 60000 }, async () => {
  const keys = [{ name: 'mock-only', key: 'sk-mock-only', models: ['mock'] }, { name: 'any', key: 'sk-any' }];
  const gateway = await startGateway(mockProviders, { top: { auth: { keys } } });
  try {
    const anthropic = anthropicClient(gateway.port, 'sk-mock-only');
    const message = await anthropic.messages.create(anthropicAsk('mock', 'hi'));
    assert.equal(message.type, 'message');
    assert.ok(message.content.length > 0);
    await assert.rejects(anthropic.messages.create(anthropicAsk('other', 'hi')), rejected(Anthropic.PermissionDeniedError, 403));

    const openai = openaiClient(gateway.port, 'sk-mock-only');
    assert.equal((await openai.chat.completions.create(ask('mock'))).object, 'chat.completion');
    await assert.rejects(openai.chat.completions.create(ask('other')), rejected(OpenAI.NotFoundError, 404, 'model_not_found'));

    // "other" does route: a key without a models list gets it.
    assert.equal((await openaiClient(gateway.port, 'sk-any').chat.completions.create(ask('other'))).object, 'chat.completion');
    assert.equal((await anthropicClient(gateway.port, 'sk-any').messages.create(anthropicAsk('other', 'hi'))).type, 'message');
  } finally {
    assert.equal(await gateway.stop(), 0, 'llmgate exits 0 on SIGTERM');
  }
});

test('keys_file: SIGHUP adds a key and revokes another without a restart', { timeout: 60000 }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'llmgate-keys-'));
  const keysFile = path.join(dir, 'keys.json');
  writeFileSync(keysFile, JSON.stringify({ keys: [{ name: 'a', key: 'sk-file-a' }] }));
  const gateway = await startGateway(mockProviders, { top: { auth: { keys_file: keysFile } } });
  const reloaded = (generation) => gateway.logged(new RegExp(`SIGHUP: config reloaded from .*: generation ${generation}\\b`), 15000)
    .then((log) => assert.match(log, new RegExp(`SIGHUP: config reloaded from .*: generation ${generation}\\b`), `reload to generation ${generation}`));
  try {
    const clientA = openaiClient(gateway.port, 'sk-file-a');
    const clientB = openaiClient(gateway.port, 'sk-file-b');
    assert.equal((await clientA.chat.completions.create(ask())).object, 'chat.completion');
    await assert.rejects(clientB.chat.completions.create(ask()), rejected(OpenAI.AuthenticationError, 401));

    // A list works as well as {"keys": [...]}.
    writeFileSync(keysFile, JSON.stringify([{ name: 'a', key: 'sk-file-a' }, { name: 'b', key: 'sk-file-b' }]));
    gateway.child.kill('SIGHUP');
    await reloaded(2);
    assert.equal((await clientB.chat.completions.create(ask())).object, 'chat.completion');
    assert.equal((await clientA.chat.completions.create(ask())).object, 'chat.completion');

    writeFileSync(keysFile, JSON.stringify({ keys: [{ name: 'a', key: 'sk-file-a', disabled: true }, { name: 'b', key: 'sk-file-b' }] }));
    gateway.child.kill('SIGHUP');
    await reloaded(3);
    await assert.rejects(clientA.chat.completions.create(ask()), rejected(OpenAI.AuthenticationError, 401, 'invalid_api_key'));
    await assert.rejects(anthropicClient(gateway.port, 'sk-file-a').messages.create(anthropicAsk('mock', 'hi')),
      rejected(Anthropic.AuthenticationError, 401));
    assert.equal((await clientB.chat.completions.create(ask())).object, 'chat.completion');
    assert.equal((await detailedHealth(gateway.port, 'sk-file-b')).body.config.generation, 3);
  } finally {
    assert.equal(await gateway.stop(), 0, 'llmgate exits 0 on SIGTERM');
  }
});

// A TCP port nobody listens on right now.
function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

const accepts = (port) => new Promise((resolve) => {
  const socket = net.connect(port, '127.0.0.1');
  socket.setTimeout(1000);
  socket.on('connect', () => { socket.destroy(); resolve(true); });
  socket.on('error', () => resolve(false));
  socket.on('timeout', () => { socket.destroy(); resolve(false); });
});

// A throwaway redis-server on loopback, without persistence; resolves to { port, kill(signal) }.
async function startRedis() {
  const probe = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    assert.fail(`redis-server is not installed or does not run (${probe.error?.message ?? probe.stderr}): `
      + 'install the Debian package redis-server, a declared dependency of these tests');
  }
  const port = await freePort();
  const dir = mkdtempSync(path.join(tmpdir(), 'llmgate-redis-'));
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout.on('data', (d) => { log += d; });
  child.stderr.on('data', (d) => { log += d; });
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve(signal ?? code)));
  const kill = (signal = 'SIGTERM') => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    return exited;
  };
  try {
    await until(async () => {
      if (child.exitCode !== null) assert.fail(`redis-server exited with ${child.exitCode}:\n${log}`);
      return accepts(port);
    }, `redis-server to accept connections on ${port}`, 10000);
  } catch (error) {
    await kill('SIGKILL');
    throw error;
  }
  return { port, kill, log: () => log };
}

test('redis: two replicas share one rpm; with Redis gone both keep serving, degraded', { timeout: 90000 }, async (t) => {
  const redis = await startRedis();
  t.after(() => redis.kill('SIGKILL'));
  const keys = [{ name: 'shared', key: 'sk-shared', rpm: 6 }, { name: 'free', key: 'sk-free', rpm: 1000 }];
  const top = { auth: { keys }, redis: { url: `redis://127.0.0.1:${redis.port}` } };
  const gateways = [];
  t.after(() => Promise.all(gateways.map((g) => g.stop())));
  gateways.push(await startGateway(mockProviders, { top }));
  gateways.push(await startGateway(mockProviders, { top }));

  for (const gateway of gateways) {
    await until(async () => {
      const { status, body } = await detailedHealth(gateway.port, 'sk-free');
      return status === 200 && body.shared_state.backend === 'redis' && body.shared_state.workers > 0
        && body.shared_state.connections === body.shared_state.workers;
    }, `gateway on ${gateway.port} to connect every worker to Redis`);
    const { body } = await detailedHealth(gateway.port, 'sk-free');
    assert.equal(body.status, 'ok');
    assert.equal(body.shared_state.status, 'ok');
  }

  const statuses = [];
  for (let i = 0; i < 20; ++i) statuses.push(await chat(gateways[i % 2].port, 'sk-shared'));
  const ok = statuses.filter((s) => s === 200).length;
  const limited = statuses.filter((s) => s === 429).length;
  assert.deepEqual({ ok, limited }, { ok: 6, limited: 14 }, `statuses: ${statuses.join(' ')}`);
  assert.deepEqual(statuses.slice(0, 6), [200, 200, 200, 200, 200, 200], 'the first six are admitted');
  for (const gateway of gateways) {
    const { body } = await detailedHealth(gateway.port, 'sk-free');
    assert.equal(body.shared_state.local_decisions, 0, 'every admission was decided on Redis');
  }

  const signal = await redis.kill('SIGKILL');
  assert.equal(signal, 'SIGKILL');
  for (const gateway of gateways) {
    for (let i = 0; i < 5; ++i) assert.equal(await chat(gateway.port, 'sk-free'), 200, `request ${i + 1} to ${gateway.port} without Redis`);
  }
  for (const gateway of gateways) {
    let last;
    await until(async () => {
      last = await detailedHealth(gateway.port, 'sk-free');
      assert.equal(last.status, 200, 'Redis down is no reason to leave the load balancer');
      return last.body.status === 'degraded';
    }, `gateway on ${gateway.port} to report degraded`);
    assert.ok(last.body.shared_state.connections < last.body.shared_state.workers, JSON.stringify(last.body.shared_state));
    assert.match(last.body.shared_state.status, /^degraded/);
    assert.ok(last.body.shared_state.local_decisions > 0, 'requests were decided locally');
  }
});
