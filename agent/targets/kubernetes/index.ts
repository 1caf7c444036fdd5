/**
 * The Kubernetes target: keeps the model container of Deployments up to date, with the in-flight update recorded
 * on the Deployment itself (annotations) so that a restarted agent can finish or reverse it.
 *
 * API calls (and so the RBAC the agent needs; `ModelUpdater` grants exactly these, a test keeps them in step):
 * - deployments.apps: `get`, `patch`, `watch` (by name: authorised by `resourceNames`), `list` (label-selector
 *   discovery only, which cannot be limited by name);
 * - pods: `list` (why a rollout is stuck: image pull errors, crash loops);
 * - replicasets.apps: `list` (rollback fallback when the recorded template is missing).
 */
import { AppsV1Api, CoreV1Api, CustomObjectsApi, KubeConfig, ObjectSerializer, PatchUtils, V1Deployment, V1Pod, Watch } from '@kubernetes/client-node';
import { DNS_LABEL_RE } from '../../../lib/core/checks';
import { DEPLOYMENT_ANNOTATIONS, K8S_LABELS, MANAGED_LABEL, MANAGED_SELECTOR, MODEL_SERVER_ENV, UPDATER_FIELD_MANAGER, VERSION_LABEL } from '../../../lib/core/contract/names';
import { ImageRef, sameImage } from '../../../lib/core/image-ref';
import { UpdatePolicy } from '../../../lib/core/update-policy';
import { systemClock } from '../../clock';
import {
  Clock, fail, HealthResult, InFlightRecord, Logger, nullLogger, ok, Outcome, parseWorkloadQuarantines, RuntimeState, Target, TargetEvent,
  UpdatePlan, withWorkloadQuarantine, Workload, WorkloadQuarantine,
} from '../../types';

/** Annotations and labels the Kubernetes target reads and writes (the cross-helper contract). */
export const K8S_ANNOTATIONS = DEPLOYMENT_ANNOTATIONS;

/** The env var that tells the model server which version it serves (the `version` label of its metrics). */
const VERSION_ENV = MODEL_SERVER_ENV.version;

export { MANAGED_LABEL };

/** The kubelet's waiting reasons for an image it cannot pull (pkg/kubelet/images/types.go): a failed apply, not a bad version. */
const PULL_FAILURE_REASONS = new Set(['ErrImagePull', 'ImagePullBackOff', 'InvalidImageName', 'ErrImageNeverPull', 'RegistryUnavailable',
  'SignatureValidationFailed', 'ImageInspectError']);

/** Container waiting reasons that mean a rollout will not succeed by waiting longer. */
const FATAL_WAITING_REASONS = new Set([...PULL_FAILURE_REASONS, 'CrashLoopBackOff', 'CreateContainerConfigError', 'CreateContainerError']);

/** Waiting reasons of a container whose image may still be on its way (the kubelet pulls during `ContainerCreating`). */
const BEFORE_PULL_REASONS = new Set(['ContainerCreating', 'PodInitializing']);

/** One Deployment named in the explicit list, with optional overrides. */
export interface KubernetesDeploymentRef {
  /** The Deployment's name. */
  readonly name: string;
  /** The model container. @default - annotation `modelpilot.dev/container`, else the first container */
  readonly container?: string;
  /** The model name (the `model` label of its metrics). @default - label `app.kubernetes.io/name`, else the Deployment name */
  readonly model?: string;
  /** The update policy. @default - annotation `modelpilot.dev/policy`, else the target's default policy */
  readonly policy?: UpdatePolicy;
}

/** Options of {@link KubernetesTarget}. */
export interface KubernetesTargetOptions {
  /** Where the API server is and how to authenticate (`loadFromCluster()` in a pod, `loadFromFile()` on a laptop). */
  readonly kubeConfig: KubeConfig;
  /** `reportingInstance` of the Events it records. @default - $HOSTNAME (the pod name), else 'modelpilot-updater' */
  readonly reportingInstance?: string;
  /** The namespace of the model Deployments. */
  readonly namespace: string;
  /**
   * The Deployments to keep up to date, by name. This is the least-privilege mode: every call is by name, so the
   * Role can be limited by `resourceNames`.
   * @default - discovery by label selector (needs namespace-wide `list` on deployments)
   */
  readonly deployments?: ReadonlyArray<string | KubernetesDeploymentRef>;
  /**
   * Label selector for discovery when no explicit list is given.
   * @default 'modelpilot.dev/managed=true'
   */
  readonly labelSelector?: string;
  /** Policy for Deployments that name none. @default UpdatePolicy.semver('minor') */
  readonly defaultPolicy?: UpdatePolicy;
  /** Clock for timestamps and polling sleeps. @default - the system clock */
  readonly clock?: Clock;
  /** How often rollout status is re-read when no watch event arrives. @default 2000 */
  readonly pollIntervalMs?: number;
  /** Retries after a 409 Conflict, each with a fresh GET. @default 5 */
  readonly maxConflictRetries?: number;
  /** `fieldManager` of every patch (server-side field ownership). @default 'modelpilot' */
  readonly fieldManager?: string;
  /** The agent's structured logger (the event name is the message). @default - no logging */
  readonly logger?: Logger;
}

/** A failure from the API server, turned into words an operator can act on. */
class KubeCallError extends Error {
  constructor(message: string, public readonly statusCode?: number) {
    super(message);
  }
}

interface Call {
  readonly verb: 'get' | 'list' | 'watch' | 'patch' | 'create';
  readonly resource: string;
  readonly name?: string;
}

/** The rollout status of a Deployment, computed the way `kubectl rollout status` does. */
export interface RolloutStatus {
  readonly done: boolean;
  /** Set when the rollout cannot succeed (progress deadline exceeded). */
  readonly failed?: string;
  readonly message: string;
}

