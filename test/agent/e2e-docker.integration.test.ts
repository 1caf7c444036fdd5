/**
 * End to end, all real and on 127.0.0.1: Debian's distribution registry and a private `podman system service`
 * (runc, host networking) in temp dirs; the reference model-server image built in three versions (good 1.0.0,
 * good 1.1.0, bad 1.2.0 that never gets ready) and pushed; the agent image built from agent/Dockerfile
 * (test/support/agent-image.ts) run as shipped — uid 10001, the socket's group added, host networking, its config and
 * state directory mounted — against podman's Docker API. Each scenario uses its own repository, container scope, port
 * and agent container; a SIGKILL goes to the agent in its container (`podman kill`).
 * Differs from a user's host: the agent image's base images are made from this host's node (no container registry
 * here), and the socket is a private podman's.
 */
import { ChildProcess, spawn } from 'child_process';
import { createHmac } from 'crypto';
import * as fs from 'fs';
import * as http from 'http';
import * as os from 'os';
import * as path from 'path';
import Docker from 'dockerode';
import { stringify } from 'yaml';
import { readAudit } from '../../agent/state/audit';
import { QuarantineStore } from '../../agent/state/quarantine';
import { DOCKER_LABELS, QUARANTINE_SUFFIX } from '../../agent/targets/docker';
import { buildTestImage, TestImage } from '../../scripts/build-test-image';
import { agentImage, runAgentContainer, shareSocket } from '../support/agent-image';
import { startPodman, TestPodman } from '../support/podman';
import { startRegistry, TestRegistry } from '../support/registry';
import { freePort, waitFor, WaitAbort } from '../support/tools';

jest.setTimeout(240_000);

const TOKEN = 'e2e-bearer-token-0123456789';
const SECRET = 'e2e-hmac-secret-0123456789';
const ROOT = path.resolve(__dirname, '../..');
/** The group that owns the engine's socket (not root's, not the agent's own), given to the agent's container. */
const SOCKET_GID = 47_215;

let reg: TestRegistry;
let pod: TestPodman;
let docker: Docker;
let relay: http.Server;
/** Where the relay forwards the registry's notifications (the agent under test), or undefined to drop them. */
let forwardTo: string | undefined;
const images: Record<string, TestImage> = {};
const agents: AgentProcess[] = [];

beforeAll(async () => {
  // The registry notifies a relay in the test, which forwards to whichever agent runs the webhook scenario.
  const relayPort = await freePort();
  relay = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const target = forwardTo;
      res.writeHead(200).end();
      if (!target) return;
      fetch(target, { method: 'POST', headers: { authorization: String(req.headers.authorization ?? ''), 'content-type': String(req.headers['content-type'] ?? '') }, body })
        .catch(() => undefined);
    });
  });
  await new Promise<void>((r) => relay.listen(relayPort, '127.0.0.1', r));
  reg = await startRegistry({ notifications: { url: `http://127.0.0.1:${relayPort}/`, headers: { Authorization: `Bearer ${TOKEN}` }, ignorePulls: true } });
  pod = await startPodman({ insecureRegistries: [reg.host] });
  docker = new Docker({ socketPath: pod.socketPath });
  images['1.0.0'] = await buildTestImage({ version: '1.0.0', podman: pod });
  images['1.1.0'] = await buildTestImage({ version: '1.1.0', podman: pod });
  images['1.2.0'] = await buildTestImage({ version: '1.2.0', podman: pod, env: { MODEL_FAULT_NEVER_READY: 'true' } });
  agentRef = await agentImage(pod);
  shareSocket(pod, SOCKET_GID);
}, 600_000);

afterAll(async () => {
  for (const a of agents) await a.stop('SIGKILL');
  await pod?.stop();
  await reg?.stop();
  await new Promise((r) => (relay ? relay.close(r) : r(undefined)));
}, 180_000);

/** Pushes a built version to `<registry>/<repository>:<version>`. */
async function push(repository: string, version: string): Promise<string> {
  const ref = `${reg.host}/${repository}:${version}`;
  await pod.podman(['tag', images[version].imageId, ref]);
  await pod.podman(['push', '--tls-verify=false', ref], { timeoutMs: 180_000 });
  return ref;
}

