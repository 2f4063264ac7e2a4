// Streaming probes for scripts/load.sh, with a paced OpenAI-style SSE upstream it starts itself.
//   node stream_probe.mjs upstream PORT                 serve paced streams on PORT until killed
//   node stream_probe.mjs relay DIRECT_URL GATEWAY_URL  time to first byte and per-chunk relay delay,
//                                                       direct vs through the gateway (20 streams each)
//   node stream_probe.mjs hold GATEWAY_URL COUNT PID    COUNT concurrent open streams through the
//                                                       gateway, then the gateway's RSS (VmRSS of PID)
// Chunks carry the upstream's send time (process.hrtime, the system's monotonic clock, the same
// in every process), so the client sees how long each one took to arrive. Bounded in count and time.
import http from 'node:http';
import { readFileSync } from 'node:fs';

const [mode, ...args] = process.argv.slice(2);
const now = () => Number(process.hrtime.bigint()) / 1e6;  // ms

function serveUpstream(port) {
  http.createServer((req, res) => {
    let raw = '';
    req.on('data', (d) => { raw += d; });
    req.on('end', () => {
      const { chunks = 20, interval_ms: interval = 10 } = JSON.parse(raw).metadata ?? {};
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      let sent = 0;
      const tick = () => {
        if (sent === chunks) {
          res.end('data: [DONE]\n\n');
          return;
        }
        sent += 1;
        const chunk = { id: 'c', object: 'chat.completion.chunk', created: 1, model: 'paced',
          choices: [{ index: 0, delta: { content: `${now().toFixed(3)};` }, finish_reason: null }] };
        res.write(`data: ${JSON.stringify(chunk)}\n\n`);
        setTimeout(tick, interval);
      };
      tick();
    });
  }).listen(Number(port), '127.0.0.1');
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 100000 });

// One streamed request; resolves to {ttfb, delays[]} (ms) or rejects.
function stream(url, chunks, interval) {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify({ model: 'gpt-4o-paced', stream: true, messages: [{ role: 'user', content: 'probe' }],
      metadata: { chunks, interval_ms: interval } });
    const started = now();
    const req = http.request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json' }, timeout: 60000 }, (res) => {
      let ttfb = -1;
      const delays = [];
      let buffer = '';
      res.setEncoding('utf8');
      res.on('data', (piece) => {
        const arrived = now();
        if (ttfb < 0) ttfb = arrived - started;
        buffer += piece;
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const event = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const match = event.match(/"content":"([0-9.]+);"/);
          if (match) delays.push(arrived - Number(match[1]));
        }
      });
      res.on('end', () => resolve({ ttfb, delays }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end(body);
  });
}

const percentile = (values, p) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];
};

async function relay(directUrl, gatewayUrl) {
  const measure = async (url) => {
    const ttfbs = [];
    const delays = [];
    for (let i = 0; i < 20; i += 1) {
      const result = await stream(url, 20, 10);
      ttfbs.push(result.ttfb);
      delays.push(...result.delays);
    }
    return { ttfb: percentile(ttfbs, 0.5), delayP50: percentile(delays, 0.5), delayP99: percentile(delays, 0.99) };
  };
  const direct = await measure(directUrl);
  const gateway = await measure(gatewayUrl);
  const f = (v) => (v * 1000).toFixed(0);
  console.log(`ttfb_us direct ${f(direct.ttfb)} gateway ${f(gateway.ttfb)} added ${f(gateway.ttfb - direct.ttfb)}`);
  console.log(`chunk_delay_us p50 direct ${f(direct.delayP50)} gateway ${f(gateway.delayP50)} p99 direct ${f(direct.delayP99)} gateway ${f(gateway.delayP99)} added_p99 ${f(gateway.delayP99 - direct.delayP99)}`);
}

async function hold(gatewayUrl, count, pid) {
  // Streams of 15 chunks 1 s apart: all stay open while they are counted.
  const pending = [];
  for (let i = 0; i < count; i += 1) {
    pending.push(stream(gatewayUrl, 15, 1000));
    if (i % 500 === 499) await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await new Promise((resolve) => setTimeout(resolve, 4000));
  const rss = readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)[1];
  const results = await Promise.allSettled(pending);
  const ok = results.filter((r) => r.status === 'fulfilled' && r.value.delays.length === 15).length;
  console.log(`streams ${count} completed ${ok} rss_kib ${rss}`);
}

if (mode === 'upstream') serveUpstream(args[0]);
else if (mode === 'relay') await relay(args[0], args[1]);
else if (mode === 'hold') await hold(args[0], Number(args[1]), args[2]);
else {
  console.error('usage: stream_probe.mjs upstream PORT | relay DIRECT_URL GATEWAY_URL | hold GATEWAY_URL COUNT PID');
  process.exit(2);
}
