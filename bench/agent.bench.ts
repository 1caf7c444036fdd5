/**
 * The updater agent, end to end on this machine: Debian's distribution registry and a private podman service on
 * 127.0.0.1, the reference model-server image (good 1.0.0/1.1.0, bad 1.2.0 that never gets ready), and the
 * `modelpilot agent` process against podman's Docker API. Measures:
 *
 * - webhook reaction: `podman push` returns → the new version serves (the registry notifies the agent);
 * - polling reaction at pollInterval 1 s: push returns → the new version serves;
 *   both also with the model server's own load time (`model_load_seconds`) subtracted;
 * - rollback: bad version pushed → the previous version serves again (readinessTimeout 5 s);
 * - failed requests of a bounded load loop (sequential POST /predict, ≤ 60 s, ≤ 5000 requests) during a healthy update;
 * - agent RSS with 100 watched images (100 labelled containers, each in its own repository; `sleep` processes);
 * - registry requests per image per quiet poll (from the registry's own access log).
 *
 * Writes bench/results/agent.json. Runs each scenario a few times; reports every run and the median.
 *
 * `ts-node --transpile-only bench/agent.bench.ts watched100` runs only the 100-image memory scenario and updates
 * that section of an existing bench/results/agent.json (the other sections are kept as they were).
 */
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import * as os from 'os';
import * as path from 'path';
import Docker from 'dockerode';
import * as ts from 'typescript';
import { stringify } from 'yaml';
import { DOCKER_LABELS } from '../agent/targets/docker';
import { buildTestImage, TestImage } from '../scripts/build-test-image';
import { startPodman, TestPodman } from '../test/support/podman';
import { startRegistry, TestRegistry } from '../test/support/registry';
import { freePort } from '../test/support/tools';

const ROOT = path.resolve(__dirname, '..');
const TOKEN = 'bench-bearer-token-0123456789';
const RUNS = 3;
const WATCHED = 100;

let reg: TestRegistry;
let pod: TestPodman;
let docker: Docker;
let forwardTo: string | undefined;
const images: Record<string, TestImage> = {};
const children: ChildProcess[] = [];

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function until(check: () => Promise<boolean>, what: string, timeoutMs = 120_000, intervalMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await sleep(intervalMs);
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function push(repository: string, version: string): Promise<void> {
  const ref = `${reg.host}/${repository}:${version}`;
  await pod.podman(['tag', images[version].imageId, ref]);
  await pod.podman(['push', '--tls-verify=false', ref], { timeoutMs: 180_000 });
}

async function pull(image: string): Promise<void> {
  const s = await docker.pull(image);
  await new Promise((resolve, reject) => docker.modem.followProgress(s, (e: Error | null) => (e ? reject(e) : resolve(undefined))));
}

async function served(port: number): Promise<string | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/health/ready`, { signal: AbortSignal.timeout(1000) });
    return res.status === 200 ? ((await res.json()) as { version: string }).version : undefined;
  } catch {
    return undefined;
  }
}

async function modelLoadSeconds(port: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const m = /^model_load_seconds\{[^}]*\} ([0-9.e+-]+)$/m.exec(text);
  return m ? Number(m[1]) : NaN;
}

async function runModel(name: string, repository: string, version: string, port: number, scope: string, cmd?: string[]): Promise<void> {
  const image = `${reg.host}/${repository}:${version}`;
  await pull(image);
  const c = await docker.createContainer({
    name, Image: image, Env: [`PORT=${port}`], Cmd: cmd,
    Labels: {
      [DOCKER_LABELS.enable]: 'true', [DOCKER_LABELS.scope]: scope, [DOCKER_LABELS.model]: 'churn', [DOCKER_LABELS.policy]: 'semver:minor',
      [DOCKER_LABELS.readyUrl]: `http://127.0.0.1:${port}/health/ready`, [DOCKER_LABELS.stopTimeout]: '5',
    },
    HostConfig: { NetworkMode: 'host' },
  });
  await c.start();
  if (!cmd) await until(async () => (await served(port)) === version, `${name} to serve ${version}`, 30_000);
}

