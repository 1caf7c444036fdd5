/**
 * The single-host bundle, brought up for real: `modelpilot synth app.ts --target compose` writes compose.yaml and
 * the rest from one SelfHealingModelStack; Debian's docker-compose (1.29) runs it through a private podman's
 * Docker API (runc, host networking) — the model server, HAProxy, Prometheus (HTTP service discovery from the agent), Alertmanager
 * and the modelpilot agent. Then a healthy version pushed to the registry goes live behind the proxy, and a version
 * that never gets ready is rolled back, each under autocannon load with no failed request.
 *
 * The agent is the image built from agent/Dockerfile (test/support/agent-image.ts), run as the bundle runs it: its
 * own uid 10001, the Docker socket's group added from MODELPILOT_DOCKER_GID (the socket is 0660 and owned by a
 * group the agent is not otherwise in), its state in the named volume, the proxy reading the server-state file from
 * that volume as its own user. There is no compose override: `docker-compose up` runs the generated files as written.
 *
 * Last, the timeline page of this real run (the agent's audit log from its state volume, `modelpilot history --html`)
 * is opened in headless Chromium and screenshotted: the README's figure (MODELPILOT_SCREENSHOT_DIR=docs/img to refresh it).
 *
 * What differs from a user's host, and why (each a gap to close when a registry serving these images is reachable):
 * - the agent image's two base images (node:20-bookworm-slim, distroless nodejs20) are made from this host's node
 *   (`--build-arg BUILD_IMAGE/RUNTIME_IMAGE`); the Dockerfile, its stages, user, paths and entrypoint are the shipped ones;
 * - `--image` points HAProxy, Prometheus and Alertmanager at images imported from this host's Debian binaries
 *   (test/support/host-images.ts), running as their upstream images' users: haproxy uid 99, nobody for the others;
 * - the ports are free high ports of this machine instead of the defaults (other tests may hold them), and the
 *   socket is a private podman's instead of /var/run/docker.sock.
 *
 * Why docker-compose and not podman-compose: Debian's podman-compose 1.0.3 adds `--net <project>_default` to every
 * container even with `network_mode: host`, which podman refuses ("cannot set multiple networks without bridge
 * network mode"); docker-compose talks to podman's Docker-compatible API and honours host networking.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Docker from 'dockerode';
import { chromium } from 'playwright-core';
import { parse } from 'yaml';
import { readAuditFile } from '../../agent/state/audit';
import { run as history } from '../../bin/commands/history';
import { buildTestImage, TestImage } from '../../scripts/build-test-image';
import { agentImage, AGENT_IMAGE_USER } from '../support/agent-image';
import { capture } from '../support/cli';
import { hostBinaryImage } from '../support/host-images';
import { startPodman, TestPodman } from '../support/podman';
import { startRegistry, TestRegistry } from '../support/registry';
import { portPair, servedVersion, startLoad, watchVersions } from '../support/single-host';
import { freePort, requireTool, waitFor } from '../support/tools';

jest.setTimeout(600_000);

const ROOT = path.resolve(__dirname, '../..');
let reg: TestRegistry;
let pod: TestPodman;
let docker: Docker;
let work: string;
let bundle: string;
let ports: { listen: number; model: [number, number]; admin: number; prometheus: number; alertmanager: number; agent: number };
const images: Record<string, TestImage> = {};
let composeUp = false;
let agentRef: string;
/** The group that owns the engine's socket here (not root's, not the agent's own): what MODELPILOT_DOCKER_GID carries. */
const SOCKET_GID = 47_213;

