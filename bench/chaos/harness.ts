/**
 * The chaos suite's world, all real and on 127.0.0.1: the distribution registry behind a fault proxy (every client
 * goes through it: podman's push and pull, the agent), a private podman (Docker API), the reference model server in
 * six versions, and per scenario a workload of its own — container(s), HAProxy (blue/green) or not (stop-then-start),
 * a Prometheus scraping its ports, and a `modelpilot agent` process. Registry notifications reach the scenario's
 * agent through a relay. Nothing is sent anywhere but 127.0.0.1.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import Docker from 'dockerode';
import { readAuditFile } from '../../agent/state/audit';
import { renderModel, trainModel, Variant, VARIANTS } from '../../examples/model-server/train/train';
import { buildTestImage, TestImage } from '../../scripts/build-test-image';
import { FaultProxy, startFaultProxy } from '../../test/support/fault-proxy';
import { startPodman, TestPodman } from '../../test/support/podman';
import { startPrometheus, TestServer } from '../../test/support/prometheus';
import { startRegistry, TestRegistry } from '../../test/support/registry';
import {
  AGENT_TOKEN, AgentProcess, portPair, runModel, startAgent, startHaproxy, TestHaproxy,
} from '../../test/support/single-host';
import { freePort, waitFor } from '../../test/support/tools';

/** The golden set the repository ships for the reference model (train.ts --golden). */
export const GOLDEN_SET = path.join(__dirname, '..', '..', 'examples', 'model-server', 'golden', 'churn.jsonl');

/** Where every workload's model container sees its fault directory (read-only; see {@link Workload.crashVersion}). */
const FAULT_DIR_IN_CONTAINER = '/faults';

/** The model versions every scenario can push: what each one is. */
export const VERSIONS = {
  '1.0.0': { what: 'the running version', env: {} },
  '1.1.0': { what: 'healthy, ready at once', env: {} },
  '1.2.0': { what: 'healthy, 3 s model load', env: { MODEL_LOAD_DELAY_MS: '3000' } },
  '1.3.0': { what: 'never ready', env: { MODEL_FAULT_NEVER_READY: 'true' } },
  '1.4.0': { what: 'ready, 10 % HTTP 500', env: { MODEL_FAULT_ERROR_RATIO: '0.1' } },
  '1.5.0': { what: 'crashes on start', env: { MODEL_FAULT_CRASH_ON_START: 'true' } },
  // crashes when the scenario says so (the workload's `crashVersion()`, after the promotion), never at a set time: a
  // time (8 s, then 20 s) failed in CI under load — the gate had not decided yet and the version was never promoted
  '1.6.0': {
    what: 'serves, then exits 137 once the workload\'s crash file exists, at each start (passes the gate, crashes after promotion)',
    env: { MODEL_FAULT_CRASH_WHEN_FILE: `${FAULT_DIR_IN_CONTAINER}/crash` },
  },
  // real models trained by examples/model-server/train/train.ts: every answer 200 OK and well-formed
  '1.7.0': { what: 'trained on shuffled labels: 200 OK, valid outputs, predictions no better than a constant', env: {}, model: 'shuffled-labels' },
  '1.8.0': { what: 'retrained on a fresh sample: a small, acceptable drift', env: {}, model: 'drift' },
  // the relative gate's pair: both under a 10 % ceiling, the second with twice the first one's errors
  '1.9.0': { what: 'ready, 3 % HTTP 500 (the version a relative gate compares with)', env: { MODEL_FAULT_ERROR_RATIO: '0.03' } },
  '1.10.0': { what: 'ready, 6 % HTTP 500: twice 1.9.0\'s errors, under a 10 % ceiling', env: { MODEL_FAULT_ERROR_RATIO: '0.06' } },
} as const satisfies Record<string, { what: string; env: Record<string, string>; model?: Variant }>;
export type Version = keyof typeof VERSIONS;

export interface ChaosEnv {
  readonly reg: TestRegistry;
  /** The registry as every client sees it. */
  readonly faults: FaultProxy;
  readonly pod: TestPodman;
  readonly docker: Docker;
  readonly images: Record<Version, TestImage>;
  /** Where the relay forwards registry notifications now (the current scenario's agent). */
  relayTo?: string;
  /** Pushes a version as `<faults.host>/<repository>:<version>` (through the fault proxy), or straight to the registry. */
  push(repository: string, version: Version, direct?: boolean): Promise<string>;
  stop(): Promise<void>;
}

