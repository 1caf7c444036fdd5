/**
 * The synthesized stack on a real node (test/support/node.ts: kubelet + kube-proxy + containerd + bridge CNI in a
 * network namespace, the control plane beside them): the in-cluster registry runs as a pod from the manifests as
 * synthesized, its credentials come from `modelpilot registry-credentials`, model images are pushed to it through its
 * NodePort, and containerd pulls them through that NodePort with the `hosts.toml` docs/registry.md gives and the pull
 * Secret. Load goes through the model's Service (kube-proxy) from inside the namespace, bounded in time and count.
 *
 * Scenarios: the stack comes up on real probes; a new version rolls out with 0 failed requests (maxUnavailable 0,
 * readiness, the preStop drain); a version that crashes on start goes to CrashLoopBackOff while the old pods keep
 * serving with 0 failed requests.
 *
 * Overrides (gaps to close), each because nothing here can serve it:
 * 1. the registry's image `docker.io/library/registry:2.8.3` is made from Debian's distribution binary (plus sh and
 *    sed for the synthesized init container) and imported into containerd, where `IfNotPresent` finds it: no container
 *    registry is reachable to pull the upstream image;
 * 2. the pause image is the host's `sleep` (containerd's pinned sandbox image), imported the same way;
 * 3. the model images are scripts/build-test-image.ts's (this host's node binary + the reference model server), pushed
 *    to the in-cluster registry as a user's CI would;
 * 4. no cluster DNS runs: nothing in these scenarios resolves a Service name (the updater's scenarios will need it).
 */
import * as fs from 'fs';
import * as path from 'path';
import { App } from 'cdk8s';
import * as YAML from 'yaml';
import { run as registryCredentials } from '../../bin/commands/registry-credentials';
import { ModelRegistry, SelfHealingModelStack } from '../../lib';
import { buildTestImage } from '../../scripts/build-test-image';
import { capture } from '../support/cli';
import { hostBinaryImage } from '../support/host-images';
import { startNode, TestNode } from '../support/node';
import { startNsLoad } from '../support/ns-load';
import { startPodman, TestPodman } from '../support/podman';
import { waitFor } from '../support/tools';

jest.setTimeout(600_000);

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- Kubernetes JSON
type Obj = Record<string, any>;

const REGISTRY = 'localhost:30500';
const REPO = `${REGISTRY}/models/recsys`;
const NS = 'ml';

let pod: TestPodman;
let node: TestNode;
let creds: string;
let stack: Obj[];

const kubectl = (args: readonly string[], input?: string): string => node.cluster.kubectl(args, input);
const json = (args: readonly string[]): Obj => JSON.parse(kubectl([...args, '-o', 'json'])) as Obj;

/** The Deployment's state: available replicas and the images its ready pods run. */
function readyImages(name: string): string[] {
  const pods = json(['get', 'pods', '-n', NS, '-l', `app.kubernetes.io/instance=${name}`]).items as Obj[];
  return pods.filter((p) => (p.status.conditions ?? []).some((c: Obj) => c.type === 'Ready' && c.status === 'True'))
    .map((p) => p.spec.containers[0].image as string).sort();
}

/** Moves the Deployment to `version` as the updater does: the image, MODEL_VERSION and the version label in one change. */
function setVersion(version: string): void {
  kubectl(['patch', 'deployment', 'recsys', '-n', NS, '--type=strategic', '-p', JSON.stringify({
    spec: { template: {
      metadata: { labels: { 'app.kubernetes.io/version': version } },
      spec: { containers: [{ name: 'model', image: `${REPO}:${version}`, env: [{ name: 'MODEL_VERSION', value: version }] }] },
    } },
  })]);
}

async function pushVersion(version: string, env: Record<string, string> = {}): Promise<void> {
  const img = await buildTestImage({ version, podman: pod, repository: 'models/recsys', env, modelName: 'recsys' });
  const ref = `${REPO}:${version}`;
  await pod.podman(['tag', img.imageId, ref]);
  // from inside the namespace, through the NodePort, as CI pushes
  // (the CLI on its local storage: with CONTAINER_HOST it would ask the service, which runs outside the namespace)
  const cliEnv = { ...pod.env, CONTAINER_HOST: undefined };
  const r = node.run(pod.binary, ['push', '--tls-verify=false', '--creds', creds, ref], { env: cliEnv, timeoutMs: 300_000 });
  if (r.status !== 0) throw new Error(`podman push ${ref} failed: ${r.stderr}`);
}

