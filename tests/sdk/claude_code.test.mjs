// The real Claude Code CLI (npm @anthropic-ai/claude-code, pinned in package.json) through
// llmgate, offline: `claude -p` answered by the built-in mock, by a loopback Claude on the fast
// path, by a loopback OpenAI server (translated) and by a loopback Kiro (event-stream frames),
// each with one agentic turn: the upstream asks for the Bash tool, Claude Code runs it and sends
// the result back, and prints the upstream's final text. The environment is the one the README
// gives (telemetry, error reporting and update checks off).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCli, startAnthropicUpstream, startGateway, startKiroUpstream, startOpenAiUpstream } from './harness.mjs';

const claudeBinary = path.join(path.dirname(fileURLToPath(import.meta.url)), 'node_modules', '.bin', 'claude');
// What the upstreams ask Claude Code to run; its output comes back as the tool result.
const BASH_ECHO = { name: 'Bash', input: { command: 'echo tool-ran-here', description: 'Print a word' } };

/** Runs `claude -p prompt` against llmgate on `port`; resolves to { code, stdout, stderr }. */
function claude(port, prompt, extraArgs = []) {
  const home = mkdtempSync(path.join(tmpdir(), 'llmgate-claude-home-'));
  const work = mkdtempSync(path.join(tmpdir(), 'llmgate-claude-work-'));
  const env = {
    PATH: process.env.PATH,
    HOME: home,
    ANTHROPIC_BASE_URL: `http://127.0.0.1:${port}`,
    ANTHROPIC_AUTH_TOKEN: 'gateway-key',
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    DISABLE_TELEMETRY: '1',
    DISABLE_ERROR_REPORTING: '1',
    DISABLE_AUTOUPDATER: '1',
    // A failing request fails the run at once instead of being retried for minutes.
    CLAUDE_CODE_MAX_RETRIES: '0',
  };
  return runCli(claudeBinary, ['-p', prompt, '--allowedTools', 'Bash', ...extraArgs], { cwd: work, env });
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

// What an upstream received on the two turns: the first offers the tools, the second carries
// the tool's result.
function assertToolTurns(received, readResult) {
  assert.equal(received.length, 2, `requests upstream: ${received.length}`);
  assert.match(readResult(received[1].body), /tool-ran-here/);
}

test('Claude Code with --model mock gets a text answer and stops; naming a tool gets a tool turn', async () => {
  const gateway = await gatewayFor([{ name: 'mock', type: 'mock', models: ['mock'] }]);
  const plain = await claude(gateway.port, 'say hi', ['--model', 'mock']);
  assert.equal(plain.code, 0, plain.stderr);
  assert.match(plain.stdout, /Hello from the llmgate mock provider\. You said: say hi/);
  // "Bash" named in the prompt: the mock calls it (with a sample command), then answers the result.
  const agentic = await claude(gateway.port, 'please use Bash', ['--model', 'mock']);
  assert.equal(agentic.code, 0, agentic.stderr);
  assert.match(agentic.stdout, /Mock reply after tool result/);
});

test('Claude Code to a Claude upstream: the fast path, its own model name, one tool turn', async () => {
  const upstream = await startAnthropicUpstream({ toolCall: BASH_ECHO });
  upstreams.push(upstream);
  const gateway = await gatewayFor([{ name: 'anthropic', type: 'anthropic', base_url: `http://127.0.0.1:${upstream.address().port}`,
    api_key: 'upstream-key', models: ['claude-*'], retry: { max_attempts: 1 } }]);
  const run = await claude(gateway.port, 'run the echo');
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /It is tool-ran-here/);
  const [first] = upstream.received;
  // Claude Code's default model reaches Claude through the claude-* pattern, and its request
  // (system messages, adaptive thinking, effort, context management) goes as sent.
  assert.match(first.body.model, /^claude-/);
  assert.ok(first.body.messages.some((m) => m.role === 'system'), 'the mid-conversation system message is passed on');
  assert.equal(first.body.thinking?.type, 'adaptive');
  assert.ok(first.body.tools.some((t) => t.name === 'Bash'));
  assertToolTurns(upstream.received, (body) => JSON.stringify(body.messages.at(-1).content));
});

test('Claude Code to an OpenAI upstream: translated tools, system turns in place, one tool turn', async () => {
  const upstream = await startOpenAiUpstream({ toolCall: BASH_ECHO });
  upstreams.push(upstream);
  const gateway = await gatewayFor([{ name: 'openai', type: 'openai', base_url: `http://127.0.0.1:${upstream.address().port}/v1`,
    api_key: 'upstream-key', models: ['claude-*'], retry: { max_attempts: 1 } }]);
  const run = await claude(gateway.port, 'run the echo');
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /It is tool-ran-here/);
  const [first] = upstream.received;
  const roles = first.body.messages.map((m) => m.role);
  assert.equal(roles[0], 'system', 'the system blocks lead');
  assert.ok(roles.slice(1).includes('system'), `a system turn stays at its place: ${roles}`);
  const bash = first.body.tools.find((t) => t.function?.name === 'Bash');
  assert.equal(bash.type, 'function');
  assert.equal(bash.function.parameters.type, 'object');
  assert.ok(!JSON.stringify(first.body).includes('cache_control'), 'cache_control is Anthropic-only');
  assert.ok(!('thinking' in first.body) && !('output_config' in first.body), 'Anthropic-only controls are not sent');
  assertToolTurns(upstream.received, (body) => body.messages.at(-1).content);
});

test('Claude Code to Kiro: event-stream frames, one tool turn', async () => {
  const upstream = await startKiroUpstream({ toolCall: BASH_ECHO });
  upstreams.push(upstream);
  const credentials = path.join(mkdtempSync(path.join(tmpdir(), 'llmgate-kiro-cc-')), 'kiro-auth-token.json');
  writeFileSync(credentials, JSON.stringify({ accessToken: 'kiro-token', refreshToken: 'r', expiresAt: '2099-01-01T00:00:00.000Z', authMethod: 'social' }));
  const gateway = await gatewayFor([{ name: 'kiro', type: 'kiro', base_url: `http://127.0.0.1:${upstream.address().port}`, credentials,
    models: ['claude-*'], retry: { max_attempts: 1 } }]);
  const run = await claude(gateway.port, 'run the echo');
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /It is tool-ran-here/);
  const [first] = upstream.received;
  // Claude Code's claude-opus-5-5 as Kiro names it.
  assert.match(first.body.conversationState.currentMessage.userInputMessage.modelId, /^claude-[a-z]+-\d+\.\d+$/);
  assertToolTurns(upstream.received,
    (body) => body.conversationState.currentMessage.userInputMessage.userInputMessageContext.toolResults[0].content[0].text);
});