/**
 * Reads a Deployment's rollout status from `observedGeneration`, `updatedReplicas`, `availableReplicas` and the
 * `Progressing` condition (`ProgressDeadlineExceeded` means the rollout failed).
 */
export function rolloutStatus(d: V1Deployment): RolloutStatus {
  const generation = d.metadata?.generation ?? 0;
  const status = d.status ?? {};
  const want = d.spec?.replicas ?? 1;
  if ((status.observedGeneration ?? 0) < generation) {
    return { done: false, message: `waiting for the deployment spec update to be observed (generation ${generation}, observed ${status.observedGeneration ?? 0})` };
  }
  const progressing = (status.conditions ?? []).find((c) => c.type === 'Progressing');
  if (progressing?.reason === 'ProgressDeadlineExceeded') {
    return { done: false, failed: `progress deadline exceeded: ${progressing.message ?? 'no message'}`, message: 'rollout failed' };
  }
  const updated = status.updatedReplicas ?? 0;
  const total = status.replicas ?? 0;
  const available = status.availableReplicas ?? 0;
  if (updated < want) return { done: false, message: `${updated} of ${want} new replicas updated` };
  if (total > updated) return { done: false, message: `${total - updated} old replicas pending termination` };
  if (available < updated) return { done: false, message: `${available} of ${updated} updated replicas available` };
  return { done: true, message: `rollout complete: ${updated} of ${want} replicas updated and available` };
}

/** The part of an Argo Rollouts Rollout's status the target reads. */
export interface ArgoRolloutStatus {
  readonly phase?: string;
  readonly message?: string;
  readonly abort?: boolean;
  readonly stableRS?: string;
  readonly currentPodHash?: string;
  readonly currentStepIndex?: number;
  readonly workloadObservedGeneration?: string;
  readonly canary?: { readonly currentStepAnalysisRunStatus?: ArgoAnalysisRunStatus };
  readonly blueGreen?: {
    readonly prePromotionAnalysisRunStatus?: ArgoAnalysisRunStatus;
    readonly postPromotionAnalysisRunStatus?: ArgoAnalysisRunStatus;
  };
}

/** An analysis run as a Rollout's status names it. */
export interface ArgoAnalysisRunStatus {
  readonly name?: string;
  readonly status?: string;
  readonly message?: string;
}

/** The analysis run a Rollout's status names now: the canary step's, else blue-green's post- or pre-promotion one. */
function currentAnalysis(s: ArgoRolloutStatus): ArgoAnalysisRunStatus | undefined {
  return s.canary?.currentStepAnalysisRunStatus ?? s.blueGreen?.postPromotionAnalysisRunStatus ?? s.blueGreen?.prePromotionAnalysisRunStatus;
}

/** The analysis run a Rollout's status names now (canary step, blue-green pre- or post-promotion), as one line. */
export function describeAnalysis(s: ArgoRolloutStatus): string | undefined {
  const a = currentAnalysis(s);
  if (!a?.name) return undefined;
  return `analysis ${a.name} ${a.status ?? 'Pending'}${a.message ? `: ${a.message}` : ''}`;
}

/** The part of an AnalysisRun the target reads. */
export interface ArgoAnalysisRun {
  readonly metadata?: { readonly name?: string };
  readonly status?: {
    readonly phase?: string;
    readonly message?: string;
    readonly metricResults?: ReadonlyArray<{
      readonly name: string; readonly phase?: string; readonly count?: number; readonly failed?: number; readonly inconclusive?: number;
      readonly measurements?: ReadonlyArray<{ readonly value?: string }>;
    }>;
  };
}

/** An AnalysisRun's outcome as one line: its phase and each metric's phase, measurements, failures and last value. */
export function describeAnalysisRun(a: ArgoAnalysisRun): string {
  const metrics = (a.status?.metricResults ?? []).map((m) => {
    const last = m.measurements?.[m.measurements.length - 1]?.value;
    return `${m.name} ${m.phase ?? 'Pending'} (${m.count ?? 0} measured, ${m.failed ?? 0} failed${last !== undefined ? `, last ${last}` : ''})`;
  });
  return `analysis ${a.metadata?.name ?? '?'} ${a.status?.phase ?? 'Pending'}${a.status?.message ? `: ${a.status.message}` : ''}${metrics.length ? ` — ${metrics.join(', ')}` : ''}`;
}

/**
 * Whether the Argo Rollout `name` that runs a Deployment's pods (workloadRef) finished with the Deployment's
 * template of `generation`: done when it has observed that template and is Healthy on it (stable = current pod
 * hash); failed when it aborted (a failed analysis) or is Degraded.
 */
export function argoRolloutStatus(name: string, s: ArgoRolloutStatus, generation: number): RolloutStatus {
  const observed = Number(s.workloadObservedGeneration ?? 0);
  const analysis = describeAnalysis(s);
  const tail = analysis ? ` (${analysis})` : '';
  if (observed < generation) {
    return { done: false, message: `waiting for Rollout ${name} to observe the Deployment's template (generation ${generation}, observed ${observed})` };
  }
  if (s.abort || s.phase === 'Degraded') {
    return { done: false, failed: `Rollout ${name} ${s.abort ? 'aborted' : 'degraded'}: ${s.message || 'no message'}${tail}`, message: 'rollout aborted' };
  }
  if (s.phase === 'Healthy' && s.stableRS && s.stableRS === s.currentPodHash) {
    return { done: true, message: `Rollout ${name} promoted pod template ${s.stableRS}${tail}` };
  }
  const step = s.currentStepIndex !== undefined ? ` at step ${s.currentStepIndex}` : '';
  return { done: false, message: `Rollout ${name} ${s.phase ?? 'pending'}${step}${s.message ? `: ${s.message}` : ''}${tail}` };
}

/**
 * The Kubernetes target. Apply is a strategic-merge patch of the model container's image (digest-pinned), with the
 * previous image, the previous pod template, the attempt and the in-flight record written in the same patch;
 * every write carries the `resourceVersion` it was computed from, so a concurrent change gives 409 and a retry
 * on a fresh GET.
 */