async function removeContainers(prefix: string): Promise<void> {
  for (const c of await docker.listContainers({ all: true })) {
    if (c.Names[0].replace(/^\//, '').startsWith(prefix)) await docker.getContainer(c.Id).remove({ force: true });
  }
}

interface Agent {
  readonly port: number;
  readonly pid: number;
  metric(name: string): Promise<number>;
  stop(): Promise<void>;
}

/**
 * The agent as it ships (plain JS, no ts-node): bin/, agent/ and lib/core/ transpiled into a temp dir that resolves
 * packages from this repository's node_modules. Used where memory is measured.
 */
function compileAgent(): string {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'modelpilot-bench-js-'));
  const walk = (rel: string): void => {
    for (const e of fs.readdirSync(path.join(ROOT, rel), { withFileTypes: true })) {
      const r = path.join(rel, e.name);
      if (e.isDirectory()) walk(r);
      else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) {
        const js = ts.transpileModule(fs.readFileSync(path.join(ROOT, r), 'utf8'), {
          compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
        }).outputText;
        fs.mkdirSync(path.dirname(path.join(out, r)), { recursive: true });
        fs.writeFileSync(path.join(out, r.replace(/\.ts$/, '.js')), js);
      }
    }
  };
  for (const d of ['bin', 'agent', path.join('lib', 'core')]) walk(d);
  return out;
}

/**
 * Node flags the shipped agent runs with (agent/Dockerfile ENTRYPOINT): a 2 MB young generation instead of V8's
 * default of up to 16 MB per semi-space; the agent's garbage is short-lived, and the default doubles its RSS growth.
 */
const SHIPPED_NODE_FLAGS = ['--max-semi-space-size=2'];

async function startAgent(scope: string, extra: Record<string, unknown>, compiled?: string, nodeFlags: string[] = []): Promise<Agent> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `modelpilot-bench-${scope}-`));
  fs.writeFileSync(path.join(dir, 'token'), TOKEN);
  const port = await freePort();
  fs.writeFileSync(path.join(dir, 'agent.yaml'), stringify({
    targets: { docker: { socket: pod.socketPath, scope, stopTimeout: '5s' } },
    pollInterval: '1s',
    registries: { insecure: [reg.host], rateLimit: 200 },
    health: { readinessTimeout: '5s', bakeWindow: '0s', inconclusive: 'probe', probe: { url: 'http://127.0.0.1:1/', count: 1 } },
    webhooks: { listen: `127.0.0.1:${port}`, bearerTokenFile: path.join(dir, 'token') },
    stateDir: dir,
    log: { level: 'warn' },
    ...extra,
  }));
  const args = [...nodeFlags, ...(compiled
    ? [path.join(compiled, 'bin/modelpilot.js'), 'agent', '--config', path.join(dir, 'agent.yaml')]
    : ['-r', 'ts-node/register/transpile-only', path.join(ROOT, 'bin/modelpilot.ts'), 'agent', '--config', path.join(dir, 'agent.yaml')])];
  const child = spawn(process.execPath, args, {
    cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, NODE_PATH: path.join(ROOT, 'node_modules') },
  });
  children.push(child);
  const exited = new Promise((r) => child.on('exit', r));
  await until(async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).status === 200, 'the agent to start', 60_000, 100);
  return {
    port, pid: child.pid!,
    metric: async (name) => {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, 'm').exec(text);
      return m ? Number(m[1]) : NaN;
    },
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

function probeOn(port: number): Record<string, unknown> {
  return { readinessTimeout: '5s', bakeWindow: '0s', inconclusive: 'probe', probe: { url: `http://127.0.0.1:${port}/health/ready`, count: 1 } };
}

