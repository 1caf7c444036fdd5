/**
 * One Docker host, for real, on 127.0.0.1: the pieces the blue/green integration test, the chaos suite
 * (`npm run chaos`) and the Watchtower side-by-side bench share.
 *
 * - {@link startHaproxy}: Debian's HAProxy in the foreground with a haproxy.cfg that modelpilot generated
 *   (lib/compose/haproxy.ts), stopped by PID;
 * - {@link runModel}: a reference model-server container on host networking, labelled for the agent (and for
 *   blue/green behind HAProxy when `proxy` is given);
 * - {@link startAgent}: the agent image built from agent/Dockerfile, run as shipped (uid 10001, the socket's group)
 *   in the test's podman, from an agent.yaml;
 * - {@link startLoad}: autocannon against the proxy (or the model's port), with every response's time and status
 *   kept so a report can say how many requests failed, the longest gap between successful answers and the p99 in
 *   a time window; bounded in connections, time and count;
 * - {@link watchVersions}: a 10 Hz probe of which version answers, for time-to-serving numbers.
 */
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import autocannon from 'autocannon';
import type Docker from 'dockerode';
import { stringify } from 'yaml';
import { DOCKER_LABELS } from '../../agent/targets/docker';
import { haproxyConfig } from '../../lib/compose/haproxy';
import { preparedAgentImage, runAgentContainer } from './agent-image';
import type { TestPodman } from './podman';
import { freePort, requireTool, stopChild, waitFor, WaitAbort } from './tools';


/** A request body the reference model server (examples/model-server) answers with a prediction. */
export const PREDICT_BODY = JSON.stringify({ features: { tenure_months: 1, monthly_charges: 120, support_calls_90d: 8, month_to_month: true } });

export interface TestHaproxy {
  readonly pid: number;
  /** Where users reach the model: `http://127.0.0.1:<port>`. */
  readonly url: string;
  readonly port: number;
  /** The runtime API address (`127.0.0.1:<port>`), for agent.yaml `targets.docker.proxy.haproxy`. */
  readonly runtimeApi: string;
  readonly config: string;
  log(): string;
  stop(): Promise<void>;
}