export class KubernetesTarget implements Target {
  public readonly kind = 'kubernetes';
  public readonly namespace: string;
  private readonly apps: AppsV1Api;
  private readonly core: CoreV1Api;
  private readonly custom: CustomObjectsApi;
  private readonly watcher: Watch;
  private readonly clock: Clock;
  private readonly pollIntervalMs: number;
  private readonly maxConflictRetries: number;
  private readonly fieldManager: string;
  private readonly defaultPolicy: UpdatePolicy;
  private readonly labelSelector: string;
  private readonly explicit?: ReadonlyMap<string, KubernetesDeploymentRef>;
  private readonly logger: Logger;
  /** Deployment name → uid, from discovery (an Event names the object it is about by uid). */
  private readonly uids = new Map<string, string>();
  private eventSeq = 0;
  private readonly reportingInstance: string;

  constructor(options: KubernetesTargetOptions) {
    if (!options.namespace || !DNS_LABEL_RE.test(options.namespace)) {
      throw new Error(`'namespace' value '${options.namespace}' is not a Kubernetes namespace name; use lowercase letters, digits and '-'`);
    }
    this.namespace = options.namespace;
    this.apps = options.kubeConfig.makeApiClient(AppsV1Api);
    this.core = options.kubeConfig.makeApiClient(CoreV1Api);
    this.custom = options.kubeConfig.makeApiClient(CustomObjectsApi);
    this.watcher = new Watch(options.kubeConfig);
    this.clock = options.clock ?? systemClock;
    this.pollIntervalMs = options.pollIntervalMs ?? 2000;
    this.maxConflictRetries = options.maxConflictRetries ?? 5;
    this.fieldManager = options.fieldManager ?? UPDATER_FIELD_MANAGER;
    this.defaultPolicy = options.defaultPolicy ?? UpdatePolicy.semver('minor');
    this.labelSelector = options.labelSelector ?? MANAGED_SELECTOR;
    if (options.deployments) {
      const refs = new Map<string, KubernetesDeploymentRef>();
      for (const d of options.deployments) {
        const ref = typeof d === 'string' ? { name: d } : d;
        if (refs.has(ref.name)) throw new Error(`'deployments' lists '${ref.name}' twice; name each Deployment once`);
        refs.set(ref.name, ref);
      }
      this.explicit = refs;
    }
    this.logger = options.logger ?? nullLogger;
    this.reportingInstance = (options.reportingInstance ?? process.env.HOSTNAME ?? 'modelpilot-updater').slice(0, 128);
  }

  /** The Deployments this agent owns, each with the in-flight update a previous agent left, if any. */
  public async discover(signal?: AbortSignal): Promise<Workload[]> {
    let deployments: V1Deployment[];
    if (this.explicit) {
      deployments = [];
      for (const name of this.explicit.keys()) {
        if (signal?.aborted) break;
        try {
          deployments.push(await this.get(name));
        } catch (err) {
          // One missing or forbidden Deployment must not hide the others.
          this.logger.error('discover.failed', { deployment: `${this.namespace}/${name}`, reason: errorReason(err) });
        }
      }
    } else {
      deployments = await this.call({ verb: 'list', resource: 'deployments' }, async () =>
        (await this.apps.listNamespacedDeployment(this.namespace, undefined, undefined, undefined, undefined, this.labelSelector)).body.items);
    }
    const workloads: Workload[] = [];
    for (const d of deployments) {
      try {
        workloads.push(this.toWorkload(d));
      } catch (err) {
        this.logger.error('discover.skipped', { deployment: `${this.namespace}/${d.metadata?.name}`, reason: errorReason(err) });
      }
    }
    return workloads;
  }

  /**
   * Records `plan` in flight and switches the model container to `plan.to`, in one strategic-merge patch.
   * Re-applying the plan that is already in flight (a restarted agent) keeps the recorded previous template.
   */
  public async apply(plan: UpdatePlan, signal?: AbortSignal): Promise<Outcome> {
    const name = this.deploymentName(plan);
    return this.withConflictRetry(name, 'patch', signal, async (d) => {
      const container = this.modelContainer(d);
      const current = container.image ?? '';
      const existing = readInFlight(d);
      const annotations = d.metadata?.annotations ?? {};
      let previousTemplate: string;
      let previousImage: string;
      if (existing && existing.to === plan.to && annotations[K8S_ANNOTATIONS.previousTemplate]) {
        // The same update is already in flight: keep what ran before it, not what runs now.
        previousTemplate = annotations[K8S_ANNOTATIONS.previousTemplate];
        previousImage = existing.from;
      } else {
        if (current !== plan.from) {
          return fail(`${plan.workload.name}: container '${container.name}' runs '${current}', not '${plan.from}' as planned; re-plan from what runs now`);
        }
        previousTemplate = JSON.stringify(ObjectSerializer.serialize(d.spec?.template, 'V1PodTemplateSpec'));
        previousImage = current;
      }
      const record: InFlightRecord = {
        from: previousImage,
        to: plan.to,
        attempt: plan.attempt,
        startedAt: this.clock.now().toISOString(),
        trigger: plan.trigger,
      };
      const patch = {
        metadata: {
          resourceVersion: d.metadata?.resourceVersion,
          annotations: {
            [K8S_ANNOTATIONS.previousImage]: previousImage,
            [K8S_ANNOTATIONS.previousTemplate]: previousTemplate,
            [K8S_ANNOTATIONS.inFlight]: JSON.stringify(record),
            [K8S_ANNOTATIONS.attempt]: String(plan.attempt),
            [K8S_ANNOTATIONS.changeCause]: `modelpilot: ${plan.fromVersion} -> ${plan.toVersion} (attempt ${plan.attempt}, ${plan.trigger})`,
          },
        },
        spec: { template: this.templatePatch(d, container, plan) },
      };
      await this.patch(name, patch, PatchUtils.PATCH_FORMAT_STRATEGIC_MERGE_PATCH);
      this.logger.info('apply', { deployment: plan.workload.name, from: previousImage, to: plan.to, attempt: plan.attempt });
      return ok(undefined);
    });
  }

