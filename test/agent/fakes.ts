import * as fs from 'fs';
import { createHash, type KeyObject } from 'node:crypto';
/**
 * In-memory fakes of the agent's seams (RegistryClient, Target, HealthCheck, Clock) for the unit tests of the
 * reconcile loop. They behave like the real ones where the loop can tell: the fake target records the in-flight
 * update on the workload before switching it and restores from that record on rollback.
 */
import * as os from 'os';
import * as path from 'path';
import { HealthGate, HealthGateOptions, InconclusiveMode } from '../../agent/health/gate';
import type { BeforeTraffic } from '../../agent/health/quality';
import {
  AttestSettings, DEFAULT_ROLLBACK, ImageSettings, Reconciler, ReconcilerOptions, RollbackSettings, VerifiedInRequirement,
} from '../../agent/loop';
import { AgentMetrics } from '../../agent/metrics';
import { DistributionClient } from '../../agent/registry';
import { AuditEntry, AuditLog } from '../../agent/state/audit';
import { OverrideStore } from '../../agent/state/overrides';
import { QuarantineStore } from '../../agent/state/quarantine';
import {
  Clock, HealthCheck, HealthResult, InFlightRecord, Outcome, RegistryClient, RepositoryName, RuntimeState, Target, UpdatePlan,
  withWorkloadQuarantine, Workload, WorkloadQuarantine,
} from '../../agent/types';
import { Duration } from '../../lib/core/duration';
import { ImageRef } from '../../lib/core/image-ref';
import { UpdatePolicy } from '../../lib/core/update-policy';

export const REPO = '127.0.0.1:5000/models/recsys';

/** A deterministic sha256 digest for a tag. */
export function digestOf(tag: string, salt = ''): string {
  let h = '';
  const seed = `${tag}${salt}`;
  for (let i = 0; h.length < 64; i++) h += ((seed.charCodeAt(i % seed.length) * (i + 7)) % 16).toString(16);
  return `sha256:${h}`;
}

export class FakeClock implements Clock {
  public readonly sleeps: number[] = [];
  private t: number;

  constructor(start = Date.parse('2026-01-01T00:00:00Z')) {
    this.t = start;
  }

  public now(): Date {
    return new Date(this.t);
  }

  public advance(ms: number): void {
    this.t += ms;
  }

  public async sleep(ms: number, signal?: AbortSignal): Promise<void> {
    this.sleeps.push(ms);
    if (signal?.aborted) return;
    this.t += ms;
    await new Promise((r) => setImmediate(r));
  }
}

export class FakeRegistry implements RegistryClient {
  public readonly tags = new Map<string, string[]>();
  public readonly digests = new Map<string, string>();
  public readonly requests: string[] = [];
  /** `repo:tag` → how many more digest look-ups answer 404 although the tag is listed (a push in progress). */
  public readonly unlinked = new Map<string, number>();
  /** `repo@digest` manifests the registry answers 404 for (e.g. an engine's local digest it never stored). */
  public readonly unservable = new Set<string>();
  /** `repo:tag` → the image config's `created` (unset: the config has none). */
  public readonly created = new Map<string, Date>();
  public down = false;

  constructor(repo = REPO, tags: string[] = []) {
    this.push(repo, ...tags);
  }

  public push(repo: string, ...tags: string[]): void {
    this.tags.set(repo, [...(this.tags.get(repo) ?? []), ...tags]);
  }

  public async listTags(repo: RepositoryName): Promise<string[]> {
    const name = `${repo.registry}/${repo.repository}`;
    this.requests.push(`tags ${name}`);
    if (this.down) throw new Error(`registry ${repo.registry} unreachable (ECONNREFUSED)`);
    return [...(this.tags.get(name) ?? [])];
  }

