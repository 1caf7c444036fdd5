/**
 * The synthesized stack on a real node, shared by the node tier's tests (see test/support/node.ts for the node): the
 * in-cluster registry runs as a pod from the manifests as synthesized, its credentials come from `modelpilot
 * registry-credentials`, model images are pushed to it through its NodePort from inside the namespace (as a CI job
 * on the node's network would), and containerd pulls them through that NodePort with the `hosts.toml`
 * docs/registry.md gives and the pull Secret. With `updater`, the updater runs as the synthesized pod from the image
 * built from agent/Dockerfile, as its ServiceAccount, with its state claim on a local PersistentVolume, and a
 * Prometheus scrapes the model's pods the way a PodMonitor on them would (the pods' IPs and the `namespace` and
 * `pod` labels), reached through the Service name the updater is configured with.
 *
 * Overrides (gaps to close), each because nothing here can serve it:
 * 1. the registry's image `docker.io/library/registry:2.8.3` is made from Debian's distribution binary (plus sh and
 *    sed for the synthesized init container) and imported into containerd, where `IfNotPresent` finds it;
 * 2. the updater's image `ghcr.io/modelpilot/modelpilot-updater:<version>` is the one the tests build from
 *    agent/Dockerfile (its two base images made from this host's node: test/support/agent-image.ts), imported the same way;
 * 3. the pause image is the host's `sleep` (containerd's pinned sandbox image);
 * 4. the model images are scripts/build-test-image.ts's (this host's node binary + the reference model server);
 * 5. Prometheus is Debian's binary running in the node's namespace with a scrape config equivalent to a PodMonitor
 *    (prometheus-operator is not built here; with a `monitoring` section, the target labels come from the stack's
 *    own monitor's relabelings), behind a selector-less `prometheus-operated` Service in `monitoring`;
 * 6. with `delivery`, Argo Rollouts' image is made from the controller scripts/delivery/build.sh builds from the Go
 *    module proxy (its install manifest is upstream's, with `imagePullPolicy: IfNotPresent`).
 */
import * as fs from 'fs';
import * as path from 'path';
import { App } from 'cdk8s';
import * as YAML from 'yaml';
import { AuditEntry, readAuditFile } from '../../agent/state/audit';
import { run as registryCredentials } from '../../bin/commands/registry-credentials';
import { Delivery, ModelRegistry, ModelResources, ModelUpdaterOptions, SelfHealingModelStack, Slo, UpdatePolicy } from '../../lib';
import { buildTestImage } from '../../scripts/build-test-image';
import { agentImage } from '../support/agent-image';
import { argoRolloutsInstall, crdFiles } from '../support/crds';
import { deliveryBinDir } from '../support/delivery-tools';
import { hostBinaryImage } from '../support/host-images';
import { NODE_NET, startNode, TestNode } from '../support/node';
import { startPodman, TestPodman } from '../support/podman';
import { requireTool, stopChild, waitFor } from '../support/tools';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- Kubernetes JSON
export type Obj = Record<string, any>;

export const REGISTRY = 'localhost:30500';
export const REPO = `${REGISTRY}/models/recsys`;
export const NS = 'ml';

/** Whether an image reference (digest-pinned by the updater, or a tag) is version `v` of the model. */
export const isVersion = (ref: string | undefined, v: string): boolean => ref !== undefined && (ref.includes(`:${v}@`) || ref.endsWith(`:${v}`));
const WEBHOOK_TOKEN = 'node-tier-webhook-token-0123456789';

export interface StackOnNode {
  readonly pod: TestPodman;
  readonly node: TestNode;
  readonly objects: Obj[];
  /** The updater's state directory on this host (its PersistentVolume), with `updater`. */
  readonly stateDir?: string;
  /** The registry's storage on this host (its PersistentVolume). */
  readonly registryDir: string;
  kubectl(args: readonly string[], input?: string): string;
  json(args: readonly string[]): Obj;
  /** The images the Deployment's Ready pods run, sorted. */
  readyImages(name: string): string[];
  /** The images of the pods the model's Service sends new requests to: Ready and not terminating, sorted. */
  servingImages(name: string): string[];
  /** The updater's audit log, with `updater`. */
  audit(): AuditEntry[];
  /** Waits for the first audit entry `match` accepts; returns its time (ms). */
  auditAt(what: string, match: (e: AuditEntry) => boolean, timeoutMs: number, diagnostics?: () => string): Promise<number>;
  /** The model Service's URL (inside the namespace). */
  serviceUrl(name: string): string;
  /** Builds a version of the model image (with `env` baked in, e.g. a fault) and pushes it through the NodePort. */
  pushVersion(version: string, env?: Record<string, string>): Promise<void>;
  /**
   * Makes a pushed version unpullable, as a registry that lost a blob (a failed garbage collection, a half-replicated
   * mirror) does: its image config is deleted from the registry's storage; the tag and the manifest stay, so the
   * registry lists the version and serves its manifest. Returns the deleted blob's digest.
   */
  breakImage(version: string): string;
  stop(): Promise<void>;
}

