// Secure by default: the shipped config listens on loopback, and llmgate refuses to serve a
// provider's credentials beyond loopback without a gateway key unless told it is intended.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const binary = process.env.LLMGATE_BIN ?? path.join(here, '..', '..', 'build', 'llmgate');

// Runs the binary on its embedded default config with `env`; resolves with its exit code and
// stderr, or with 'listening' (and stops it) once it serves.
function run(env) {
  return new Promise((resolve) => {
    const child = spawn(binary, [], {
      env: { PATH: process.env.PATH, LLMGATE_PORT: '0', ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    let listening = false;
    child.stderr.on('data', (data) => {
      stderr += data;
      const match = stderr.match(/listening on http:\/\/([^:]+):(\d+)/);
      if (match && !listening) {
        listening = true;
        child.kill('SIGTERM');
      }
    });
    child.on('exit', (code) => resolve({ code, stderr, listening, host: (stderr.match(/listening on http:\/\/([^:]+):/) ?? [])[1] }));
  });
}

test('the default config listens on loopback, also with a provider key', async () => {
  const result = await run({ OPENAI_API_KEY: 'sk-test-secret' });
  assert.equal(result.listening, true, result.stderr);
  assert.equal(result.host, '127.0.0.1');
  assert.equal(result.code, 0);
});

test('beyond loopback with a provider key and no gateway key it refuses, naming the way out', async () => {
  const result = await run({ OPENAI_API_KEY: 'sk-test-secret', LLMGATE_HOST: '0.0.0.0' });
  assert.equal(result.listening, false);
  assert.equal(result.code, 2);
  assert.match(result.stderr, /refusing to start: server\.host 0\.0\.0\.0 is reachable from other machines/);
  assert.match(result.stderr, /\(openai\)/);
  assert.match(result.stderr, /LLMGATE_API_KEY/);
  assert.match(result.stderr, /LLMGATE_ALLOW_UNAUTHENTICATED=true/);
  assert.doesNotMatch(result.stderr, /sk-test-secret/);
});

test('beyond loopback it serves with a gateway key, when allowed, or with only the mock', async () => {
  for (const env of [
    { OPENAI_API_KEY: 'sk-test-secret', LLMGATE_HOST: '0.0.0.0', LLMGATE_API_KEY: 'gateway-secret' },
    { OPENAI_API_KEY: 'sk-test-secret', LLMGATE_HOST: '0.0.0.0', LLMGATE_ALLOW_UNAUTHENTICATED: 'true' },
    { LLMGATE_HOST: '0.0.0.0' },
  ]) {
    const result = await run(env);
    assert.equal(result.listening, true, `${JSON.stringify(env)}: ${result.stderr}`);
    assert.equal(result.host, '0.0.0.0');
    assert.equal(result.code, 0);
  }
});
