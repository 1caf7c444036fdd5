/**
 * The agent's seams (as in Keel): RegistryClient, Target, HealthCheck, Trigger, and the immutable UpdatePlan.
 * Every implementation is injected into the reconcile loop; tests use in-memory fakes of these interfaces.
 */
import type { UpdatePolicy } from '../lib/core/update-policy';
import type { BeforeTraffic } from './health/quality';

/** A failure is data, never a thrown error across a seam that the loop must survive. */
export type Outcome<T = void> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly reason: string };

export const ok = <T>(value: T): Outcome<T> => ({ ok: true, value });
export const fail = (reason: string): Outcome<never> => ({ ok: false, reason });

/** Which repository of which registry to ask. */
export interface RepositoryName {
  /** Registry host[:port], e.g. `127.0.0.1:5000`. */
  readonly registry: string;
  /** Repository path, e.g. `models/recsys`. */
  readonly repository: string;
}

/** OCI Distribution API v2 client. */
export interface RegistryClient {
  /** All tags of the repository (every page). */
  listTags(repo: RepositoryName, signal?: AbortSignal): Promise<string[]>;
  /** Forgets how fresh a cached tag list is (a webhook announced a push): the next `listTags` asks the registry. */
  expireTags?(repo: RepositoryName): void;
  /** The manifest digest (`sha256:…`) a tag points at, from a HEAD request. A tag without a manifest throws an error whose `status` is 404. */
  resolveDigest(repo: RepositoryName, tag: string, signal?: AbortSignal): Promise<string>;
  /** Whether the registry serves the manifest `digest` (`sha256:…`): HEAD by digest, true on 200, false on 404; anything else throws. */
  hasManifest(repo: RepositoryName, digest: string, signal?: AbortSignal): Promise<boolean>;
  /**
   * The image config digest (what an engine calls the image ID) of a tag's single-platform manifest, with that
   * manifest's digest; undefined for an index (multi-platform) manifest. A tag without a manifest throws (status 404).
   */
  imageConfig(repo: RepositoryName, tag: string, signal?: AbortSignal): Promise<{ manifest: string; config: string } | undefined>;
  /**
   * When the tag's image was built: the `created` of its image config (a single-platform manifest), or undefined when
   * the registry does not say (an index, no `created`). Used by `minImageAge`.
   */
  imageCreated?(repo: RepositoryName, tag: string, signal?: AbortSignal): Promise<Date | undefined>;
  /** A manifest by tag or digest, parsed JSON; undefined on 404 (cosign signatures live under `sha256-<hex>.sig`). */
  fetchManifest?(repo: RepositoryName, reference: string, signal?: AbortSignal): Promise<unknown | undefined>;
  /** A blob's bytes, checked against its digest. */
  fetchBlob?(repo: RepositoryName, digest: string, signal?: AbortSignal): Promise<Buffer>;
  /** Uploads a blob; returns its digest (attestations are written with it). */
  pushBlob?(repo: RepositoryName, bytes: Buffer, signal?: AbortSignal): Promise<string>;
  /** Stores a manifest under a tag; returns its digest. */
  pushManifest?(repo: RepositoryName, tag: string, manifest: Buffer, mediaType: string, signal?: AbortSignal): Promise<string>;
}

/**
 * The update being carried out, recorded on the target itself before it is changed, so that a restarted agent
 * can finish or reverse it.
 */
export interface InFlightRecord {
  /** The full image reference that ran before (tag and digest). */
  readonly from: string;
  /** The full image reference being rolled out. */
  readonly to: string;
  /** 1-based attempt number of this version. */
  readonly attempt: number;
  /** ISO-8601 time the attempt started. */
  readonly startedAt: string;
  /** What started it: `poll`, `webhook:registry`, `webhook:alertmanager`, … */
  readonly trigger: string;
}

/** One thing the agent keeps up to date: a container (Docker) or a Deployment's model container (Kubernetes). */
export interface Workload {
  /** Stable id, unique across targets: `docker/<container-name>` or `k8s/<namespace>/<deployment>`. */
  readonly id: string;
  /** Human name used in plans and logs: `<container-name>` or `<namespace>/<deployment>`. */
  readonly name: string;
  /** The model this workload serves (the `model` label of its metrics). */
  readonly model: string;
  /** The image reference it runs now, as written in its spec (tag, maybe digest). */
  readonly image: string;
  /** The digest it runs now, when known. */
  readonly digest?: string;
  /** The image the current one replaced, as the workload itself records it (Kubernetes annotation), when known. */
  readonly previousImage?: string;
  /** The engine's image ID (the image config digest, `sha256:…`) it runs, when the target knows it (Docker). */
  readonly imageId?: string;
  /** The update policy that applies to it. */
  readonly policy: UpdatePolicy;
  /** An update that a previous agent started and did not finish, read from the target. */
  readonly inFlight?: InFlightRecord;
  /**
   * PromQL label matchers (beside `model` and `version`) that select exactly this workload's series, e.g.
   * `namespace="ml"`, `pod=~"recsys-.+"` or `instance=~".+:8080"`; the gate scopes its queries with them.
   */
  readonly metricScope?: readonly string[];
  /** Versions quarantined on the workload itself (see Target.recordQuarantine). */
  readonly quarantined?: readonly WorkloadQuarantine[];
  /** Set when the current version is not running although it should (it crashed): why. The loop revives it. */
  readonly down?: string;
  /** A hold the workload itself carries (Kubernetes: the `modelpilot.dev/hold` annotation): no automatic update. */
  readonly hold?: { readonly until?: string; readonly reason: string };
  /** A version the workload itself is pinned to (Kubernetes: the `modelpilot.dev/pin` annotation). */
  readonly pin?: string;
  /**
   * A new version takes users' requests on the workload's only port before it is ready (Docker stop-then-start, no
   * proxy): what it answers then is the switch's outage, not the version's errors, so the gate judges it only by
   * what it served after readiness.
   */
  readonly servesBeforeReady?: boolean;
}