async function pull(image: string): Promise<void> {
  const s = await docker.pull(image);
  await new Promise((resolve, reject) => docker.modem.followProgress(s, (e: Error | null) => (e ? reject(e) : resolve(undefined))));
}

/** Runs a model-server container on host networking at `port`, labelled for the agent in `scope`. */
async function runModel(name: string, image: string, port: number, scope: string): Promise<string> {
  if (image.startsWith(reg.host)) await pull(image);
  const c = await docker.createContainer({
    name, Image: image, Env: [`PORT=${port}`],
    Labels: {
      [DOCKER_LABELS.enable]: 'true', [DOCKER_LABELS.scope]: scope, [DOCKER_LABELS.model]: 'churn', [DOCKER_LABELS.policy]: 'semver:minor',
      [DOCKER_LABELS.readyUrl]: `http://127.0.0.1:${port}/health/ready`, [DOCKER_LABELS.stopTimeout]: '5',
    },
    HostConfig: { NetworkMode: 'host', RestartPolicy: { Name: 'on-failure', MaximumRetryCount: 3 } },
  });
  await c.start();
  await waitFor(async () => (await served(port)) !== undefined, { what: `${name} to serve`, timeoutMs: 30_000 });
  return c.id;
}

/** The version the model server on `port` reports, or undefined when it does not answer ready. */
async function served(port: number): Promise<string | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/health/ready`, { signal: AbortSignal.timeout(2000) });
    if (res.status !== 200) return undefined;
    return ((await res.json()) as { version: string }).version;
  } catch {
    return undefined;
  }
}

/** The workload's containers (its quarantine marker, a never-started record, is not one: see {@link quarantineMarker}). */
async function containers(prefix: string): Promise<Array<{ name: string; image: string; state: string; id: string }>> {
  const list = await docker.listContainers({ all: true });
  return list.filter((c) => !c.Labels?.[DOCKER_LABELS.quarantineOf])
    .map((c) => ({ name: c.Names[0].replace(/^\//, ''), image: c.Image, state: c.State, id: c.Id }))
    .filter((c) => c.name.startsWith(prefix)).sort((a, b) => a.name.localeCompare(b.name));
}

/** The versions on workload `name`'s quarantine marker container, and the marker's state. */
async function quarantineMarker(name: string): Promise<{ state: string; versions: string[] } | undefined> {
  const c = await docker.getContainer(`${name}${QUARANTINE_SUFFIX}`).inspect().catch(() => undefined);
  if (!c) return undefined;
  const listed = JSON.parse(c.Config.Labels[DOCKER_LABELS.quarantine]) as Array<{ version: string }>;
  return { state: c.State.Status, versions: listed.map((q) => q.version) };
}

interface AgentProcess {
  readonly child: ChildProcess;
  readonly port: number;
  readonly dir: string;
  output(): string;
  metric(name: string): Promise<number>;
  /** The signal goes to the agent in its container; resolves with the container's exit code (137 after SIGKILL). */
  stop(signal: NodeJS.Signals): Promise<number | null>;
}

let agentRef: string;
let started = 0;

/** Writes agent.yaml and runs the agent image (`modelpilot agent`) as shipped; resolves once /healthz answers. */
async function startAgent(scope: string, dir: string, extra: Record<string, unknown> = {}): Promise<AgentProcess> {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'token'), TOKEN);
  fs.writeFileSync(path.join(dir, 'secret'), SECRET);
  const port = await freePort();
  const config = {
    targets: { docker: { socket: pod.socketPath, scope, stopTimeout: '5s' } },
    pollInterval: '1s',
    registries: { insecure: [reg.host] },
    health: { readinessTimeout: '10s', bakeWindow: '0s', inconclusive: 'probe', probe: { url: 'http://127.0.0.1:1/', count: 3, interval: '100ms' } },
    rollback: { attemptTimeout: '60s', backoff: { initial: '500ms', max: '2s' } },
    webhooks: { listen: `127.0.0.1:${port}`, bearerTokenFile: path.join(dir, 'token'), hmacSecretFile: path.join(dir, 'secret') },
    stateDir: dir,
    log: { level: 'debug' },
    ...extra,
  };
  fs.writeFileSync(path.join(dir, 'agent.yaml'), stringify(config));
  const c = runAgentContainer(pod, agentRef, { name: `e2e-agent-${scope}-${++started}`, dir, config: path.join(dir, 'agent.yaml'), socketGid: SOCKET_GID });
  const a: AgentProcess = {
    child: c.child, port, dir,
    output: c.output,
    metric: async (name) => {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, 'm').exec(text);
      return m ? Number(m[1]) : NaN;
    },
    stop: c.stop,
  };
  agents.push(a);
  await waitFor(async () => {
    if (c.child.exitCode !== null) throw new WaitAbort(`the agent for ${scope} exited (${c.child.exitCode}): ${c.output().slice(-3000)}`);
    return (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined))?.status === 200;
  }, { what: `the agent for ${scope} to answer /healthz`, timeoutMs: 60_000, diagnostics: () => c.output().slice(-3000) });
  return a;
}

function probeOn(port: number, count = 3, interval = '100ms'): Record<string, unknown> {
  return { readinessTimeout: '10s', bakeWindow: '0s', inconclusive: 'probe', probe: { url: `http://127.0.0.1:${port}/health/ready`, count, interval } };
}

