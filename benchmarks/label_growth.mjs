#!/usr/bin/env node
// Client-chosen model names must not grow llmgate's memory or its /metrics: sends N requests
// (default 100,000) that each name a model no one configured (half `mock/<random>`, which the
// mock answers, half unknown names answered 404) and prints RSS and the size of /metrics and
// /v1/performance before and after, with the number of distinct model labels.
//
//   node benchmarks/label_growth.mjs [--requests 100000] [--bin build/llmgate]
//
// Node 20, built-ins only, loopback only; 32 keep-alive connections.
import http from 'node:http';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const option = (name, fallback) => {
  const at = process.argv.indexOf(`--${name}`);
  return at > 0 && at + 1 < process.argv.length ? process.argv[at + 1] : fallback;
};
const requests = Number(option('requests', 100000));
const binary = option('bin', path.join(repoRoot, 'build', 'llmgate'));
const CONNECTIONS = 32;

function start() {
  const dir = mkdtempSync(path.join(tmpdir(), 'llmgate-labels-'));
  const config = path.join(dir, 'config.json');
  writeFileSync(config, JSON.stringify({ log: { level: 'warn' }, providers: [{ name: 'mock', type: 'mock', models: ['mock'] }] }));
  const child = spawn(binary, ['--config', config, '--host', '127.0.0.1', '--port', '0', '--log-level', 'info'],
    { stdio: ['ignore', 'ignore', 'pipe'] });
  return new Promise((resolve, reject) => {
    let log = '';
    child.stderr.on('data', (chunk) => {
      log += chunk;
      const match = log.match(/listening on http:\/\/127\.0\.0\.1:(\d+)/);
      if (match) {
        child.stderr.removeAllListeners('data');
        child.stderr.resume();
        resolve({ child, port: Number(match[1]) });
      }
    });
    child.on('exit', (code) => reject(new Error(`llmgate exited with ${code}:\n${log}`)));
  });
}

const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS });

function request(port, method, urlPath, body) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: urlPath, agent,
      headers: body ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {} }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => { text += chunk; });
      res.on('end', () => resolve({ status: res.statusCode, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const rssMiB = (pid) => Number(readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)[1]) / 1024;

async function snapshot(gateway) {
  const metrics = (await request(gateway.port, 'GET', '/metrics')).text;
  const performance = (await request(gateway.port, 'GET', '/v1/performance')).text;
  const labels = new Set([...metrics.matchAll(/model="([^"]*)"/g)].map((m) => m[1]));
  return { rss: rssMiB(gateway.child.pid), metrics: metrics.length, performance: performance.length, labels: labels.size };
}

const gateway = await start();
await request(gateway.port, 'POST', '/v1/chat/completions', JSON.stringify({ model: 'mock', messages: [{ role: 'user', content: 'hi' }] }));
await request(gateway.port, 'POST', '/v1/chat/completions', JSON.stringify({ model: 'unknown', messages: [] }));
// One of each kind first, so that "before" already holds every series the run can create.
await request(gateway.port, 'POST', '/v1/chat/completions', JSON.stringify({ model: 'mock/warm-up', messages: [{ role: 'user', content: 'hi' }] }));
const before = await snapshot(gateway);
const statuses = {};
let next = 0;
const startedAt = Date.now();
await Promise.all(Array.from({ length: CONNECTIONS }, async () => {
  while (next < requests) {
    const i = next++;
    const name = i % 2 === 0 ? `mock/x-${i}-${Math.random().toString(36).slice(2)}` : `unknown-${i}-${Math.random().toString(36).slice(2)}`;
    const { status } = await request(gateway.port, 'POST', '/v1/chat/completions',
      JSON.stringify({ model: name, messages: [{ role: 'user', content: 'hi' }] }));
    statuses[status] = (statuses[status] ?? 0) + 1;
  }
}));
const seconds = (Date.now() - startedAt) / 1000;
const after = await snapshot(gateway);
gateway.child.kill('SIGTERM');
agent.destroy();

console.log(`${requests} requests with distinct model names in ${seconds.toFixed(1)} s (statuses ${JSON.stringify(statuses)})`);
console.log('                     before      after');
console.log(`RSS                  ${before.rss.toFixed(1).padStart(6)} MiB ${after.rss.toFixed(1).padStart(6)} MiB`);
console.log(`/metrics             ${String(before.metrics).padStart(6)} B   ${String(after.metrics).padStart(6)} B`);
console.log(`/v1/performance      ${String(before.performance).padStart(6)} B   ${String(after.performance).padStart(6)} B`);
console.log(`model labels         ${String(before.labels).padStart(6)}     ${String(after.labels).padStart(6)}`);