function compose(args: string[], timeoutMs = 300_000): Promise<string> {
  const bin = requireTool('docker-compose');
  return new Promise((resolve, reject) => {
    execFile(bin, ['--no-ansi', '-p', 'churnhost', '-f', path.join(bundle, 'compose.yaml'), ...args],
      { cwd: bundle, env: { ...pod.env, DOCKER_HOST: pod.dockerHost, COMPOSE_INTERACTIVE_NO_CLI: '1', MODELPILOT_DOCKER_GID: String(SOCKET_GID) },
        timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => (err ? reject(new Error(`docker-compose ${args.join(' ')}: ${err.message}\n${stdout.slice(-3000)}\n${stderr.slice(-3000)}`)) : resolve(stdout + stderr)));
  });
}

async function push(version: string): Promise<string> {
  const ref = `${reg.host}/models/churn:${version}`;
  await pod.podman(['tag', images[version].imageId, ref]);
  await pod.podman(['push', '--tls-verify=false', ref], { timeoutMs: 180_000 });
  return ref;
}

async function agentLogs(): Promise<string> {
  return (await pod.podman(['logs', '--tail', '80', 'churnhost_modelpilot_1']).then((r) => ({ stdout: r.stdout + r.stderr, stderr: '' })).catch((e: Error) => ({ stdout: e.message, stderr: '' }))).stdout;
}

beforeAll(async () => {
  requireTool('docker-compose');
  reg = await startRegistry();
  pod = await startPodman({ insecureRegistries: [reg.host] });
  docker = new Docker({ socketPath: pod.socketPath });
  images['1.0.0'] = await buildTestImage({ version: '1.0.0', podman: pod });
  images['1.1.0'] = await buildTestImage({ version: '1.1.0', podman: pod, env: { MODEL_LOAD_DELAY_MS: '2000' } });
  images['1.2.0'] = await buildTestImage({ version: '1.2.0', podman: pod, env: { MODEL_FAULT_NEVER_READY: 'true' } });
  await push('1.0.0');
  agentRef = await agentImage(pod);
  // the engine's socket as on a stock host: 0660, owned by root and a group of its own
  fs.chownSync(pod.socketPath, 0, SOCKET_GID);
  fs.chmodSync(pod.socketPath, 0o660);
  const proxyImage = await hostBinaryImage(pod, 'localhost/mp-host/haproxy:test', [requireTool('haproxy')], undefined, [], { user: '99:99', name: 'haproxy' });
  const promImage = await hostBinaryImage(pod, 'localhost/mp-host/prometheus:test', [requireTool('prometheus')], [requireTool('prometheus')], [],
    { user: '65534:65534', name: 'nobody', dirs: ['/prometheus'] });
  const am = requireTool('prometheus-alertmanager', 'prometheus-alertmanager');
  // Debian's alertmanager reads its default notification template from /usr/share/prometheus/alertmanager
  const templates = fs.readdirSync('/usr/share/prometheus/alertmanager').filter((f) => f.endsWith('.tmpl')).map((f) => `/usr/share/prometheus/alertmanager/${f}`);
  const amImage = await hostBinaryImage(pod, 'localhost/mp-host/alertmanager:test', [am], [am], templates, { user: '65534:65534', name: 'nobody', dirs: ['/alertmanager'] });

  work = fs.mkdtempSync(path.join(os.tmpdir(), 'modelpilot-compose-'));
  ports = {
    listen: await freePort(), model: await portPair(), admin: await freePort(),
    prometheus: await freePort(), alertmanager: await freePort(), agent: await freePort(),
  };
  fs.writeFileSync(path.join(work, 'app.ts'), `
import { App } from 'cdk8s';
import { Duration, Receiver, SelfHealingModelStack, Slo } from ${JSON.stringify(path.join(ROOT, 'lib'))};

export default function build(app: App): void {
  new SelfHealingModelStack(app, 'churn-host', {
    namespace: 'ml',
    model: {
      name: 'churn', image: '${reg.host}/models/churn:1.0.0',
      slo: new Slo({ window: Duration.minutes(1), maxErrorRatio: 0.02, maxP99Latency: Duration.seconds(2), minRequestRate: 1 }),
    },
    monitoring: { scrapeInterval: Duration.seconds(1) },
    alerting: { defaultReceiver: Receiver.webhook({ name: 'ops', url: 'http://127.0.0.1:9/alerts' }) },
    updater: { pollInterval: Duration.seconds(2), readinessTimeout: Duration.seconds(20), bakeWindow: Duration.seconds(15), inconclusive: 'rollback', maxAttempts: 1 },
    singleHost: {
      listen: '127.0.0.1:${ports.listen}', modelPorts: [${ports.model[0]}, ${ports.model[1]}], proxyAdmin: '127.0.0.1:${ports.admin}',
      prometheusPort: ${ports.prometheus}, alertmanagerPort: ${ports.alertmanager}, agentPort: ${ports.agent}, dockerSocket: ${JSON.stringify(pod.socketPath)},
    },
  });
}
`);
  const out = path.join(work, 'out');
  await new Promise<void>((resolve, reject) => execFile(process.execPath, [require.resolve('ts-node/dist/bin.js'), '--transpile-only', path.join(ROOT, 'bin/modelpilot.ts'),
    'synth', path.join(work, 'app.ts'), '--target', 'compose', '--out', out,
    '--image', `proxy=${proxyImage}`, '--image', `prometheus=${promImage}`, '--image', `alertmanager=${amImage}`, '--image', `modelpilot=${agentRef}`],
  { cwd: ROOT }, (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stdout}\n${stderr}`)) : resolve())));
  bundle = path.join(out, 'churn-host');
  // the secret files SECRETS.md lists (the same token for Alertmanager → agent on both sides)
  for (const m of fs.readFileSync(path.join(bundle, 'SECRETS.md'), 'utf8').matchAll(/^- `(secrets\/[^`]+)`/gm)) {
    const file = path.join(bundle, m[1]);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, /token$/.test(file) ? 'compose-bundle-token-0123456789' : 'compose-bundle-secret-0123456789');
  }
  await compose(['up', '-d']);
  composeUp = true;
  await waitFor(async () => (await servedVersion(`http://127.0.0.1:${ports.listen}`)) === '1.0.0', {
    what: 'the bundle to serve 1.0.0 through the proxy', timeoutMs: 120_000, diagnostics: () => '',
  });
  await waitFor(async () => (fetch(`http://127.0.0.1:${ports.agent}/healthz`).then((r) => r.status === 200, () => false)), {
    what: 'the agent of the bundle to answer /healthz', timeoutMs: 120_000,
  });
}, 900_000);

afterAll(async () => {
  if (composeUp) await compose(['down', '-v']).catch(() => undefined);
  await pod?.stop();
  await reg?.stop();
  if (work) fs.rmSync(work, { recursive: true, force: true });
}, 300_000);

test('the generated files are what the bundle runs: same rule groups, the updater route to the agent, the Docker target behind HAProxy', () => {
  const files = fs.readdirSync(bundle).sort();
  expect(files).toEqual(expect.arrayContaining(['SECRETS.md', 'agent.yaml', 'alertmanager.yml', 'compose.yaml', 'haproxy.cfg', 'prometheus.yml', 'rules.yml']));
  const c = parse(fs.readFileSync(path.join(bundle, 'compose.yaml'), 'utf8')) as { services: Record<string, Record<string, unknown>> };
  expect(Object.keys(c.services).sort()).toEqual(['alertmanager', 'churn', 'modelpilot', 'prometheus', 'proxy']);
  expect(c.services.churn.labels).toMatchObject({ 'modelpilot.proxy.backend': 'churn', 'modelpilot.proxy.ports': ports.model.join(',') });
  const agent = parse(fs.readFileSync(path.join(bundle, 'agent.yaml'), 'utf8')) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  expect(agent.targets).toEqual({ docker: expect.objectContaining({ proxy: expect.objectContaining({ haproxy: `127.0.0.1:${ports.admin}` }) }) });
  expect(agent.registries.insecure).toEqual([reg.host]);
  const am = fs.readFileSync(path.join(bundle, 'alertmanager.yml'), 'utf8');
  expect(am).toContain(`http://127.0.0.1:${ports.agent}/webhooks/alertmanager`);
  const rules = parse(fs.readFileSync(path.join(bundle, 'rules.yml'), 'utf8')) as { groups: Array<{ rules: Array<{ alert?: string }> }> };
  expect(rules.groups[0].rules.map((r) => r.alert)).toEqual(expect.arrayContaining(['ModelHighErrorRate', 'ModelTargetDown']));
});

test('the services run as their images\' users: the agent image as uid 10001 with the socket\'s group, the proxy as uid 99, no override', async () => {
  expect(fs.existsSync(path.join(bundle, 'compose.override.yaml'))).toBe(false);
  const agent = await docker.getContainer('churnhost_modelpilot_1').inspect();
  expect(agent.Config.Image).toBe(agentRef);
  expect(agent.Config.User).toBe(AGENT_IMAGE_USER);
  expect(agent.HostConfig.GroupAdd).toEqual([String(SOCKET_GID)]);
  // the agent reached the engine through the socket: it discovered the model container
  await waitFor(async () => {
    const targets = await (await fetch(`http://127.0.0.1:${ports.agent}/sd/targets`)).json() as Array<{ targets: string[] }>;
    return targets.some((t) => t.targets.includes(`127.0.0.1:${ports.model[0]}`) || t.targets.includes(`127.0.0.1:${ports.model[1]}`));
  }, { what: 'the agent (uid 10001) to discover the model container through the socket', timeoutMs: 60_000 })
    .catch(async (e: Error) => { throw new Error(`${e.message}\n${await agentLogs()}`); });
  // its state in the named volume, written as uid 10001
  const vol = (agent.Mounts as Array<{ Destination: string; Source: string }>).find((m) => m.Destination === '/var/lib/modelpilot')!;
  expect(fs.statSync(vol.Source).uid).toBe(10001);
  const proxy = (await docker.listContainers()).find((c) => c.Names[0] === '/churnhost_proxy_1')!;
  expect((await docker.getContainer(proxy.Id).inspect()).Config.User).toBe('99:99');
  expect(await agentLogs()).not.toMatch(/EACCES/);
});

test('Prometheus of the bundle finds the model through the agent\'s service discovery and loaded the rules; Alertmanager is up', async () => {
  const prom = `http://127.0.0.1:${ports.prometheus}`;
  await waitFor(async () => {
    const r = await (await fetch(`${prom}/api/v1/query?query=${encodeURIComponent('up{model="churn",namespace="ml"}')}`)).json() as { data: { result: Array<{ value: [number, string] }> } };
    return r.data.result.length === 1 && r.data.result[0].value[1] === '1';
  }, { what: 'Prometheus to scrape the model found by http_sd', timeoutMs: 60_000 });
  const rules = await (await fetch(`${prom}/api/v1/rules`)).json() as { data: { groups: Array<{ rules: Array<{ name: string }> }> } };
  expect(rules.data.groups.flatMap((g) => g.rules.map((r) => r.name))).toContain('ModelHighErrorRate');
  expect((await fetch(`http://127.0.0.1:${ports.alertmanager}/-/ready`)).status).toBe(200);
});

/** The agent's audit log, where its state volume is on this host. */
async function agentAuditFile(): Promise<string> {
  const agent = await docker.getContainer('churnhost_modelpilot_1').inspect();
  return path.join((agent.Mounts as Array<{ Destination: string; Source: string }>).find((m) => m.Destination === '/var/lib/modelpilot')!.Source, 'audit.jsonl');
}
const agentAudit = async () => readAuditFile(await agentAuditFile()).entries;

test('a healthy version pushed to the registry goes live behind the proxy with no failed request', async () => {
  const url = `http://127.0.0.1:${ports.listen}`;
  const load = startLoad(url, { connections: 10, maxSeconds: 120 });
  const versions = watchVersions(url, 120);
  await push('1.1.0');
  const modelContainers = async () => (await docker.listContainers({ all: true })).map((x) => x.Names[0])
    .filter((n) => n === '/churn' || n.startsWith('/churn-modelpilot-'));
  await waitFor(async () => (await servedVersion(url)) === '1.1.0' && (await modelContainers()).length === 1, {
    what: 'the bundle to move to 1.1.0', timeoutMs: 120_000, diagnostics: () => '',
  }).catch(async (e: Error) => { throw new Error(`${e.message}\n${await agentLogs()}`); });
  const report = await load.stop();
  const seen = versions.stop();
  expect(report.requests).toBeGreaterThan(500);
  expect(report.failed).toBe(0);
  expect(seen.map((s) => s.version)).not.toContain(undefined);
  const env = (await docker.getContainer('churn').inspect()).Config.Env;
  expect(env).toContain(`PORT=${ports.model[1]}`);
});

test('a version that never gets ready is rolled back: the proxy never stops serving the old one', async () => {
  const url = `http://127.0.0.1:${ports.listen}`;
  const load = startLoad(url, { connections: 10, maxSeconds: 120 });
  await push('1.2.0');
  await waitFor(async () => (await docker.listContainers({ all: true })).some((x) => x.Names[0] === '/churn-modelpilot-quarantine'), {
    what: '1.2.0 to be quarantined', timeoutMs: 120_000,
  }).catch(async (e: Error) => { throw new Error(`${e.message}\n${await agentLogs()}`); });
  // the agent quarantines first, then restores the previous version: the audit's rollback comes after the marker
  await waitFor(async () => (await agentAudit()).some((e) => e.event === 'rolled-back' && e.result === 'ok' && (e.from ?? '').includes(':1.2.0')), {
    what: "the audit's rollback of 1.2.0", timeoutMs: 120_000,
  }).catch(async (e: Error) => { throw new Error(`${e.message}\n${await agentLogs()}`); });
  const report = await load.stop();
  expect(report.failed).toBe(0);
  expect(await servedVersion(url)).toBe('1.1.0');
  const marker = await docker.getContainer('churn-modelpilot-quarantine').inspect();
  expect(marker.Config.Labels['modelpilot.quarantine']).toContain('1.2.0');
});

test('the timeline of this real run: 1.0.0, then 1.1.0 promoted; 1.2.0 (never ready, never served) rolled back and quarantined; screenshotted in Chromium', async () => {
  const audit = path.join(work, 'audit.jsonl');
  const state = path.dirname(await agentAuditFile());
  fs.copyFileSync(path.join(state, 'audit.jsonl'), audit);
  const html = path.join(work, 'timeline.html');
  const r = await capture(() => history(['--file', audit, '--html', html]));
  expect(r.code).toBe(0);
  const browser = await chromium.launch({ executablePath: process.env.MODELPILOT_CHROMIUM ?? '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    await page.goto(`file://${html}`);
    const segs = await page.locator('section.workload .seg').evaluateAll((els) => els.map((e) => `${e.getAttribute('data-version')} ${e.getAttribute('data-state')}`));
    // 1.2.0 never got ready, so HAProxy never sent it a request: no interval for it, only its markers
    expect(segs).toEqual(['1.0.0 served', '1.1.0 proven']);
    expect(await page.locator('.mark.m-rolled-back').count()).toBe(1);
    expect(await page.locator('.mark.m-quarantined').count()).toBe(1);
    expect(await page.locator('tr.ev-quarantined.bad').count()).toBeGreaterThan(0);
    expect(await page.locator('.meta').textContent()).not.toContain(state);
    const shot = path.join(process.env.MODELPILOT_SCREENSHOT_DIR ?? work, 'timeline.png');
    await page.screenshot({ path: shot, fullPage: true });
    expect(fs.statSync(shot).size).toBeGreaterThan(10_000);
  } finally {
    await browser.close();
  }
}, 120_000);
