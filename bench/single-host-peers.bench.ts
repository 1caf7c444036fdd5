/**
 * modelpilot and Watchtower side by side on one Docker host, in one run, against the same podman Docker API and
 * registry (bench/chaos/harness.ts), under the same autocannon load (10 connections on the address users use):
 *
 * - a healthy version with a 3 s model load: push → new version serving, failed requests, longest gap —
 *   modelpilot blue/green (registry webhook), modelpilot stop-then-start (webhook), Watchtower (its HTTP API
 *   trigger, and its poll);
 * - a version that crashes on start, and one that is ready but fails 10 % of requests: what each tool does.
 *
 * Watchtower is v1.7.1 (github.com/containrrr/watchtower, built from the Go module proxy by
 * scripts/watchtower/build.sh). It updates a container whose *tag* moves, so its container runs `…:prod` and a new
 * version is pushed under that tag; modelpilot's container runs a semver tag and the new version is the next one.
 * Watchtower as it is cannot update a container on podman 4.3: it re-creates the container under the name the
 * engine reported, `/<name>`, which podman refuses — after it has already stopped and removed the old one, so the
 * model is down until someone acts. That row is kept as measured; the other Watchtower rows go through a
 * pass-through socket that strips that '/' ({@link nameShim}), to show Watchtower's own behaviour.
 * Writes bench/results/single-host-peers.json.
 */
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { firstServed, servedVersion, startLoad, watchVersions } from '../test/support/single-host';
import { freePort, stopChild, waitFor } from '../test/support/tools';
import { ChaosEnv, startChaosEnv, Version } from './chaos/harness';
import { badVersion, healthyUpdate, ScenarioResult } from './chaos/scenarios';
import { WATCHTOWER_POLL_SECONDS } from './peers-settings';

const ROOT = path.resolve(__dirname, '..');
const WT_TOKEN = 'watchtower-bench-token-0123456789';

interface PeerRow {
  readonly tool: string;
  readonly case: string;
  readonly trigger: string;
  readonly pushToServingMs: number | null;
  readonly requests: number | null;
  readonly failedRequests: number | null;
  readonly longestGapMs: number | null;
  /** What the tool did, in words. */
  readonly outcome: string;
  /** Users' error ratio after the update settled (bad versions). */
  readonly errorRatioAfter?: number | null;
}

/**
 * A pass-through for podman's Docker API socket that strips the leading '/' of `?name=` on `POST /containers/create`.
 * Watchtower re-creates a container under the name the engine reported (`/name`, as Docker reports it); Docker
 * accepts that name on create, podman 4.3 refuses it ("names must match [a-zA-Z0-9][a-zA-Z0-9_.-]*"). Nothing
 * else is changed. Used only for the "with the name shim" rows, next to the rows of Watchtower as it is.
 */