  public async resolveDigest(repo: RepositoryName, tag: string): Promise<string> {
    const name = `${repo.registry}/${repo.repository}`;
    this.requests.push(`digest ${name}:${tag}`);
    if (this.down) throw new Error(`registry ${repo.registry} unreachable (ECONNREFUSED)`);
    const pending = this.unlinked.get(`${name}:${tag}`) ?? 0;
    if (pending > 0) this.unlinked.set(`${name}:${tag}`, pending - 1);
    if (pending > 0 || !(this.tags.get(name) ?? []).includes(tag)) {
      throw Object.assign(new Error(`manifest unknown: ${name}:${tag}`), { status: 404 });
    }
    return this.digests.get(`${name}:${tag}`) ?? digestOf(tag);
  }

  public async hasManifest(repo: RepositoryName, digest: string): Promise<boolean> {
    const name = `${repo.registry}/${repo.repository}`;
    this.requests.push(`manifest ${name}@${digest}`);
    if (this.down) throw new Error(`registry ${repo.registry} unreachable (ECONNREFUSED)`);
    return !this.unservable.has(`${name}@${digest}`);
  }

  public async imageConfig(repo: RepositoryName, tag: string): Promise<{ manifest: string; config: string } | undefined> {
    const manifest = await this.resolveDigest(repo, tag);
    return { manifest, config: digestOf(tag, 'config') };
  }

  /** `repo:reference` → manifest JSON, and `digest` → blob, for what `fetchManifest`/`fetchBlob` serve (signatures). */
  public readonly manifests = new Map<string, unknown>();
  public readonly blobs = new Map<string, Buffer>();

  public async fetchManifest(repo: RepositoryName, reference: string): Promise<unknown | undefined> {
    const name = `${repo.registry}/${repo.repository}`;
    this.requests.push(`manifest ${name}:${reference}`);
    return this.manifests.get(`${name}:${reference}`);
  }

  public async fetchBlob(_repo: RepositoryName, digest: string): Promise<Buffer> {
    const b = this.blobs.get(digest);
    if (!b) throw new Error(`blob ${digest} unknown (404)`);
    return b;
  }

  /** Fails every push while set (a read-only registry, a token without push scope). */
  public pushRefused?: string;

  public async pushBlob(repo: RepositoryName, bytes: Buffer): Promise<string> {
    this.requests.push(`push blob ${repo.registry}/${repo.repository}`);
    if (this.pushRefused) throw new Error(this.pushRefused);
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    this.blobs.set(digest, bytes);
    return digest;
  }

  public async pushManifest(repo: RepositoryName, tag: string, manifest: Buffer): Promise<string> {
    const name = `${repo.registry}/${repo.repository}`;
    this.requests.push(`push manifest ${name}:${tag}`);
    if (this.pushRefused) throw new Error(this.pushRefused);
    this.manifests.set(`${name}:${tag}`, JSON.parse(manifest.toString('utf8')));
    return `sha256:${createHash('sha256').update(manifest).digest('hex')}`;
  }

  public async imageCreated(repo: RepositoryName, tag: string): Promise<Date | undefined> {
    const name = `${repo.registry}/${repo.repository}`;
    this.requests.push(`created ${name}:${tag}`);
    return this.created.get(`${name}:${tag}`);
  }
}

/**
 * The harness's fake registry with every RegistryClient call going to a real registry through the agent's own
 * client (`DistributionClient`): integration tests run the loop's fakes for targets and health, the real registry.
 */
export function realRegistry(): FakeRegistry {
  const real = new DistributionClient();
  return Object.assign(new FakeRegistry(REPO, []), {
    listTags: real.listTags.bind(real), resolveDigest: real.resolveDigest.bind(real), hasManifest: real.hasManifest.bind(real),
    imageConfig: real.imageConfig.bind(real), imageCreated: real.imageCreated.bind(real), fetchManifest: real.fetchManifest.bind(real),
    fetchBlob: real.fetchBlob.bind(real), pushBlob: real.pushBlob.bind(real), pushManifest: real.pushManifest.bind(real),
  });
}

interface FakeWorkload {
  id: string;
  name: string;
  model: string;
  image: string;
  policy: UpdatePolicy;
  inFlight?: InFlightRecord;
  /** The current version crashed (reported by discover until revived). */
  down?: string;
  /** Quarantines recorded on the workload itself (Target.recordQuarantine). */
  quarantined?: WorkloadQuarantine[];
}