  /**
   * Waits until the node has pulled `plan.to` for the new pods: fails as soon as one cannot (its waiting reason and
   * the kubelet's message), ok once every new pod's model container is past its pull (started, or waiting for any
   * other reason), when the rollout is complete or has failed (readiness says why), or when `timeoutMs` passes. A
   * Deployment behind an Argo Rollout is left to the Rollout's analysis.
   */
  public async waitPulled(plan: UpdatePlan, timeoutMs: number, signal?: AbortSignal): Promise<Outcome> {
    const name = this.deploymentName(plan);
    const deadline = this.clock.now().getTime() + timeoutMs;
    for (;;) {
      if (signal?.aborted) return ok(undefined);
      let d: V1Deployment;
      try {
        d = await this.get(name);
      } catch {
        return ok(undefined); // readiness reads it again and says why
      }
      const status = rolloutStatus(d);
      // done, or failed in a way readiness reports (the progress deadline)
      if (d.metadata?.annotations?.[DEPLOYMENT_ANNOTATIONS.rollout] || status.done || status.failed) return ok(undefined);
      const pods = await this.podsOf(d);
      if (pods === undefined) return ok(undefined);
      const containerName = this.modelContainer(d).name;
      let waiting = 0;
      let past = 0;
      for (const pod of pods) {
        if (pod.spec?.containers?.find((c) => c.name === containerName)?.image !== plan.to) continue;
        const cs = (pod.status?.containerStatuses ?? []).find((c) => c.name === containerName);
        const reason = cs?.state?.waiting?.reason;
        if (reason && PULL_FAILURE_REASONS.has(reason)) {
          return fail(`${plan.workload.name}: pod ${pod.metadata?.name} cannot pull '${plan.to}': ${reason}: ${cs?.state?.waiting?.message ?? 'no message'}`);
        }
        const started = cs?.state?.running !== undefined || cs?.state?.terminated !== undefined;
        if (!cs || (reason !== undefined ? BEFORE_PULL_REASONS.has(reason) : !started)) waiting++;
        else past++;
      }
      if (past > 0 && waiting === 0) return ok(undefined);
      const left = deadline - this.clock.now().getTime();
      if (left <= 0) return ok(undefined);
      await this.clock.sleep(Math.min(left, this.pollIntervalMs), signal).catch(() => undefined);
    }
  }

  /**
   * Waits for the rollout of `plan.to`: woken by a watch on the Deployment (by name), re-read at least every
   * `pollIntervalMs`. Unhealthy as soon as the progress deadline is exceeded or a new pod cannot pull its image or
   * crash-loops; Unhealthy when `timeoutMs` passes first.
   */
  public async waitReady(plan: UpdatePlan, timeoutMs: number, signal?: AbortSignal): Promise<HealthResult> {
    const name = this.deploymentName(plan);
    const deadline = this.clock.now().getTime() + timeoutMs;
    let wake = new AbortController();
    let latest: V1Deployment | undefined;
    let stopWatch: (() => void) | undefined;
    const startWatch = async (resourceVersion?: string): Promise<void> => {
      try {
        const req = await this.call({ verb: 'watch', resource: 'deployments', name }, () => this.watcher.watch(
          `/apis/apps/v1/namespaces/${this.namespace}/deployments`,
          { fieldSelector: `metadata.name=${name}`, resourceVersion, allowWatchBookmarks: false },
          (type: string, obj: unknown, raw?: { kind?: string; code?: number; message?: string }) => {
            if ((type === 'MODIFIED' || type === 'ADDED') && obj) {
              latest = ObjectSerializer.deserialize(obj, 'V1Deployment') as V1Deployment;
              wake.abort();
            } else if (raw?.kind === 'Status' || type === 'ERROR') {
              // An ERROR event (e.g. 410 Gone) or a Status line: polling still bounds the wait.
              const status = (raw?.kind === 'Status' ? raw : obj) as { code?: number; message?: string } | undefined;
              this.logger.warn('watch.refused', { deployment: plan.workload.name, code: status?.code, reason: status?.message, fallback: 'polling' });
            }
          },
          (err: unknown) => {
            stopWatch = undefined;
            const e = err as { statusCode?: number; message?: string } | null;
            if (e && e.statusCode !== undefined) {
              // Refused (403) or gone: polling still bounds the wait.
              this.logger.warn('watch.refused', { deployment: plan.workload.name, code: e.statusCode, reason: e.message, fallback: 'polling' });
            }
          },
        ));
        stopWatch = () => (req as { abort(): void }).abort();
      } catch (err) {
        // Polling still bounds the wait; a watch is only a faster wake-up.
        this.logger.warn('watch.failed', { deployment: plan.workload.name, reason: errorReason(err) });
      }
    };
    try {
      let status: RolloutStatus = { done: false, message: 'not read yet' };
      let lastAnalysis: string | undefined;
      let lastRun: string | undefined;
      let first = true;
      for (;;) {
        if (signal?.aborted) return { status: 'Inconclusive', reason: `aborted while ${status.message}` };
        let d: V1Deployment;
        try {
          d = latest ?? await this.get(name);
        } catch (err) {
          return { status: 'Inconclusive', reason: `cannot read ${plan.workload.name}: ${errorReason(err)}` };
        }
        latest = undefined;
        if (first) {
          first = false;
          await startWatch(d.metadata?.resourceVersion);
        }
        const image = this.modelContainer(d).image;
        if (image !== plan.to) {
          return { status: 'Unhealthy', reason: `${plan.workload.name} runs '${image}', not '${plan.to}': something else changed the Deployment` };
        }
        const rolloutName = d.metadata?.annotations?.[DEPLOYMENT_ANNOTATIONS.rollout];
        if (rolloutName) {
          // The Rollout runs the pods (the Deployment is scaled down): its canary steps / blue-green switch and its
          // SLO analysis decide. The last analysis seen is kept: a promoted Rollout no longer names it.
          try {
            const r = await this.getRollout(rolloutName);
            status = argoRolloutStatus(rolloutName, r, d.metadata?.generation ?? 0);
            const a = describeAnalysis(r);
            const runName = currentAnalysis(r)?.name;
            if (runName) lastRun = runName;
            if (a && a !== lastAnalysis) {
              lastAnalysis = a;
              this.logger.info('rollout.analysis', { deployment: plan.workload.name, rollout: rolloutName, analysis: a });
            }
            if ((status.done || status.failed) && lastRun) {
              // The verdict's evidence for the audit log: the analysis run's outcome, metric by metric.
              const outcome = await this.analysisOutcome(lastRun);
              if (status.failed) status = { ...status, failed: `${status.failed}; ${outcome}` };
              else status = { ...status, message: `${status.message}; ${outcome}` };
            }
          } catch (err) {
            status = { done: false, message: `cannot read Rollout ${rolloutName}: ${errorReason(err)}` };
          }
        } else {
          status = rolloutStatus(d);
        }
        if (status.failed) return { status: 'Unhealthy', reason: `${plan.workload.name}: ${status.failed}` };
        if (status.done) return { status: 'Healthy', reason: `${plan.workload.name}: ${status.message}` };
        const stuck = await this.stuckPods(d, plan.to);
        if (stuck) return { status: 'Unhealthy', reason: `${plan.workload.name}: ${stuck}` };
        const left = deadline - this.clock.now().getTime();
        if (left <= 0) {
          return { status: 'Unhealthy', reason: `${plan.workload.name}: rollout not complete after ${Math.round(timeoutMs / 1000)}s: ${status.message}` };
        }
        if (!latest) {
          wake = new AbortController();
          const onAbort = (): void => wake.abort();
          signal?.addEventListener('abort', onAbort, { once: true });
          await this.clock.sleep(Math.min(left, this.pollIntervalMs), wake.signal).catch(() => undefined);
          signal?.removeEventListener('abort', onAbort);
        }
      }
    } finally {
      stopWatch?.();
    }
  }

