// SIGHUP reloads the config file of a running llmgate process: new routes serve at once, a file
// that cannot be used leaves the running config (and says why), and the process never ends on it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startGateway } from './harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const binary = process.env.LLMGATE_BIN ?? path.join(here, '..', '..', 'build', 'llmgate');

const chat = (port, model, headers = {}) =>
  fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }),
  });

// Generous: the suites run in parallel with CLI tests that load both cores.
async function until(condition, what, limitMs = 15000) {
  const end = Date.now() + limitMs;
  while (Date.now() < end) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  assert.fail(`timed out waiting for ${what}`);
}

const generationOf = async (port) =>
  (await (await fetch(`http://127.0.0.1:${port}/v1/health/detailed`)).json()).config;

test('SIGHUP swaps in the edited file; a broken one keeps the running config', async () => {
  const gateway = await startGateway([{ name: 'mock', type: 'mock', models: ['mock'] }]);
  try {
    assert.equal((await chat(gateway.port, 'mock')).status, 200);
    assert.equal((await chat(gateway.port, 'mock-b')).status, 404);

    writeFileSync(gateway.config, JSON.stringify({ providers: [{ name: 'mock', type: 'mock', models: ['mock', 'mock-b'] }] }));
    gateway.child.kill('SIGHUP');
    await until(async () => (await generationOf(gateway.port)).generation === 2, 'generation 2');
    assert.equal((await chat(gateway.port, 'mock-b')).status, 200);
    // The line may reach the pipe a moment after the new generation serves.
    await until(() => /SIGHUP: config reloaded from .*config\.json: generation 2/.test(gateway.log()), 'the reload logged');

    writeFileSync(gateway.config, '{"providers": [');
    gateway.child.kill('SIGHUP');
    await until(async () => (await generationOf(gateway.port)).failed_reloads === 1, 'the failed reload to be counted');
    await until(() => /SIGHUP: config reload refused, generation 2 keeps serving: /.test(gateway.log()), 'the refusal logged');
    assert.equal((await chat(gateway.port, 'mock-b')).status, 200, 'the running config still serves');
    const config = await generationOf(gateway.port);
    assert.equal(config.generation, 2);
    assert.ok(config.last_failed_reload.error.length > 0);
  } finally {
    assert.equal(await gateway.stop(), 0, 'llmgate exits 0 on SIGTERM');
  }
});

test('a reload that would serve credentials beyond loopback without a gateway key is refused', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'llmgate-reload-'));
  const file = path.join(dir, 'config.json');
  const providers = [{ name: 'openai', type: 'openai', base_url: 'http://127.0.0.1:9/v1', api_key: 'sk-test-secret', models: ['gpt-x'] },
    { name: 'mock', type: 'mock', models: ['mock'] }];
  const server = { host: '0.0.0.0', port: 0, threads: 1 };
  writeFileSync(file, JSON.stringify({ server, auth: { api_keys: ['gateway-secret'] }, providers }));
  const child = spawn(binary, ['--config', file], { stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  let log = '';
  child.stderr.on('data', (data) => { log += data; });
  try {
    await until(() => /listening on http:\/\/0\.0\.0\.0:(\d+)/.test(log), 'llmgate to listen');
    const port = Number(log.match(/listening on http:\/\/0\.0\.0\.0:(\d+)/)[1]);
    const key = { authorization: 'Bearer gateway-secret' };

    writeFileSync(file, JSON.stringify({ server, providers }));  // the gateway key removed
    child.kill('SIGHUP');
    await until(() => /config reload refused/.test(log), 'the refusal');
    assert.match(log, /generation 1 keeps serving: server\.host 0\.0\.0\.0 is reachable from other machines/);
    assert.doesNotMatch(log, /sk-test-secret|gateway-secret/);
    assert.equal((await chat(port, 'mock')).status, 401, 'the gateway key still applies');
    assert.equal((await chat(port, 'mock', key)).status, 200);

    // Moving the listener to loopback takes a restart: a reload is judged where it listens now.
    writeFileSync(file, JSON.stringify({ server: { ...server, host: '127.0.0.1' }, providers }));
    child.kill('SIGHUP');
    await until(() => (log.match(/config reload refused/g) ?? []).length === 2, 'the second refusal');
    assert.equal((await chat(port, 'mock')).status, 401, 'the gateway key still applies');
  } finally {
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
  }
});