beforeAll(async () => {
  pod = await startPodman({ insecureRegistries: [REGISTRY] });
  node = await startNode({ podman: pod, insecureRegistries: [REGISTRY] });

  // the registry's Secrets, as docs/registry.md tells users to make them
  const file = path.join(node.dir, 'registry-credentials.yaml');
  const r = await capture(() => registryCredentials(['--namespace', NS, '--host', REGISTRY, '--out', file]));
  if (r.code !== 0) throw new Error(`registry-credentials: ${r.err}`);
  const pull = YAML.parseAllDocuments(fs.readFileSync(file, 'utf8')).map((d) => d.toJS() as Obj)[1];
  const auth = JSON.parse(pull.stringData['.dockerconfigjson']).auths[REGISTRY] as { username: string; password: string };
  creds = `${auth.username}:${auth.password}`;

  // override 1: the upstream registry image, from Debian's binary
  const registryImage = await hostBinaryImage(pod, 'docker.io/library/registry:2.8.3', ['/usr/bin/docker-registry', '/bin/sh', '/bin/sed'],
    ['/usr/bin/docker-registry', 'serve', '/etc/docker/registry/config.yml'], [], { user: '1000:1000', name: 'registry', dirs: ['var/lib/registry'] });
  await node.importImage(pod, registryImage);

  const app = new App();
  new SelfHealingModelStack(app, 'recsys', {
    namespace: NS,
    registry: ModelRegistry.inCluster({ nodePort: 30500 }),
    model: { name: 'recsys', image: `${REPO}:1.0.0`, replicas: 2 },
  });
  stack = app.charts[0].toJson() as Obj[];
  kubectl(['create', 'namespace', NS]);
  kubectl(['apply', '-f', file]);
  kubectl(['create', 'secret', 'generic', 'modelpilot-updater-webhook', '-n', NS, '--from-literal=token=node-tier-webhook-token-0123456789']);
  // the registry's claim: a local PersistentVolume (the node has no provisioner)
  const pv = path.join(node.dir, 'pv-registry');
  fs.mkdirSync(pv);
  fs.chownSync(pv, 1000, 1000);
  kubectl(['apply', '-f', '-'], YAML.stringify({
    apiVersion: 'v1', kind: 'PersistentVolume', metadata: { name: 'model-registry' },
    spec: { capacity: { storage: '50Gi' }, accessModes: ['ReadWriteOnce'], hostPath: { path: pv, type: 'Directory' }, persistentVolumeReclaimPolicy: 'Retain' },
  }));
  const registryObjects = stack.filter((o) => o.metadata.name === 'model-registry' || o.metadata.name?.startsWith('model-registry'));
  kubectl(['apply', '--server-side', '--field-manager=modelpilot', '-f', '-'], registryObjects.map((o) => YAML.stringify(o)).join('---\n'));
  kubectl(['rollout', 'status', 'deployment/model-registry', '-n', NS, '--timeout=180s']);
  // kube-proxy programs the NodePort a moment after the pod is ready: wait for the registry's 401 through it
  const probe = `fetch('http://${REGISTRY}/v2/').then((r) => process.exit(r.status === 401 ? 0 : 1), () => process.exit(1))`;
  await waitFor(() => node.run(process.execPath, ['-e', probe]).status === 0, { what: `the registry through the NodePort (${REGISTRY})`, timeoutMs: 60_000 });
  await pushVersion('1.0.0');
  kubectl(['apply', '--server-side', '--field-manager=modelpilot', '-f', '-'], stack.map((o) => YAML.stringify(o)).join('---\n'));
  kubectl(['rollout', 'status', 'deployment/recsys', '-n', NS, '--timeout=180s']);
});