async function nameShim(target: string, socketPath: string): Promise<{ host: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    let url = req.url ?? '/';
    if (req.method === 'POST' && /\/containers\/create\?/.test(url)) url = url.replace(/([?&]name=)(?:%2F|\/)/i, '$1');
    const up = http.request({ socketPath: target, method: req.method, path: url, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', (e) => { if (!res.headersSent) res.writeHead(502).end(e.message); else res.destroy(); });
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(socketPath, r));
  return { host: `unix://${socketPath}`, close: () => new Promise<void>((r) => { server.close(() => r()); server.closeAllConnections(); }) };
}

function watchtowerBinary(): string {
  const out = execFileSync('bash', [path.join(ROOT, 'scripts/watchtower/build.sh'), '--check'], { encoding: 'utf8' }).trim().split('\n').pop()!;
  return path.join(out, 'watchtower');
}

/** One Watchtower run: a container on the `prod` tag, Watchtower watching it, a push of `version` under `prod`. */
async function watchtowerCase(env: ChaosEnv, o: { version: Version; trigger: 'http-api' | 'poll'; caseName: string; shim?: boolean }): Promise<PeerRow> {
  const name = `wt-${o.caseName}-${o.trigger}${o.shim ? '-shim' : ''}`.replace(/[^a-z0-9-]/g, '-').replace(/-+/g, '-');
  const shim = o.shim ? await nameShim(env.pod.socketPath, path.join(env.pod.dir, `shim-${process.pid}-${Date.now()}.sock`)) : undefined;
  const repository = `peers/${name}`;
  const port = await freePort();
  const tagged = async (v: Version): Promise<string> => {
    const ref = `${env.faults.host}/${repository}:prod`;
    await env.pod.podman(['tag', env.images[v].imageId, ref]);
    await env.pod.podman(['push', '--tls-verify=false', ref], { timeoutMs: 180_000 });
    return ref;
  };
  const image = await tagged('1.0.0');
  await env.docker.createContainer({
    name, Image: image, Env: [`PORT=${port}`, 'HOST=127.0.0.1'],
    Labels: { 'com.centurylinklabs.watchtower.enable': 'true', 'com.centurylinklabs.watchtower.scope': name },
    HostConfig: { NetworkMode: 'host', RestartPolicy: { Name: 'unless-stopped' } },
  }).then((c) => c.start());
  const url = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await servedVersion(url)) === '1.0.0', { what: `${name} to serve`, timeoutMs: 60_000 });
  const args = ['--host', shim?.host ?? env.pod.dockerHost, '--label-enable', '--scope', name, '--stop-timeout', '5s', '--no-startup-message', '--log-level', 'debug',
    ...(o.trigger === 'http-api' ? ['--http-api-update', '--http-api-token', WT_TOKEN] : ['--interval', String(WATCHTOWER_POLL_SECONDS)])];
  let log = '';
  const wt: ChildProcess = spawn(watchtowerBinary(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
  wt.stdout!.on('data', (d) => { log = (log + String(d)).slice(-50_000); });
  wt.stderr!.on('data', (d) => { log = (log + String(d)).slice(-50_000); });
  try {
    if (o.trigger === 'http-api') {
      await waitFor(async () => fetch('http://127.0.0.1:8080/v1/update', { method: 'HEAD' }).then(() => true, () => false), { what: 'watchtower\'s HTTP API', timeoutMs: 20_000 });
    } else {
      await new Promise((r) => setTimeout(r, 3000));
    }
    const load = startLoad(url, { connections: 10, maxSeconds: 90, maxRequests: 3_000_000 });
    const seen = watchVersions(url, 90);
    await new Promise((r) => setTimeout(r, 1000));
    await tagged(o.version);
    const pushed = Date.now();
    if (o.trigger === 'http-api') {
      const r = await fetch('http://127.0.0.1:8080/v1/update', { method: 'POST', headers: { Authorization: `Bearer ${WT_TOKEN}` }, signal: AbortSignal.timeout(60_000) });
      if (r.status !== 200) throw new Error(`watchtower /v1/update answered ${r.status}`);
    }
    // healthy: until it serves; bad: give it 25 s to show what it does
    const healthy = o.version === '1.2.0' || o.version === '1.1.0';
    await waitFor(async () => (await servedVersion(url)) === o.version, { what: `watchtower to serve ${o.version}`, timeoutMs: healthy ? 60_000 : 25_000 })
      .catch(() => undefined);
    if (!healthy) await new Promise((r) => setTimeout(r, 10_000));
    const before = await load.stop();
    const versions = seen.stop();
    // bad versions: what users get afterwards, measured for 5 s
    let after: number | null = null;
    if (!healthy) {
      const l = startLoad(url, { connections: 10, maxSeconds: 5, maxRequests: 500_000 });
      await new Promise((r) => setTimeout(r, 5000));
      const r = await l.stop();
      after = r.requests ? Math.round((r.failed / r.requests) * 1000) / 1000 : 1;
    }
    const servingAt = firstServed(versions, o.version, pushed);
    const state = await env.docker.getContainer(name).inspect().then((c) => `${c.State.Status}${c.State.Restarting ? ' (restarting)' : ''}, restarts ${c.RestartCount}`, () => 'gone');
    const final = await servedVersion(url);
    const errors = log.split('\n').filter((l) => /level=error/.test(l)).map((l) => /msg="([^"]+)"/.exec(l)?.[1] ?? l).slice(-1).join(' | ');
    const outcome = state === 'gone'
      ? `stopped and removed the old container, then could not create the new one (${errors}): nothing serving`
      : healthy ? (servingAt ? `updated to ${o.version}` : `did not update within 60 s${errors ? ` (${errors})` : ''}`)
        : `kept ${o.version}: container ${state}; serving ${final ?? 'nothing'}`;
    return {
      tool: `watchtower v1.7.1${o.shim ? ' + name shim' : ''}`, case: o.caseName, trigger: o.trigger, pushToServingMs: servingAt ? servingAt - pushed : null,
      requests: before.requests, failedRequests: before.failed, longestGapMs: before.longestGapMs, outcome,
      ...(healthy ? {} : { errorRatioAfter: after }),
    };
  } finally {
    await stopChild(wt);
    await shim?.close();
    await env.docker.getContainer(name).remove({ force: true }).catch(() => undefined);
    fs.writeFileSync(path.join(os.tmpdir(), `modelpilot-peers-${name}.log`), log);
  }
}