/** Starts HAProxy (`haproxy -db -f`) with the generated config for `backend` on `ports`; resolves once it listens. */
export async function startHaproxy(opts: {
  backend: string; ports: [number, number]; stateFile?: string; port?: number; apiPort?: number;
}): Promise<TestHaproxy> {
  const bin = requireTool('haproxy');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelpilot-haproxy-'));
  const port = opts.port ?? await freePort();
  const apiPort = opts.apiPort ?? await freePort();
  const runtimeApi = `127.0.0.1:${apiPort}`;
  const config = haproxyConfig({ backend: opts.backend, listen: `127.0.0.1:${port}`, ports: opts.ports, runtimeApi, stateFile: opts.stateFile });
  fs.writeFileSync(path.join(dir, 'haproxy.cfg'), config);
  const child = spawn(bin, ['-db', '-f', path.join(dir, 'haproxy.cfg')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => { out = (out + String(d)).slice(-20_000); });
  child.stderr!.on('data', (d) => { out = (out + String(d)).slice(-20_000); });
  await waitFor(async () => {
    if (child.exitCode !== null) throw new WaitAbort(`haproxy exited (${child.exitCode}): ${out.slice(-2000)}`);
    return (fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(1000) }).then(() => true, () => false));
  }, { what: 'haproxy to listen', timeoutMs: 15_000, diagnostics: () => out.slice(-2000) });
  return {
    pid: child.pid!, url: `http://127.0.0.1:${port}`, port, runtimeApi, config,
    log: () => out,
    stop: async () => {
      await stopChild(child);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface ModelContainerOptions {
  readonly name: string;
  readonly image: string;
  readonly port: number;
  readonly scope: string;
  /** Blue/green behind HAProxy: the backend and the two ports (the container starts on `port`, one of them). */
  readonly proxy?: { readonly backend: string; readonly ports: [number, number] };
  /** @default 'unless-stopped' */
  readonly restart?: 'no' | 'unless-stopped' | 'on-failure';
  readonly stopTimeoutSeconds?: number;
  /** Host directories to mount, `host:container[:ro]` (kept by the agent's updates: it copies the container's host config). */
  readonly binds?: readonly string[];
}

/** Creates and starts a model-server container (host networking) and waits until it answers ready. */
export async function runModel(docker: Docker, o: ModelContainerOptions): Promise<string> {
  const c = await docker.createContainer({
    name: o.name, Image: o.image, Env: [`PORT=${o.port}`, 'HOST=127.0.0.1'],
    Labels: {
      [DOCKER_LABELS.enable]: 'true', [DOCKER_LABELS.scope]: o.scope, [DOCKER_LABELS.model]: 'churn', [DOCKER_LABELS.policy]: 'semver:minor',
      [DOCKER_LABELS.readyUrl]: `http://127.0.0.1:${o.port}/health/ready`, [DOCKER_LABELS.stopTimeout]: String(o.stopTimeoutSeconds ?? 5),
      ...(o.proxy ? { [DOCKER_LABELS.proxyBackend]: o.proxy.backend, [DOCKER_LABELS.proxyPorts]: o.proxy.ports.join(',') } : {}),
    },
    HostConfig: { NetworkMode: 'host', RestartPolicy: { Name: o.restart ?? 'unless-stopped' }, ...(o.binds ? { Binds: [...o.binds] } : {}) },
  });
  await c.start();
  await waitFor(async () => (await servedVersion(`http://127.0.0.1:${o.port}`)) !== undefined, { what: `${o.name} to serve`, timeoutMs: 60_000 });
  return c.id;
}

/** The version answering `GET <base>/health/ready` with 200, or undefined. */
export async function servedVersion(base: string): Promise<string | undefined> {
  try {
    const res = await fetch(`${base}/health/ready`, { signal: AbortSignal.timeout(1000) });
    if (res.status !== 200) return undefined;
    return ((await res.json()) as { version: string }).version;
  } catch {
    return undefined;
  }
}

export interface AgentProcess {
  /** The `podman run` client of the agent's container. */
  readonly child: ChildProcess;
  /** The agent's PID on this host (its container's process). */
  readonly pid: number;
  /** The agent's webhook/metrics port. */
  readonly port: number;
  readonly dir: string;
  output(): string;
  /** Sends `signal` to the agent in its container and waits until the container has exited. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** The webhook bearer token {@link startAgent} writes to `<dir>/token` (agent.yaml `webhooks.bearerTokenFile`). */
export const AGENT_TOKEN = 'single-host-bearer-token-0123456789';

let agents = 0;

/**
 * Writes `<dir>/agent.yaml` from `config` and runs the agent image built from agent/Dockerfile as shipped (uid 10001,
 * the engine socket's group added, host networking; test/support/agent-image.ts) in `pod`; `dir`, the state directory
 * and the engine socket the config names are mounted at their paths. Resolves once /healthz answers.
 */
export async function startAgent(pod: TestPodman, dir: string, config: Record<string, unknown>, port: number): Promise<AgentProcess> {
  const { image, socketGid } = await preparedAgentImage(pod);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'token'), AGENT_TOKEN);
  const full = { ...config, webhooks: { bearerTokenFile: path.join(dir, 'token'), ...(config.webhooks as object) } };
  fs.writeFileSync(path.join(dir, 'agent.yaml'), stringify(full));
  const socket = (config.targets as { docker?: { socket?: string } } | undefined)?.docker?.socket;
  const mounts = [typeof config.stateDir === 'string' ? config.stateDir : undefined, socket].filter((m): m is string => m !== undefined);
  const c = runAgentContainer(pod, image, { name: `mp-agent-${process.pid}-${++agents}`, dir, config: path.join(dir, 'agent.yaml'), socketGid, mounts, maxMs: 900_000 });
  await waitFor(async () => {
    if (c.child.exitCode !== null) throw new WaitAbort(`the agent exited (${c.child.exitCode}): ${c.output().slice(-3000)}`);
    return (fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.status === 200, () => false));
  }, { what: 'the agent to answer /healthz', timeoutMs: 60_000, diagnostics: () => c.output().slice(-3000) });
  return {
    child: c.child, pid: await c.pid(), port, dir,
    output: c.output,
    stop: async (signal = 'SIGTERM') => {
      await c.stop(signal);
    },
  };
}

/** What a load run saw. */
export interface LoadReport {
  readonly requests: number;
  /** 2xx answers. */
  readonly ok: number;
  /** Non-2xx answers. */
  readonly non2xx: number;
  /** Connection errors and timeouts. */
  readonly errors: number;
  /** non2xx + errors. */
  readonly failed: number;
  /** Longest time without a successful answer, in ms (over the whole run). */
  readonly longestGapMs: number;
  /** p99 latency over the whole run, ms. */
  readonly p99Ms: number;
  /** Latency p99 of the answers inside [from, to] (epoch ms), e.g. the switch. */
  p99Between(from: number, to: number): number;
  /** Failed requests inside [from, to]. */
  failedBetween(from: number, to: number): number;
}

