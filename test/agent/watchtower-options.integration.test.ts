/**
 * Watchtower's options on the Docker target, for real: `modelpilot agent` as its own process against podman's
 * Docker-compatible API and the distribution registry, all on 127.0.0.1. The containers are opted in with Watchtower's
 * labels only (`com.centurylinklabs.watchtower.enable`, `.scope`), as a Watchtower user's are, plus
 * `modelpilot.ready.url` (without it a running container counts as ready).
 * - runOnce (`--run-once`): one cycle, a JSON summary, exit 0; with `cleanup` the replaced image is removed only
 *   once no container uses it; `com.centurylinklabs.watchtower.enable=false` is left alone;
 * - monitorOnly: the newer version is reported (`available`), the container keeps serving the old one;
 * - schedule: with a 1 h poll interval, a version pushed after the start is rolled out at the next cron time.
 *
 * The agent is the image built from agent/Dockerfile (test/support/agent-image.ts), run by the same podman as the
 * users' containers: uid 10001, the socket's group added (the socket is 0660 and owned by a group of its own), host
 * networking, its config and state directory mounted. Differs from a user's host: the image's base images are made
 * from this host's node (no container registry here), and the socket is a private podman's.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import Docker from 'dockerode';
import { stringify } from 'yaml';
import { readAudit } from '../../agent/state/audit';
import { DOCKER_LABELS, WATCHTOWER_LABELS } from '../../agent/targets/docker';
import { agentImage, runAgentContainer, shareSocket } from '../support/agent-image';
import { startPodman, TestPodman } from '../support/podman';
import { startRegistry, TestRegistry } from '../support/registry';
import { freePort, waitFor } from '../support/tools';
import { importBaseImage, pullImage, pushVersion } from './docker-fixture';

const REPO = 'test/wt';
let reg: TestRegistry;
let pod: TestPodman;
let docker: Docker;
let base: string;
const dirs: string[] = [];
let agentRef: string;
/** The group that owns the engine's socket (not root's, not the agent's own). */
const SOCKET_GID = 47_214;
let agents = 0;
const ref = (v: string): string => `${reg.host}/${REPO}:${v}`;

beforeAll(async () => {
  reg = await startRegistry();
  pod = await startPodman({ insecureRegistries: [reg.host] });
  docker = new Docker({ socketPath: pod.socketPath });
  base = await importBaseImage(pod);
  await pushVersion(pod, base, reg.host, REPO, '1.0.0');
  await pushVersion(pod, base, reg.host, REPO, '1.1.0');
  await pod.podman(['rmi', ref('1.0.0'), ref('1.1.0')]);
  agentRef = await agentImage(pod);
  shareSocket(pod, SOCKET_GID);
}, 600_000);
afterAll(async () => {
  await pod?.stop();
  await reg?.stop();
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
}, 120_000);

/** A model container with Watchtower's labels only (no modelpilot label), host networking, serving on `port`. */
async function run(name: string, version: string, port: number, scope: string, enable = 'true'): Promise<void> {
  await pullImage(docker, ref(version));
  const c = await docker.createContainer({
    name, Image: ref(version), Env: [`PORT=${port}`],
    // Watchtower's labels, plus the readiness URL a migrating user adds (else "running" counts as ready)
    Labels: { [WATCHTOWER_LABELS.enable]: enable, [WATCHTOWER_LABELS.scope]: scope, [DOCKER_LABELS.readyUrl]: `http://127.0.0.1:${port}/health/ready` },
    HostConfig: { NetworkMode: 'host', RestartPolicy: { Name: 'on-failure', MaximumRetryCount: 3 } },
  });
  await c.start();
  await waitFor(async () => (await served(port).catch(() => undefined)) === version, { what: `${name} to serve ${version}`, timeoutMs: 30_000 });
}

async function served(port: number): Promise<string> {
  return ((await (await fetch(`http://127.0.0.1:${port}/`)).json()) as { version: string }).version;
}

const imageExists = (image: string): Promise<boolean> => pod.podman(['image', 'exists', image]).then(() => true, () => false);

/** Writes agent.yaml for `scope` and runs `modelpilot agent` (extra CLI args) as its own process. */
function agent(scope: string, probePort: number, extra: Record<string, unknown>, args: string[] = []) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `modelpilot-wt-${scope}-`));
  dirs.push(dir);
  const config = {
    targets: { docker: { socket: pod.socketPath, scope, stopTimeout: '5s', ...(extra.docker as object ?? {}) } },
    registries: { insecure: [reg.host] },
    health: { readinessTimeout: '10s', bakeWindow: '0s', inconclusive: 'probe', probe: { url: `http://127.0.0.1:${probePort}/`, count: 3, interval: '100ms' } },
    webhooks: { enabled: false, listen: '127.0.0.1:0' },
    stateDir: dir,
    ...Object.fromEntries(Object.entries(extra).filter(([k]) => k !== 'docker')),
  };
  fs.writeFileSync(path.join(dir, 'agent.yaml'), stringify(config));
  const c = runAgentContainer(pod, agentRef, { name: `mp-agent-${scope}-${++agents}`, dir, config: path.join(dir, 'agent.yaml'), socketGid: SOCKET_GID, args,
    maxMs: 180_000 });
  return { dir, exited: c.exited, output: c.output, audit: () => readAudit(path.join(dir, 'audit.jsonl')), stop: () => c.stop('SIGTERM') };
}