  /** The new version is proven: clear the in-flight record (the previous image stays as history). */
  public async promote(plan: UpdatePlan, signal?: AbortSignal): Promise<Outcome> {
    const name = this.deploymentName(plan);
    return this.withConflictRetry(name, 'patch', signal, async (d) => {
      const patch = {
        metadata: {
          resourceVersion: d.metadata?.resourceVersion,
          annotations: { [K8S_ANNOTATIONS.inFlight]: null, [K8S_ANNOTATIONS.attempt]: null, [K8S_ANNOTATIONS.previousTemplate]: null },
        },
      };
      await this.patch(name, patch, PatchUtils.PATCH_FORMAT_STRATEGIC_MERGE_PATCH);
      this.logger.info('promote', { deployment: plan.workload.name, image: plan.to });
      return ok(undefined);
    });
  }

  /**
   * Restores the whole pod template that ran before the update (from the record on the Deployment; else from the
   * newest ReplicaSet of this Deployment that ran the previous image) and clears the in-flight record.
   */
  public async rollback(plan: UpdatePlan, signal?: AbortSignal): Promise<Outcome> {
    const name = this.deploymentName(plan);
    return this.withConflictRetry(name, 'patch', signal, async (d) => {
      const annotations = { ...(d.metadata?.annotations ?? {}) };
      const record = readInFlight(d);
      if (!record && this.modelContainer(d).image === plan.from) {
        // Nothing in flight and the previous version runs (an apply that failed before it changed anything).
        this.logger.info('rollback.noop', { deployment: plan.workload.name, image: plan.from });
        return ok(undefined);
      }
      const from = record?.from ?? plan.from;
      let template: unknown;
      let source: string;
      if (annotations[K8S_ANNOTATIONS.previousTemplate]) {
        template = JSON.parse(annotations[K8S_ANNOTATIONS.previousTemplate]);
        source = 'recorded template';
      } else {
        template = await this.templateFromReplicaSet(d, from);
        source = 'previous ReplicaSet';
      }
      if (template === undefined) {
        return fail(`${plan.workload.name}: no record of the previous pod template (annotation '${K8S_ANNOTATIONS.previousTemplate}' and no ReplicaSet running '${from}'); restore it by hand with 'kubectl rollout undo deployment/${name} -n ${this.namespace}'`);
      }
      delete annotations[K8S_ANNOTATIONS.inFlight];
      delete annotations[K8S_ANNOTATIONS.attempt];
      delete annotations[K8S_ANNOTATIONS.previousTemplate];
      annotations[K8S_ANNOTATIONS.changeCause] = `modelpilot: rollback ${plan.toVersion} -> ${plan.fromVersion} (attempt ${plan.attempt})`;
      // JSON patch: the template is replaced as a whole (a merge would keep what the new version added); setting
      // resourceVersion makes the API server refuse a stale write with 409.
      const patch = [
        { op: 'replace', path: '/metadata/resourceVersion', value: d.metadata?.resourceVersion },
        { op: 'replace', path: '/spec/template', value: template },
        { op: d.metadata?.annotations ? 'replace' : 'add', path: '/metadata/annotations', value: annotations },
      ];
      await this.patch(name, patch, PatchUtils.PATCH_FORMAT_JSON_PATCH);
      this.logger.info('rollback', { deployment: plan.workload.name, from: plan.to, to: from, source });
      return ok(undefined);
    });
  }