const tmp = (name: string): string => fs.mkdtempSync(path.join(os.tmpdir(), `modelpilot-e2e-${name}-`));

test('polling: 1.0.0 → 1.1.0 is pulled, verified and serving (old container removed only after); then bad 1.2.0 → back to 1.1.0', async () => {
  const port = await freePort();
  const from = await push('models/poll', '1.0.0');
  await runModel('e2e-poll', from, port, 'poll');
  const agent = await startAgent('poll', tmp('poll'), { health: { ...probeOn(port), readinessTimeout: '5s' } });
  await push('models/poll', '1.1.0');
  await waitFor(async () => (await served(port)) === '1.1.0' && (await containers('e2e-poll')).length === 1, {
    what: 'the poll agent to move e2e-poll to 1.1.0', timeoutMs: 60_000, diagnostics: () => agent.output().slice(-4000),
  });
  const [c] = await containers('e2e-poll');
  expect(c).toMatchObject({ name: 'e2e-poll', state: 'running' });
  // the new container runs the digest-pinned reference the agent planned (podman may drop the tag and keep the digest)
  const running = (await docker.getContainer('e2e-poll').inspect()).Config.Image;
  const planned = readAudit(path.join(agent.dir, 'audit.jsonl')).find((e) => e.event === 'apply')!.to!;
  expect(planned).toMatch(new RegExp(`^${reg.host}/models/poll:1\\.1\\.0@sha256:[0-9a-f]{64}$`));
  expect(running.split('@')[1]).toBe(planned.split('@')[1]);
  const audit = readAudit(path.join(agent.dir, 'audit.jsonl'));
  expect(audit.find((e) => e.event === 'promoted')).toMatchObject({ target: 'docker/e2e-poll', trigger: 'poll', from: expect.stringContaining(from), result: 'ok' });
  expect(await agent.metric('modelpilot_updater_updates_total')).toBe(1);

  // the agent keeps following the container it updated: the bad 1.2.0 is tried, rolled back to 1.1.0 and quarantined
  const id110 = (await containers('e2e-poll'))[0].id;
  await push('models/poll', '1.2.0');
  await waitFor(async () => fs.existsSync(path.join(agent.dir, 'quarantine.json')) && (await containers('e2e-poll')).length === 1
    && (await served(port)) === '1.1.0', { what: 'the rollback of 1.2.0 on e2e-poll', timeoutMs: 90_000, diagnostics: () => agent.output().slice(-4000) });
  expect(await containers('e2e-poll')).toEqual([expect.objectContaining({ id: id110, state: 'running' })]);
  expect(readAudit(path.join(agent.dir, 'audit.jsonl')).filter((e) => e.event === 'apply').map((e) => e.from!.split('/').pop()))
    .toEqual([expect.stringMatching(/^poll:1\.0\.0/), expect.stringMatching(/^poll:1\.1\.0@sha256:/)]);
  expect(await agent.stop('SIGTERM')).toBe(0);
});