afterAll(async () => {
  await node?.stop();
  await pod?.stop();
  if (node?.restored.length) console.log(`host sysctls restored: ${node.restored.join(', ')}`);
});

test('the registry and the model run from the synthesized manifests on real probes; the image came through the NodePort', () => {
  expect(readyImages('recsys')).toEqual([`${REPO}:1.0.0`, `${REPO}:1.0.0`]);
  const images = node.ctr(['images', 'ls', '-q']);
  expect(images).toContain(`${REPO}:1.0.0`);
  const events = kubectl(['get', 'events', '-n', NS, '--field-selector', 'reason=Pulled', '-o', 'jsonpath={range .items[*]}{.message}{"\\n"}{end}']);
  expect(events).toMatch(new RegExp(`Successfully pulled image "${REPO}:1.0.0"`));
});

test('a new version rolls out through the Service with 0 failed requests', async () => {
  await pushVersion('1.1.0');
  const svc = json(['get', 'service', 'recsys', '-n', NS]);
  const url = `http://${svc.spec.clusterIP}:${svc.spec.ports[0].port}`;
  const load = startNsLoad((f, a) => node.spawn(f, a), url, { maxSeconds: 240, maxRequests: 500_000, connections: 4 });
  await waitFor(() => readyImages('recsys').length === 2, { what: 'load started', timeoutMs: 5000 });
  const t0 = Date.now();
  setVersion('1.1.0');
  kubectl(['rollout', 'status', 'deployment/recsys', '-n', NS, '--timeout=240s']);
  const rolloutMs = Date.now() - t0;
  await waitFor(() => readyImages('recsys').every((i) => i.endsWith(':1.1.0')), { what: '1.1.0 on every ready pod', timeoutMs: 60_000 });
  const report = await load.stop();
  console.log(`rolling update 1.0.0 → 1.1.0 on the real node: ${rolloutMs} ms; load ${JSON.stringify({ ...report, versions: report.versions.map((v) => v.version) })}`);
  expect(report.requests).toBeGreaterThan(100);
  expect(report.failed).toBe(0);
  expect(report.versions.map((v) => v.version)).toContain('1.1.0');
});

test('a version that crashes on start goes to CrashLoopBackOff; the old pods keep serving with 0 failed requests', async () => {
  await pushVersion('1.2.0', { MODEL_FAULT_CRASH_ON_START: 'true' });
  const svc = json(['get', 'service', 'recsys', '-n', NS]);
  const url = `http://${svc.spec.clusterIP}:${svc.spec.ports[0].port}`;
  const load = startNsLoad((f, a) => node.spawn(f, a), url, { maxSeconds: 240, maxRequests: 500_000, connections: 4 });
  setVersion('1.2.0');
  let waiting = '';
  await waitFor(() => {
    const pods = json(['get', 'pods', '-n', NS, '-l', 'app.kubernetes.io/instance=recsys']).items as Obj[];
    const bad = pods.find((p) => p.spec.containers[0].image === `${REPO}:1.2.0`);
    const st = bad?.status.containerStatuses?.[0];
    waiting = st?.state?.waiting?.reason ?? '';
    return waiting === 'CrashLoopBackOff' && (st?.restartCount ?? 0) >= 2;
  }, { what: '1.2.0 in CrashLoopBackOff after 2 restarts', timeoutMs: 180_000, intervalMs: 1000, diagnostics: () => node.logs().slice(-3000) });
  const dep = json(['get', 'deployment', 'recsys', '-n', NS]);
  expect(dep.status.availableReplicas).toBe(2);
  expect(readyImages('recsys')).toEqual([`${REPO}:1.1.0`, `${REPO}:1.1.0`]);
  const report = await load.stop();
  console.log(`crash-looping 1.2.0 on the real node: ${JSON.stringify({ ...report, versions: report.versions.map((v) => v.version) })}`);
  expect(report.failed).toBe(0);
  expect(report.versions.map((v) => v.version)).toEqual(['1.1.0']);
  kubectl(['rollout', 'undo', 'deployment/recsys', '-n', NS]);
  kubectl(['rollout', 'status', 'deployment/recsys', '-n', NS, '--timeout=120s']);
});