export interface StackOnNodeOptions {
  /** Run the updater in-cluster with these options. @default - no updater */
  readonly updater?: ModelUpdaterOptions;
  /**
   * Deliver through Argo Rollouts: its controller runs as a pod from its own install manifest (override 6), the stack
   * gets `monitoring: {}` (its ServiceMonitor and alerts), and Prometheus labels the pods as that monitor does.
   * @default - a Deployment rolling update
   */
  readonly delivery?: Delivery;
  /** The model's SLO. @default - Slo's defaults */
  readonly slo?: Slo;
  /** The model's resources. @default - ModelDeployment's (request 500m CPU, 1Gi) */
  readonly resources?: ModelResources;
}

export async function startStackOnNode(o: StackOnNodeOptions = {}): Promise<StackOnNode> {
  const pod = await startPodman({ insecureRegistries: [REGISTRY] });
  let node: TestNode | undefined;
  let prometheus: { stop(): Promise<void> } | undefined;
  const stop = async (): Promise<void> => {
    await prometheus?.stop();
    await node?.stop();
    await pod.stop();
    if (node?.restored.length) console.log(`host sysctls restored: ${node.restored.join(', ')}`);
  };
  try {
    node = await startNode({ podman: pod, insecureRegistries: [REGISTRY] });
    const n = node;
    const kubectl = (args: readonly string[], input?: string): string => n.cluster.kubectl(args, input);
    const json = (args: readonly string[]): Obj => JSON.parse(kubectl([...args, '-o', 'json'])) as Obj;
    const apply = (objs: Obj[]): string => kubectl(['apply', '--server-side', '--field-manager=modelpilot', '-f', '-'], objs.map((x) => YAML.stringify(x)).join('---\n'));
    const localVolume = (name: string, owner: number): string => {
      const dir = path.join(n.dir, `pv-${name}`);
      fs.mkdirSync(dir);
      fs.chownSync(dir, owner, owner);
      kubectl(['apply', '-f', '-'], YAML.stringify({
        apiVersion: 'v1', kind: 'PersistentVolume', metadata: { name },
        spec: { capacity: { storage: '50Gi' }, accessModes: ['ReadWriteOnce'], hostPath: { path: dir, type: 'Directory' }, persistentVolumeReclaimPolicy: 'Retain',
          claimRef: { namespace: NS, name } },
      }));
      return dir;
    };

    // the registry's Secrets, as docs/registry.md tells users to make them
    const file = path.join(n.dir, 'registry-credentials.yaml');
    // called directly (not through test/support/cli's capture, which needs jest): bench/node.bench.ts runs this too
    const code = await registryCredentials(['--namespace', NS, '--host', REGISTRY, '--out', file]);
    if (code !== 0) throw new Error(`modelpilot registry-credentials exited ${code} (its message is on stderr above)`);
    const pull = YAML.parseAllDocuments(fs.readFileSync(file, 'utf8')).map((d) => d.toJS() as Obj)[1];
    const auth = JSON.parse(pull.stringData['.dockerconfigjson']).auths[REGISTRY] as { username: string; password: string };
    const creds = `${auth.username}:${auth.password}`;

    // overrides 1 and 2: the upstream images, made here
    await n.importImage(pod, await hostBinaryImage(pod, 'docker.io/library/registry:2.8.3', ['/usr/bin/docker-registry', '/bin/sh', '/bin/sed'],
      ['/usr/bin/docker-registry', 'serve', '/etc/docker/registry/config.yml'], [], { user: '1000:1000', name: 'registry', dirs: ['var/lib/registry'] }));

    const app = new App();
    new SelfHealingModelStack(app, 'recsys', {
      namespace: NS,
      registry: ModelRegistry.inCluster({ nodePort: 30500 }),
      model: {
        name: 'recsys', image: `${REPO}:1.0.0`, replicas: 2, updatePolicy: UpdatePolicy.semver('minor'),
        ...(o.slo ? { slo: o.slo } : {}), ...(o.resources ? { resources: o.resources } : {}),
      },
      ...(o.updater ? { updater: o.updater } : {}),
      ...(o.delivery ? { delivery: o.delivery, monitoring: {} } : {}),
    });
    const objects = app.charts[0].toJson() as Obj[];
    const updaterDeployment = objects.find((x) => x.kind === 'Deployment' && x.metadata.name === 'modelpilot-updater');
    if (updaterDeployment) {
      const shipped = updaterDeployment.spec.template.spec.containers[0].image as string;
      const built = await agentImage(pod);
      await pod.podman(['tag', built, shipped]);
      await n.importImage(pod, shipped);
    }
    kubectl(['create', 'namespace', NS]);
    kubectl(['apply', '-f', file]);
    kubectl(['create', 'secret', 'generic', 'modelpilot-updater-webhook', '-n', NS, `--from-literal=token=${WEBHOOK_TOKEN}`,
      '--from-literal=hmac=node-tier-webhook-hmac-0123456789abcdef']);
    const registryDir = localVolume('model-registry', 1000);
    const stateDir = updaterDeployment ? localVolume('modelpilot-updater-state', 10001) : undefined;
    apply(objects.filter((x) => x.metadata.name?.startsWith('model-registry')));
    kubectl(['rollout', 'status', 'deployment/model-registry', '-n', NS, '--timeout=180s']);
    // kube-proxy programs the NodePort a moment after the pod is ready: wait for the registry's 401 through it
    const probe = `fetch('http://${REGISTRY}/v2/').then((r) => process.exit(r.status === 401 ? 0 : 1), () => process.exit(1))`;
    await waitFor(() => n.run(process.execPath, ['-e', probe]).status === 0, { what: `the registry through the NodePort (${REGISTRY})`, timeoutMs: 60_000 });

    const pushVersion = async (version: string, env: Record<string, string> = {}): Promise<void> => {
      const img = await buildTestImage({ version, podman: pod, repository: 'models/recsys', env, modelName: 'recsys' });
      const ref = `${REPO}:${version}`;
      await pod.podman(['tag', img.imageId, ref]);
      // from inside the namespace, through the NodePort, as CI pushes (the CLI on its local storage: with
      // CONTAINER_HOST it would ask the service, which runs outside the namespace)
      const pushed = n.run(pod.binary, ['push', '--tls-verify=false', '--creds', creds, ref], { env: { ...pod.env, CONTAINER_HOST: undefined }, timeoutMs: 300_000 });
      if (pushed.status !== 0) throw new Error(`podman push ${ref} failed: ${pushed.stderr}`);
    };
    await pushVersion('1.0.0');

    if (updaterDeployment) {
      // the updater's PodMonitor needs prometheus-operator's CRDs, a Rollout Argo's (only those: the rest of the control plane stays light)
      const projects = ['prometheus-operator', ...(o.delivery ? ['argo-rollouts'] : [])];
      for (const f of crdFiles().filter((c) => projects.includes(c.project))) kubectl(['apply', '--server-side', '--field-manager=modelpilot-test', '-f', f.file]);
      kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd', '--all']);
      prometheus = startPrometheus(n, kubectl, objects);
    }
    if (o.delivery) await installArgoRollouts(n, pod, kubectl);
    apply(objects);
    kubectl(['rollout', 'status', 'deployment/recsys', '-n', NS, '--timeout=180s']);
    if (updaterDeployment) kubectl(['rollout', 'status', 'deployment/modelpilot-updater', '-n', NS, '--timeout=180s']);

    const breakImage = (version: string): string => {
      const v2 = path.join(registryDir, 'docker', 'registry', 'v2');
      const blob = (digest: string): string => path.join(v2, 'blobs', 'sha256', digest.slice(7, 9), digest.slice(7), 'data');
      const manifest = fs.readFileSync(path.join(v2, 'repositories', 'models', 'recsys', '_manifests', 'tags', version, 'current', 'link'), 'utf8').trim();
      const config = (JSON.parse(fs.readFileSync(blob(manifest), 'utf8')) as Obj).config.digest as string;
      fs.rmSync(blob(config));
      return config;
    };
    const readyImages = (name: string): string[] => (json(['get', 'pods', '-n', NS, '-l', `app.kubernetes.io/instance=${name}`]).items as Obj[])
      .filter((p) => (p.status.conditions ?? []).some((c: Obj) => c.type === 'Ready' && c.status === 'True'))
      .map((p) => p.spec.containers[0].image as string).sort();
    const servingImages = (name: string): string[] => (json(['get', 'pods', '-n', NS, '-l', `app.kubernetes.io/instance=${name}`]).items as Obj[])
      .filter((p) => !p.metadata.deletionTimestamp && (p.status.conditions ?? []).some((c: Obj) => c.type === 'Ready' && c.status === 'True'))
      .map((p) => p.spec.containers[0].image as string).sort();
    const audit = (): AuditEntry[] => {
      if (!stateDir) throw new Error('no updater in this stack: start it with `updater`');
      return readAuditFile(path.join(stateDir, 'audit.jsonl')).entries;
    };
    const auditAt = async (what: string, match: (e: AuditEntry) => boolean, timeoutMs: number, diagnostics?: () => string): Promise<number> => {
      let at = 0;
      await waitFor(() => {
        const e = audit().find(match);
        if (e) at = Date.parse(e.time);
        return e !== undefined;
      }, { what, timeoutMs, intervalMs: 250, diagnostics });
      return at;
    };
    const serviceUrl = (name: string): string => {
      const svc = json(['get', 'service', name, '-n', NS]);
      return `http://${svc.spec.clusterIP}:${svc.spec.ports[0].port}`;
    };
    return {
      pod, node: n, objects, stateDir, registryDir, kubectl, json, readyImages, servingImages, audit, auditAt, serviceUrl, pushVersion, breakImage,
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

/**
 * Override 5: Debian's Prometheus in the node's namespace on the gateway's address, scraping the model's pods as a
 * PodMonitor on them would (`namespace` and `pod` labels, the `http` port), reached by the updater through
 * `prometheus-operated.monitoring.svc:9090` (a selector-less Service with an EndpointSlice to that address). Debian
 * builds Prometheus without Kubernetes service discovery, so the pod list comes from a file the test keeps current
 * from the API every second (file_sd: the same targets and labels kubernetes_sd_configs would give).
 */
function startPrometheus(node: TestNode, kubectl: (args: readonly string[], input?: string) => string,
  objects: readonly Obj[]): { stop(): Promise<void> } {
  const bin = requireTool('prometheus', 'prometheus');
  const dir = path.join(node.dir, 'prometheus');
  fs.mkdirSync(dir);
  const targets = path.join(dir, 'pods.json');
  const scrape = monitorScrape(objects);
  const refresh = (): void => {
    let pods: Obj[];
    try {
      pods = (JSON.parse(kubectl(['get', 'pods', '-n', NS, '-l', 'app.kubernetes.io/instance=recsys', '-o', 'json'])) as Obj).items as Obj[];
    } catch {
      return;
    }
    const groups = pods.filter((p) => p.status.podIP && p.status.phase === 'Running').map((p) => ({
      targets: [`${p.status.podIP}:${(p.spec.containers[0].ports as Obj[]).find((x) => x.name === scrape.port)?.containerPort ?? 8080}`],
      labels: { namespace: NS, pod: p.metadata.name as string, ...scrape.labels(p.metadata.labels ?? {}) },
    }));
    fs.writeFileSync(`${targets}.tmp`, JSON.stringify(groups));
    fs.renameSync(`${targets}.tmp`, targets);
  };
  refresh();
  const timer = setInterval(refresh, 1000);
  fs.writeFileSync(path.join(dir, 'prometheus.yml'), YAML.stringify({
    global: { scrape_interval: '2s', evaluation_interval: '2s' },
    scrape_configs: [{ job_name: 'recsys', honor_labels: scrape.honorLabels, file_sd_configs: [{ files: [targets], refresh_interval: '1s' }] }],
  }));
  const child = node.spawn(bin, [`--config.file=${path.join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(dir, 'data')}`,
    `--web.listen-address=${NODE_NET.gateway}:9090`, '--log.level=warn']);
  let log = '';
  child.stderr?.on('data', (c: Buffer) => (log = (log + c.toString()).slice(-4000)));
  child.once('exit', (code) => { if (code !== null && code !== 0) console.error(`prometheus exited ${code}: ${log}`); });
  kubectl(['create', 'namespace', 'monitoring']);
  kubectl(['apply', '-f', '-'], [
    { apiVersion: 'v1', kind: 'Service', metadata: { name: 'prometheus-operated', namespace: 'monitoring' }, spec: { ports: [{ name: 'web', port: 9090, targetPort: 9090 }] } },
    {
      apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
      metadata: { name: 'prometheus-operated-node', namespace: 'monitoring', labels: { 'kubernetes.io/service-name': 'prometheus-operated' } },
      addressType: 'IPv4', ports: [{ name: 'web', port: 9090, protocol: 'TCP' }], endpoints: [{ addresses: [NODE_NET.gateway], conditions: { ready: true } }],
    },
  ].map((x) => YAML.stringify(x)).join('---\n'));
  return {
    stop: async () => {
      clearInterval(timer);
      await stopChild(child, 5000);
    },
  };
}

/**
 * The port and the target labels the stack's ServiceMonitor / PodMonitor for the model gives a pod, from its
 * `replace` relabelings (a constant, or a pod label through `__meta_kubernetes_pod_label_<name>`), so the file_sd
 * targets carry what prometheus-operator's config would (e.g. `version`, `rollouts_pod_template_hash`). Without a
 * monitor (no `monitoring` section), the `http` port and no extra labels.
 */
function monitorScrape(objects: readonly Obj[]): {
  port: string; honorLabels: boolean; labels(podLabels: Record<string, string>): Record<string, string>;
} {
  const monitor = objects.find((x) => (x.kind === 'ServiceMonitor' || x.kind === 'PodMonitor') && x.metadata.name === 'recsys');
  const endpoint = monitor ? (monitor.spec.endpoints ?? monitor.spec.podMetricsEndpoints)[0] as Obj : undefined;
  const rules = (endpoint?.relabelings ?? []) as Array<{ action?: string; sourceLabels?: string[]; targetLabel: string; replacement?: string }>;
  for (const r of rules) {
    if ((r.action ?? 'replace') !== 'replace' || (r.sourceLabels ?? []).some((l) => !l.startsWith('__meta_kubernetes_pod_label_'))) {
      throw new Error(`the monitor's relabeling ${JSON.stringify(r)} is not one this stand-in for prometheus-operator carries over; extend monitorScrape`);
    }
  }
  return {
    port: endpoint?.port ?? 'http',
    honorLabels: endpoint?.honorLabels ?? false,
    labels: (podLabels) => {
      const meta = Object.fromEntries(Object.entries(podLabels).map(([k, v]) => [`__meta_kubernetes_pod_label_${k.replace(/[^a-zA-Z0-9_]/g, '_')}`, v]));
      const out: Record<string, string> = {};
      for (const r of rules) {
        const value = r.sourceLabels ? r.sourceLabels.map((l) => meta[l] ?? '').join(';') : (r.replacement ?? '');
        if (value !== '') out[r.targetLabel] = value;
      }
      return out;
    },
  };
}

/**
 * Override 6: Argo Rollouts from its own install manifest (the module zip's manifests/install.yaml at the pinned
 * version) in namespace `argo-rollouts`, its image `quay.io/argoproj/argo-rollouts:<version>` made from the
 * controller scripts/delivery/build.sh builds (running as 999, as upstream's), `IfNotPresent` instead of `Always`.
 */
async function installArgoRollouts(node: TestNode, pod: TestPodman, kubectl: (args: readonly string[], input?: string) => string): Promise<void> {
  const { version, file } = argoRolloutsInstall();
  const image = `quay.io/argoproj/argo-rollouts:${version}`;
  const bin = path.join(deliveryBinDir(), 'rollouts-controller');
  await node.importImage(pod, await hostBinaryImage(pod, image, [bin], [bin], [], { user: '999:999', name: 'argo-rollouts', dirs: ['home/argo-rollouts'] }));
  const docs = YAML.parseAllDocuments(fs.readFileSync(file, 'utf8')).map((d) => d.toJS() as Obj).filter((d) => d && d.kind !== 'CustomResourceDefinition');
  for (const d of docs.filter((x) => x.kind === 'Deployment')) {
    for (const c of d.spec.template.spec.containers as Obj[]) {
      c.image = image;
      c.imagePullPolicy = 'IfNotPresent';
    }
  }
  kubectl(['create', 'namespace', 'argo-rollouts']);
  kubectl(['apply', '-n', 'argo-rollouts', '--server-side', '--field-manager=modelpilot-test', '-f', '-'], docs.map((x) => YAML.stringify(x)).join('---\n'));
  kubectl(['rollout', 'status', 'deployment/argo-rollouts', '-n', 'argo-rollouts', '--timeout=110s']);
}
