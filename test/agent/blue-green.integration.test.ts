/**
 * Zero-downtime blue/green on one Docker host, all real on 127.0.0.1: Debian's HAProxy running the haproxy.cfg
 * modelpilot generates, the distribution registry, podman's Docker API, Prometheus scraping both of the model's
 * ports, the reference model server, and `modelpilot agent` with `targets.docker.proxy.haproxy`. autocannon keeps
 * 10 connections on the proxy through each update and every answer is counted.
 *
 * One workload goes through: a healthy version with a 3 s model load (promoted; the old one drained and removed),
 * a version that never gets ready (never admitted; rolled back) and a version that is ready but fails 10 % of
 * requests (caught by the Prometheus gate; its failures were retried on the old version by HAProxy).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Docker from 'dockerode';
import { readAudit } from '../../agent/state/audit';
import { HaproxyRuntime } from '../../agent/targets/docker/haproxy';
import { buildTestImage, TestImage } from '../../scripts/build-test-image';
import { startPodman, TestPodman } from '../support/podman';
import { startPrometheus, TestServer } from '../support/prometheus';
import { startRegistry, TestRegistry } from '../support/registry';
import {
  AgentProcess, portPair, runModel, servedVersion, startAgent, startHaproxy, startLoad, TestHaproxy, watchVersions,
} from '../support/single-host';
import { freePort, waitFor } from '../support/tools';

jest.setTimeout(300_000);

let reg: TestRegistry;
let pod: TestPodman;
let docker: Docker;
let proxy: TestHaproxy;
let prom: TestServer;
let agent: AgentProcess;
let ports: [number, number];
const images: Record<string, TestImage> = {};
const REPO = 'models/churn-bg';

beforeAll(async () => {
  reg = await startRegistry();
  pod = await startPodman({ insecureRegistries: [reg.host] });
  docker = new Docker({ socketPath: pod.socketPath });
  images['1.0.0'] = await buildTestImage({ version: '1.0.0', podman: pod });
  images['1.1.0'] = await buildTestImage({ version: '1.1.0', podman: pod, env: { MODEL_LOAD_DELAY_MS: '3000' } });
  images['1.2.0'] = await buildTestImage({ version: '1.2.0', podman: pod, env: { MODEL_FAULT_NEVER_READY: 'true' } });
  images['1.3.0'] = await buildTestImage({ version: '1.3.0', podman: pod, env: { MODEL_FAULT_ERROR_RATIO: '0.1' } });
  ports = await portPair();
  proxy = await startHaproxy({ backend: 'churn', ports });
  prom = await startPrometheus({
    scrapeInterval: '1s',
    scrapeConfigs: [{ job_name: 'model', static_configs: [{ targets: ports.map((p) => `127.0.0.1:${p}`) }] }],
  });
  const first = await push('1.0.0');
  const s = await docker.pull(first);
  await new Promise((resolve, reject) => docker.modem.followProgress(s, (e: Error | null) => (e ? reject(e) : resolve(undefined))));
  await runModel(docker, { name: 'bg-churn', image: first, port: ports[0], scope: 'bg', proxy: { backend: 'churn', ports } });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelpilot-bg-'));
  const port = await freePort();
  agent = await startAgent(pod, dir, {
    targets: { docker: { socket: pod.socketPath, scope: 'bg', stopTimeout: '5s', proxy: { haproxy: proxy.runtimeApi, drainTimeout: '5s' } } },
    pollInterval: '1s',
    registries: { insecure: [reg.host] },
    health: {
      readinessTimeout: '15s', bakeWindow: '6s', queryInterval: '1s', runningGrace: '2s', inconclusive: 'rollback',
      prometheus: { url: prom.url },
      slo: { window: '1m', maxErrorRatio: 0.02, maxP99Latency: '2s', minRequestRate: 1 },
    },
    rollback: { attemptTimeout: '60s', maxAttempts: 1, backoff: { initial: '500ms', max: '2s' } },
    webhooks: { listen: `127.0.0.1:${port}` },
    stateDir: dir,
    log: { level: 'debug' },
  }, port);
}, 900_000);

afterAll(async () => {
  await agent?.stop('SIGKILL');
  await prom?.stop();
  await proxy?.stop();
  await pod?.stop();
  await reg?.stop();
}, 180_000);

async function push(version: string): Promise<string> {
  const ref = `${reg.host}/${REPO}:${version}`;
  await pod.podman(['tag', images[version].imageId, ref]);
  await pod.podman(['push', '--tls-verify=false', ref], { timeoutMs: 180_000 });
  return ref;
}

const audit = () => readAudit(path.join(agent.dir, 'audit.jsonl'));
const names = async () => (await docker.listContainers({ all: true })).map((c) => c.Names[0].replace(/^\//, '')).filter((n) => n.startsWith('bg-churn')).sort();
const portOf = async (name: string) => (await docker.getContainer(name).inspect()).Config.Env.find((e) => e.startsWith('PORT='));

test('a healthy version with a 3 s model load goes live behind HAProxy with no failed request; the old one is drained, then removed', async () => {
  const load = startLoad(proxy.url, { connections: 10, maxSeconds: 90 });
  const versions = watchVersions(proxy.url, 90);
  const pushed = Date.now();
  await push('1.1.0');
  await waitFor(async () => audit().some((e) => e.event === 'promoted' && e.to?.includes(':1.1.0')), {
    what: '1.1.0 to be promoted', timeoutMs: 90_000, diagnostics: () => agent.output().slice(-4000),
  });
  await new Promise((r) => setTimeout(r, 1000));
  const report = await load.stop();
  const seen = versions.stop();
  expect(report.requests).toBeGreaterThan(1000);
  expect(report.failed).toBe(0);
  // The old version answered until the new one was in rotation: never a moment without an answer.
  expect(seen.map((s) => s.version)).not.toContain(undefined);
  expect(seen.map((s) => s.version)).toContain('1.0.0');
  expect(seen[seen.length - 1].version).toBe('1.1.0');
  expect(seen.find((s) => s.version === '1.1.0')!.at - pushed).toBeGreaterThan(3000); // it loaded for 3 s, out of rotation
  expect(await names()).toEqual(['bg-churn']);
  expect(await portOf('bg-churn')).toBe(`PORT=${ports[1]}`);
  const servers = await new HaproxyRuntime(proxy.runtimeApi).servers('churn');
  expect(servers.map((s) => ({ port: s.port, admin: s.admin, up: s.up }))).toEqual([
    { port: ports[0], admin: 'maint', up: false }, { port: ports[1], admin: 'ready', up: true },
  ]);
  const verify = audit().find((e) => e.event === 'verify' && e.to?.includes(':1.1.0'));
  expect(verify?.reason).toMatch(new RegExp(`in rotation on port ${ports[1]} beside the previous version on ${ports[0]}`));
});

test('a version that never gets ready is never admitted: the proxy keeps serving the old one and the new container goes', async () => {
  const load = startLoad(proxy.url, { connections: 10, maxSeconds: 90 });
  await push('1.2.0');
  await waitFor(async () => audit().some((e) => e.event === 'rolled-back' && e.from?.includes(':1.2.0')), {
    what: '1.2.0 to be rolled back', timeoutMs: 90_000, diagnostics: () => agent.output().slice(-4000),
  });
  const report = await load.stop();
  expect(report.requests).toBeGreaterThan(1000);
  expect(report.failed).toBe(0);
  expect(await servedVersion(proxy.url)).toBe('1.1.0');
  expect(await names()).toEqual(['bg-churn', 'bg-churn-modelpilot-quarantine']);
  expect(await portOf('bg-churn')).toBe(`PORT=${ports[1]}`);
  const servers = await new HaproxyRuntime(proxy.runtimeApi).servers('churn');
  expect(servers.find((s) => s.port === ports[0])).toMatchObject({ admin: 'maint' });
});

test('a ready version failing 10 % of requests is caught by the Prometheus gate; HAProxy retried its failures on the old one', async () => {
  const load = startLoad(proxy.url, { connections: 10, maxSeconds: 120 });
  await push('1.3.0');
  await waitFor(async () => audit().some((e) => e.event === 'rolled-back' && e.from?.includes(':1.3.0')), {
    what: '1.3.0 to be rolled back', timeoutMs: 120_000, diagnostics: () => agent.output().slice(-4000),
  });
  const report = await load.stop();
  const verdict = audit().find((e) => e.event === 'verify' && e.to?.includes(':1.3.0'));
  expect(verdict).toMatchObject({ result: 'rollback' });
  expect(verdict?.reason).toMatch(/error ratio/i);
  // it did take traffic (the gate needs it) and it did fail some of it; not one failure reached a user
  expect((verdict as { evidence?: Record<string, number> }).evidence?.errorRatio).toBeGreaterThan(0.02);
  expect(report.failed).toBe(0);
  expect(await servedVersion(proxy.url)).toBe('1.1.0');
  expect(await names()).toEqual(['bg-churn', 'bg-churn-modelpilot-quarantine']);
});