/** How the fake target treats a version (by tag). */
export interface VersionBehaviour {
  readonly applyFails?: number | 'always';
  readonly ready?: HealthResult['status'];
  /** apply never resolves until its signal aborts. */
  readonly applyHangs?: boolean;
  /** Successive answers of `observe` for this version (the last one repeats); none = running, 0 restarts. */
  readonly runtime?: readonly RuntimeState[];
  /** A revive of this version leaves it down again at once (it crashes on start). */
  readonly crashesOnStart?: boolean;
}

/** A target whose workloads live in memory; it records calls and behaves per version. */
export class FakeTarget implements Target {
  public readonly workloads = new Map<string, FakeWorkload>();
  public readonly calls: string[] = [];
  public readonly behaviour = new Map<string, VersionBehaviour>();
  public discoverFails = false;
  public rollbackFails = 0;
  public revives = 0;
  private applyFailures = new Map<string, number>();
  private observed = new Map<string, number>();

  constructor(public readonly kind = 'fake') {}

  public add(
    name: string, image: string, options: { model?: string; policy?: string; inFlight?: InFlightRecord; imageId?: string } = {},
  ): FakeWorkload {
    const w: FakeWorkload = {
      id: `${this.kind}/${name}`, name, model: options.model ?? 'recsys', image,
      policy: UpdatePolicy.parse(options.policy ?? 'semver:minor'), inFlight: options.inFlight,
      ...(options.imageId ? { imageId: options.imageId } : {}),
    };
    this.workloads.set(w.id, w);
    return w;
  }

  public get(name: string): FakeWorkload {
    return this.workloads.get(`${this.kind}/${name}`)!;
  }

  public async discover(): Promise<Workload[]> {
    this.calls.push('discover');
    if (this.discoverFails) throw new Error(`${this.kind} API unreachable`);
    return [...this.workloads.values()].map((w) => ({ ...w }));
  }

  public async apply(plan: UpdatePlan, signal?: AbortSignal): Promise<Outcome> {
    this.calls.push(`apply ${plan.toString()} #${plan.attempt}`);
    const w = this.workloads.get(plan.workload.id)!;
    const b = this.behaviour.get(plan.toVersion.split('@')[0]) ?? {};
    if (b.applyHangs) {
      await new Promise<void>((resolve) => signal?.addEventListener('abort', () => resolve(), { once: true }));
      return { ok: false, reason: 'aborted' };
    }
    const failures = this.applyFailures.get(plan.toVersion) ?? 0;
    // The record goes on the workload before it is changed, as the real targets do.
    w.inFlight = { from: w.image, to: plan.to, attempt: plan.attempt, startedAt: new Date(0).toISOString(), trigger: plan.trigger };
    if (b.applyFails === 'always' || (b.applyFails !== undefined && failures < b.applyFails)) {
      this.applyFailures.set(plan.toVersion, failures + 1);
      return { ok: false, reason: `pull ${plan.to} failed: manifest unknown` };
    }
    w.image = plan.to;
    w.down = undefined;
    return { ok: true, value: undefined };
  }

  public async waitReady(plan: UpdatePlan, _timeoutMs?: number, signal?: AbortSignal, beforeTraffic?: BeforeTraffic): Promise<HealthResult> {
    this.calls.push(`waitReady ${plan.toString()}`);
    const status = this.behaviour.get(plan.toVersion.split('@')[0])?.ready ?? 'Healthy';
    if (status === 'Healthy' && beforeTraffic) {
      // as the Docker target: the quality gate at the new version's own address, before it takes traffic
      this.calls.push(`quality ${plan.toString()}`);
      const q = await beforeTraffic({ url: `http://fake/${plan.toVersion}`, previousUrl: `http://fake/${plan.fromVersion}` }, signal);
      if (q.status !== 'Healthy') return { status: 'Unhealthy', reason: `quality gate: ${q.reason}` };
    }
    return { status, reason: status === 'Healthy' ? 'container healthy' : 'readiness probe failed: HTTP 503' };
  }

