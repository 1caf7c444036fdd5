/**
 * A thin fake of the Kubernetes API server for the agent's Kubernetes target: a node:http server on 127.0.0.1
 * that serves the recorded API responses under test/fixtures/kube/ and keeps Deployments, ReplicaSets and Pods in
 * memory. It implements only what the target calls:
 *
 * - GET/PATCH one Deployment (strategic-merge, JSON-merge and JSON patch; `metadata.resourceVersion` in a patch is
 *   a precondition → 409 Conflict, as in the real API server), GET list (label selector), GET `?watch=true`
 *   (field selector `metadata.name=`), GET ReplicaSet and Pod lists;
 * - a minimal deployment controller: after each template change it picks or creates the ReplicaSet of that
 *   template (revision annotation), and moves the status the way the image's scripted behaviour says
 *   (ready, crash loop, image pull failure, progress deadline, hang);
 * - optional RBAC enforcement from Role rules (403 Forbidden with the real message; `list`/`watch` limited by
 *   `resourceNames` only with a matching `metadata.name` field selector, as Kubernetes does);
 * - a record of every (verb, group, resource, name) call, for the RBAC test.
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as http from 'http';
import type { AddressInfo } from 'net';
import * as path from 'path';
import { KubeConfig } from '@kubernetes/client-node';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'kube');

/** Reads a recorded API response. */
export function fixture<T = Record<string, unknown>>(name: string): T {
  return JSON.parse(fs.readFileSync(path.join(FIXTURES, name), 'utf8')) as T;
}