/** The JSON summary line `--run-once` prints. */
const summary = (out: string) => JSON.parse(out.split('\n').find((l) => l.startsWith('{"runOnce"'))!) as {
  updates: Array<{ plan: string; result: string }>; failures: string[];
};

test('--run-once with cleanup: Watchtower-labelled containers are updated in one cycle; the replaced image goes only when unused', async () => {
  const [pa, pb, po] = [await freePort(), await freePort(), await freePort()];
  await run('wt-a', '1.0.0', pa, 'once');
  await run('wt-b', '1.0.0', pb, 'once');
  await run('wt-off', '1.0.0', po, 'once', 'false'); // opted out: keeps running 1.0.0, so the image stays

  const first = agent('once', pa, { docker: { cleanup: true } }, ['--run-once']);
  expect(await first.exited).toBe(0);
  expect(summary(first.output()).updates.map((u) => `${u.plan}: ${u.result}`).sort()).toEqual(['wt-a 1.0.0 -> 1.1.0: promoted', 'wt-b 1.0.0 -> 1.1.0: promoted']);
  expect([await served(pa), await served(pb), await served(po)]).toEqual(['1.1.0', '1.1.0', '1.0.0']);
  expect(await imageExists(ref('1.0.0'))).toBe(true);
  expect(first.output()).toContain('cleanup kept the replaced image; a container still uses it');

  // the last user of 1.0.0 goes: the next replaced 1.0.0 is removed
  await docker.getContainer('wt-off').remove({ force: true });
  const pc = await freePort();
  await run('wt-c', '1.0.0', pc, 'once');
  const second = agent('once', pc, { docker: { cleanup: true } }, ['--run-once']);
  expect(await second.exited).toBe(0);
  expect(summary(second.output()).updates.map((u) => `${u.plan}: ${u.result}`)).toEqual(['wt-c 1.0.0 -> 1.1.0: promoted']);
  expect(await served(pc)).toBe('1.1.0');
  expect(await imageExists(ref('1.0.0'))).toBe(false);
  expect(await imageExists((await docker.getContainer('wt-c').inspect()).Image)).toBe(true); // the image that runs stays
}, 240_000);

test('Watchtower\'s first container: one on :latest with only Watchtower\'s labels is left as it is, and the agent says why and the fix (#28)', async () => {
  await pushVersion(pod, base, reg.host, REPO, 'latest');
  const port = await freePort();
  await run('wt-latest', 'latest', port, 'latest');
  const a = agent('latest', port, {}, ['--run-once']);
  expect(await a.exited).toBe(0);
  expect(summary(a.output()).updates).toEqual([]);
  const skipped = a.audit().filter((e) => e.event === 'skipped');
  expect(skipped).toEqual([expect.objectContaining({ target: 'docker/wt-latest', result: 'not-semver', from: ref('latest') })]);
  expect(skipped[0].reason).toContain("its tag 'latest' is not a semantic version, which the policy semver:minor needs to find a newer one; "
    + "label the container modelpilot.policy=digest to follow the tag's digest (what Watchtower does), or run a versioned tag (e.g. :1.4.0)");
  expect(a.output().split('\n').filter((l) => l.includes('workload skipped: it cannot be updated'))).toHaveLength(1);
  expect(await served(port)).toBe('latest');
}, 240_000);

test('monitorOnly: the newer version is reported and audited; the container keeps serving the old one', async () => {
  const port = await freePort();
  await run('wt-m', '1.0.0', port, 'mon');
  const a = agent('mon', port, { monitorOnly: true }, ['--run-once']);
  expect(await a.exited).toBe(0);
  expect(summary(a.output()).updates).toEqual([{ workload: 'docker/wt-m', plan: 'wt-m 1.0.0 -> 1.1.0', result: 'available' }]);
  expect(await served(port)).toBe('1.0.0');
  expect((await docker.getContainer('wt-m').inspect()).Config.Image).toBe(ref('1.0.0'));
  expect(a.audit().filter((e) => e.event === 'available').map((e) => e.result)).toEqual(['monitor-only']);
  expect(a.audit().some((e) => e.event === 'apply')).toBe(false);
}, 240_000);

test('schedule: with a 1 h poll interval, a version pushed after the start goes at the next cron time', async () => {
  const port = await freePort();
  await run('wt-s', '1.1.0', port, 'sched');
  const a = agent('sched', port, { schedule: '*/3 * * * * *', pollInterval: '1h' });
  try {
    await waitFor(async () => a.audit().length > 0 || a.output().includes('cycle done'), { what: 'the first cycle', timeoutMs: 60_000, diagnostics: a.output });
    await pushVersion(pod, base, reg.host, REPO, '1.2.0');
    await waitFor(async () => (await served(port).catch(() => undefined)) === '1.2.0', { what: 'wt-s to serve 1.2.0', timeoutMs: 60_000, diagnostics: () => a.output().slice(-3000) });
    expect(a.audit().find((e) => e.event === 'planned' && e.to?.includes(':1.2.0'))?.trigger).toBe('schedule');
  } finally {
    await a.stop();
  }
}, 240_000);