/** Push 1.1.0 and time until it serves. */
async function reaction(kind: 'webhook' | 'poll', run: number): Promise<{ totalMs: number; modelLoadMs: number }> {
  const repo = `bench/${kind}-${run}`;
  const scope = `${kind}-${run}`;
  const port = await freePort();
  await push(repo, '1.0.0');
  await runModel(`bench-${scope}`, repo, '1.0.0', port, scope);
  const agent = await startAgent(scope, { health: probeOn(port), pollInterval: kind === 'poll' ? '1s' : '1h' });
  if (kind === 'webhook') forwardTo = `http://127.0.0.1:${agent.port}/webhooks/registry`;
  try {
    await push(repo, '1.1.0');
    const t0 = Date.now();
    await until(async () => (await served(port)) === '1.1.0', `${scope} to serve 1.1.0`);
    const totalMs = Date.now() - t0;
    return { totalMs, modelLoadMs: Math.round((await modelLoadSeconds(port)) * 1000) };
  } finally {
    forwardTo = undefined;
    await agent.stop();
    await removeContainers(`bench-${scope}`);
  }
}

async function rollback(run: number): Promise<{ totalMs: number }> {
  const repo = `bench/bad-${run}`;
  const scope = `bad-${run}`;
  const port = await freePort();
  await push(repo, '1.1.0');
  await runModel(`bench-${scope}`, repo, '1.1.0', port, scope);
  const agent = await startAgent(scope, { health: probeOn(port) });
  try {
    await push(repo, '1.2.0');
    const t0 = Date.now();
    // first the bad version takes over (nothing ready on the port), then 1.1.0 serves again
    await until(async () => (await served(port)) === undefined, `${scope} to switch to 1.2.0`, 60_000);
    await until(async () => (await served(port)) === '1.1.0', `${scope} to serve 1.1.0 again`);
    return { totalMs: Date.now() - t0 };
  } finally {
    await agent.stop();
    await removeContainers(`bench-${scope}`);
  }
}

/** Sequential POST /predict during an update; bounded in count and time. */
async function loadDuringUpdate(): Promise<{ requests: number; failed: number; updateMs: number }> {
  const repo = 'bench/load';
  const port = await freePort();
  await push(repo, '1.0.0');
  await runModel('bench-load', repo, '1.0.0', port, 'load');
  const agent = await startAgent('load', { health: probeOn(port) });
  const body = JSON.stringify({ features: { tenure_months: 1, monthly_charges: 120, support_calls_90d: 8, month_to_month: true } });
  let requests = 0;
  let failed = 0;
  let done = false;
  const agentKeepAlive = new http.Agent({ keepAlive: false });
  const loop = (async () => {
    const deadline = Date.now() + 60_000;
    while (!done && requests < 5000 && Date.now() < deadline) {
      requests++;
      try {
        const res = await fetch(`http://127.0.0.1:${port}/predict`, { method: 'POST', body, headers: { 'content-type': 'application/json' }, signal: AbortSignal.timeout(2000) });
        await res.arrayBuffer();
        if (res.status !== 200) failed++;
      } catch {
        failed++;
      }
      await sleep(10);
    }
  })();
  try {
    await sleep(500);
    await push(repo, '1.1.0');
    const t0 = Date.now();
    await until(async () => (await served(port)) === '1.1.0', 'bench-load to serve 1.1.0');
    const updateMs = Date.now() - t0;
    await sleep(500);
    done = true;
    await loop;
    return { requests, failed, updateMs };
  } finally {
    done = true;
    agentKeepAlive.destroy();
    await agent.stop();
    await removeContainers('bench-load');
  }
}

/** VmRSS (now) and VmHWM (peak) of a process, in MB. */
function rssOf(pid: number): { rssMb: number; peakRssMb: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string): number => Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(status)![1]);
  return { rssMb: round(kb('VmRSS') / 1024), peakRssMb: round(kb('VmHWM') / 1024) };
}

/**
 * 100 watched images: RSS of the agent process and registry requests per image per quiet poll. Measured on the
 * compiled agent (plain JS, the shipped node flags) and, for comparison, under ts-node.
 */
