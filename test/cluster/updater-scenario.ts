/**
 * The updater's Kubernetes target end to end on a real control plane, shared by test/cluster/updater.cluster.test.ts
 * (which asserts the behaviour) and bench/cluster.bench.ts (which records the numbers of the same run):
 *
 * - the stack (model Deployment + the updater's ServiceAccount, Role, RoleBinding, …) is synthesized and applied;
 * - the agent runs as its own process (`modelpilot agent`), authenticated as the synthesized ServiceAccount with a
 *   TokenRequest token: no admin credentials;
 * - the real distribution registry notifies the agent of each push;
 * - 1.1.0 is promoted through a real Deployment rollout; 1.2.0's pods never become Ready (kwok holds them) and it is
 *   rolled back through the real revision history and quarantined; the agent is SIGKILLed while 1.3.0 rolls out
 *   and a new agent process finishes the update.
 */
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import type { AddressInfo } from 'net';
import * as os from 'os';
import * as path from 'path';
import { App } from 'cdk8s';
import * as YAML from 'yaml';
import { ModelRegistry, SelfHealingModelStack, UpdatePolicy } from '../../lib';
import { DEPLOYMENT_ANNOTATIONS } from '../../lib/core/contract/names';
import { startCluster, TestCluster } from '../support/cluster';
import { installCrds } from '../support/crds';
import { pushEmptyImage, startRegistry, TestRegistry } from '../support/registry';
import { freePort, stopChild, tailFile, waitFor } from '../support/tools';

const ROOT = path.resolve(__dirname, '../..');
const TOKEN = 'cluster-e2e-webhook-token-0123456789';
const SA = 'system:serviceaccount:ml:modelpilot-updater';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- Kubernetes JSON
type Obj = Record<string, any>;

/** One API call the updater's ServiceAccount made, from the apiserver's audit log. */
export interface ApiCall { readonly verb: string; readonly resource: string; readonly name?: string; readonly code: number; readonly at: number }

export interface UpdaterScenarioResult {
  readonly startupMs: number;
  readonly controlPlaneRssKiB: Record<string, number>;
  /** push of 1.1.0 → the Deployment Available on 1.1.0 with the update promoted. */
  readonly promoteMs: number;
  /** push of 1.2.0 → the 1.1.0 ReplicaSet serving again, 1.2.0 quarantined. */
  readonly rollbackMs: number;
  /** a new agent started after the SIGKILL → 1.3.0 promoted. */
  readonly resumeMs: number;
  readonly images: { readonly afterPromote: string; readonly afterRollback: string; readonly afterResume: string };
  readonly digests: Record<string, string>;
  readonly repository: string;
  readonly inFlightAtKill: string | undefined;
  readonly revisions: string;
  /** The quarantine store right after the rollback (promoting 1.3.0 later supersedes the entry). */
  readonly quarantine: Obj;
  readonly audit: Obj[];
  readonly calls: { readonly promote: ApiCall[]; readonly rollback: ApiCall[]; readonly all: ApiCall[] };
  readonly canI: Record<string, boolean>;
  readonly agentRssKiB: number;
  readonly metrics: string;
  /** The Events the updater created (core/v1, `source.component: modelpilot-updater`), oldest first. */
  readonly events: Obj[];
  /** `kubectl describe deployment recsys`: what a person sees. */
  readonly describe: string;
  readonly deploymentUid: string;
}

async function applyStack(cluster: TestCluster, registryHost: string, digest: string): Promise<Obj[]> {
  const app = new App();
  new SelfHealingModelStack(app, 'recsys', {
    namespace: 'ml',
    registry: ModelRegistry.external({ host: registryHost }),
    model: { name: 'recsys', image: `${registryHost}/models/recsys:1.0.0@${digest}`, replicas: 2, updatePolicy: UpdatePolicy.semver('minor') },
    updater: {},
  });
  const objects = app.charts[0].toJson() as Obj[];
  cluster.kubectl(['create', 'namespace', 'ml']);
  cluster.kubectl(['apply', '--server-side', '--field-manager=modelpilot', '-f', '-'], objects.map((o) => YAML.stringify(o)).join('---\n'));
  cluster.kubectl(['rollout', 'status', 'deployment/recsys', '-n', 'ml', '--timeout=60s']);
  return objects;
}

function auditCalls(cluster: TestCluster): ApiCall[] {
  return cluster.auditEvents().filter((e) => e.user?.username === SA && e.stage === 'ResponseComplete').map((e) => ({
    verb: e.verb, resource: `${e.objectRef?.apiGroup ?? ''}/${e.objectRef?.resource ?? ''}${e.objectRef?.subresource ? `/${e.objectRef.subresource}` : ''}`,
    name: e.objectRef?.name, code: e.responseStatus?.code ?? 0, at: Date.parse(e.requestReceivedTimestamp),
  }));
}