export async function startChaosEnv(): Promise<ChaosEnv> {
  const relayPort = await freePort();
  const env = {} as { -readonly [K in keyof ChaosEnv]: ChaosEnv[K] };
  const relay = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      res.writeHead(200).end();
      if (!env.relayTo) return;
      fetch(env.relayTo, { method: 'POST', headers: { authorization: `Bearer ${AGENT_TOKEN}`, 'content-type': String(req.headers['content-type'] ?? '') },
        body: Buffer.concat(chunks) }).catch(() => undefined);
    });
  });
  await new Promise<void>((r) => relay.listen(relayPort, '127.0.0.1', r));
  const reg = await startRegistry({ notifications: { url: `http://127.0.0.1:${relayPort}/`, headers: { Authorization: 'Bearer relay' }, ignorePulls: true } });
  const [regHost, regPort] = reg.host.split(':');
  const faults = await startFaultProxy({ host: regHost, port: Number(regPort) }, await freePort());
  const pod = await startPodman({ insecureRegistries: [reg.host, faults.host] });
  const images = {} as Record<Version, TestImage>;
  const models = fs.mkdtempSync(path.join(os.tmpdir(), 'modelpilot-chaos-models-'));
  for (const [v, d] of Object.entries(VERSIONS)) {
    const variant = 'model' in d ? d.model : undefined;
    const modelFile = variant && path.join(models, `${variant}.json`);
    if (variant && modelFile) fs.writeFileSync(modelFile, renderModel(trainModel(VARIANTS[variant], 'churn', v)));
    images[v as Version] = await buildTestImage({ version: v, podman: pod, env: d.env, ...(modelFile ? { modelFile } : {}) });
  }
  fs.rmSync(models, { recursive: true, force: true });
  Object.assign(env, {
    reg, faults, pod, docker: new Docker({ socketPath: pod.socketPath }), images,
    push: async (repository: string, version: Version, direct = false) => {
      const ref = `${direct ? reg.host : faults.host}/${repository}:${version}`;
      await pod.podman(['tag', images[version].imageId, ref]);
      await pod.podman(['push', '--tls-verify=false', ref], { timeoutMs: 180_000 });
      return `${faults.host}/${repository}:${version}`;
    },
    stop: async () => {
      await pod.stop();
      await faults.stop();
      await reg.stop();
      await new Promise((r) => relay.close(r));
    },
  });
  return env;
}

export interface WorkloadOptions {
  readonly name: string;
  /** Blue/green behind HAProxy, else stop-then-start on one port. */
  readonly proxy: boolean;
  readonly restart?: 'no' | 'unless-stopped';
  /** The version the container starts with. @default '1.0.0' */
  readonly start?: Version;
  /** Prometheus URL for the gate instead of the workload's own (e.g. an address nothing listens on). */
  readonly prometheusUrl?: string;
  /** The agent's state directory (e.g. a small tmpfs). @default - a temp dir */
  readonly stateDir?: string;
  /** Merged into agent.yaml. */
  readonly agent?: Record<string, unknown>;
  /** Merged into agent.yaml's `health` (e.g. another `slo` or `bakeWindow`). */
  readonly health?: Record<string, unknown>;
  /** The engine socket the agent uses (e.g. an engine killer's) instead of podman's own. */
  readonly engineSocket?: string;
  /**
   * The quality gate of the workload's image (agent.yaml `images[].quality` without `goldenSet`): the repository's
   * golden set (examples/model-server/golden/churn.jsonl) is put beside agent.yaml, where the agent reads it.
   */
  readonly quality?: Record<string, unknown>;
}

export interface Workload {
  readonly name: string;
  readonly repository: string;
  /** Where users reach the model: the proxy, or the model's port. */
  readonly url: string;
  readonly ports: readonly number[];
  readonly haproxy?: TestHaproxy;
  readonly prom: TestServer;
  readonly dir: string;
  readonly auditFile: string;
  /**
   * Writes the crash file into the workload's fault directory (mounted read-only into its model containers): a version
   * built with `MODEL_FAULT_CRASH_WHEN_FILE` (1.6.0) exits 137 from then on, at each start; the others ignore it.
   */
  crashVersion(): void;
  agent: AgentProcess;
  /** Starts the agent again on the same config and state (after a kill). */
  restartAgent(): Promise<AgentProcess>;
  /** The workload's containers (not the quarantine marker): name, state. */
  containers(): Promise<Array<{ name: string; state: string }>>;
  audit(): ReturnType<typeof readAuditFile>['entries'];
  stop(): Promise<void>;
}

/** Copies the repository's golden set into `dir` (mounted into the agent's container) and returns its path there. */
function goldenIn(dir: string): string {
  const file = path.join(dir, 'churn.jsonl');
  fs.copyFileSync(GOLDEN_SET, file);
  fs.chmodSync(file, 0o644);
  return file;
}