function fromScenario(r: ScenarioResult, tool: string, caseName: string, trigger: string): PeerRow {
  const n = r.numbers;
  const num = (k: string): number | null => (typeof n[k] === 'number' ? n[k] as number : null);
  return {
    tool, case: caseName, trigger, pushToServingMs: num('pushToServingMs'), requests: num('requests'), failedRequests: num('failedRequests'),
    longestGapMs: num('longestGapMs'),
    outcome: !r.held ? `invariant violated: ${r.violations.join('; ')}`
      : caseName.startsWith('healthy') ? (n.outcome === 'promoted' ? 'updated; the old container removed after the gate' : String(n.outcome))
        : `rolled back and quarantined (${String(n.verdict ?? '').slice(0, 90)})`,
  };
}

async function main(): Promise<void> {
  const env = await startChaosEnv();
  const rows: PeerRow[] = [];
  const note = (r: PeerRow): void => { rows.push(r); process.stdout.write(`${JSON.stringify(r)}\n`); };
  try {
    note(fromScenario(await healthyUpdate(env, { proxy: true, version: '1.2.0' }), 'modelpilot (blue/green, HAProxy)', 'healthy, 3 s load', 'registry webhook'));
    note(fromScenario(await healthyUpdate(env, { proxy: false, version: '1.2.0' }), 'modelpilot (stop-then-start)', 'healthy, 3 s load', 'registry webhook'));
    note(await watchtowerCase(env, { version: '1.2.0', trigger: 'http-api', caseName: 'healthy, 3 s load' }));
    for (const trigger of ['http-api', 'poll'] as const) note(await watchtowerCase(env, { version: '1.2.0', trigger, caseName: 'healthy, 3 s load', shim: true }));
    note(fromScenario(await badVersion(env, { proxy: true, kind: 'errors-10pct' }), 'modelpilot (blue/green, HAProxy)', '10 % HTTP 500', 'registry webhook'));
    note(await watchtowerCase(env, { version: '1.4.0', trigger: 'http-api', caseName: '10 % HTTP 500', shim: true }));
    note(fromScenario(await badVersion(env, { proxy: true, kind: 'crash-on-start' }), 'modelpilot (blue/green, HAProxy)', 'crashes on start', 'registry webhook'));
    note(await watchtowerCase(env, { version: '1.5.0', trigger: 'http-api', caseName: 'crashes on start', shim: true }));
  } finally {
    await env.stop();
  }
  const out = {
    bench: 'single-host-peers', date: new Date().toISOString(),
    machine: { cpus: os.cpus().length, node: process.version },
    load: 'autocannon, 10 connections, POST /predict, on the address users use (HAProxy for blue/green, the model port otherwise)',
    rows,
  };
  fs.mkdirSync(path.join(__dirname, 'results'), { recursive: true });
  fs.writeFileSync(path.join(__dirname, 'results', 'single-host-peers.json'), JSON.stringify(out, null, 2) + '\n');
  process.stdout.write('wrote bench/results/single-host-peers.json\n');
}

main().catch((e) => { process.stderr.write(`${(e as Error).stack}\n`); process.exitCode = 1; });