/** An immutable plan: move one workload from one image to another. */
export class UpdatePlan {
  constructor(
    public readonly workload: Workload,
    /** Full reference that runs now. */
    public readonly from: string,
    /** Full reference to roll out (digest-pinned when the digest is known). */
    public readonly to: string,
    /** Version (tag) being left. */
    public readonly fromVersion: string,
    /** Version (tag) being rolled out. */
    public readonly toVersion: string,
    /** What started it. */
    public readonly trigger: string,
    /** 1-based attempt number. */
    public readonly attempt: number = 1,
  ) {
    Object.freeze(this);
  }

  /** The same plan, one attempt later. */
  public nextAttempt(): UpdatePlan {
    return new UpdatePlan(this.workload, this.from, this.to, this.fromVersion, this.toVersion, this.trigger, this.attempt + 1);
  }

  /** `ns/name 1.2.0 -> 1.3.0` */
  public toString(): string {
    return `${this.workload.name} ${this.fromVersion} -> ${this.toVersion}`;
  }
}

/** A target kind behind one interface: Docker Engine API (single host) or Kubernetes. */
export interface Target {
  /** `docker` or `kubernetes`. */
  readonly kind: string;
  /** The workloads this agent owns (by label, scope, namespace or explicit list). */
  discover(signal?: AbortSignal): Promise<Workload[]>;
  /**
   * Pulls what is needed, records `plan` as in-flight on the target, then switches the workload to `plan.to`.
   * The previous version is kept (stopped container / previous ReplicaSet) until {@link promote}.
   */
  apply(plan: UpdatePlan, signal?: AbortSignal): Promise<Outcome>;
  /**
   * Where the image is pulled after `apply` (Kubernetes: by each node's runtime), waits until the new version's
   * image has reached it. A failure means it cannot be pulled (not found, refused, unreachable): a failed apply —
   * reverted, retried and counted against the failure budget like one —, not a verdict on the version. Resolves ok
   * when `timeoutMs` passes while the pull is still going (readiness judges from there).
   * @default - the image is pulled by `apply` itself (Docker)
   */
  waitPulled?(plan: UpdatePlan, timeoutMs: number, signal?: AbortSignal): Promise<Outcome>;
  /**
   * Waits until the new version is ready. `beforeTraffic` (the quality gate) runs once it is ready and before it
   * takes users' traffic, against its own address; an Unhealthy answer is returned as the readiness result and the
   * new version never takes traffic (where the target can hold it back: Docker blue/green).
   */
  waitReady(plan: UpdatePlan, timeoutMs: number, signal?: AbortSignal, beforeTraffic?: BeforeTraffic): Promise<HealthResult>;
  /** The new version is proven healthy: clear the in-flight record and clean up what the old version left. */
  promote(plan: UpdatePlan, signal?: AbortSignal): Promise<Outcome>;
  /** Restores exactly what ran before `plan` (read from the record on the target) and clears the in-flight record. */
  rollback(plan: UpdatePlan, signal?: AbortSignal): Promise<Outcome>;
  /**
   * What the target itself says about the instances of `image` on `workload` (containers or pods): running or
   * not, restarts, OOM kills. The health gate reads it through the bake window beside the metrics; the loop reads
   * it every cycle for the current version.
   */
  observe?(workload: Workload, image: string, signal?: AbortSignal): Promise<RuntimeState>;
  /**
   * Records a quarantined version on the workload itself (Kubernetes: the `modelpilot.dev/quarantine` annotation),
   * beside the state directory, so an agent that starts with an empty state directory never re-applies it.
   */
  recordQuarantine?(workload: Workload, entry: WorkloadQuarantine, signal?: AbortSignal): Promise<Outcome>;
  /** Starts the workload's current version again when it is not running (Docker); bounded and counted by the loop. */
  revive?(workload: Workload, signal?: AbortSignal): Promise<Outcome<string>>;
  /**
   * Tells the people who look at the workload about one audit entry, where they look (Kubernetes: an Event on the
   * Deployment, so `kubectl describe` and `kubectl get events` show it). Called from a bounded queue; may throw.
   * Returns false when the entry's workload is not this target's.
   */
  recordEvent?(entry: TargetEvent): Promise<boolean>;
  /**
   * Prometheus HTTP service discovery of the model instances this target runs (the agent serves it at
   * `/sd/targets`): where no Kubernetes discovery exists (Docker), Prometheus scrapes a new version within seconds.
   */
  scrapeTargets?(): Promise<Array<{ targets: string[]; labels: Record<string, string> }>>;
}