/** Reads a recorded watch stream (one JSON event per line). */
export function watchFixture(name: string): Array<{ type: string; object: Json }> {
  return fs.readFileSync(path.join(FIXTURES, name), 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;

/** One request, as RBAC sees it. */
export interface RecordedCall {
  readonly verb: 'get' | 'list' | 'watch' | 'patch' | 'update' | 'create' | 'delete';
  readonly group: string;
  readonly resource: string;
  readonly namespace: string;
  readonly name?: string;
}

/** A Role rule, as synthesized by ModelUpdater. */
export interface RoleRule {
  readonly apiGroups?: string[];
  readonly resources?: string[];
  readonly verbs: string[];
  readonly resourceNames?: string[];
}

/** What the fake controller does with pods of an image. */
/**
 * How pods of an image behave. `analysis-fails`: under an Argo Rollout, the pods start but the SLO analysis fails
 * and the Rollout aborts back to its stable pod template (without a Rollout it behaves like `ready`).
 */
export type ImageBehaviour = 'ready' | 'crashloop' | 'imagepull' | 'deadline' | 'hang' | 'analysis-fails';

export interface FakeKubeOptions {
  /** Deployments to start with. @default - the recorded `recsys` Deployment in namespace `ml` */
  readonly deployments?: Json[];
  /** ReplicaSets to start with. @default - the recorded ReplicaSet list */
  readonly replicaSets?: Json[];
  /** How pods of an image behave. @default - every image becomes ready */
  readonly behaviour?: (image: string) => ImageBehaviour;
  /** Delay before the fake controller reacts to a change, in ms. @default 30 */
  readonly controllerDelayMs?: number;
  /** Enforce these Role rules (403 for anything else). @default - everything allowed */
  readonly rules?: readonly RoleRule[];
  /**
   * Argo Rollouts Rollouts (argoproj.io/v1alpha1) that run a Deployment's pods by `workloadRef`; the fake controller
   * keeps their status as Argo Rollouts' would (observed workload generation, stable and current pod hash, abort).
   * @default - none
   */
  readonly rollouts?: Json[];
}

interface Watcher {
  readonly namespace: string;
  readonly name?: string;
  readonly res: http.ServerResponse;
}

/** The fake API server. */
export class FakeKube {
  /** Starts the fake on a free 127.0.0.1 port. */
  public static async start(options: FakeKubeOptions = {}): Promise<FakeKube> {
    const fake = new FakeKube(options);
    await new Promise<void>((resolve) => fake.server.listen(0, '127.0.0.1', resolve));
    return fake;
  }

  /** Every call, in order. */
  public readonly calls: RecordedCall[] = [];
  /** Every patch body applied, with its content type, in order. */
  public readonly patches: Array<{ name: string; contentType: string; body: Json }> = [];
  /** When (Date.now()) the fake controller last updated each Deployment's status, by `namespace/name`. */
  public readonly controlledAt = new Map<string, number>();
  public behaviour: (image: string) => ImageBehaviour;
  public rules?: readonly RoleRule[];
  private readonly server: http.Server;
  private readonly sockets = new Set<import('net').Socket>();
  private readonly deployments = new Map<string, Json>();
  private readonly replicaSets = new Map<string, Json>();
  private readonly rollouts = new Map<string, Json>();
  private readonly analysisRuns = new Map<string, Json>();
  private readonly watchers = new Set<Watcher>();
  private readonly injected: Array<{ verb: string; resource: string; status: number; count: number }> = [];
  private readonly afterHooks: Array<{ verb: string; resource: string; fn: () => void }> = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly controllerDelayMs: number;
  private resourceVersion = 2000;

  private constructor(options: FakeKubeOptions) {
    for (const d of options.deployments ?? [fixture('deployment-recsys.json')]) this.deployments.set(key(d), clone(d));
    for (const rs of options.replicaSets ?? fixture<Json>('replicaset-list.json').items) this.replicaSets.set(key(rs), clone(rs));
    for (const r of options.rollouts ?? []) this.rollouts.set(key(r), clone(r));
    this.behaviour = options.behaviour ?? (() => 'ready');
    this.controllerDelayMs = options.controllerDelayMs ?? 30;
    this.rules = options.rules;
    this.server = http.createServer((req, res) => {
      this.handle(req, res).then((call) => {
        const i = call ? this.afterHooks.findIndex((h) => h.verb === call.verb && h.resource === call.resource) : -1;
        if (i >= 0) this.afterHooks.splice(i, 1)[0].fn();
      }, (err: unknown) => {
        send(res, 500, status(500, 'InternalError', String(err)));
      });
    });
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
  }

  /** `http://127.0.0.1:<port>` */
  public get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** A KubeConfig that points at the fake (the only seam between the target and the fake). */
  public kubeConfig(): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'fake', server: this.url, skipTLSVerify: true }],
      users: [{ name: 'modelpilot-updater', token: 'fake-token' }],
      contexts: [{ name: 'fake', cluster: 'fake', user: 'modelpilot-updater', namespace: 'ml' }],
      currentContext: 'fake',
    });
    return kc;
  }

  /** Events created (core/v1), in order. */
  public readonly events: Json[] = [];

  /** The stored Deployment (a copy). */
  public deployment(name: string, namespace = 'ml'): Json {
    const d = this.deployments.get(`${namespace}/${name}`);
    if (!d) throw new Error(`fake-kube: no deployment ${namespace}/${name}`);
    return clone(d);
  }

  /** The ReplicaSets of a namespace (copies). */
  public replicaSetList(namespace = 'ml'): Json[] {
    return [...this.replicaSets.values()].filter((rs) => rs.metadata.namespace === namespace).map(clone);
  }

  /** The next `count` calls of (verb, resource) answer `status` (409 or 403, from the recorded Status objects). */
  public failNext(verb: RecordedCall['verb'], resource: string, statusCode: 403 | 404 | 409 | 500, count = 1): void {
    this.injected.push({ verb, resource, status: statusCode, count });
  }

  /** Runs `fn` once, right after the next (verb, resource) call has been answered (to race the target). */
  public afterNext(verb: RecordedCall['verb'], resource: string, fn: () => void): void {
    this.afterHooks.push({ verb, resource, fn });
  }

  /** Someone else (kubectl, Argo CD) changes the Deployment: merge `patch` as a strategic-merge patch. */
  public externalChange(name: string, patch: Json, namespace = 'ml'): void {
    const d = this.deployments.get(`${namespace}/${name}`);
    this.write(d, strategicMerge(d, patch));
  }

  /** Sends recorded watch events to the watchers of `name` (and stores the last object). */
  public replay(events: ReadonlyArray<{ type: string; object: Json }>): void {
    for (const e of events) {
      this.deployments.set(key(e.object), clone(e.object));
      this.notify(e.object, e.type);
    }
  }

  /** Number of open watch connections. */
  public get openWatches(): number {
    return this.watchers.size;
  }

  public async stop(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    for (const w of this.watchers) w.res.end();
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<RecordedCall | undefined> {
    await this.route(req, res);
    return this.calls[this.calls.length - 1];
  }

  private async route(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    const m = /^\/(?:api\/v1|apis\/(apps)\/v1|apis\/(argoproj\.io)\/v1alpha1)\/namespaces\/([^/]+)\/([a-z]+)(?:\/([^/]+))?$/.exec(url.pathname);
    if (!m) return send(res, 404, status(404, 'NotFound', `the server could not find the requested resource (${req.method} ${url.pathname})`));
    const [, apps, argo, namespace, resource, name] = m;
    const group = apps ?? argo ?? '';
    const isWatch = url.searchParams.get('watch') === 'true';
    const verb: RecordedCall['verb'] = req.method === 'PATCH' ? 'patch' : req.method === 'PUT' ? 'update' : req.method === 'POST' ? 'create'
      : req.method === 'DELETE' ? 'delete' : isWatch ? 'watch' : name ? 'get' : 'list';
    const fieldName = /^metadata\.name=(.+)$/.exec(url.searchParams.get('fieldSelector') ?? '')?.[1];
    const call: RecordedCall = { verb, group, resource, namespace, ...(name ?? fieldName ? { name: name ?? fieldName } : {}) };
    this.calls.push(call);
    const body = await readBody(req);

    if (!this.allowed(call)) return send(res, 403, this.forbidden(call));
    const inj = this.injected.find((i) => i.verb === verb && i.resource === resource && i.count > 0);
    if (inj) {
      inj.count--;
      if (inj.status === 403) return send(res, 403, this.forbidden(call));
      if (inj.status === 409) return send(res, 409, templated('status-conflict.json', { name: name ?? '' }));
      if (inj.status === 404) return send(res, 404, this.notFound(call));
      return send(res, 500, status(500, 'InternalError', 'injected failure'));
    }

    if (resource === 'deployments' && group === 'apps') {
      if (isWatch) return this.watch(namespace, fieldName, res);
      if (verb === 'list') return send(res, 200, list('DeploymentList', 'apps/v1', this.select(this.deployments, namespace, url), this.resourceVersion));
      const d = this.deployments.get(`${namespace}/${name}`);
      if (!d) return send(res, 404, this.notFound(call));
      if (verb === 'get') return send(res, 200, d);
      if (verb === 'patch') return this.patch(d, req.headers['content-type'] ?? '', body, res);
    }
    if (resource === 'rollouts' && group === 'argoproj.io' && verb === 'get') {
      const r = this.rollouts.get(`${namespace}/${name}`);
      return r ? send(res, 200, r) : send(res, 404, this.notFound(call));
    }
    if (resource === 'analysisruns' && group === 'argoproj.io' && verb === 'get') {
      const a = this.analysisRuns.get(`${namespace}/${name}`);
      return a ? send(res, 200, a) : send(res, 404, this.notFound(call));
    }
    if (resource === 'replicasets' && group === 'apps' && verb === 'list') {
      return send(res, 200, list('ReplicaSetList', 'apps/v1', this.select(this.replicaSets, namespace, url), this.resourceVersion));
    }
    if (resource === 'pods' && group === '' && verb === 'list') {
      return send(res, 200, list('PodList', 'v1', this.select(this.pods(), namespace, url), this.resourceVersion));
    }
    if (resource === 'events' && group === '' && verb === 'create') {
      const e = JSON.parse(body) as Json;
      if (e.metadata?.namespace && e.metadata.namespace !== namespace) {
        return send(res, 422, status(422, 'Invalid', 'the namespace of the provided object does not match the namespace sent on the request'));
      }
      e.metadata = { ...e.metadata, namespace, uid: `event-${this.events.length + 1}`, resourceVersion: String(++this.resourceVersion) };
      this.events.push(e);
      return send(res, 201, e);
    }
    return send(res, 405, status(405, 'MethodNotAllowed', `fake-kube does not serve ${verb} ${resource}`));
  }

  private patch(d: Json, contentType: string, text: string, res: http.ServerResponse): void {
    let body: Json;
    try {
      body = JSON.parse(text);
    } catch {
      return send(res, 400, status(400, 'BadRequest', 'patch body is not JSON'));
    }
    const type = contentType.split(';')[0].trim();
    let next: Json;
    try {
      if (type === 'application/strategic-merge-patch+json') next = strategicMerge(d, body);
      else if (type === 'application/merge-patch+json') next = mergePatch(d, body);
      else if (type === 'application/json-patch+json') next = jsonPatch(d, body);
      else return send(res, 415, status(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got '${type}')`));
    } catch (err) {
      return send(res, 422, status(422, 'Invalid', String(err instanceof Error ? err.message : err)));
    }
    if (next.metadata.resourceVersion !== d.metadata.resourceVersion) {
      return send(res, 409, templated('status-conflict.json', { name: d.metadata.name }));
    }
    this.patches.push({ name: d.metadata.name, contentType: type, body });
    send(res, 200, this.write(d, next));
  }

  /** Stores a new version of a Deployment: resourceVersion, generation on spec change, watch event, controller. */
  private write(prev: Json, next: Json): Json {
    next.metadata.resourceVersion = String(++this.resourceVersion);
    next.status = prev.status;
    const specChanged = JSON.stringify(prev.spec) !== JSON.stringify(next.spec);
    if (specChanged) next.metadata.generation = (prev.metadata.generation ?? 1) + 1;
    this.deployments.set(key(next), next);
    this.notify(next, 'MODIFIED');
    if (specChanged) {
      const t = setTimeout(() => {
        this.timers.delete(t);
        this.control(key(next));
      }, this.controllerDelayMs);
      this.timers.add(t);
    }
    return clone(next);
  }

  /** The deployment controller, reduced to what rollout status needs. */
  private control(id: string): void {
    const d = clone(this.deployments.get(id));
    if (!d) return;
    const ns = d.metadata.namespace;
    const owned = [...this.replicaSets.values()].filter((rs) => rs.metadata.ownerReferences?.some((o: Json) => o.uid === d.metadata.uid));
    const wanted = canonical(d.spec.template);
    let current = owned.find((rs) => canonical(withoutHash(rs.spec.template)) === wanted);
    const maxRev = Math.max(0, ...owned.map((rs) => Number(rs.metadata.annotations?.['deployment.kubernetes.io/revision'] ?? 0)));
    const hash = createHash('sha256').update(wanted).digest('hex').slice(0, 10);
    if (!current) {
      const template = clone(d.spec.template);
      template.metadata = { ...template.metadata, labels: { ...template.metadata?.labels, 'pod-template-hash': hash } };
      current = {
        metadata: {
          name: `${d.metadata.name}-${hash}`, namespace: ns, uid: `rs-${hash}`, resourceVersion: String(++this.resourceVersion), generation: 1,
          labels: { ...template.metadata.labels }, annotations: {},
          ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: d.metadata.name, uid: d.metadata.uid, controller: true, blockOwnerDeletion: true }],
        },
        spec: { replicas: 0, selector: { matchLabels: { ...d.spec.selector.matchLabels, 'pod-template-hash': hash } }, template },
        status: { replicas: 0 },
      };
      owned.push(current);
    }
    const cur = current;
    const currentRev = Number(cur.metadata.annotations['deployment.kubernetes.io/revision'] ?? 0);
    const revision = currentRev === maxRev && currentRev > 0 ? currentRev : maxRev + 1;
    cur.metadata.annotations['deployment.kubernetes.io/revision'] = String(revision);
    const cause = d.metadata.annotations?.['kubernetes.io/change-cause'];
    if (cause) cur.metadata.annotations['kubernetes.io/change-cause'] = cause;
    d.metadata.annotations = { ...d.metadata.annotations, 'deployment.kubernetes.io/revision': String(revision) };

    const want = d.spec.replicas ?? 1;
    const image = d.spec.template.spec.containers[0].image as string;
    const behaviour = this.behaviour(image);
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    const olds = owned.filter((rs) => rs !== cur);
    const progressing = (s: string, reason: string, message: string): Json =>
      ({ type: 'Progressing', status: s, lastUpdateTime: now, lastTransitionTime: now, reason, message });
    const available = { type: 'Available', status: 'True', lastUpdateTime: now, lastTransitionTime: now, reason: 'MinimumReplicasAvailable', message: 'Deployment has minimum availability.' };
    if (behaviour === 'ready' || behaviour === 'analysis-fails') {
      cur.spec.replicas = want;
      for (const rs of olds) rs.spec.replicas = 0;
      d.status = {
        observedGeneration: d.metadata.generation, replicas: want, updatedReplicas: want, readyReplicas: want, availableReplicas: want,
        conditions: [available, progressing('True', 'NewReplicaSetAvailable', `ReplicaSet "${cur.metadata.name}" has successfully progressed.`)],
      };
    } else {
      // maxSurge 1, maxUnavailable 0: one new pod that never becomes ready, the old ones keep serving.
      cur.spec.replicas = 1;
      const oldTotal = olds.reduce((n, rs) => n + (rs.spec.replicas ?? 0), 0);
      d.status = {
        observedGeneration: d.metadata.generation, replicas: oldTotal + 1, updatedReplicas: 1, readyReplicas: oldTotal, availableReplicas: oldTotal,
        unavailableReplicas: 1,
        conditions: [available, behaviour === 'deadline'
          ? progressing('False', 'ProgressDeadlineExceeded', `ReplicaSet "${cur.metadata.name}" has timed out progressing.`)
          : progressing('True', 'ReplicaSetUpdated', `ReplicaSet "${cur.metadata.name}" is progressing.`)],
      };
    }
    for (const rs of owned) {
      rs.status = { replicas: rs.spec.replicas, observedGeneration: 1 };
      this.replicaSets.set(key(rs), rs);
    }
    this.controlRollout(d, cur, behaviour);
    d.metadata.resourceVersion = String(++this.resourceVersion);
    this.deployments.set(id, d);
    this.controlledAt.set(id, Date.now());
    this.notify(d, 'MODIFIED');
  }

  /** The stored Rollout (a copy). */
  public rollout(name: string, namespace = 'ml'): Json {
    return clone(this.rollouts.get(`${namespace}/${name}`));
  }

  /**
   * Argo Rollouts' controller, reduced to the status the target reads: the Rollout observes the Deployment's
   * template; a good version becomes stable after a successful step analysis, a bad one aborts (stable stays), and
   * the stable template back on the Deployment makes the Rollout Healthy again.
   */
  private controlRollout(d: Json, cur: Json, behaviour: ImageBehaviour): void {
    const name = d.metadata.annotations?.['modelpilot.dev/rollout'];
    const r = name ? this.rollouts.get(`${d.metadata.namespace}/${name}`) : undefined;
    if (!r) return;
    const hash = cur.metadata.labels['pod-template-hash'];
    const prev = r.status ?? {};
    const run = { name: `${name}-${hash}-2-1`, status: behaviour === 'analysis-fails' ? 'Failed' : 'Successful',
      ...(behaviour === 'analysis-fails' ? { message: 'Metric "error-ratio" assessed Failed due to failed (1) > failureLimit (0)' } : {}) };
    const failed = behaviour === 'analysis-fails';
    this.analysisRuns.set(`${d.metadata.namespace}/${run.name}`, {
      apiVersion: 'argoproj.io/v1alpha1', kind: 'AnalysisRun', metadata: { name: run.name, namespace: d.metadata.namespace },
      status: {
        phase: run.status, ...(failed ? { message: run.message } : {}),
        metricResults: [
          { name: 'served-requests', phase: 'Successful', count: 1, failed: 0, measurements: [{ value: '[40]' }] },
          { name: 'error-ratio', phase: failed ? 'Failed' : 'Successful', count: 1, failed: failed ? 1 : 0, measurements: [{ value: failed ? '[0.4]' : '[0]' }] },
        ],
      },
    });
    const base = {
      workloadObservedGeneration: String(d.metadata.generation ?? 1), currentPodHash: hash, observedGeneration: String(r.metadata.generation ?? 1),
    };
    if (hash === prev.stableRS || !prev.stableRS && behaviour === 'ready') {
      r.status = { ...base, phase: 'Healthy', stableRS: hash, currentStepIndex: 4 };
    } else if (behaviour === 'analysis-fails') {
      r.status = { ...base, phase: 'Degraded', abort: true, stableRS: prev.stableRS, currentStepIndex: 0,
        message: `RolloutAborted: Rollout aborted update to revision 2: ${run.message}`, canary: { currentStepAnalysisRunStatus: run } };
    } else if (behaviour === 'ready') {
      r.status = { ...base, phase: 'Healthy', stableRS: hash, currentStepIndex: 4, canary: { currentStepAnalysisRunStatus: run } };
    } else {
      r.status = { ...base, phase: 'Progressing', stableRS: prev.stableRS, currentStepIndex: 0, message: 'more replicas need to be updated' };
    }
    this.rollouts.set(key(r), r);
  }

  /** Pods derived from the ReplicaSets: ready, or waiting with the reason the image's behaviour gives. */
  private pods(): Map<string, Json> {
    const pods = new Map<string, Json>();
    for (const rs of this.replicaSets.values()) {
      const image = rs.spec.template.spec.containers[0].image as string;
      const b = this.behaviour(image);
      for (let i = 0; i < (rs.spec.replicas ?? 0); i++) {
        const name = `${rs.metadata.name}-${String.fromCharCode(97 + i)}x${i}q`;
        const waiting = b === 'crashloop' ? { reason: 'CrashLoopBackOff', message: 'back-off 40s restarting failed container=model' }
          : b === 'imagepull' ? { reason: 'ImagePullBackOff', message: `Back-off pulling image "${image}"` } : undefined;
        // 'deadline' and 'hang': the container runs and never passes its readiness probe, as the kubelet shows it
        const ready = b === 'ready' || b === 'analysis-fails';
        pods.set(`${rs.metadata.namespace}/${name}`, {
          metadata: { name, namespace: rs.metadata.namespace, labels: { ...rs.spec.template.metadata.labels } },
          spec: clone(rs.spec.template.spec),
          status: {
            phase: waiting ? 'Pending' : 'Running',
            conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }],
            containerStatuses: rs.spec.template.spec.containers.map((c: Json, idx: number) => ({
              name: c.name, image: c.image, imageID: waiting && idx === 0 ? '' : `${c.image}`, ready: ready || idx > 0,
              restartCount: b === 'crashloop' && idx === 0 ? 3 : 0,
              state: waiting && idx === 0 ? { waiting } : { running: { startedAt: '2026-11-25T09:00:00Z' } },
            })),
          },
        });
      }
    }
    return pods;
  }

  private watch(namespace: string, name: string | undefined, res: http.ServerResponse): void {
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
    res.flushHeaders();
    const w: Watcher = { namespace, name, res };
    this.watchers.add(w);
    res.on('close', () => this.watchers.delete(w));
  }

  private notify(obj: Json, type: string): void {
    for (const w of this.watchers) {
      if (w.namespace !== obj.metadata.namespace || (w.name && w.name !== obj.metadata.name)) continue;
      w.res.write(JSON.stringify({ type, object: obj }) + '\n');
    }
  }

  private select(store: Map<string, Json>, namespace: string, url: URL): Json[] {
    const selector = url.searchParams.get('labelSelector');
    const fieldName = /^metadata\.name=(.+)$/.exec(url.searchParams.get('fieldSelector') ?? '')?.[1];
    const pairs = selector ? selector.split(',').map((p) => p.split('=')) : [];
    return [...store.values()].filter((o) => o.metadata.namespace === namespace
      && (!fieldName || o.metadata.name === fieldName)
      && pairs.every(([k, v]) => o.metadata.labels?.[k] === v)).map(clone);
  }

  /** RBAC as Kubernetes evaluates it for a namespaced Role. */
  private allowed(call: RecordedCall): boolean {
    if (!this.rules) return true;
    return this.rules.some((r) => (r.apiGroups ?? []).some((g) => g === '*' || g === call.group)
      && (r.resources ?? []).some((x) => x === '*' || x === call.resource)
      && r.verbs.some((v) => v === '*' || v === call.verb)
      && (!r.resourceNames || r.resourceNames.length === 0 || (call.name !== undefined && r.resourceNames.includes(call.name))));
  }

  private forbidden(call: RecordedCall): Json {
    return templated('status-forbidden.json', {
      verb: call.verb, resource: call.resource, group: call.group, namespace: call.namespace, name: call.name ?? '',
      groupSuffix: call.group ? `.${call.group}` : '', quotedName: call.name ? ` "${call.name}"` : '',
    });
  }

  private notFound(call: RecordedCall): Json {
    return templated('status-not-found.json', { resource: call.resource, group: call.group, name: call.name ?? '', groupSuffix: call.group ? `.${call.group}` : '' });
  }
}

/** Strategic merge patch, reduced to the Kubernetes patch strategies of the fields a Deployment patch touches. */
export function strategicMerge(target: Json, patch: Json, field = ''): Json {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return clone(patch);
  if (patch.$patch === 'replace') {
    const { $patch: _, ...rest } = patch;
    return clone(rest);
  }
  const out: Json = target && typeof target === 'object' && !Array.isArray(target) ? clone(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) {
      delete out[k];
    } else if (Array.isArray(v) && MERGE_KEYS[k] && Array.isArray(out[k])) {
      const mk = MERGE_KEYS[k];
      const merged = [...out[k]];
      for (const item of v as Json[]) {
        const i = merged.findIndex((x) => x[mk] === item[mk]);
        if (item.$patch === 'delete') {
          if (i >= 0) merged.splice(i, 1);
        } else if (i >= 0) merged[i] = strategicMerge(merged[i], item, `${field}.${k}`);
        else merged.push(clone(item));
      }
      out[k] = merged;
    } else {
      out[k] = strategicMerge(out[k], v, `${field}.${k}`);
    }
  }
  return out;
}

/** Patch merge keys of the lists a pod template has (from the Kubernetes API's `x-kubernetes-patch-merge-key`). */
const MERGE_KEYS: Record<string, string> = { containers: 'name', initContainers: 'name', env: 'name', volumes: 'name', volumeMounts: 'mountPath', ports: 'containerPort', imagePullSecrets: 'name' };

/** RFC 7386 JSON merge patch. */
export function mergePatch(target: Json, patch: Json): Json {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return clone(patch);
  const out: Json = target && typeof target === 'object' && !Array.isArray(target) ? clone(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/** RFC 6902 JSON patch: add, replace, remove, test. */
export function jsonPatch(target: Json, ops: Json[]): Json {
  if (!Array.isArray(ops)) throw new Error('a JSON patch is an array of operations');
  let doc = clone(target);
  for (const op of ops) {
    const parts = String(op.path).split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
    if (parts.length === 0) {
      doc = clone(op.value);
      continue;
    }
    const last = parts.pop() as string;
    let parent = doc;
    for (const p of parts) {
      if (parent[p] === undefined) throw new Error(`jsonpatch ${op.op} operation does not apply: doc is missing path: ${op.path}`);
      parent = parent[p];
    }
    if (op.op === 'add') parent[last] = clone(op.value);
    else if (op.op === 'replace') {
      if (!(last in parent)) throw new Error(`jsonpatch replace operation does not apply: doc is missing key: ${op.path}`);
      parent[last] = clone(op.value);
    } else if (op.op === 'remove') {
      if (!(last in parent)) throw new Error(`jsonpatch remove operation does not apply: doc is missing key: ${op.path}`);
      delete parent[last];
    } else if (op.op === 'test') {
      if (JSON.stringify(parent[last]) !== JSON.stringify(op.value)) throw new Error(`testing value ${op.path} failed`);
    } else throw new Error(`unsupported JSON patch operation '${op.op}'`);
  }
  return doc;
}

function withoutHash(template: Json): Json {
  const t = clone(template);
  if (t.metadata?.labels) delete t.metadata.labels['pod-template-hash'];
  return t;
}

/** Key-order independent JSON of a template, as the controller compares them. */
function canonical(v: Json): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  return `{${Object.keys(v).filter((k) => v[k] !== undefined && v[k] !== null).sort().map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`).join(',')}}`;
}

function key(o: Json): string {
  return `${o.metadata.namespace}/${o.metadata.name}`;
}

function clone<T>(v: T): T {
  return v === undefined ? v : JSON.parse(JSON.stringify(v));
}

function list(kind: string, apiVersion: string, items: Json[], rv: number): Json {
  return { kind, apiVersion, metadata: { resourceVersion: String(rv) }, items };
}

function status(code: number, reason: string, message: string): Json {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

function templated(name: string, values: Record<string, string>): Json {
  const text = fs.readFileSync(path.join(FIXTURES, name), 'utf8').replace(/\{\{(\w+)\}\}/g, (_, k: string) => JSON.stringify(values[k] ?? '').slice(1, -1));
  return JSON.parse(text);
}

function send(res: http.ServerResponse, code: number, body: Json): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