  /**
   * The pod template change of an update: the model container's image and, where the template declares them, the
   * version the server reports (`MODEL_VERSION`, the `version` label of its metrics, which the SLO check queries)
   * and the `app.kubernetes.io/version` pod label (unless the selector uses it).
   */
  private templatePatch(d: V1Deployment, container: { name: string; env?: Array<{ name: string }> }, plan: UpdatePlan): object {
    const version = plan.toVersion.split('@')[0];
    const c: Record<string, unknown> = { name: container.name, image: plan.to };
    if ((container.env ?? []).some((e) => e.name === VERSION_ENV)) c.env = [{ name: VERSION_ENV, value: version }];
    const labels = d.spec?.template?.metadata?.labels ?? {};
    const selector = d.spec?.selector?.matchLabels ?? {};
    const relabel = VERSION_LABEL in labels && !(VERSION_LABEL in selector);
    return { ...(relabel ? { metadata: { labels: { [VERSION_LABEL]: version } } } : {}), spec: { containers: [c] } };
  }

  private deploymentName(plan: UpdatePlan): string {
    const prefix = `k8s/${this.namespace}/`;
    if (!plan.workload.id.startsWith(prefix)) {
      throw new Error(`workload '${plan.workload.id}' is not a Deployment of namespace '${this.namespace}'`);
    }
    return plan.workload.id.slice(prefix.length);
  }

  private toWorkload(d: V1Deployment): Workload {
    const name = d.metadata?.name ?? '';
    if (d.metadata?.uid) {
      if (this.uids.size >= 10_000) this.uids.clear();
      this.uids.set(name, d.metadata.uid);
    }
    const ref = this.explicit?.get(name);
    const container = this.modelContainer(d);
    const image = container.image ?? '';
    const labels = d.metadata?.labels ?? {};
    const annotations = d.metadata?.annotations ?? {};
    const policyText = annotations[K8S_ANNOTATIONS.policy];
    const policy = ref?.policy ?? (policyText ? UpdatePolicy.parse(policyText, `${name}: annotation '${K8S_ANNOTATIONS.policy}'`) : this.defaultPolicy);
    const parsed = ImageRef.tryParse(image, { allowMutableTag: true });
    const inFlight = readInFlight(d);
    // The promoted version no longer keeps the Deployment Available: the loop asks the pods whether the version is
    // at fault (restarts, OOM kills) before it does anything (a Pending pod on a full cluster is not the version's).
    const available = d.status?.conditions?.find((c) => c.type === 'Available');
    const settled = (d.status?.observedGeneration ?? 0) >= (d.metadata?.generation ?? 0);
    const down = !inFlight && settled && available?.status === 'False'
      ? `Deployment ${this.namespace}/${name} is not Available (${available.reason ?? 'no reason'}: ${available.message ?? ''}; ${d.status?.availableReplicas ?? 0}/${d.spec?.replicas ?? 1} replicas available)`
      : undefined;
    const previousImage = annotations[K8S_ANNOTATIONS.previousImage];
    const holdText = annotations[K8S_ANNOTATIONS.hold];
    const holdUntil = holdText !== undefined && /^\d{4}-\d\d-\d\dT/.test(holdText) && !Number.isNaN(Date.parse(holdText)) ? new Date(holdText).toISOString() : undefined;
    const hold = holdText === undefined ? undefined
      : { ...(holdUntil ? { until: holdUntil } : {}), reason: `annotation ${K8S_ANNOTATIONS.hold}=${JSON.stringify(holdText).slice(0, 200)}` };
    const pin = annotations[K8S_ANNOTATIONS.pin]?.trim();
    return {
      id: `k8s/${this.namespace}/${name}`,
      name: `${this.namespace}/${name}`,
      model: ref?.model ?? labels[K8S_LABELS.name] ?? name,
      image,
      ...(parsed?.digest ? { digest: parsed.digest } : {}),
      policy,
      // prometheus-operator's ServiceMonitor/PodMonitor put these target labels on every scraped series
      metricScope: [`namespace="${this.namespace}"`, `pod=~"${name.replace(/[.\\]/g, (c) => `\\\\${c}`)}-.+"`],
      ...(inFlight ? { inFlight } : {}),
      ...(down ? { down } : {}),
      ...(previousImage && !sameImage(previousImage, image) ? { previousImage } : {}),
      quarantined: readQuarantine(d),
      ...(hold ? { hold } : {}),
      ...(pin ? { pin } : {}),
    };
  }

  /** Adds `entry` to the Deployment's `modelpilot.dev/quarantine` annotation (newest 50 kept), guarded by resourceVersion. */
  public async recordQuarantine(w: Workload, entry: WorkloadQuarantine, signal?: AbortSignal): Promise<Outcome> {
    const name = w.id.slice(`k8s/${this.namespace}/`.length);
    return this.withConflictRetry(name, 'patch', signal, async (d) => {
      const list = withWorkloadQuarantine(readQuarantine(d), entry);
      const patch = {
        metadata: { resourceVersion: d.metadata?.resourceVersion, annotations: { [K8S_ANNOTATIONS.quarantine]: JSON.stringify(list) } },
      };
      await this.patch(name, patch, PatchUtils.PATCH_FORMAT_STRATEGIC_MERGE_PATCH);
      this.logger.info('quarantine.recorded', { deployment: w.name, version: entry.version });
      return ok(undefined);
    });
  }

