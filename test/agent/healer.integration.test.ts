/**
 * The healer's defects reproduced on the real distribution registry + podman's Docker API (runc, host networking,
 * 127.0.0.1 only), with the real agent loop (Reconciler + DockerTarget + DistributionClient + HealthGate):
 * - a version that is ready at once and exits 2 s later (restart policy on-failure:3) must not be promoted, must be
 *   quarantined and must never be applied again — before the fix the probe passed in 0.4 s and it was promoted;
 * - a model container killed on the host (restart policy no) must be started again within one cycle — before the
 *   fix it stayed down and the agent reported healthy;
 * - a pull the engine refuses (it does not trust a plain-HTTP registry) is a failed apply with the fix in its
 *   reason, never "rolled-back ok", and the version is quarantined after the failure budget — before the fix each
 *   failed pull was audited `rolled-back … ok`, 3 tries per cycle, forever;
 * - a quarantine survives an empty state directory: it is also on the engine (a marker container's label) —
 *   before, a new agent with a fresh state directory re-applied the quarantined version;
 * - a quarantine the state disk refuses holds the workload (one apply, degraded) — before, a never-ready version was
 *   applied 7–8 times in about a minute;
 * - a hold is one audit entry however long it lasts — before, ~3 entries a second at a 1 s poll;
 * - the previous image recorded for a container started by hand is a digest the registry serves, and an update
 *   whose running image the registry no longer serves (deleted by a retention job) is blocked, not rolled out —
 *   before the fix the engine's local digest was recorded, which the registry answered with 404.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import Docker from 'dockerode';
import { systemClock } from '../../agent/clock';
import { HealthGate } from '../../agent/health/gate';
import { SyntheticProbe } from '../../agent/health/probe';
import { Reconciler } from '../../agent/loop';
import { AgentMetrics } from '../../agent/metrics';
import { DistributionClient } from '../../agent/registry';
import { AuditLog } from '../../agent/state/audit';
import { QuarantineStore } from '../../agent/state/quarantine';
import { DOCKER_LABELS, DockerTarget, QUARANTINE_SUFFIX } from '../../agent/targets/docker';
import { run as runAgentCommand } from '../../bin/commands/agent';
import { startPodman, TestPodman } from '../support/podman';
import { pushEmptyImage, startRegistry, TestRegistry } from '../support/registry';
import { freePort, waitFor } from '../support/tools';
import { importBaseImage, pullImage, pushVersion } from './docker-fixture';
import { capture, tmpDir } from './fakes';

const REPO = 'test/healer';

describe('the healer on the real registry + podman', () => {
  let reg: TestRegistry;
  let pod: TestPodman;
  let docker: Docker;
  let base: string;
  const ref = (v: string): string => `${reg.host}/${REPO}:${v}`;

  beforeAll(async () => {
    reg = await startRegistry();
    pod = await startPodman({ insecureRegistries: [reg.host] });
    docker = new Docker({ socketPath: pod.socketPath });
    base = await importBaseImage(pod);
    await pushVersion(pod, base, reg.host, REPO, '1.0.0');
    // ready at once, exits with code 1 two seconds after every start
    await pushVersion(pod, base, reg.host, REPO, '1.1.0', false, { EXIT_AFTER_MS: '2000' });
  }, 300_000);

  afterAll(async () => {
    await pod?.stop();
    await reg?.stop();
  }, 120_000);

  const pull = (image: string): Promise<void> => pullImage(docker, image);

  async function served(port: number): Promise<string | undefined> {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(1000) });
      return ((await res.json()) as { version: string }).version;
    } catch {
      return undefined;
    }
  }

  /** Starts container `name` (1.0.0 of `image`, model `model`) by hand, labelled for the agent in `scope`, and waits for it to serve. */
  async function run(
    name: string, scope: string, port: number, restart?: Docker.HostRestartPolicy, options: { image?: string; model?: string } = {},
  ): Promise<void> {
    const image = options.image ?? ref('1.0.0');
    await pull(image);
    const c = await docker.createContainer({
      name, Image: image, Env: [`PORT=${port}`],
      Labels: {
        [DOCKER_LABELS.enable]: 'true', [DOCKER_LABELS.scope]: scope, [DOCKER_LABELS.model]: options.model ?? 'healer',
        [DOCKER_LABELS.policy]: 'semver:minor', [DOCKER_LABELS.readyUrl]: `http://127.0.0.1:${port}/health/ready`, [DOCKER_LABELS.stopTimeout]: '2',
      },
      HostConfig: { NetworkMode: 'host', ...(restart ? { RestartPolicy: restart } : {}) },
    });
    await c.start();
    await waitFor(async () => (await served(port)) === '1.0.0', { what: `${name} to serve 1.0.0`, timeoutMs: 30_000 });
  }

  function agent(scope: string, port: number, options: { dir?: string; hold?: boolean } = {}): {
    reconciler: Reconciler; audit: AuditLog; quarantine: QuarantineStore; metrics: AgentMetrics;
  } {
    const dir = options.dir ?? tmpDir();
    const audit = new AuditLog(path.join(dir, 'audit.jsonl'));
    const quarantine = new QuarantineStore(dir);
    const metrics = new AgentMetrics();
    const gate = new HealthGate(options.hold
      // no Prometheus and no probe: every verdict is inconclusive, and `hold` keeps the new version unpromoted
      ? { readinessTimeoutMs: 15_000, inconclusive: 'hold', clock: systemClock, watchIntervalMs: 200 }
      : {
        readinessTimeoutMs: 15_000, inconclusive: 'probe', clock: systemClock, runningGraceMs: 5000, watchIntervalMs: 200,
        // no Prometheus: the synthetic probe decides, and it passes while the crashing version is still up
        probe: new SyntheticProbe({ url: `http://127.0.0.1:${port}/`, count: 4, intervalMs: 100, timeoutMs: 1000, maxFailureRatio: 0.05, clock: systemClock }),
      });
    const reconciler = new Reconciler({
      targets: [new DockerTarget({ docker, scope, pollIntervalMs: 100 })], registry: new DistributionClient(),
      gate, quarantine, audit, metrics, clock: systemClock, pollIntervalMs: 1000,
      rollback: { maxAttempts: 3, attemptTimeoutMs: 30_000, backoff: { initialMs: 200, maxMs: 1000, factor: 2 } },
    });
    return { reconciler, audit, quarantine, metrics };
  }

  test('a version that is ready and then crashes is rolled back, quarantined, and never applied again', async () => {
    const port = await freePort();
    await run('healer-crash', 'crash', port, { Name: 'on-failure', MaximumRetryCount: 3 });
    const a = agent('crash', port);
    const t0 = Date.now();
    const first = await a.reconciler.runCycle([{ source: 'poll' }]);
    const took = Date.now() - t0;
    expect(first.updates.map((u) => `${u.plan}: ${u.result}`)).toEqual(['healer-crash 1.0.0 -> 1.1.0: rolled_back']);
    expect(a.quarantine.isQuarantined('healer', '1.1.0')).toBe(true);
    // the restored container is started; its server listens a moment later
    await waitFor(async () => (await served(port)) === '1.0.0', { what: 'the restored 1.0.0 to serve', timeoutMs: 15_000 });
    const verify = a.audit.read().find((e) => e.event === 'verify');
    expect(verify?.reason).toMatch(/runtime: Unhealthy \(.*(exited|restart)/);
    // the next cycles leave it alone
    for (let i = 0; i < 2; i++) expect((await a.reconciler.runCycle([{ source: 'poll' }])).updates).toEqual([]);
    const apply = a.audit.read().filter((e) => e.event === 'apply');
    expect(apply).toHaveLength(1);
    expect(await served(port)).toBe('1.0.0');
    // the container was started by hand: what the agent recorded as the previous image is a digest the registry serves
    const digest = apply[0].from!.split('@')[1];
    expect(digest).toMatch(/^sha256:[a-f0-9]{64}$/);
    expect(await new DistributionClient().hasManifest({ registry: reg.host, repository: REPO }, digest)).toBe(true);
    // the quarantine is also on the engine (a marker container): a new agent with an empty state directory keeps it
    const marker = await docker.getContainer(`healer-crash${QUARANTINE_SUFFIX}`).inspect();
    expect(marker.State.Status).toBe('created');
    expect(JSON.parse(marker.Config.Labels[DOCKER_LABELS.quarantine]).map((q: { version: string }) => q.version)).toEqual(['1.1.0']);
    const fresh = agent('crash', port);
    expect(fresh.quarantine.list()).toEqual([]);
    for (let i = 0; i < 2; i++) expect((await fresh.reconciler.runCycle([{ source: 'poll' }])).updates).toEqual([]);
    expect(fresh.quarantine.isQuarantined('healer', '1.1.0')).toBe(true);
    expect(fresh.audit.read().filter((e) => e.event === 'apply')).toEqual([]);
    expect(fresh.audit.read().find((e) => e.event === 'quarantined')).toMatchObject({ result: 'restored' });
    expect(await served(port)).toBe('1.0.0');
    console.log(`crash-looping version: rolled back and quarantined in ${took} ms after the poll, 1 apply in 3 cycles`);
  }, 120_000);

  test('a quarantine the state disk refuses holds the workload: one apply, degraded, the old version serving', async () => {
    const port = await freePort();
    await run('healer-full', 'full', port, { Name: 'on-failure', MaximumRetryCount: 3 });
    const dir = tmpDir();
    // the store's temp file cannot be created (as on a full disk: the write fails, nothing is saved)
    const blocker = path.join(dir, `${QuarantineStore.FILE}.${process.pid}.tmp`);
    fs.mkdirSync(blocker, { recursive: true });
    fs.writeFileSync(path.join(blocker, 'x'), '');
    const a = agent('full', port, { dir });
    const results: string[] = [];
    const t0 = Date.now();
    for (let i = 0; i < 4; i++) {
      const r = await a.reconciler.runCycle([{ source: 'poll' }]);
      results.push(...r.updates.map((u) => u.result));
      await new Promise((res) => setTimeout(res, 1100));
    }
    expect(results).toEqual(['rolled_back']);
    expect(a.audit.read().filter((e) => e.event === 'apply')).toHaveLength(1);
    expect(a.reconciler.degraded.get('quarantine')).toMatch(/cannot write the quarantine store .*\(EISDIR\)/);
    expect((await a.metrics.registry.getSingleMetric('modelpilot_updater_degraded')!.get()).values[0].value).toBe(1);
    await waitFor(async () => (await served(port)) === '1.0.0', { what: 'healer-full to serve 1.0.0', timeoutMs: 15_000 });
    // the disk takes writes again: the quarantine is written, the agent is healthy, still one apply
    fs.rmSync(blocker, { recursive: true });
    await a.reconciler.runCycle([{ source: 'poll' }]);
    expect(new QuarantineStore(dir).isQuarantined('healer', '1.1.0')).toBe(true);
    expect(a.reconciler.degraded.size).toBe(0);
    expect(a.audit.read().filter((e) => e.event === 'apply')).toHaveLength(1);
    console.log(`state disk full: 1 apply in 4 cycles over ${Date.now() - t0} ms, held and degraded until the disk took the write`);
  }, 120_000);

  test('a hold is one audit entry, however many cycles it lasts', async () => {
    const repo = 'test/hold';
    const refOf = (v: string) => `${reg.host}/${repo}:${v}`;
    for (const v of ['1.0.0', '1.1.0']) await pushVersion(pod, base, reg.host, repo, v);
    const port = await freePort();
    await run('healer-hold', 'hold', port, undefined, { image: refOf('1.0.0'), model: 'hold' });
    const a = agent('hold', port, { hold: true });
    const cycles = 8;
    for (let i = 0; i < cycles; i++) await a.reconciler.runCycle([{ source: 'poll' }]);
    const audit = a.audit.read();
    const holds = audit.filter((e) => e.event === 'held' || (e.event === 'verify' && e.result === 'hold'));
    expect(holds.length).toBeGreaterThan(0);
    expect(holds.length).toBeLessThanOrEqual(2); // the verdict and the hold, once, not per cycle
    expect(audit.filter((e) => e.event === 'apply')).toHaveLength(1);
    expect(await served(port)).toBe('1.1.0'); // held: the new version serves, unpromoted, the old one kept
    console.log(`hold: ${audit.length} audit entries in ${cycles} cycles (${holds.length} for the hold)`);
  }, 120_000);

  test('a model container killed on the host is started again within one cycle', async () => {
    const port = await freePort();
    await run('healer-kill', 'kill', port, { Name: 'no' });
    const a = agent('kill', port);
    expect((await a.reconciler.runCycle([{ source: 'poll' }])).updates.map((u) => u.result)).not.toContain('restarted');
    // 1.1.0 is quarantined here so the cycle only watches what runs
    a.quarantine.add({ model: 'healer', version: '1.1.0', reason: 'test', since: new Date().toISOString(), source: 'test' });
    await pod.podman(['kill', '-s', 'KILL', 'healer-kill']);
    await waitFor(async () => !(await docker.getContainer('healer-kill').inspect()).State.Running, { what: 'the container to die', timeoutMs: 10_000 });
    const t0 = Date.now();
    const r = await a.reconciler.runCycle([{ source: 'poll' }]);
    expect(r.updates).toEqual([{ workload: 'docker/healer-kill', plan: 'healer-kill restart 1/3', result: 'restarted' }]);
    await waitFor(async () => (await served(port)) === '1.0.0', { what: 'healer-kill to serve again', timeoutMs: 15_000 });
    const back = Date.now() - t0;
    expect(a.audit.read().find((e) => e.event === 'restarted')?.reason).toMatch(/exit code 137/);
    expect((await a.metrics.registry.getSingleMetric('modelpilot_updater_restarts_total')!.get()).values[0].value).toBe(1);
    console.log(`killed container serving again ${back} ms after the cycle started`);
  }, 120_000);

  test('a pull the engine refuses is a failed apply that says how to fix the engine, quarantined after the budget', async () => {
    // a second registry, not in the podman service's insecure list; the test's own podman CLI pushes and pulls with
    // --tls-verify=false, so only the engine's pull through the Docker API refuses it
    const untrusted = await startRegistry();
    try {
      const repo = 'test/trust';
      for (const v of ['1.0.0', '1.1.0']) {
        const tmp = `mp-trust-${v.replace(/\W/g, '-')}-${process.pid}`;
        await pod.podman(['create', '--name', tmp, base]);
        await pod.podman(['commit', '-q', '--change', `ENV MODEL_VERSION=${v}`, tmp, `${untrusted.host}/${repo}:${v}`]);
        await pod.podman(['rm', '-f', tmp]);
        await pod.podman(['push', '--tls-verify=false', `${untrusted.host}/${repo}:${v}`], { timeoutMs: 180_000 });
      }
      await pod.podman(['rmi', `${untrusted.host}/${repo}:1.1.0`]);
      const port = await freePort();
      const c = await docker.createContainer({
        name: 'healer-trust', Image: `${untrusted.host}/${repo}:1.0.0`, Env: [`PORT=${port}`],
        Labels: {
          [DOCKER_LABELS.enable]: 'true', [DOCKER_LABELS.scope]: 'trust', [DOCKER_LABELS.model]: 'trust', [DOCKER_LABELS.policy]: 'semver:minor',
          [DOCKER_LABELS.readyUrl]: `http://127.0.0.1:${port}/health/ready`,
        },
        HostConfig: { NetworkMode: 'host' },
      });
      await c.start();
      await waitFor(async () => (await served(port)) === '1.0.0', { what: 'healer-trust to serve 1.0.0', timeoutMs: 30_000 });
      const a = agent('trust', port);
      const results: string[] = [];
      for (let i = 0; i < 8 && !a.quarantine.isQuarantined('trust', '1.1.0'); i++) {
        results.push(...(await a.reconciler.runCycle([{ source: 'poll' }])).updates.map((u) => u.result));
        await new Promise((r) => setTimeout(r, 500)); // past the cross-cycle backoff (200 ms doubling)
      }
      expect(a.quarantine.isQuarantined('trust', '1.1.0')).toBe(true);
      expect(results).toEqual(['failed', 'failed', 'failed']);
      const audit = a.audit.read();
      expect(audit.filter((e) => e.event === 'rolled-back')).toEqual([]);
      const failed = audit.find((e) => e.event === 'apply-failed')!;
      expect(failed.reason).toContain(`the engine does not trust ${untrusted.host}`);
      expect(failed.reason).toContain('insecure=true');
      expect(audit.find((e) => e.event === 'quarantined')?.reason).toMatch(/every apply failed in 3 cycle\(s\)/);
      // this container runs an image podman committed and pushed itself: the engine's digest of it is its own (the
      // registry answers 404), and the previous image recorded is the registry's digest of the same image
      const repoName = { registry: untrusted.host, repository: repo };
      const client = new DistributionClient();
      const image = await docker.getImage((await c.inspect()).Image).inspect();
      const engineDigest = (image.RepoDigests ?? []).map((d) => d.split('@')[1]).find((d) => d !== undefined)!;
      expect(await client.hasManifest(repoName, engineDigest)).toBe(false);
      const from = audit.find((e) => e.event === 'apply')!.from!;
      expect(from).toBe(`${untrusted.host}/${repo}:1.0.0@${await client.resolveDigest(repoName, '1.0.0')}`);
      expect(await client.hasManifest(repoName, from.split('@')[1])).toBe(true);
      expect(await served(port)).toBe('1.0.0');
    } finally {
      await untrusted.stop();
    }
  }, 180_000);

  test('an update whose running image the registry no longer serves is blocked until the image is pushed again', async () => {
    const repo = 'test/retention';
    const refOf = (v: string) => `${reg.host}/${repo}:${v}`;
    for (const v of ['1.0.0', '1.1.0']) await pushVersion(pod, base, reg.host, repo, v);
    const port = await freePort();
    await run('healer-retention', 'retention', port, undefined, { image: refOf('1.0.0'), model: 'retention' });
    // a retention job deletes the running version's manifest from the registry
    const repoName = { registry: reg.host, repository: repo };
    const client = new DistributionClient();
    const running = await client.resolveDigest(repoName, '1.0.0');
    const del = await fetch(`http://${reg.host}/v2/${repo}/manifests/${running}`, { method: 'DELETE' });
    expect(del.status).toBe(202);
    const a = agent('retention', port);
    for (let i = 0; i < 3; i++) {
      const r = await a.reconciler.runCycle([{ source: 'poll' }]);
      expect(r.updates).toEqual([]);
      expect(r.failures.join('\n')).toContain(`is not in registry ${reg.host} (404 on its manifest), so a rollback could not pull it back`);
      await new Promise((res) => setTimeout(res, 1100)); // one poll interval
    }
    const audit = a.audit.read();
    expect(audit.filter((e) => e.event === 'blocked')).toHaveLength(1);
    expect(audit.filter((e) => e.event === 'apply')).toEqual([]);
    expect((await docker.getContainer('healer-retention').inspect()).Config.Image).toBe(refOf('1.0.0'));
    // pushed again (same content, same digest): the update goes ahead
    await pod.podman(['push', '--tls-verify=false', refOf('1.0.0')], { timeoutMs: 180_000 });
    expect(await client.hasManifest(repoName, running)).toBe(true);
    const r = await a.reconciler.runCycle([{ source: 'poll' }]);
    expect(r.updates.map((u) => `${u.plan}: ${u.result}`)).toEqual(['healer-retention 1.0.0 -> 1.1.0: promoted']);
    expect(a.audit.read().find((e) => e.event === 'apply')?.from).toContain(`@${running}`);
  }, 180_000);

  test('--check --connect tells whether the engine trusts each configured registry', async () => {
    const untrusted = await startRegistry();
    try {
      await pushEmptyImage(untrusted, 'models/other', '1.0.0');
      const dir = tmpDir();
      const file = path.join(dir, 'agent.yaml');
      fs.writeFileSync(file, [
        'targets:', `  docker: { socket: ${pod.socketPath} }`,
        'images:', `  - repository: ${reg.host}/${REPO}`, `  - repository: ${untrusted.host}/models/other`,
        `stateDir: ${dir}`,
      ].join('\n'));
      const r = await capture(() => runAgentCommand(['--config', file, '--check', '--connect']));
      expect(r.code).toBe(1);
      const lines = r.out.split('\n');
      expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^ok   agent -> registry ${reg.host}: ${REPO} lists 2 tag\\(s\\)$`)));
      expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^ok   agent -> registry ${untrusted.host}: models/other lists 1 tag\\(s\\)$`)));
      expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^ok   engine -> registry ${reg.host}: reached and trusted`)));
      expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^FAIL engine -> registry ${untrusted.host}: refused — the engine does not trust ${untrusted.host}`)));
    } finally {
      await untrusted.stop();
    }
  }, 120_000);
});