export async function runUpdaterScenario(): Promise<UpdaterScenarioResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelpilot-cluster-e2e-'));
  const agentPort = await freePort();
  let cluster: TestCluster | undefined;
  let reg: TestRegistry | undefined;
  let agent: ChildProcess | undefined;
  const probe = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'));
  try {
    cluster = await startCluster({ neverReadyVersions: ['1.2.0'] });
    const c = cluster;
    installCrds(c.kubectl);
    reg = await startRegistry({
      notifications: { url: `http://127.0.0.1:${agentPort}/webhooks/registry`, headers: { Authorization: `Bearer ${TOKEN}` }, ignorePulls: true },
    });
    const r = reg;
    const repository = `${r.host}/models/recsys`;
    const digests: Record<string, string> = { '1.0.0': await pushEmptyImage(r, 'models/recsys', '1.0.0') };
    const objects = await applyStack(c, r.host, digests['1.0.0']);
    const rendered = YAML.parse(objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'modelpilot-updater')!.data['agent.yaml']);

    // The agent authenticates as the synthesized ServiceAccount (TokenRequest API), nothing more.
    const saToken = c.kubectl(['create', 'token', 'modelpilot-updater', '-n', 'ml', '--duration=2h']).trim();
    const kubeconfig = c.tokenKubeconfig(saToken, 'ml');
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    fs.writeFileSync(path.join(dir, 'token'), TOKEN);
    const configFile = path.join(dir, 'agent.yaml');
    fs.writeFileSync(configFile, YAML.stringify({
      // the rendered target and images, reached from outside the cluster
      targets: { kubernetes: { ...rendered.targets.kubernetes, kubeconfig } },
      images: rendered.images.map((i: Obj) => ({ ...i, slo: undefined })),
      pollInterval: '1h',
      registries: { insecure: [r.host] },
      health: {
        readinessTimeout: '15s', bakeWindow: '0s', inconclusive: 'probe',
        probe: { url: `http://127.0.0.1:${(probe.address() as AddressInfo).port}/predict`, count: 3, interval: '10ms' },
      },
      rollback: { maxAttempts: 2, attemptTimeout: '30s', backoff: { initial: '100ms', max: '1s' } },
      webhooks: { listen: `127.0.0.1:${agentPort}`, bearerTokenFile: path.join(dir, 'token') },
      stateDir: path.join(dir, 'state'),
      log: { level: 'debug' },
    }));
    const agentLog = path.join(dir, 'agent.log');
    const startAgentProcess = async (): Promise<ChildProcess> => {
      const out = fs.openSync(agentLog, 'a');
      const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', path.join(ROOT, 'bin/modelpilot.ts'), 'agent', '--config', configFile],
        { cwd: ROOT, stdio: ['ignore', out, out], env: { ...process.env, NODE_OPTIONS: '--max-semi-space-size=2' } });
      fs.closeSync(out);
      await waitFor(async () => (fetch(`http://127.0.0.1:${agentPort}/healthz`).then((x) => x.ok, () => false)),
        { what: 'the agent answering /healthz', timeoutMs: 60_000, diagnostics: () => tailFile(agentLog, 3000) });
      return child;
    };
    const deployment = (): Obj => JSON.parse(c.kubectl(['get', 'deployment', 'recsys', '-n', 'ml', '-o', 'json']));
    const image = (): string => deployment().spec.template.spec.containers[0].image;
    const inFlight = (): string | undefined => deployment().metadata.annotations?.[DEPLOYMENT_ANNOTATIONS.inFlight];
    const available = (): boolean => {
      const d = deployment();
      return d.status?.updatedReplicas === d.spec.replicas && d.status?.availableReplicas === d.spec.replicas
        && (d.status?.replicas ?? 0) === d.spec.replicas && d.status?.observedGeneration === d.metadata.generation;
    };
    const quarantineFile = path.join(dir, 'state', 'quarantine.json');
    const diagnostics = (): string => `agent log:\n${tailFile(agentLog, 4000)}\npods:\n${c.kubectlResult(['get', 'pods', '-n', 'ml', '-o', 'wide']).stdout}`;
    agent = await startAgentProcess();

    // 1.1.0: promoted through a real rollout
    let t = Date.now();
    digests['1.1.0'] = await pushEmptyImage(r, 'models/recsys', '1.1.0');
    await waitFor(() => image() === `${repository}:1.1.0@${digests['1.1.0']}` && inFlight() === undefined && available(),
      { what: 'recsys promoted to 1.1.0 and Available', timeoutMs: 90_000, diagnostics });
    const promoteMs = Date.now() - t;
    const promoteWindow = [t, Date.now()] as const;
    const afterPromote = image();

    // 1.2.0: its pods never become Ready; rolled back and quarantined
    t = Date.now();
    digests['1.2.0'] = await pushEmptyImage(r, 'models/recsys', '1.2.0');
    const rs110Serving = (): boolean => {
      const list = JSON.parse(c.kubectl(['get', 'replicasets', '-n', 'ml', '-l', 'app.kubernetes.io/name=recsys', '-o', 'json'])).items as Obj[];
      const rs = list.find((x) => x.spec.template.spec.containers[0].image === afterPromote);
      return rs !== undefined && rs.status.readyReplicas === rs.spec.replicas && rs.spec.replicas === 2;
    };
    await waitFor(() => fs.existsSync(quarantineFile) && fs.readFileSync(quarantineFile, 'utf8').includes('1.2.0') && inFlight() === undefined
      && image() === afterPromote && available() && rs110Serving(), { what: '1.2.0 rolled back and quarantined, 1.1.0 serving', timeoutMs: 120_000, diagnostics });
    const rollbackMs = Date.now() - t;
    const rollbackWindow = [t, Date.now()] as const;
    const afterRollback = image();
    const quarantineAfterRollback = JSON.parse(fs.readFileSync(quarantineFile, 'utf8')) as Obj;

    // 1.3.0: the agent is SIGKILLed mid-rollout; a new agent process finishes the update
    digests['1.3.0'] = await pushEmptyImage(r, 'models/recsys', '1.3.0');
    await waitFor(() => inFlight() !== undefined && image().includes(':1.3.0@'), { what: '1.3.0 applied and in flight', timeoutMs: 60_000, diagnostics });
    agent.kill('SIGKILL');
    await new Promise((resolve) => agent!.once('exit', resolve));
    const inFlightAtKill = inFlight();
    t = Date.now();
    agent = await startAgentProcess();
    await waitFor(() => image() === `${repository}:1.3.0@${digests['1.3.0']}` && inFlight() === undefined && available(),
      { what: 'the restarted agent finished 1.3.0', timeoutMs: 90_000, diagnostics });
    const resumeMs = Date.now() - t;
    const agentRssKiB = Number(/VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${agent.pid}/status`, 'utf8'))?.[1] ?? 0);
    const metrics = await (await fetch(`http://127.0.0.1:${agentPort}/metrics`)).text();

    // What the real authorizer allows the ServiceAccount
    const canI: Record<string, boolean> = {};
    for (const q of ['get deployments/recsys', 'patch deployments/recsys', 'watch deployments/recsys', 'list replicasets', 'list pods',
      'create events', 'get events', 'delete events', 'list deployments', 'patch deployments/other', 'delete deployments/recsys', 'get secrets', 'create pods', 'update deployments/recsys']) {
      canI[q] = c.kubectlResult(['auth', 'can-i', ...q.split(' '), '-n', 'ml', `--as=${SA}`]).stdout.trim() === 'yes';
    }
    const all = auditCalls(c);
    // the audit log's timestamps have microsecond precision; a second of slack on each side of a phase
    const phase = (w: readonly [number, number]) => all.filter((x) => x.at >= w[0] - 1000 && x.at <= w[1] + 1000);
    const auditFile = path.join(dir, 'state', 'audit.jsonl');
    // the agent's event queue is drained a moment after the last audit entry
    const auditLines = () => fs.readFileSync(auditFile, 'utf8').split('\n').filter(Boolean).length;
    const updaterEvents = (): Obj[] => (JSON.parse(c.kubectl(['get', 'events', '-n', 'ml', '-o', 'json'])).items as Obj[])
      .filter((e) => e.source?.component === 'modelpilot-updater')
      .sort((a, b) => Date.parse(a.firstTimestamp) - Date.parse(b.firstTimestamp) || a.metadata.name.localeCompare(b.metadata.name));
    await waitFor(() => updaterEvents().length >= auditLines(), { what: 'an Event per audit entry', timeoutMs: 15_000, diagnostics });
    return {
      events: updaterEvents(), describe: c.kubectl(['describe', 'deployment', 'recsys', '-n', 'ml']),
      deploymentUid: JSON.parse(c.kubectl(['get', 'deployment', 'recsys', '-n', 'ml', '-o', 'json'])).metadata.uid,
      startupMs: c.startupMs, controlPlaneRssKiB: c.rssKiB(), promoteMs, rollbackMs, resumeMs,
      images: { afterPromote, afterRollback, afterResume: image() }, digests, repository, inFlightAtKill,
      revisions: c.kubectl(['rollout', 'history', 'deployment/recsys', '-n', 'ml']),
      quarantine: quarantineAfterRollback,
      audit: fs.readFileSync(auditFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)),
      calls: { promote: phase(promoteWindow), rollback: phase(rollbackWindow), all },
      canI, agentRssKiB, metrics,
    };
  } finally {
    if (agent && agent.exitCode === null) await stopChild(agent, 10_000);
    await new Promise<void>((resolve) => (probe.listening ? probe.close(() => resolve()) : resolve()));
    await reg?.stop();
    await cluster?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