  /** The pods of the Deployment whose model container runs `image`: all Ready, their restarts, OOM kills. */
  public async observe(w: Workload, image: string, _signal?: AbortSignal): Promise<RuntimeState> {
    const name = w.id.slice(`k8s/${this.namespace}/`.length);
    const d = await this.get(name);
    const model = this.modelContainer(d).name;
    const selector = Object.entries(d.spec?.selector?.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`).join(',');
    const pods = await this.call({ verb: 'list', resource: 'pods' }, async () =>
      (await this.core.listNamespacedPod(this.namespace, undefined, undefined, undefined, undefined, selector)).body.items);
    let restarts = 0;
    let oomKilled = false;
    const notReady: string[] = [];
    let mine = 0;
    for (const pod of pods) {
      if (pod.metadata?.deletionTimestamp) continue;
      const specImage = pod.spec?.containers?.find((c) => c.name === model)?.image;
      if (!specImage || !sameImage(specImage, image)) continue;
      mine++;
      const cs = pod.status?.containerStatuses?.find((c) => c.name === model);
      restarts += cs?.restartCount ?? 0;
      const terminated = cs?.state?.terminated ?? cs?.lastState?.terminated;
      if (terminated?.reason === 'OOMKilled') oomKilled = true;
      const ready = pod.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
      if (!ready) notReady.push(`${pod.metadata?.name}${cs?.state?.waiting?.reason ? ` (${cs.state.waiting.reason})` : terminated?.reason ? ` (${terminated.reason})` : ''}`);
    }
    const running = mine > 0 && notReady.length === 0;
    const detail = mine === 0 ? `no pod of ${this.namespace}/${name} runs ${image}`
      : running ? `${mine} pod(s) Ready, ${restarts} restart(s)${oomKilled ? ', an OOM kill' : ''}`
        : `${notReady.length} of ${mine} pod(s) not Ready: ${notReady.slice(0, 3).join(', ')}; ${restarts} restart(s)${oomKilled ? ', an OOM kill' : ''}`;
    return { running, restarts, oomKilled, detail };
  }

  private modelContainer(d: V1Deployment): { name: string; image?: string; env?: Array<{ name: string }> } {
    const name = d.metadata?.name ?? '';
    const containers = d.spec?.template?.spec?.containers ?? [];
    const wanted = this.explicit?.get(name)?.container ?? d.metadata?.annotations?.[K8S_ANNOTATIONS.container];
    const c = wanted ? containers.find((x) => x.name === wanted) : containers[0];
    if (!c) {
      throw new Error(wanted
        ? `${this.namespace}/${name}: no container named '${wanted}'; containers are ${containers.map((x) => `'${x.name}'`).join(', ') || 'none'}`
        : `${this.namespace}/${name}: the pod template has no container`);
    }
    return c;
  }

  /** A reason the new pods cannot become ready however long we wait, or undefined. */
  private async stuckPods(d: V1Deployment, image: string): Promise<string | undefined> {
    for (const pod of await this.podsOf(d) ?? []) {
      for (const cs of pod.status?.containerStatuses ?? []) {
        const specImage = pod.spec?.containers?.find((c) => c.name === cs.name)?.image;
        const reason = cs.state?.waiting?.reason;
        if (specImage === image && reason && FATAL_WAITING_REASONS.has(reason)) {
          return `pod ${pod.metadata?.name} container '${cs.name}' is ${reason}: ${cs.state?.waiting?.message ?? 'no message'}`;
        }
      }
    }
    return undefined;
  }

  /** The pods of `d` (by its selector), or undefined when they cannot be read (logged). */
  private async podsOf(d: V1Deployment): Promise<V1Pod[] | undefined> {
    const selector = Object.entries(d.spec?.selector?.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`).join(',');
    if (!selector) return undefined;
    try {
      return await this.call({ verb: 'list', resource: 'pods' }, async () =>
        (await this.core.listNamespacedPod(this.namespace, undefined, undefined, undefined, undefined, selector)).body.items);
    } catch (err) {
      this.logger.warn('pods.unreadable', { deployment: `${this.namespace}/${d.metadata?.name}`, reason: errorReason(err) });
      return undefined;
    }
  }

