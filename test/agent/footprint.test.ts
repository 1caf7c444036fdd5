/**
 * The agent's one timer sleep (agent/clock.ts) and what the agent loads: no cdk8s package index, no semver index,
 * no dockerode until a Docker target is configured, and then without ssh2 and gRPC until they are called.
 * Memory itself is measured by bench/agent.bench.ts, not asserted here.
 */
import { spawnSync } from 'child_process';
import * as path from 'path';
import { Duration as CdkDuration } from 'cdk8s';
import { sleep, systemClock } from '../../agent/clock';
import { Duration } from '../../lib/core/duration';

const ROOT = path.resolve(__dirname, '../..');

/** Runs `code` in a fresh ts-node process and returns the package names it loaded (from require.cache). */
function packagesLoadedBy(code: string): string[] {
  const script = `${code}
const names = new Set(Object.keys(require.cache).filter((k) => k.includes('/node_modules/'))
  .map((k) => { const p = k.split('/node_modules/').pop().split('/'); return p[0].startsWith('@') ? p[0] + '/' + p[1] : p[0]; }));
process.stdout.write(JSON.stringify({ names: [...names], files: Object.keys(require.cache).filter((k) => k.includes('/node_modules/')) }));`;
  const r = spawnSync(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', script], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`child failed (${r.status}): ${r.stderr}`);
  const out = JSON.parse(r.stdout) as { names: string[]; files: string[] };
  return [...out.names, ...out.files];
}

describe('sleep (agent/clock)', () => {
  test('waits, then resolves', async () => {
    const t0 = Date.now();
    await sleep(30);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(25);
  });

  test('rejects with the signal reason as soon as the signal aborts', async () => {
    const ctl = new AbortController();
    const p = sleep(60_000, ctl.signal);
    ctl.abort(new Error('agent stopping'));
    await expect(p).rejects.toThrow('agent stopping');
  });

  test('rejects at once when the signal has already aborted', async () => {
    await expect(sleep(60_000, AbortSignal.abort(new Error('already stopped')))).rejects.toThrow('already stopped');
  });

  test('systemClock.sleep resolves early (does not throw) on abort', async () => {
    const ctl = new AbortController();
    const p = systemClock.sleep(60_000, ctl.signal);
    ctl.abort();
    await expect(p).resolves.toBeUndefined();
    expect(ctl.signal.aborted).toBe(true);
  });
});

describe('what the agent loads', () => {
  test('lib/core Duration converts like cdk8s Duration, and a cdk8s Duration is accepted where a core one is', () => {
    const ours: Duration = Duration.minutes(90);
    const theirs: Duration = CdkDuration.minutes(90); // compiles: the core type is the shape of cdk8s's class
    for (const d of [ours, theirs]) {
      expect([d.toMilliseconds(), d.toSeconds(), d.toMinutes(), d.toHours({ integral: false }), d.toHumanString()]).toEqual([5_400_000, 5400, 90, 1.5, '1 hour 30 minutes']);
    }
    expect(() => Duration.millis(1500).toSeconds()).toThrow(new Error("'1500 milliseconds' cannot be converted into a whole number of seconds."));
    expect(Duration.millis(1500).toSeconds({ integral: false })).toBe(1.5);
    expect(() => Duration.seconds(-1)).toThrow('Duration amounts cannot be negative. Received: -1000');
  });

  test('the agent modules load neither the cdk8s index, the semver index, dockerode nor the Kubernetes client', () => {
    const loaded = packagesLoadedBy("require('./bin/commands/agent'); require('./agent/main');");
    expect(loaded).not.toContain('cdk8s');
    expect(loaded).not.toContainEqual(expect.stringMatching(/\/semver\/index\.js$/));
    expect(loaded).not.toContain('dockerode');
    expect(loaded).not.toContain('@kubernetes/client-node');
    expect(loaded).not.toContain('cdk8s-plus-28');
    // what it does need
    expect(loaded).toEqual(expect.arrayContaining(['zod', 'yaml', 'prom-client']));
  });

  test('the agent\'s HTTP clients (registry, probes, Prometheus) never load undici, the engine behind the global fetch', async () => {
    // GIVEN a local server answering as a registry, a model server and Prometheus
    const script = `
const http = require('node:http');
const { DistributionClient } = require('./agent/registry');
const { SyntheticProbe } = require('./agent/health/probe');
const { PrometheusSloCheck } = require('./agent/health/prometheus');
const { Slo } = require('./lib/core/slo');
const server = http.createServer((req, res) => {
  if (req.url.startsWith('/v2/')) { res.setHeader('Docker-Content-Digest', 'sha256:' + 'a'.repeat(64)); res.end(JSON.stringify({ tags: ['1.0.0'] })); }
  else if (req.url.startsWith('/api/v1/query')) res.end(JSON.stringify({ status: 'success', data: { resultType: 'vector', result: [] } }));
  else res.end('ok');
});
server.listen(0, '127.0.0.1', async () => {
  const base = 'http://127.0.0.1:' + server.address().port;
  const clock = { now: () => new Date(), sleep: async () => undefined };
  const plan = { workload: { model: 'm' }, toVersion: '1.0.0' };
  const repo = { registry: base.slice(7), repository: 'm' };
  const client = new DistributionClient();
  const results = [
    await client.listTags(repo),
    await client.resolveDigest(repo, '1.0.0'),
    (await new SyntheticProbe({ url: base + '/health/ready', count: 1, intervalMs: 0, timeoutMs: 5000, maxFailureRatio: 0, clock }).check(plan)).status,
    (await new PrometheusSloCheck({ url: base, sloFor: () => Slo.DEFAULT, bakeWindowMs: 0, queryIntervalMs: 0, clock }).check(plan)).status,
  ];
  server.close();
  process.stdout.write(JSON.stringify({ results, undici: process.moduleLoadList.filter((m) => /undici/.test(m)) }));
});`;
    // WHEN every client has sent its requests
    const r = spawnSync(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', script], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
    expect({ status: r.status, stderr: r.status === 0 ? '' : r.stderr }).toEqual({ status: 0, stderr: '' });
    const out = JSON.parse(r.stdout) as { results: unknown[]; undici: string[] };
    // THEN the requests were answered, and undici was never loaded
    expect(out.results).toEqual([['1.0.0'], `sha256:${'a'.repeat(64)}`, 'Healthy', 'Inconclusive']);
    expect(out.undici).toEqual([]);
  });

  test('the check above would see undici: one global fetch loads it', () => {
    const r = spawnSync(process.execPath, ['-e',
      "fetch('http://127.0.0.1:1').catch(() => process.stdout.write(JSON.stringify(process.moduleLoadList.filter((m) => /undici/.test(m)))))"],
    { encoding: 'utf8', timeout: 60_000 });
    expect(JSON.parse(r.stdout)).toEqual(['NativeModule internal/deps/undici/undici']);
  });

  test('loadDockerode leaves out ssh2 and gRPC until they are called, and the ssh transport still loads on use', async () => {
    const script = `
const { loadDockerode } = require('./agent/targets/docker/dockerode');
const Docker = loadDockerode();
const before = Object.keys(require.cache).some((k) => /node_modules\\/(ssh2|@grpc)\\//.test(k));
const d = new Docker({ protocol: 'ssh', host: '127.0.0.1', port: 1, username: 'nobody' });
d.listContainers().then(() => 'connected', (e) => e.message).then((outcome) => {
  const after = Object.keys(require.cache).some((k) => /node_modules\\/ssh2\\//.test(k));
  process.stdout.write(JSON.stringify({ before, after, outcome, hasList: typeof d.listContainers }));
});`;
    const r = spawnSync(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', script], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
    // (docker-modem itself prints a URL DeprecationWarning for ssh hosts on stderr)
    expect({ status: r.status, stderr: r.status === 0 ? '' : r.stderr }).toEqual({ status: 0, stderr: '' });
    const out = JSON.parse(r.stdout) as { before: boolean; after: boolean; outcome: string; hasList: string };
    expect(out.before).toBe(false);
    expect(out.hasList).toBe('function');
    // the ssh transport was loaded on first use and tried to connect (nothing listens on port 1)
    expect(out.after).toBe(true);
    expect(out.outcome).toMatch(/ECONNREFUSED|connect/i);
  });
});