/** An audit entry as a target's event: what {@link Target.recordEvent} is given. */
export interface TargetEvent {
  readonly time: string;
  readonly event: string;
  /** Workload id. */
  readonly target: string;
  readonly from?: string;
  readonly to?: string;
  readonly result: string;
  readonly reason?: string;
  readonly trigger?: string;
  readonly attempt?: number;
}

/** A quarantine as the workload carries it. */
export interface WorkloadQuarantine {
  readonly version: string;
  readonly reason: string;
  readonly since: string;
  readonly source: string;
}

/** Most quarantines a workload carries (newest kept). */
export const MAX_WORKLOAD_QUARANTINES = 50;

/** Reads the JSON list a workload carries (annotation, label); what is not a list of entries is ignored. */
export function parseWorkloadQuarantines(text: string | undefined): WorkloadQuarantine[] {
  if (!text) return [];
  try {
    const v = JSON.parse(text) as unknown;
    if (!Array.isArray(v)) return [];
    return v.filter((q): q is WorkloadQuarantine => typeof q === 'object' && q !== null && typeof (q as WorkloadQuarantine).version === 'string')
      .map((q) => ({ version: q.version, reason: String(q.reason ?? ''), since: String(q.since ?? ''), source: String(q.source ?? 'workload') }));
  } catch {
    return [];
  }
}

/** `list` with `entry` added (replacing one of the same version), newest {@link MAX_WORKLOAD_QUARANTINES} kept. */
export function withWorkloadQuarantine(list: readonly WorkloadQuarantine[], entry: WorkloadQuarantine): WorkloadQuarantine[] {
  return [...list.filter((q) => q.version !== entry.version), entry].slice(-MAX_WORKLOAD_QUARANTINES);
}

/** The runtime state of one version of a workload, from the target (container state, pod status). */
export interface RuntimeState {
  /** Every instance of the version runs (and, for pods, is Ready). */
  readonly running: boolean;
  /** Restarts of those instances so far (a rise during the bake means the version crashed). */
  readonly restarts: number;
  /** An instance was killed for exceeding its memory limit. */
  readonly oomKilled: boolean;
  /** In words: `container recsys exited (code 1)`, `pod recsys-abc 2 restarts, last OOMKilled`. */
  readonly detail: string;
}

/** A health verdict. Inconclusive means: not enough evidence either way (no traffic, Prometheus unreachable). */
export type HealthStatus = 'Healthy' | 'Unhealthy' | 'Inconclusive';

export interface HealthResult {
  readonly status: HealthStatus;
  /** Why, in words an operator understands: `error ratio 0.12 > 0.05 over 5m`. */
  readonly reason: string;
  /** The numbers behind the verdict (requests, errors, bounds, p99…), recorded in the audit log. */
  readonly evidence?: Readonly<Record<string, number>>;
  /** The golden set a quality verdict was reached on (recorded in the audit entry and the attestation). */
  readonly goldenSet?: GoldenSetRecord;
}

/** Which golden set a verdict used: its file, the sha256 of its bytes, its size. */
export interface GoldenSetRecord {
  readonly source: string;
  readonly digest: string;
  readonly samples: number;
}

/** A check run after apply (readiness, then the SLO bake window). */
export interface HealthCheck {
  readonly name: string;
  check(plan: UpdatePlan, signal?: AbortSignal): Promise<HealthResult>;
}

/** Why the loop should look at a workload now. */
export interface TriggerEvent {
  /** `poll`, `webhook:registry`, `webhook:model`, `webhook:mlflow`, `webhook:alertmanager`, `webhook:v1-update` */
  readonly source: string;
  /** Restrict to these repositories or models; empty = everything. */
  readonly repositories?: readonly string[];
  readonly models?: readonly string[];
  /**
   * For an Alertmanager trigger: roll this model's version back. `startsAt`: when the alert began firing
   * (Alertmanager's `startsAt`); an operator's release after it wins over the alert.
   */
  readonly rollback?: { readonly model: string; readonly version: string; readonly reason: string; readonly startsAt?: string };
  /** For an MLflow webhook: the registered model, the version it names and, for an alias event, the alias. */
  readonly mlflow?: { readonly registeredModel: string; readonly version?: string; readonly alias?: string };
}

/** A source of trigger events (poll timer, webhook server). */
export interface Trigger {
  start(emit: (e: TriggerEvent) => void, signal: AbortSignal): Promise<void>;
}

/** The clock and sleep the loop uses, injected so tests control time. */
export interface Clock {
  now(): Date;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** A structured logger: each call writes one JSON line (`{time, level, msg, ...fields}`). Injected everywhere. */
export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

/** A logger that drops everything (the default when none is injected). */
export const nullLogger: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