test('webhook: forged and malformed webhooks get 4xx and change nothing; a registry push notification updates at once', async () => {
  const port = await freePort();
  const from = await push('models/hook', '1.0.0');
  await runModel('e2e-hook', from, port, 'hook');
  const agent = await startAgent('hook', tmp('hook'), { pollInterval: '1h', health: probeOn(port) });
  const url = `http://127.0.0.1:${agent.port}/webhooks/registry`;
  const envelope = JSON.stringify({ events: [{ action: 'push', target: { repository: 'models/hook', tag: '1.1.0', mediaType: 'application/vnd.docker.distribution.manifest.v2+json' } }] });
  const forged = await fetch(url, { method: 'POST', headers: { authorization: 'Bearer not-the-token-000000' }, body: envelope });
  const badSig = await fetch(url, { method: 'POST', headers: {
    'x-modelpilot-timestamp': String(Math.floor(Date.now() / 1000)), 'x-modelpilot-signature': `sha256=${createHmac('sha256', 'wrong').update(envelope).digest('hex')}`,
  }, body: envelope });
  const unsigned = await fetch(url, { method: 'POST', body: envelope });
  const malformed = await fetch(url, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` }, body: '{"events": [' });
  const tooBig = await fetch(url, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` }, body: 'x'.repeat(2 * 1024 * 1024) }).catch(() => ({ status: 413 }));
  expect([forged.status, badSig.status, unsigned.status, malformed.status, tooBig.status]).toEqual([401, 401, 401, 400, 413]);

  // the push happens now; the poll is an hour away, so only the registry's notification can move it
  forwardTo = url;
  try {
    await push('models/hook', '1.1.0');
    await waitFor(async () => (await served(port)) === '1.1.0' && (await containers('e2e-hook')).length === 1, {
      what: 'the registry notification to move e2e-hook to 1.1.0', timeoutMs: 60_000, diagnostics: () => agent.output().slice(-4000),
    });
  } finally {
    forwardTo = undefined;
  }
  const audit = readAudit(path.join(agent.dir, 'audit.jsonl'));
  expect(audit.filter((e) => e.event === 'apply').map((e) => e.trigger)).toEqual(['webhook:registry']);
  expect(await agent.stop('SIGTERM')).toBe(0);
});

test('a bad version (never ready) is rolled back to the previous one, which serves again, and is quarantined', async () => {
  const port = await freePort();
  const from = await push('models/bad', '1.1.0');
  const oldId = await runModel('e2e-bad', from, port, 'bad');
  const agent = await startAgent('bad', tmp('bad'), { health: { ...probeOn(port), readinessTimeout: '5s' } });
  await push('models/bad', '1.2.0');
  await waitFor(async () => fs.existsSync(path.join(agent.dir, 'quarantine.json'))
    && (await containers('e2e-bad')).length === 1 && (await served(port)) === '1.1.0', {
    what: 'the rollback of 1.2.0', timeoutMs: 90_000, diagnostics: () => agent.output().slice(-4000),
  });
  const list = await containers('e2e-bad');
  // the very container that ran before is running again (kept, never removed)
  expect(list).toEqual([expect.objectContaining({ name: 'e2e-bad', id: oldId, state: 'running' })]);
  const q = JSON.parse(fs.readFileSync(path.join(agent.dir, 'quarantine.json'), 'utf8')) as { entries: Array<{ model: string; version: string; reason: string }> };
  expect(q.entries).toEqual([expect.objectContaining({ model: 'churn', version: '1.2.0' })]);
  expect(q.entries[0].reason).toMatch(/^not ready: /);
  // and on the engine: the workload's marker container, created, never started
  expect(await quarantineMarker('e2e-bad')).toEqual({ state: 'created', versions: ['1.2.0'] });
  // a few more polls: 1.2.0 is not tried again
  const cycles = await agent.metric('modelpilot_updater_cycles_total');
  await waitFor(async () => (await agent.metric('modelpilot_updater_cycles_total')) >= cycles + 3, { what: 'three more cycles', timeoutMs: 30_000 });
  expect(readAudit(path.join(agent.dir, 'audit.jsonl')).filter((e) => e.event === 'apply')).toHaveLength(1);
  expect(await agent.metric('modelpilot_updater_rollbacks_total')).toBe(1);
  expect(await agent.metric('modelpilot_updater_quarantined_versions')).toBe(1);
  const history = await runCli(['history', '--file', path.join(agent.dir, 'audit.jsonl')]);
  expect(history).toMatch(/docker\/e2e-bad +rolled-back +bad:1\.2\.0 -> bad:1\.1\.0 +\(poll\) +ok: not ready: /);
  expect(await agent.stop('SIGTERM')).toBe(0);
});

