// Out of file descriptors, llmgate pauses accepting instead of spinning on a failing accept:
// a few log lines, a bounded count of failed accepts, and it serves again once descriptors free up.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startGateway } from './harness.mjs';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function openIdle(port, count) {
  const sockets = [];
  for (let i = 0; i < count; i++) {
    const socket = net.connect(port, '127.0.0.1');
    socket.on('error', () => {});  // the gateway may never take some of them
    sockets.push(socket);
  }
  return sockets;
}

async function health(port) {
  try {
    return (await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(1000) })).status;
  } catch {
    return 0;
  }
}

// The sanitizers' runtime needs descriptors of its own (its memory checks open a pipe), so with
// none left it reports errors that are not the program's: this one runs in the plain build.
const sanitized = process.env.LLMGATE_SANITIZED === '1';

test('a process out of descriptors pauses accepting, logs a little, and recovers',
  { skip: sanitized ? 'sanitizer runtime needs free descriptors; run in the plain build' : false }, async () => {
  const gateway = await startGateway([{ name: 'mock', type: 'mock', models: ['mock'] }],
    { openFilesLimit: 64, server: { read_timeout_ms: 60000 } });
  try {
    assert.match(gateway.log(), /open files limit 64/);
    const idle = openIdle(gateway.port, 120);
    await sleep(2000);
    const failedLines = gateway.log().split('\n').filter((line) => line.includes('accept failed')).length;
    // Before: one line per failed accept, hundreds of thousands in two seconds.
    assert.ok(failedLines >= 1 && failedLines <= 3, `accept-failure log lines: ${failedLines}`);
    for (const socket of idle) socket.destroy();
    let status = 0;
    for (let i = 0; i < 50 && status !== 200; i++) {
      status = await health(gateway.port);
      if (status !== 200) await sleep(100);
    }
    assert.equal(status, 200, 'serves again once descriptors are free');
    const metrics = await (await fetch(`http://127.0.0.1:${gateway.port}/metrics`)).text();
    const failed = Number(metrics.match(/^llmgate_accept_errors_total (\d+)/m)?.[1]);
    // Backing off from 10 ms up to 1 s: a handful of attempts in two seconds, not a spin.
    assert.ok(failed >= 1 && failed < 100, `failed accepts counted: ${failed}`);
  } finally {
    assert.equal(await gateway.stop(), 0);
  }
});

test('server.max_connections turns further connections away with a 503 both SDK families read', async () => {
  const gateway = await startGateway([{ name: 'mock', type: 'mock', models: ['mock'] }],
    { server: { max_connections: 4, read_timeout_ms: 60000 } });
  try {
    const idle = openIdle(gateway.port, 4);
    await sleep(300);
    const refused = await fetch(`http://127.0.0.1:${gateway.port}/health`);
    assert.equal(refused.status, 503);
    assert.equal(refused.headers.get('retry-after'), '1');
    const body = await refused.json();
    assert.equal(body.type, 'error');
    assert.equal(body.error.type, 'overloaded_error');
    assert.equal(body.error.code, 'too_many_connections');
    for (const socket of idle) socket.destroy();
    await sleep(300);
    assert.equal(await health(gateway.port), 200);
  } finally {
    assert.equal(await gateway.stop(), 0);
  }
});