  public async observe(w: Workload, image: string): Promise<RuntimeState> {
    const tag = (ImageRef.tryParse(image, { allowMutableTag: true })?.tag ?? image);
    const seq = this.behaviour.get(tag)?.runtime;
    const i = this.observed.get(image) ?? 0;
    this.observed.set(image, i + 1);
    if (!seq || seq.length === 0) return { running: true, restarts: 0, oomKilled: false, detail: `${w.name} running` };
    return seq[Math.min(i, seq.length - 1)];
  }

  public async recordQuarantine(w: Workload, entry: WorkloadQuarantine): Promise<Outcome> {
    const fw = this.workloads.get(w.id)!;
    fw.quarantined = withWorkloadQuarantine(fw.quarantined ?? [], entry);
    return { ok: true, value: undefined };
  }

  public async revive(w: Workload): Promise<Outcome<string>> {
    this.calls.push(`revive ${w.name}`);
    this.revives++;
    const fw = this.workloads.get(w.id)!;
    const tag = ImageRef.tryParse(fw.image, { allowMutableTag: true })?.tag ?? fw.image;
    if (!this.behaviour.get(tag)?.crashesOnStart) fw.down = undefined;
    return { ok: true, value: `${w.name} started again` };
  }

  public async promote(plan: UpdatePlan): Promise<Outcome> {
    this.calls.push(`promote ${plan.toString()}`);
    const w = this.workloads.get(plan.workload.id)!;
    w.inFlight = undefined;
    return { ok: true, value: undefined };
  }

  public async rollback(plan: UpdatePlan): Promise<Outcome> {
    this.calls.push(`rollback ${plan.toString()}`);
    if (this.rollbackFails > 0) {
      this.rollbackFails--;
      return { ok: false, reason: 'engine refused to start the old container' };
    }
    const w = this.workloads.get(plan.workload.id)!;
    w.image = w.inFlight?.from ?? plan.from;
    w.inFlight = undefined;
    return { ok: true, value: undefined };
  }
}

/** An SLO check whose verdict is chosen per version (tag). */
export class FakeSlo implements HealthCheck {
  public readonly name = 'prometheus-slo';
  public readonly verdicts = new Map<string, HealthResult['status'] | 'wait-for-abort'>();
  public readonly checked: string[] = [];
  public fallback: HealthResult['status'] = 'Healthy';
  /** The values a healthy verdict reports (what the real check measured); an unhealthy one reports none. */
  public evidence?: Record<string, number>;

  public async check(plan: UpdatePlan, signal?: AbortSignal): Promise<HealthResult> {
    const v = plan.toVersion.split('@')[0];
    this.checked.push(v);
    const verdict = this.verdicts.get(v) ?? this.fallback;
    if (verdict === 'wait-for-abort') {
      await new Promise<void>((resolve) => {
        if (signal?.aborted) resolve();
        signal?.addEventListener('abort', () => resolve(), { once: true });
      });
      return { status: 'Inconclusive', reason: 'bake window interrupted' };
    }
    const reason = { Healthy: 'error ratio 0 <= 0.05', Unhealthy: 'error ratio 0.5 > 0.05 over 1m', Inconclusive: 'no traffic to judge' }[verdict];
    return { status: verdict, reason, ...(this.evidence && verdict === 'Healthy' ? { evidence: this.evidence } : {}) };
  }
}

export class FakeProbe implements HealthCheck {
  public readonly name = 'synthetic-probe';
  public calls = 0;
  constructor(public status: HealthResult['status']) {}
  public async check(): Promise<HealthResult> {
    this.calls++;
    return { status: this.status, reason: `probe ${this.status}` };
  }
}