export interface LoadRun {
  stop(): Promise<LoadReport>;
}

/**
 * Starts autocannon (POST /predict, `connections` connections, pipelining 1) against `url`, for at most
 * `maxSeconds` and `maxRequests`; `stop()` ends it early and reports.
 */
/**
 * `reconnectRate`: each connection is closed and opened again after that many requests (autocannon's option), so a
 * Service's kube-proxy spreads them over the pods as it would many clients; by default connections are kept.
 */
export function startLoad(url: string, opts: { connections?: number; maxSeconds?: number; maxRequests?: number; timeoutS?: number;
  reconnectRate?: number; } = {}): LoadRun {
  const times: number[] = [];
  const latencies: number[] = [];
  const statuses: number[] = [];
  let errors = 0;
  const errorTimes: number[] = [];
  let finished: () => void = () => undefined;
  const done = new Promise<void>((resolve) => { finished = resolve; });
  const instance = autocannon({
    url: `${url}/predict`, method: 'POST', headers: { 'content-type': 'application/json' }, body: PREDICT_BODY,
    connections: opts.connections ?? 10, pipelining: 1, duration: opts.maxSeconds ?? 120, timeout: opts.timeoutS ?? 10,
    ...(opts.reconnectRate ? { reconnectRate: opts.reconnectRate } : {}),
  }, () => finished());
  const maxRequests = opts.maxRequests ?? 5_000_000;
  instance.on('response', (_client: unknown, status: number, _bytes: number, responseTime: number) => {
    times.push(Date.now());
    latencies.push(responseTime);
    statuses.push(status);
    if (statuses.length === maxRequests) instance.stop();
  });
  instance.on('reqError', () => {
    errors++;
    errorTimes.push(Date.now());
  });
  const started = Date.now();
  return {
    stop: async () => {
      instance.stop();
      await done;
      const ended = Date.now();
      let ok = 0;
      let last = started;
      let gap = 0;
      for (let i = 0; i < times.length; i++) {
        if (statuses[i] < 200 || statuses[i] >= 300) continue;
        ok++;
        gap = Math.max(gap, times[i] - last);
        last = times[i];
      }
      gap = Math.max(gap, ended - last);
      const p99 = (from: number, to: number): number => {
        const xs: number[] = [];
        for (let i = 0; i < times.length; i++) if (times[i] >= from && times[i] <= to) xs.push(latencies[i]);
        xs.sort((a, b) => a - b);
        return xs.length ? xs[Math.min(xs.length - 1, Math.floor(xs.length * 0.99))] : 0;
      };
      const non2xx = statuses.length - ok;
      return {
        requests: statuses.length + errors, ok, non2xx, errors, failed: non2xx + errors, longestGapMs: gap, p99Ms: p99(0, Infinity),
        p99Between: p99,
        failedBetween: (from, to) => {
          let n = errorTimes.filter((t) => t >= from && t <= to).length;
          for (let i = 0; i < times.length; i++) if (times[i] >= from && times[i] <= to && (statuses[i] < 200 || statuses[i] >= 300)) n++;
          return n;
        },
      };
    },
  };
}

/** Samples `GET <base>/health/ready` every 100 ms (bounded by `maxSeconds`), keeping when each version first/last answered. */
export function watchVersions(base: string, maxSeconds = 300): { stop(): Array<{ at: number; version: string | undefined }> } {
  const seen: Array<{ at: number; version: string | undefined }> = [];
  let stopped = false;
  const until = Date.now() + maxSeconds * 1000;
  void (async () => {
    while (!stopped && Date.now() < until) {
      const v = await servedVersion(base);
      if (seen.length === 0 || seen[seen.length - 1].version !== v) seen.push({ at: Date.now(), version: v });
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  return { stop: () => { stopped = true; return seen; } };
}

/** The first time `version` answered at or after `since` (epoch ms), from a {@link watchVersions} record. */
export function firstServed(seen: ReadonlyArray<{ at: number; version: string | undefined }>, version: string, since = 0): number | undefined {
  return seen.find((s) => s.at >= since && s.version === version)?.at;
}

/** A free pair of ports for a model's blue/green slots. */
export async function portPair(): Promise<[number, number]> {
  const a = await freePort();
  let b = await freePort();
  while (b === a) b = await freePort();
  return [a, b];
}
