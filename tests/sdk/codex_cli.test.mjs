// The real Codex CLI (npm @openai/codex, pinned in package.json) through llmgate, offline:
// `codex exec` speaks only the Responses API (POST /v1/responses), here answered by the built-in
// mock and translated to a loopback OpenAI Chat Completions server and a loopback Claude, each
// with one agentic turn: the upstream asks for Codex's exec_command tool, Codex runs it and sends
// the result back as a function_call_output, and prints the upstream's final text. Codex's config
// is the one the README gives (a model provider with wire_api = "responses", plugins and
// telemetry off).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCli, startAnthropicUpstream, startGateway, startOpenAiUpstream } from './harness.mjs';

const codexBinary = path.join(path.dirname(fileURLToPath(import.meta.url)), 'node_modules', '.bin', 'codex');
// What the upstreams ask Codex to run; its output comes back as the function call's output.
const EXEC_ECHO = { name: 'exec_command', input: { cmd: 'echo tool-ran-here' } };

/** Runs `codex exec prompt` with `model` against llmgate on `port`; resolves to { code, stdout, stderr }. */
function codex(port, model, prompt) {
  const home = mkdtempSync(path.join(tmpdir(), 'llmgate-codex-home-'));
  const work = mkdtempSync(path.join(tmpdir(), 'llmgate-codex-work-'));
  writeFileSync(path.join(home, 'config.toml'), `model = "${model}"
model_provider = "llmgate"

[model_providers.llmgate]
name = "llmgate"
base_url = "http://127.0.0.1:${port}/v1"
env_key = "LLMGATE_API_KEY"
wire_api = "responses"

[features]
plugins = false

[otel]
metrics_exporter = "none"
`);
  const env = { PATH: process.env.PATH, HOME: home, CODEX_HOME: home, LLMGATE_API_KEY: 'gateway-key' };
  return runCli(codexBinary, ['exec', '--skip-git-repo-check', prompt], { cwd: work, env });
}

const gateways = [];
const upstreams = [];

async function gatewayFor(providers) {
  const gateway = await startGateway(providers);
  gateways.push(gateway);
  return gateway;
}

after(async () => {
  for (const gateway of gateways) assert.equal(await gateway.stop(), 0);
  for (const upstream of upstreams) upstream.close();
});

test('Codex with the mock: a text answer over /v1/responses, its hosted tools left out', async () => {
  const gateway = await gatewayFor([{ name: 'mock', type: 'mock', models: ['mock'] }]);
  const run = await codex(gateway.port, 'mock', 'say hi');
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /Hello from the llmgate mock provider\. You said: say hi/);
  assert.match(await gateway.logged(/access POST \/v1\/responses 200/), /access POST \/v1\/responses 200/);
  assert.match(gateway.log(), /tools no upstream can run were left out: .*web_search/);
});

for (const kind of ['openai', 'anthropic']) {
  test(`Codex to ${kind === 'openai' ? 'an OpenAI Chat Completions' : 'a Claude'} upstream: one tool turn`, async () => {
    const upstream = kind === 'openai' ? await startOpenAiUpstream({ toolCall: EXEC_ECHO }) : await startAnthropicUpstream({ toolCall: EXEC_ECHO });
    upstreams.push(upstream);
    const baseUrl = `http://127.0.0.1:${upstream.address().port}${kind === 'openai' ? '/v1' : ''}`;
    const gateway = await gatewayFor([{ name: kind, type: kind, base_url: baseUrl, api_key: 'upstream-key', models: ['codex-test'], retry: { max_attempts: 1 } }]);
    const run = await codex(gateway.port, 'codex-test', 'run the echo');
    assert.equal(run.code, 0, run.stderr);
    assert.equal(upstream.received.length, 2, `requests upstream: ${upstream.received.length}`);
    const [first, second] = upstream.received.map((r) => r.body);
    // Codex's function tools reach the upstream in its own format.
    const names = kind === 'openai' ? first.tools.map((t) => t.function.name) : first.tools.map((t) => t.name);
    assert.ok(names.includes('exec_command'), names.join(', '));
    // The second turn carries the call and what the command printed.
    const result = kind === 'openai'
      ? second.messages.at(-1)
      : second.messages.at(-1).content.find((b) => b.type === 'tool_result');
    assert.ok(result, JSON.stringify(second.messages.at(-1)));
    assert.match(JSON.stringify(result), /tool-ran-here/);
    assert.match(run.stdout, /It is .*tool-ran-here/s);
  });
}