async function watched100(): Promise<Record<string, unknown>> {
  for (let i = 0; i < WATCHED; i++) await push(`bench/w${i}`, '1.0.0');
  // each watched container is a `sleep` process (the image ships one), so 100 of them cost little but are real
  const hasSleep = await pod.podman(['run', '--rm', '--network', 'host', `${reg.host}/bench/w0:1.0.0`, 'sleep', '0']).then(() => true, () => false);
  const cmd = hasSleep ? ['sleep', 'infinity'] : ['/usr/local/bin/node', '-e', 'setInterval(() => {}, 1 << 30)'];
  for (let i = 0; i < WATCHED; i++) await runModel(`bench-w${i}`, `bench/w${i}`, '1.0.0', 20000 + i, 'watch100', cmd);
  const compiled = compileAgent();
  try {
    const js = await watchedRun(compiled, SHIPPED_NODE_FLAGS);
    const tsNode = await watchedRun(undefined, []);
    return {
      images: WATCHED,
      nodeFlags: SHIPPED_NODE_FLAGS.join(' '),
      // median of 20 samples over the quiet window; peak = the process's VmHWM since start
      agentRssMb: js.rssMb, agentPeakRssMb: js.peakRssMb, agentIdleRssMb: js.idleRssMb, agentHeapUsedMb: js.heapUsedMb,
      tsNodeAgentRssMb: tsNode.rssMb, tsNodeAgentPeakRssMb: tsNode.peakRssMb,
      nodeBaselineRssMb: round(await nodeBaseline()),
      quietPollsInWindow: js.quietPolls, registryRequestsInWindow: js.registryRequests,
      registryRequestsPerImagePerQuietPoll: round(js.registryRequests / WATCHED / Math.max(1, js.quietPolls)),
    };
  } finally {
    fs.rmSync(compiled, { recursive: true, force: true });
    await removeContainers('bench-w');
  }
}

async function watchedRun(compiled: string | undefined, nodeFlags: string[]): Promise<{
  rssMb: number; peakRssMb: number; idleRssMb: number; heapUsedMb: number; quietPolls: number; registryRequests: number;
}> {
  const agent = await startAgent('watch100', { pollInterval: '2s' }, compiled, nodeFlags);
  try {
    // started, before the first cycle has listed anything
    const idleRssMb = rssOf(agent.pid).rssMb;
    // let a few polls pass, then count the registry's tag-list and manifest requests over a quiet window
    await until(async () => (await agent.metric('modelpilot_updater_cycles_total')) >= 3, 'three cycles', 120_000, 200);
    const before = countRegistryRequests();
    const c0 = await agent.metric('modelpilot_updater_cycles_total');
    // RSS swings with every GC; sample it through the window and report the median (and the process peak)
    const samples: number[] = [];
    for (let i = 0; i < 20; i++) {
      await sleep(500);
      samples.push(rssOf(agent.pid).rssMb);
    }
    const c1 = await agent.metric('modelpilot_updater_cycles_total');
    const after = countRegistryRequests();
    const rssMb = median(samples);
    const { peakRssMb } = rssOf(agent.pid);
    const heapUsedMb = round((await agent.metric('nodejs_heap_size_used_bytes')) / 1024 / 1024);
    // pollInterval = tick = 2 s, so every cycle in the window is a quiet poll of all 100 images
    return { rssMb, peakRssMb, idleRssMb, heapUsedMb, quietPolls: c1 - c0, registryRequests: after - before };
  } finally {
    await agent.stop();
  }
}