  /** The pod template of the newest ReplicaSet of `d` whose model container ran `image`. */
  private async templateFromReplicaSet(d: V1Deployment, image: string): Promise<unknown> {
    const selector = Object.entries(d.spec?.selector?.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`).join(',');
    const sets = await this.call({ verb: 'list', resource: 'replicasets' }, async () =>
      (await this.apps.listNamespacedReplicaSet(this.namespace, undefined, undefined, undefined, undefined, selector)).body.items);
    const containerName = this.modelContainer(d).name;
    const owned = sets
      .filter((rs) => (rs.metadata?.ownerReferences ?? []).some((o) => o.kind === 'Deployment' && o.uid === d.metadata?.uid))
      .filter((rs) => rs.spec?.template?.spec?.containers?.find((c) => c.name === containerName)?.image === image)
      .sort((a, b) => revisionOf(b) - revisionOf(a));
    const rs = owned[0];
    if (!rs?.spec?.template) return undefined;
    const template = ObjectSerializer.serialize(rs.spec.template, 'V1PodTemplateSpec') as { metadata?: { labels?: Record<string, string> } };
    // The controller adds this label to each ReplicaSet's pods; it is not part of the Deployment's template.
    if (template.metadata?.labels) delete template.metadata.labels['pod-template-hash'];
    return template;
  }

  /**
   * One core/v1 Event on the Deployment per audit entry: reason `RolledBack`, `Quarantined`, …, type Warning for
   * what went wrong, the images and the reason in the message. `kubectl describe deployment` lists them.
   */
  public async recordEvent(e: TargetEvent): Promise<boolean> {
    const prefix = `k8s/${this.namespace}/`;
    if (!e.target.startsWith(prefix)) return false;
    const name = e.target.slice(prefix.length);
    let uid = this.uids.get(name);
    if (!uid) uid = (await this.get(name)).metadata?.uid;
    const reason = e.event.split('-').map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join('');
    const images = e.from && e.to ? `${e.from} -> ${e.to}` : e.to ?? e.from ?? '';
    const message = `${e.event}${images ? ` ${images}` : ''}${e.trigger ? ` (${e.trigger})` : ''}: ${e.result}${e.reason ? `: ${e.reason}` : ''}`;
    const seq = (this.eventSeq = (this.eventSeq + 1) % 0x10000);
    const body = {
      apiVersion: 'v1', kind: 'Event',
      metadata: { name: `${name.slice(0, 200)}.${Date.parse(e.time).toString(16)}${seq.toString(16).padStart(4, '0')}`, namespace: this.namespace },
      involvedObject: { apiVersion: 'apps/v1', kind: 'Deployment', name, namespace: this.namespace, ...(uid ? { uid } : {}) },
      reason, message: message.length > 1024 ? `${message.slice(0, 1021)}...` : message,
      type: warningEvent(e) ? 'Warning' : 'Normal',
      source: { component: 'modelpilot-updater' },
      reportingComponent: 'modelpilot.dev/updater', reportingInstance: this.reportingInstance, action: reason,
      firstTimestamp: new Date(e.time), lastTimestamp: new Date(e.time), count: 1,
    };
    await this.call({ verb: 'create', resource: 'events' }, () => this.core.createNamespacedEvent(this.namespace, body as never));
    return true;
  }

  private async getRollout(name: string): Promise<ArgoRolloutStatus> {
    return this.call({ verb: 'get', resource: 'rollouts', name }, async () => {
      const r = (await this.custom.getNamespacedCustomObject('argoproj.io', 'v1alpha1', this.namespace, 'rollouts', name)).body as { status?: ArgoRolloutStatus };
      return r.status ?? {};
    });
  }

  /** The named AnalysisRun's outcome as one line; what went wrong reading it, when it cannot be read. */
  private async analysisOutcome(name: string): Promise<string> {
    try {
      const run = await this.call({ verb: 'get', resource: 'analysisruns', name }, async () =>
        (await this.custom.getNamespacedCustomObject('argoproj.io', 'v1alpha1', this.namespace, 'analysisruns', name)).body as ArgoAnalysisRun);
      return describeAnalysisRun(run);
    } catch (err) {
      return `analysis ${name}: cannot be read (${errorReason(err)})`;
    }
  }

  private async get(name: string): Promise<V1Deployment> {
    return this.call({ verb: 'get', resource: 'deployments', name }, async () => (await this.apps.readNamespacedDeployment(name, this.namespace)).body);
  }

  private async patch(name: string, body: object, contentType: string): Promise<void> {
    await this.call({ verb: 'patch', resource: 'deployments', name }, () => this.apps.patchNamespacedDeployment(
      name, this.namespace, body, undefined, undefined, this.fieldManager, undefined, undefined, { headers: { 'Content-Type': contentType } }));
  }

  /** GET, compute, write; on 409 Conflict, again from a fresh GET. API failures become `fail(reason)`. */
  private async withConflictRetry(
    name: string, verb: string, signal: AbortSignal | undefined, step: (d: V1Deployment) => Promise<Outcome>,
  ): Promise<Outcome> {
    for (let attempt = 0; ; attempt++) {
      if (signal?.aborted) return fail(`${this.namespace}/${name}: aborted before ${verb}`);
      try {
        return await step(await this.get(name));
      } catch (err) {
        if (err instanceof KubeCallError && err.statusCode === 409 && attempt < this.maxConflictRetries) {
          this.logger.info('conflict.retry', { deployment: `${this.namespace}/${name}`, attempt: attempt + 1 });
          continue;
        }
        return fail(errorReason(err));
      }
    }
  }

  /** Runs one API call, turning HTTP errors into messages that name the verb, resource and fix. */
  private async call<T>(call: Call, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      const e = err as { statusCode?: number; body?: { message?: string; reason?: string } };
      const code = e.statusCode;
      const what = `${call.resource}${call.resource === 'pods' || call.resource === 'events' ? '' : '.apps'}${call.name ? ` '${call.name}'` : ''} in namespace '${this.namespace}'`;
      if (code === 403) {
        throw new KubeCallError(`forbidden: the agent may not '${call.verb}' ${what}; grant the '${call.verb}' verb on ${call.resource} in its Role (ModelUpdater does)`, 403);
      }
      if (code === 404) throw new KubeCallError(`${what} not found; check the name and namespace`, 404);
      if (code === 409) throw new KubeCallError(`conflict on ${what}: ${e.body?.message ?? 'modified concurrently'}`, 409);
      if (code !== undefined) throw new KubeCallError(`'${call.verb}' ${what} failed with HTTP ${code}: ${e.body?.message ?? e.body?.reason ?? 'no message'}`, code);
      throw new KubeCallError(`'${call.verb}' ${what} failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}

/** Events of what went wrong are Warnings (`kubectl get events --field-selector type=Warning`). */
function warningEvent(e: TargetEvent): boolean {
  if (['apply-failed', 'rolled-back', 'rollback-failed', 'quarantined', 'failed', 'blocked', 'restarted', 'restart-failed', 'aborted', 'reverted'].includes(e.event)) return true;
  return e.event === 'verify' && e.result !== 'promote';
}

function readInFlight(d: V1Deployment): InFlightRecord | undefined {
  const text = d.metadata?.annotations?.[K8S_ANNOTATIONS.inFlight];
  if (!text) return undefined;
  try {
    const r = JSON.parse(text) as Partial<InFlightRecord>;
    if (typeof r.from !== 'string' || typeof r.to !== 'string' || typeof r.attempt !== 'number') return undefined;
    return { from: r.from, to: r.to, attempt: r.attempt, startedAt: String(r.startedAt ?? ''), trigger: String(r.trigger ?? 'unknown') };
  } catch {
    return undefined;
  }
}

function revisionOf(o: { metadata?: { annotations?: Record<string, string> } }): number {
  return Number(o.metadata?.annotations?.[K8S_ANNOTATIONS.revision] ?? 0);
}

function errorReason(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The quarantine list a Deployment carries; a malformed annotation reads as empty (and is rewritten on the next add). */
function readQuarantine(d: V1Deployment): WorkloadQuarantine[] {
  return parseWorkloadQuarantines(d.metadata?.annotations?.[K8S_ANNOTATIONS.quarantine]);
}