export async function startWorkload(env: ChaosEnv, o: WorkloadOptions): Promise<Workload> {
  const repository = `chaos/${o.name}`;
  const ports = o.proxy ? await portPair() : [await freePort()];
  const image = await env.push(repository, o.start ?? '1.0.0');
  const s = await env.docker.pull(image);
  await new Promise((resolve, reject) => env.docker.modem.followProgress(s, (e: Error | null) => (e ? reject(e) : resolve(undefined))));
  const haproxy = o.proxy ? await startHaproxy({ backend: o.name, ports: ports as [number, number] }) : undefined;
  const prom = await startPrometheus({ scrapeInterval: '1s', scrapeConfigs: [{ job_name: 'model', static_configs: [{ targets: ports.map((p) => `127.0.0.1:${p}`) }] }] });
  // readable by the image's non-root user
  const faultDir = fs.mkdtempSync(path.join(os.tmpdir(), `modelpilot-chaos-faults-${o.name}-`));
  fs.chmodSync(faultDir, 0o755);
  await runModel(env.docker, {
    name: o.name, image, port: ports[0], scope: o.name, restart: o.restart, binds: [`${faultDir}:${FAULT_DIR_IN_CONTAINER}:ro`],
    ...(o.proxy ? { proxy: { backend: o.name, ports: ports as [number, number] } } : {}),
  });
  const dir = o.stateDir ?? fs.mkdtempSync(path.join(os.tmpdir(), `modelpilot-chaos-${o.name}-`));
  const confDir = fs.mkdtempSync(path.join(os.tmpdir(), `modelpilot-chaos-conf-${o.name}-`));
  const agentPort = await freePort();
  const config: Record<string, unknown> = {
    targets: { docker: { socket: o.engineSocket ?? env.pod.socketPath, scope: o.name, stopTimeout: '5s', ...(haproxy ? { proxy: { haproxy: haproxy.runtimeApi, drainTimeout: '5s' } } : {}) } },
    pollInterval: '1s',
    registries: { insecure: [env.faults.host, env.reg.host], requestTimeout: '5s' },
    health: {
      readinessTimeout: '20s', bakeWindow: '4s', queryInterval: '1s', runningGrace: '2s', inconclusive: 'rollback',
      prometheus: { url: o.prometheusUrl ?? prom.url, timeout: '3s' },
      slo: { window: '1m', maxErrorRatio: 0.02, maxP99Latency: '2s', minRequestRate: 1 },
      ...o.health,
    },
    rollback: { attemptTimeout: '60s', maxAttempts: 2, maxRestarts: 3, backoff: { initial: '500ms', max: '2s' } },
    webhooks: { listen: `127.0.0.1:${agentPort}` },
    ...(o.quality ? { images: [{ repository: `${env.faults.host}/${repository}`, quality: { goldenSet: goldenIn(confDir), ...o.quality } }] } : {}),
    stateDir: dir,
    log: { level: 'debug' },
    ...o.agent,
  };
  const launch = async (): Promise<AgentProcess> => {
    const a = await startAgent(env.pod, confDir, config, agentPort);
    env.relayTo = `http://127.0.0.1:${agentPort}/webhooks/registry`;
    return a;
  };
  const w: Workload = {
    name: o.name, repository, url: haproxy ? haproxy.url : `http://127.0.0.1:${ports[0]}`, ports, haproxy, prom, dir,
    auditFile: path.join(dir, 'audit.jsonl'),
    crashVersion: () => fs.writeFileSync(path.join(faultDir, 'crash'), '', { mode: 0o644 }),
    agent: await launch(),
    restartAgent: async () => (w.agent = await launch()),
    containers: async () => (await env.docker.listContainers({ all: true }))
      .map((c) => ({ name: c.Names[0].replace(/^\//, ''), state: c.State, marker: c.Labels?.['modelpilot.quarantine.of'] }))
      .filter((c) => !c.marker && (c.name === o.name || c.name.startsWith(`${o.name}-modelpilot-`))).map(({ name, state }) => ({ name, state })),
    audit: () => (fs.existsSync(w.auditFile) ? readAuditFile(w.auditFile).entries : []),
    stop: async () => {
      env.relayTo = undefined;
      await w.agent.stop('SIGKILL');
      for (const c of await env.docker.listContainers({ all: true })) {
        const n = c.Names[0].replace(/^\//, '');
        if (n === o.name || n.startsWith(`${o.name}-modelpilot-`)) await env.docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
      }
      await haproxy?.stop();
      await prom.stop();
      fs.rmSync(confDir, { recursive: true, force: true });
      fs.rmSync(faultDir, { recursive: true, force: true });
      if (!o.stateDir) fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  return w;
}

/** Waits for an audit entry; `what` names it in the timeout error. */
export async function auditEvent(w: Workload, what: string, match: (e: ReturnType<Workload['audit']>[number]) => boolean, timeoutMs = 90_000): Promise<number> {
  let at = 0;
  await waitFor(() => {
    const e = w.audit().find(match);
    if (e) at = Date.parse(e.time);
    return e !== undefined;
  }, { what, timeoutMs, intervalMs: 20, diagnostics: () => w.agent.output().slice(-3000) });
  return at;
}

/** `1.2.0` in an image reference. */
export const isVersion = (ref: string | undefined, v: Version): boolean => ref !== undefined && ref.includes(`:${v}@`) || ref?.endsWith(`:${v}`) === true;