/** Everything a reconcile test needs, wired with fakes and a temp state dir. */
export interface Harness {
  readonly dir: string;
  readonly clock: FakeClock;
  readonly registry: FakeRegistry;
  readonly target: FakeTarget;
  readonly slo: FakeSlo;
  readonly probe: FakeProbe;
  readonly quarantine: QuarantineStore;
  readonly overrides: OverrideStore;
  readonly audit: AuditLog;
  readonly metrics: AgentMetrics;
  readonly reconciler: Reconciler;
  metric(name: string, labels?: Record<string, string>): Promise<number>;
}

export interface HarnessOptions {
  readonly tags?: string[];
  readonly inconclusive?: InconclusiveMode;
  readonly rollback?: Partial<RollbackSettings>;
  readonly targets?: Target[];
  readonly images?: ImageSettings[];
  readonly pollIntervalMs?: number;
  readonly gate?: Partial<HealthGateOptions>;
  readonly onAudit?: (e: AuditEntry) => void;
  /** Replaces the harness's registry (e.g. one that answers slowly). */
  /** The registry client (default a FakeRegistry; a real DistributionClient for the loop against a real registry). */
  readonly registry?: RegistryClient;
  /** The loop's default minimum image age. */
  readonly minImageAge?: Duration;
  /** The loop's default trusted signature keys. */
  readonly signatureKeys?: readonly KeyObject[];
  /** The loop's default `requireVerifiedIn` environments with their keys. */
  readonly verifiedIn?: readonly VerifiedInRequirement[];
  /** This agent's attestations after each promotion. */
  readonly attest?: AttestSettings;
  /** Watchtower's monitorOnly. */
  readonly monitorOnly?: boolean;
  /** MLflow's API for the images that follow a registered model. */
  readonly mlflow?: ReconcilerOptions['mlflow'];
  /** The state directory (a restarted agent: the same one). @default - a new temp dir */
  readonly dir?: string;
}

export function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'modelpilot-agent-'));
}

export function harness(options: HarnessOptions = {}): Harness {
  const dir = options.dir ?? tmpDir();
  const clock = new FakeClock();
  // `h.registry` is the fake's API; a test that passes its own client keeps its own reference to it
  const registry = (options.registry ?? new FakeRegistry(REPO, options.tags ?? ['1.0.0', '1.1.0'])) as FakeRegistry;
  const target = new FakeTarget();
  const slo = new FakeSlo();
  const probe = new FakeProbe('Healthy');
  const quarantine = new QuarantineStore(dir);
  const overrides = new OverrideStore(dir);
  const audit = new AuditLog(path.join(dir, 'audit.jsonl'), () => clock.now());
  const metrics = new AgentMetrics();
  const gate = new HealthGate({ readinessTimeoutMs: 1000, slo, probe, inconclusive: options.inconclusive ?? 'hold', watchIntervalMs: 5, clock, ...options.gate });
  const reconciler = new Reconciler({
    targets: options.targets ?? [target], registry, gate, quarantine, overrides, audit, metrics, clock,
    pollIntervalMs: options.pollIntervalMs ?? 60_000, images: options.images, onAudit: options.onAudit, minImageAge: options.minImageAge,
    signatureKeys: options.signatureKeys, verifiedIn: options.verifiedIn, attest: options.attest, mlflow: options.mlflow,
    monitorOnly: options.monitorOnly,
    rollback: { ...DEFAULT_ROLLBACK, ...options.rollback, backoff: { ...DEFAULT_ROLLBACK.backoff, ...options.rollback?.backoff } },
  });
  const metric = async (name: string, labels: Record<string, string> = {}): Promise<number> => {
    const m = await metrics.registry.getSingleMetric(name)!.get();
    const v = m.values.find((x) => Object.entries(labels).every(([k, val]) => x.labels[k] === val));
    return v?.value ?? 0;
  };
  return { dir, clock, registry, target, slo, probe, quarantine, overrides, audit, metrics, reconciler, metric };
}

/** `ref(1.1.0)` → the digest-pinned reference the agent plans for that tag. */
export function ref(tag: string, repo = REPO): string {
  return `${repo}:${tag}@${digestOf(tag)}`;
}

/** Runs a CLI command, capturing stdout and stderr. */
export { capture } from '../support/cli';