test('an agent SIGKILLed mid-update is finished by the next agent from the record on the container', async () => {
  const port = await freePort();
  const from = await push('models/kill', '1.0.0');
  await runModel('e2e-kill', from, port, 'kill');
  const dir = tmp('kill');
  // a long synthetic probe (60 × 250 ms) keeps the first agent in verification long enough to kill it there
  const first = await startAgent('kill', dir, { health: probeOn(port, 60, '250ms') });
  await push('models/kill', '1.1.0');
  await waitFor(async () => (await containers('e2e-kill')).some((c) => c.name === 'e2e-kill-modelpilot-prev'), {
    what: 'the update to be in flight', timeoutMs: 60_000, diagnostics: () => first.output().slice(-4000),
  });
  expect(await first.stop('SIGKILL')).toBe(137);
  // killed: the new version runs, the old container is parked, the record is on the container
  const parked = await containers('e2e-kill');
  expect(parked.map((c) => c.name)).toEqual(['e2e-kill', 'e2e-kill-modelpilot-prev']);
  const labels = (await docker.getContainer('e2e-kill').inspect()).Config.Labels;
  expect(JSON.parse(labels[DOCKER_LABELS.inFlight])).toMatchObject({ from: expect.stringContaining(from), trigger: 'poll', attempt: 1 });

  const second = await startAgent('kill', dir, { health: probeOn(port, 3) });
  await waitFor(async () => (await containers('e2e-kill')).length === 1, {
    what: 'the restarted agent to finish the update', timeoutMs: 60_000, diagnostics: () => second.output().slice(-4000),
  });
  expect(await served(port)).toBe('1.1.0');
  const audit = readAudit(path.join(dir, 'audit.jsonl'));
  expect(audit.map((e) => e.event)).toEqual(expect.arrayContaining(['apply', 'recovered', 'promoted']));
  expect(audit.find((e) => e.event === 'recovered')).toMatchObject({ target: 'docker/e2e-kill', result: 'finishing', from: expect.stringContaining(from) });
  expect(await second.stop('SIGTERM')).toBe(0);
});

test('an agent SIGKILLed right after a rollback verdict: the next agent keeps the verdict (quarantined, never applied again)', async () => {
  const port = await freePort();
  const from = await push('models/killrb', '1.1.0');
  await runModel('e2e-killrb', from, port, 'killrb');
  const dir = tmp('killrb');
  const auditFile = path.join(dir, 'audit.jsonl');
  const health = { health: { ...probeOn(port), readinessTimeout: '5s' } };
  const first = await startAgent('killrb', dir, health);
  await push('models/killrb', '1.2.0');
  await waitFor(() => fs.existsSync(auditFile) && readAudit(auditFile).some((e) => e.event === 'verify' && e.result === 'rollback'), {
    what: 'the rollback verdict on 1.2.0', timeoutMs: 60_000, intervalMs: 10, diagnostics: () => first.output().slice(-4000),
  });
  expect(await first.stop('SIGKILL')).toBe(137);
  const atKill = readAudit(auditFile).map((e) => e.event);
  const second = await startAgent('killrb', dir, health);
  await waitFor(async () => (await containers('e2e-killrb')).length === 1 && (await served(port)) === '1.1.0'
    && new QuarantineStore(dir).isQuarantined('churn', '1.2.0'), {
    what: 'the restarted agent to restore 1.1.0 and quarantine 1.2.0', timeoutMs: 60_000, diagnostics: () => second.output().slice(-4000),
  });
  const cycles = await second.metric('modelpilot_updater_cycles_total');
  await waitFor(async () => (await second.metric('modelpilot_updater_cycles_total')) >= cycles + 3, { what: 'three more cycles', timeoutMs: 30_000 });
  const audit = readAudit(auditFile);
  expect(audit.filter((e) => e.event === 'apply')).toHaveLength(1);
  expect(audit.filter((e) => e.event === 'quarantined').map((e) => e.reason)).toEqual([expect.stringMatching(/^1\.2\.0: /)]);
  expect(await served(port)).toBe('1.1.0');
  expect(await second.stop('SIGTERM')).toBe(0);
  console.log(`killed after the rollback verdict (audit then: ${atKill.join(', ')}); the next agent kept the verdict: 1 apply, quarantined`);
});

