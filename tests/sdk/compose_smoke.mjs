// Client side of scripts/compose-smoke.sh (not a node --test suite): the official SDKs and a
// bounded load through the load balancer of docker/compose.yaml.
//   node compose_smoke.mjs checks URL KEY          one line per check, exit 1 if one failed
//   node compose_smoke.mjs load URL KEY CLIENTS SECONDS MAX_REQUESTS
//                                                  one JSON summary line, exit 1 if one failed
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';

const [mode, base, key] = process.argv.slice(2);
const ask = (content) => [{ role: 'user', content }];

async function checks() {
  const openai = new OpenAI({ baseURL: `${base}/v1`, apiKey: key, maxRetries: 0, timeout: 15000 });
  const anthropic = new Anthropic({ baseURL: base, apiKey: key, maxRetries: 0, timeout: 15000 });
  const results = [];
  const check = async (label, fn) => {
    try {
      results.push(`PASS ${label}: ${await fn()}`);
    } catch (error) {
      results.push(`FAIL ${label}: ${error?.message ?? error}`);
    }
  };
  const expect = (condition, message) => { if (!condition) throw new Error(message); };

  await check('(a) openai SDK chat.completions.create', async () => {
    const reply = await openai.chat.completions.create({ model: 'mock', messages: ask('smoke a') });
    const text = reply.choices[0]?.message?.content ?? '';
    expect(text.includes('smoke a'), `unexpected reply ${JSON.stringify(reply).slice(0, 200)}`);
    return JSON.stringify(text);
  });
  await check('(b) openai SDK chat.completions stream', async () => {
    const stream = await openai.chat.completions.create({ model: 'mock', stream: true, messages: ask('smoke b') });
    let text = '';
    let finish = null;
    let chunks = 0;
    for await (const chunk of stream) {
      chunks++;
      text += chunk.choices[0]?.delta?.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    expect(text.includes('smoke b') && finish === 'stop', `text ${JSON.stringify(text)}, finish_reason ${finish}`);
    // The SDK stops at [DONE] without showing it: read the raw stream for it.
    const raw = await fetch(`${base}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'mock', stream: true, messages: ask('smoke b') }),
      signal: AbortSignal.timeout(15000),
    });
    const body = await raw.text();
    expect(raw.headers.get('content-type')?.startsWith('text/event-stream'), `content-type ${raw.headers.get('content-type')}`);
    expect(body.trimEnd().endsWith('data: [DONE]'), `raw stream ends ${JSON.stringify(body.slice(-60))}`);
    return `${chunks} chunks, finish_reason stop, raw stream ends with data: [DONE]`;
  });
  await check('(c) anthropic SDK messages.create', async () => {
    const message = await anthropic.messages.create({ model: 'mock', max_tokens: 256, messages: ask('smoke c') });
    const text = message.content.filter((b) => b.type === 'text').map((b) => b.text).join('');
    expect(text.includes('smoke c') && message.stop_reason === 'end_turn', `message ${JSON.stringify(message).slice(0, 200)}`);
    return JSON.stringify(text);
  });
  await check('(c) anthropic SDK messages.stream', async () => {
    const events = [];
    const stream = anthropic.messages.stream({ model: 'mock', max_tokens: 256, messages: ask('smoke c stream') });
    for await (const event of stream) events.push(event.type);
    const message = await stream.finalMessage();
    expect(events.at(-1) === 'message_stop', `events ${events.join(',')}`);
    expect(message.content[0]?.text?.includes('smoke c stream'), `final message ${JSON.stringify(message).slice(0, 200)}`);
    return `${events.length} events, ${events[0]} .. ${events.at(-1)}`;
  });
  for (const line of results) console.log(line);
  return results.every((line) => line.startsWith('PASS'));
}

// The four kinds of request the load mixes; each resolves when its whole answer was checked.
const kinds = {
  'openai': { path: '/v1/chat/completions', body: { model: 'mock', messages: ask('load') }, done: (b) => JSON.parse(b).choices[0].message.content.includes('load') },
  'openai-stream': { path: '/v1/chat/completions', body: { model: 'mock-slow', stream: true, messages: ask('load') }, done: (b) => b.trimEnd().endsWith('data: [DONE]') },
  'anthropic': { path: '/v1/messages', body: { model: 'mock', max_tokens: 64, messages: ask('load') }, done: (b) => JSON.parse(b).stop_reason === 'end_turn' },
  'anthropic-stream': { path: '/v1/messages', body: { model: 'mock-slow', max_tokens: 64, stream: true, messages: ask('load') }, done: (b) => b.includes('event: message_stop') },
};

async function load(clients, seconds, maxRequests) {
  const started = Date.now();
  const deadline = started + seconds * 1000;
  const summary = { started, sent: 0, ok: 0, failed: 0, byKind: {}, failures: [] };
  const names = Object.keys(kinds);
  const worker = async (index) => {
    const name = names[index % names.length];
    const kind = kinds[name];
    summary.byKind[name] ??= { sent: 0, failed: 0 };
    while (Date.now() < deadline && summary.sent < maxRequests) {
      summary.sent++;
      summary.byKind[name].sent++;
      const at = Date.now() - started;
      let failure = null;
      try {
        const response = await fetch(`${base}${kind.path}`, {
          method: 'POST',
          headers: { 'x-api-key': key, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' },
          body: JSON.stringify(kind.body),
          signal: AbortSignal.timeout(15000),
        });
        const body = await response.text();
        if (response.status !== 200) failure = `HTTP ${response.status} ${body.replace(/\s+/g, ' ').slice(0, 160)}`;
        else if (!kind.done(body)) failure = `incomplete answer ${JSON.stringify(body.slice(-120))}`;
      } catch (error) {
        failure = `${error.name}: ${error.message}${error.cause ? ` (${error.cause.code ?? error.cause.message})` : ''}`;
      }
      if (failure) {
        summary.failed++;
        summary.byKind[name].failed++;
        if (summary.failures.length < 20) summary.failures.push({ kind: name, at_ms: at, error: failure });
      } else {
        summary.ok++;
      }
    }
  };
  await Promise.all(Array.from({ length: clients }, (_, i) => worker(i)));
  summary.seconds = (Date.now() - started) / 1000;
  console.log(JSON.stringify(summary));
  return summary.failed === 0;
}

const passed = mode === 'checks'
  ? await checks()
  : await load(Number(process.argv[5] ?? 8), Number(process.argv[6] ?? 20), Number(process.argv[7] ?? 20000));
process.exit(passed ? 0 : 1);