/** Tag-list and manifest requests the registry logged so far (one `response completed` line per request). */
function countRegistryRequests(): number {
  // the whole log file (reg.logs() is only its tail)
  return fs.readFileSync(path.join(reg.dir, 'registry.log'), 'utf8').split('\n')
    .filter((l) => /msg="response completed( with error)?"/.test(l) && /http\.request\.uri="?\/v2\/\S+\/(tags\/list|manifests\/)/.test(l)).length;
}

/** RSS of an idle plain node process, for scale. */
async function nodeBaseline(): Promise<number> {
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 3000)']);
  await sleep(1500);
  const rss = Number(/VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${child.pid}/status`, 'utf8'))![1]) / 1024;
  child.kill('SIGTERM');
  return rss;
}

const round = (n: number): number => Math.round(n * 100) / 100;

const SETUP = 'distribution registry + podman (runc, host network) on 127.0.0.1; agent process via ts-node (the compiled agent and ts-node for the 100-image memory run); readiness probe + synthetic probe gate (no Prometheus, bakeWindow 0s)';

/** Every scenario (images 1.0.0 already built). */
async function everyScenario(): Promise<Record<string, unknown>> {
  images['1.1.0'] = await buildTestImage({ version: '1.1.0', podman: pod });
  images['1.2.0'] = await buildTestImage({ version: '1.2.0', podman: pod, env: { MODEL_FAULT_NEVER_READY: 'true' } });

  const webhook = [];
  const polling = [];
  const rollbacks = [];
  for (let i = 0; i < RUNS; i++) {
    webhook.push(await reaction('webhook', i));
    polling.push(await reaction('poll', i));
    rollbacks.push(await rollback(i));
  }
  const load = await loadDuringUpdate();
  const watch = await watched100();
  const summarise = (runs: Array<{ totalMs: number; modelLoadMs?: number }>) => ({
    runs: runs.map((r) => r.totalMs),
    medianMs: median(runs.map((r) => r.totalMs)),
    medianExcludingModelLoadMs: runs[0].modelLoadMs === undefined ? undefined : median(runs.map((r) => r.totalMs - (r.modelLoadMs ?? 0))),
    modelLoadMs: runs[0].modelLoadMs === undefined ? undefined : runs.map((r) => r.modelLoadMs),
  });
  const result = {
    benchmark: 'agent',
    node: process.version,
    cpus: os.cpus().length,
    setup: SETUP,
    webhookPushToServing: summarise(webhook),
    pollingPushToServing: { pollIntervalMs: 1000, ...summarise(polling) },
    badVersionToPreviousServing: { readinessTimeoutMs: 5000, ...summarise(rollbacks) },
    loadDuringHealthyUpdate: { ...load, note: 'sequential POST /predict every ~10 ms; a single container on one host port is stopped before the new one starts, so requests in that gap fail' },
    watched100: watch,
    targets: { webhookReactionMs: 2000, rollbackMs: 'readinessTimeout + 5000', registryRequestsPerImagePerQuietPoll: 1, agentRssMb: 80 },
  };
  return result;
}

async function main(): Promise<void> {
  const relayPort = await freePort();
  const relay = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      res.writeHead(200).end();
      if (forwardTo) {
        fetch(forwardTo, { method: 'POST', headers: { authorization: String(req.headers.authorization ?? '') }, body: Buffer.concat(chunks) }).catch(() => undefined);
      }
    });
  });
  await new Promise<void>((r) => relay.listen(relayPort, '127.0.0.1', r));
  reg = await startRegistry({ notifications: { url: `http://127.0.0.1:${relayPort}/`, headers: { Authorization: `Bearer ${TOKEN}` }, ignorePulls: true } });
  pod = await startPodman({ insecureRegistries: [reg.host] });
  docker = new Docker({ socketPath: pod.socketPath });
  try {
    const only = process.argv[2];
    if (only !== undefined && only !== 'watched100') throw new Error(`unknown scenario '${only}'; the only one that runs alone is 'watched100'`);
    images['1.0.0'] = await buildTestImage({ version: '1.0.0', podman: pod });
    const file = path.join(__dirname, 'results', 'agent.json');
    let result: Record<string, unknown>;
    if (only === 'watched100') {
      const previous = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
      result = { ...previous, node: process.version, cpus: os.cpus().length, setup: SETUP, watched100: await watched100() };
    } else {
      result = await everyScenario();
    }
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, JSON.stringify(result, null, 2) + '\n');
    const json = JSON.stringify(result, null, 2);
    process.stdout.write(json + '\n');
  } finally {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await pod.stop();
    await reg.stop();
    relay.close();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`agent bench failed: ${(e as Error).stack ?? e}\n`);
  process.exitCode = 1;
});