test('registry down or answering 429: the agent backs off, keeps running and changes nothing', async () => {
  // 429 with Retry-After: 1 on every request
  const hits: number[] = [];
  const busy = http.createServer((_req, res) => {
    hits.push(Date.now());
    res.writeHead(429, { 'retry-after': '1', 'content-type': 'application/json' }).end('{"errors":[{"code":"TOOMANYREQUESTS"}]}');
  });
  const busyPort = await freePort();
  await new Promise<void>((r) => busy.listen(busyPort, '127.0.0.1', r));
  const downPort = await freePort();
  try {
    const busyRef = `127.0.0.1:${busyPort}/models/busy:1.0.0`;
    const downRef = `127.0.0.1:${downPort}/models/down:1.0.0`;
    await pod.podman(['tag', images['1.0.0'].imageId, busyRef]);
    await pod.podman(['tag', images['1.0.0'].imageId, downRef]);
    const [p1, p2] = [await freePort(), await freePort()];
    const busyId = await runModel('e2e-busy', busyRef, p1, 'flaky');
    const downId = await runModel('e2e-down', downRef, p2, 'flaky');
    const agent = await startAgent('flaky', tmp('flaky'), { registries: { insecure: [`127.0.0.1:${busyPort}`, `127.0.0.1:${downPort}`] } });
    await waitFor(async () => (await agent.metric('modelpilot_updater_failures_total')) >= 4, {
      what: 'failures to be counted', timeoutMs: 60_000, diagnostics: () => agent.output().slice(-4000),
    });
    expect(agent.child.exitCode).toBeNull();
    expect((await fetch(`http://127.0.0.1:${agent.port}/healthz`)).status).toBe(200);
    expect(await containers('e2e-busy')).toEqual([expect.objectContaining({ id: busyId, state: 'running', image: busyRef })]);
    expect(await containers('e2e-down')).toEqual([expect.objectContaining({ id: downId, state: 'running', image: downRef })]);
    // the 429s were retried after the Retry-After second, not hammered
    const gaps = hits.slice(1).map((t, i) => t - hits[i]);
    expect(hits.length).toBeGreaterThanOrEqual(2);
    expect(Math.max(...gaps)).toBeGreaterThanOrEqual(900);
    expect(readAudit(path.join(agent.dir, 'audit.jsonl')).filter((e) => e.event === 'apply')).toEqual([]);
    const failures = agent.output().split('\n').filter((l) => l.includes('"msg":"failure"'));
    expect(failures.some((l) => l.includes('e2e-down'))).toBe(true);
    expect(failures.some((l) => l.includes('e2e-busy') && l.includes('429'))).toBe(true);
    expect(await agent.stop('SIGTERM')).toBe(0);
  } finally {
    await new Promise((r) => {
      busy.close(r);
      busy.closeAllConnections();
    });
  }
});

async function runCli(args: string[]): Promise<string> {
  const child = spawn(process.execPath, [require.resolve('ts-node/dist/bin.js'), '--transpile-only', path.join(ROOT, 'bin/modelpilot.ts'), ...args], { cwd: ROOT });
  let out = '';
  child.stdout.on('data', (d) => { out += String(d); });
  await new Promise((r) => child.on('exit', r));
  return out;
}
