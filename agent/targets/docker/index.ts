/**
 * The Docker target: keeps labelled containers up to date through the Docker Engine API over a unix socket
 * (Docker, or Podman's compatible service), with the in-flight update recorded on the containers themselves.
 *
 * Labels (the cross-helper contract): `modelpilot.enable=true`, `modelpilot.scope=<scope>`,
 * `modelpilot.model=<model>`, `modelpilot.policy=<semver:minor|pinned|digest>`, `modelpilot.ready.url=<url>`
 * (readiness probe, e.g. `http://127.0.0.1:8080/health/ready`), `modelpilot.stop-timeout=<seconds>`, and
 * `modelpilot.inflight=<json>` written by the agent.
 *
 * Labels cannot change on an existing container, so the record is written on the NEW container when it is
 * created — before the old one is touched. `apply` for a container named `N`:
 *   1. pull the new image (nothing touched yet; a failed pull changes nothing);
 *   2. create `N-modelpilot-next` from the old container's config, new image, label
 *      `modelpilot.inflight={from,to,attempt,startedAt,trigger,name:N,previousId,previousName}`;
 *   3. stop the old container (its stop timeout), 4. rename it `N-modelpilot-prev`,
 *   5. rename the new one `N`, 6. start it.
 * `promote` removes the stopped old container; a record whose `previousId` no longer exists is finished, so that
 * is how the in-flight mark is cleared. `rollback` works from whatever step a crash left: stop the new one, rename
 * it `N-modelpilot-failed`, rename the old one back to `N`, start it, and only then remove the failed one.
 * `discover` folds the `-next`/`-prev`/`-failed` containers into the workload `N` and reports the record as
 * `Workload.inFlight` while the old container still exists, so a restarted agent can finish or reverse it.
 */
import type Docker from 'dockerode';
import { DOCKER_LABELS as CONTRACT_DOCKER_LABELS, MODEL_SERVER_ENV } from '../../../lib/core/contract/names';
import { ImageRef, sameImage } from '../../../lib/core/image-ref';
import { UpdatePolicy } from '../../../lib/core/update-policy';
import { sleep } from '../../clock';
import type { BeforeTraffic, Endpoints } from '../../health/quality';
import { HttpRequester, httpRequest } from '../../http-client';
import type { CredentialStore } from '../../registry/credentials';
import {
  fail, HealthResult, InFlightRecord, Logger, nullLogger, ok, Outcome, parseWorkloadQuarantines, RuntimeState, Target, UpdatePlan,
  withWorkloadQuarantine, Workload, WorkloadQuarantine,
} from '../../types';
import type { ProxyServer, TrafficProxy } from './haproxy';

/** Labels the Docker target reads and writes. */
export const DOCKER_LABELS = {
  ...CONTRACT_DOCKER_LABELS,
  stopTimeout: 'modelpilot.stop-timeout',
  /**
   * The image reference exactly as planned (`repo:1.1.0@sha256:…`), written by the agent on the containers it
   * creates: an engine may store a pinned reference without its tag (podman keeps `repo@sha256:…`).
   */
  image: 'modelpilot.image',
  /**
   * On the quarantine marker of workload N (a container created, never started, named `N-modelpilot-quarantine`):
   * N, and the versions quarantined on it (JSON list). Labels cannot change on a container, so each new quarantine
   * replaces the marker; with it an agent with an empty state directory still never re-applies a quarantined version.
   */
  quarantineOf: 'modelpilot.quarantine.of',
  quarantine: 'modelpilot.quarantine',
} as const;

/** Watchtower's labels, honoured as it honours them: a container opted in with either set is watched. */
export const WATCHTOWER_LABELS = {
  enable: 'com.centurylinklabs.watchtower.enable',
  scope: 'com.centurylinklabs.watchtower.scope',
} as const;

/**
 * Whether a container is watched: `modelpilot.enable=true`, or Watchtower's `com.centurylinklabs.watchtower.enable=true`
 * when modelpilot's own label is absent (modelpilot's label wins, so `modelpilot.enable=false` opts a Watchtower
 * container out).
 */
export function watched(labels: Readonly<Record<string, string>> | undefined): boolean {
  const own = labels?.[DOCKER_LABELS.enable];
  return own !== undefined ? own === 'true' : labels?.[WATCHTOWER_LABELS.enable] === 'true';
}

/** The container's scope: `modelpilot.scope`, else Watchtower's scope label. */
export function scopeOf(labels: Readonly<Record<string, string>> | undefined): string | undefined {
  return labels?.[DOCKER_LABELS.scope] ?? labels?.[WATCHTOWER_LABELS.scope];
}

/** Name suffix of a workload's quarantine marker container. */
export const QUARANTINE_SUFFIX = '-modelpilot-quarantine';

/** Name suffixes of the containers an update in flight leaves next to `N`. */
export const SUFFIX = { next: '-modelpilot-next', prev: '-modelpilot-prev', failed: '-modelpilot-failed' } as const;

/** The record in label `modelpilot.inflight`: the {@link InFlightRecord} plus where the old container is. */
export interface DockerInFlightRecord extends InFlightRecord {
  /** The workload's container name (`N`). */
  readonly name: string;
  /** Id of the container that ran before. */
  readonly previousId: string;
  /** Name the old container is parked under while the new one is verified. */
  readonly previousName: string;
  /**
   * Blue/green behind the proxy: the backend, the port the new version listens on and the old one's. The old
   * container keeps its name and keeps serving until the new one is in rotation and proven.
   */
  readonly blueGreen?: { readonly backend: string; readonly port: number; readonly previousPort: number };
}

type BlueGreenRecord = DockerInFlightRecord & { blueGreen: NonNullable<DockerInFlightRecord['blueGreen']> };

/** Options of {@link DockerTarget}. */
export interface DockerTargetOptions {
  /** A dockerode client, e.g. `new Docker({ socketPath: '/var/run/docker.sock' })`. */
  readonly docker: Docker;
  /**
   * Watch only containers labelled `modelpilot.scope=<scope>` (or Watchtower's `com.centurylinklabs.watchtower.scope`).
   * @default - every watched container
   */
  readonly scope?: string;
  /**
   * Remove the replaced image once the new version is promoted (Watchtower's `cleanup`): multi-GB model images fill
   * disks. Never an image another container still uses; the previous version is pulled again if a rollback needs it.
   * @default false
   */
  readonly cleanup?: boolean;
  /**
   * The reverse proxy in front of the model containers (HAProxy's runtime API, agent/targets/docker/haproxy.ts). Containers
   * labelled `modelpilot.proxy.backend` + `modelpilot.proxy.ports` are then updated blue/green: the new version
   * starts on the other port beside the old one, joins the rotation once ready (its 5xx answers retried on the old
   * one by HAProxy's `retry-on`), and the old one is drained, stopped and removed only at promote; a rollback takes
   * the new one out of rotation. Without it such containers are updated stop-then-start (a gap of the model's load time).
   * @default - no proxy: stop-then-start
   */
  readonly proxy?: TrafficProxy;
  /** Longest wait for requests in progress on a version leaving the rotation. @default 30000 */
  readonly drainTimeoutMs?: number;
  /** Longest wait for HAProxy's health check to see a version that joins the rotation. @default 30000 */
  readonly admitTimeoutMs?: number;
  /** Also manage containers that are restarting. @default false */
  readonly includeRestarting?: boolean;
  /**
   * A running current version whose readiness URL (`modelpilot.ready.url`) fails this many discovery cycles in a row,
   * or whose HEALTHCHECK says unhealthy, is reported down, so the loop restarts it (bounded, audited). 0 turns it off.
   * @default 3
   */
  readonly unhealthyAfter?: number;
  /**
   * How long after its start a container's failed readiness checks do not count (a model loading is not a hung
   * one); the agent sets it to `health.readinessTimeout`. @default 120000
   */
  readonly unhealthyGraceMs?: number;
  /** Seconds a container gets to stop before it is killed (a container's own StopTimeout or label wins). @default 10 */
  readonly stopTimeoutSeconds?: number;
  /** Policy of containers without a `modelpilot.policy` label. @default UpdatePolicy.semver('minor') */
  readonly defaultPolicy?: UpdatePolicy;
  /** Credentials for pulls, by registry host. @default - anonymous pulls */
  readonly credentials?: CredentialStore;
  /** Interval between readiness checks in `waitReady`. @default 250 */
  readonly pollIntervalMs?: number;
  readonly logger?: Logger;
  readonly now?: () => Date;
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** The HTTP request function of the readiness probe (node:http; see agent/http-client.ts). @default httpRequest */
  readonly request?: HttpRequester;
}

interface Located {
  /** The container under the workload's own name `N`. */
  readonly named?: Docker.ContainerInspectInfo;
  /** The newest container carrying an in-flight record for `N`, and the record. */
  readonly next?: Docker.ContainerInspectInfo;
  readonly record?: DockerInFlightRecord;
  /** The container that ran before (record.previousId), when it still exists. */
  readonly previous?: Docker.ContainerInspectInfo;
}

const nameOf = (c: { Name?: string; Names?: string[] }): string => (c.Name || c.Names?.[0] || '').replace(/^\//, '');

/**
 * The image reference a container runs, as written: the agent's `modelpilot.image` label when it names the same
 * repository and digest as the engine's `Config.Image` (which may have lost the tag), else `Config.Image`.
 */
export function imageOf(c: Docker.ContainerInspectInfo): string {
  const configured = c.Config.Image;
  const label = c.Config.Labels?.[DOCKER_LABELS.image];
  if (!label) return configured;
  const a = ImageRef.tryParse(label, { allowMutableTag: true });
  const b = ImageRef.tryParse(configured, { allowMutableTag: true });
  if (!a || !b || a.name !== b.name) return configured;
  if (b.digest ? a.digest === b.digest : label === configured) return label;
  return configured;
}

/** The workload name a container belongs to: its own name without the agent's suffixes. */
function logicalName(name: string): string {
  for (const s of Object.values(SUFFIX)) if (name.endsWith(s)) return name.slice(0, -s.length);
  return name;
}

function parseRecord(text: string | undefined): DockerInFlightRecord | undefined {
  if (!text) return undefined;
  try {
    const r = JSON.parse(text) as DockerInFlightRecord;
    if (typeof r.name === 'string' && typeof r.previousId === 'string' && typeof r.from === 'string' && typeof r.to === 'string') return r;
  } catch {
    // a malformed label is treated as no record; discovery logs it
  }
  return undefined;
}

/** Equal as lists, where null, undefined and [] are all "not set". */
const sameList = (a: unknown, b: unknown): boolean => {
  const norm = (v: unknown): string => (v === undefined || v === null || (Array.isArray(v) && v.length === 0) ? 'null' : JSON.stringify(v));
  return norm(a) === norm(b);
};

/** Bound of the digest cache (many more than any agent watches; cleared when reached). */
const MAX_CACHED_DIGESTS = 4096;

/** The Docker Engine API target. */
export class DockerTarget implements Target {
  public readonly kind = 'docker';
  private readonly docker: Docker;
  private readonly logger: Logger;
  private readonly now: () => Date;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  /**
   * Repo digests found per (image ID, reference): an image ID is content-addressed, so its digest in a repository
   * does not change; this saves one image inspect per container per cycle. Bounded by the images in use.
   */
  private readonly digests = new Map<string, string>();
  private readonly send: HttpRequester;
  private readonly defaultPolicy: UpdatePolicy;
  /** Container id → readiness failures in a row of the running current version (bounded by the containers watched). */
  private readonly failedProbes = new Map<string, number>();

  constructor(private readonly options: DockerTargetOptions) {
    this.docker = options.docker;
    this.logger = options.logger ?? nullLogger;
    this.now = options.now ?? (() => new Date());
    this.sleep = options.sleep ?? sleep;
    this.send = options.request ?? httpRequest;
    this.defaultPolicy = options.defaultPolicy ?? UpdatePolicy.semver('minor');
    const t = options.stopTimeoutSeconds;
    if (t !== undefined && (!Number.isInteger(t) || t < 0)) {
      throw new Error(`docker target 'stopTimeoutSeconds' is ${t}; give a whole number of seconds, at least 0`);
    }
  }

  // -------------------------------------------------------------------------------------------------------------
  // discover
  // -------------------------------------------------------------------------------------------------------------

  public async discover(_signal?: AbortSignal): Promise<Workload[]> {
    // One list: the workloads' containers (enable=true) and their quarantine markers (enable=false).
    const all = (await this.labelled()).filter((c) => !this.options.scope || scopeOf(c.Labels) === this.options.scope);
    const quarantines = new Map<string, WorkloadQuarantine[]>();
    for (const c of all) {
      const of = c.Labels?.[DOCKER_LABELS.quarantineOf];
      if (!of) continue;
      let list = quarantines.get(of) ?? [];
      for (const q of parseWorkloadQuarantines(c.Labels?.[DOCKER_LABELS.quarantine])) list = withWorkloadQuarantine(list, q);
      quarantines.set(of, list);
    }
    const list = all.filter((c) => watched(c.Labels) && !c.Labels?.[DOCKER_LABELS.quarantineOf]);
    const groups = new Map<string, Docker.ContainerInfo[]>();
    for (const c of list) {
      const rec = parseRecord(c.Labels?.[DOCKER_LABELS.inFlight]);
      const n = rec?.name ?? logicalName(nameOf(c));
      groups.set(n, [...(groups.get(n) ?? []), c]);
    }
    const out: Workload[] = [];
    for (const [name, members] of groups) {
      try {
        const w = await this.workloadOf(name, members);
        if (w) out.push(quarantines.has(name) ? { ...w, quarantined: quarantines.get(name) } : w);
      } catch (e) {
        this.logger.warn('docker container skipped', { container: name, error: (e as Error).message });
      }
    }
    return out.sort((a, b) => a.id.localeCompare(b.id));
  }

  private async workloadOf(name: string, members: Docker.ContainerInfo[]): Promise<Workload | undefined> {
    const loc = await this.locate(name, members);
    const inFlight = loc.record && loc.previous ? loc.record : undefined;
    // What runs now: the container named N when it runs, else the parked old one; an update whose new container
    // does not run reports the old image, so the core reverses it.
    const candidates = [loc.named, loc.next, loc.previous].filter((c): c is Docker.ContainerInspectInfo => c !== undefined);
    const running = candidates.find((c) => c.State.Running || (this.options.includeRestarting && c.State.Restarting));
    let down: string | undefined;
    if (!inFlight) {
      const c = loc.named;
      if (!c) return undefined;
      if (this.options.proxy) await this.syncProxy(c);
      if (c.State.Restarting && !this.options.includeRestarting) {
        // the engine restarts it under its restart policy: reported, so the loop's post-promotion watch and restart
        // budget see a version that keeps crashing (it is not started by the agent meanwhile)
        down = `container ${name} is restarting (exit code ${c.State.ExitCode}${c.State.OOMKilled ? ', OOM-killed' : ''}, ${c.RestartCount ?? 0} restart(s))`;
      } else if (!c.State.Running && !c.State.Restarting) {
        // Stopped by a person (exit 0 after SIGTERM) is left alone; crashed or killed (non-zero, OOM) is reported.
        if (c.State.Status === 'created' || (c.State.ExitCode === 0 && !c.State.OOMKilled)) return undefined;
        down = `container ${name} is ${c.State.Status} (exit code ${c.State.ExitCode}${c.State.OOMKilled ? ', OOM-killed' : ''})`;
      } else if (c.State.Running) {
        down = await this.unhealthy(c);
      }
    }
    const base = running ?? loc.previous ?? loc.named;
    if (!base) return undefined;
    const image = running ? imageOf(running) : inFlight ? inFlight.from : imageOf(base);
    const labels = base.Config.Labels ?? {};
    const ref = ImageRef.tryParse(image, { allowMutableTag: true });
    const policyText = labels[DOCKER_LABELS.policy];
    let policy = this.defaultPolicy;
    if (policyText) {
      try {
        policy = UpdatePolicy.parse(policyText, `container ${name} label '${DOCKER_LABELS.policy}'`);
      } catch (e) {
        this.logger.warn('bad policy label; container skipped', { container: name, error: (e as Error).message });
        return undefined;
      }
    }
    return {
      id: `docker/${name}`,
      name,
      model: labels[DOCKER_LABELS.model] ?? (ref ? ref.repository.split('/').pop() as string : name),
      image,
      digest: running ? await this.digestOf(running) : undefined,
      ...(running ? { imageId: running.Image.startsWith('sha256:') ? running.Image : `sha256:${running.Image}` } : {}),
      policy,
      metricScope: metricScopeOf(base),
      // no blue/green slot: the update is stop-then-start on the one port
      ...(!this.options.proxy || !labels[DOCKER_LABELS.proxyBackend] ? { servesBeforeReady: true } : {}),
      ...(inFlight ? { inFlight } : {}),
      ...(down ? { down } : {}),
    };
  }

  /**
   * Whether a running current version is unhealthy: its HEALTHCHECK says so, or its readiness URL failed
   * `unhealthyAfter` cycles in a row (a hung model server still "runs"). Returns the reason, or undefined.
   */
  private async unhealthy(c: Docker.ContainerInspectInfo): Promise<string | undefined> {
    const after = this.options.unhealthyAfter ?? 3;
    if (after === 0) return undefined;
    const name = nameOf(c);
    if ((c.State as { Health?: { Status?: string } }).Health?.Status === 'unhealthy') return `container ${name} is running but its HEALTHCHECK is unhealthy`;
    const url = c.Config.Labels?.[DOCKER_LABELS.readyUrl];
    if (!url) return undefined;
    const started = Date.parse(c.State.StartedAt ?? '');
    if (Number.isFinite(started) && this.now().getTime() - started < (this.options.unhealthyGraceMs ?? 120_000)) return undefined;
    const r = await this.probe(url);
    if (r === true) {
      this.failedProbes.delete(c.Id);
      return undefined;
    }
    if (this.failedProbes.size >= MAX_CACHED_DIGESTS) this.failedProbes.clear();
    const n = (this.failedProbes.get(c.Id) ?? 0) + 1;
    this.failedProbes.set(c.Id, n);
    this.logger.warn('docker: the running version failed its readiness check', { container: name, url, failures: n, of: after, result: r });
    return n >= after ? `container ${name} is running but ${url} failed ${n} checks in a row (${r})` : undefined;
  }

  /**
   * The scrape addresses of the running model containers this target watches (Prometheus HTTP service discovery):
   * the host:port of the `modelpilot.ready.url` label, else 127.0.0.1 and the container's port. Labels: `model`
   * and `container_name`. Podman's Docker API reports no networks for host-networked containers, so Prometheus'
   * own docker_sd finds none there; this works on both engines.
   */
  public async scrapeTargets(): Promise<Array<{ targets: string[]; labels: Record<string, string> }>> {
    const list = (await this.labelled()).filter((c) => watched(c.Labels) && c.State === 'running' && !c.Labels?.[DOCKER_LABELS.quarantineOf]
      && (!this.options.scope || scopeOf(c.Labels) === this.options.scope));
    const out: Array<{ targets: string[]; labels: Record<string, string> }> = [];
    for (const c of list) {
      const name = nameOf(c);
      let address: string | undefined;
      try {
        const url = c.Labels?.[DOCKER_LABELS.readyUrl];
        if (url) address = new URL(url).host;
      } catch {
        address = undefined;
      }
      if (!address) {
        const port = listenPort(await this.docker.getContainer(c.Id).inspect());
        if (port) address = `127.0.0.1:${port}`;
      }
      if (!address) continue;
      out.push({ targets: [address], labels: { model: c.Labels?.[DOCKER_LABELS.model] ?? logicalName(name), container_name: name } });
    }
    return out;
  }

  // -------------------------------------------------------------------------------------------------------------
  // observe / revive
  // -------------------------------------------------------------------------------------------------------------

  public async observe(w: Workload, image: string, _signal?: AbortSignal): Promise<RuntimeState> {
    const name = w.name;
    const named = await this.docker.getContainer(name).inspect().catch((e: { statusCode?: number }) => {
      if (e.statusCode === 404) return undefined;
      throw e;
    });
    let c: Docker.ContainerInspectInfo | undefined = named;
    if (!c || !sameImage(imageOf(c), image)) {
      // Blue/green: the new version runs beside the old one until promote (and keeps the -next name if an agent was
      // stopped between the two renames of a promote).
      const beside = await this.docker.getContainer(`${name}${SUFFIX.next}`).inspect().catch(() => undefined);
      if (beside && sameImage(imageOf(beside), image)) c = beside;
    }
    if (!c) return { running: false, restarts: 0, oomKilled: false, detail: `container ${name} is gone` };
    const st = c.State;
    const restarts = c.RestartCount ?? 0;
    const oomKilled = st.OOMKilled === true;
    if (!sameImage(imageOf(c), image)) {
      return { running: false, restarts, oomKilled, detail: `container ${name} runs ${imageOf(c)}, not ${image}` };
    }
    const running = st.Running && !st.Restarting;
    const detail = running
      ? `container ${name} running, ${restarts} restart(s)`
      : `container ${name} is ${st.Restarting ? 'restarting' : st.Status} (exit code ${st.ExitCode}${oomKilled ? ', OOM-killed' : ''}${st.Error ? `, ${st.Error}` : ''}, ${restarts} restart(s))`;
    return { running, restarts, oomKilled, detail };
  }

  public async revive(w: Workload, _signal?: AbortSignal): Promise<Outcome<string>> {
    try {
      const c = await this.docker.getContainer(w.name).inspect();
      if (c.State.Restarting) return ok(`container ${w.name} is being restarted by the engine (restart policy ${c.HostConfig?.RestartPolicy?.Name ?? '?'}, ${c.RestartCount ?? 0} restart(s))`);
      if (c.State.Running) {
        if (!w.down?.includes('is running but')) return ok(`container ${w.name} already runs`);
        // Unhealthy while running: restarted (stop timeout honoured), the same as a crash.
        await this.docker.getContainer(c.Id).restart({ t: this.stopTimeout(c) });
        this.failedProbes.delete(c.Id);
        return ok(`container ${w.name} restarted (it ran but was unhealthy)`);
      }
      if (parseRecord(c.Config.Labels?.[DOCKER_LABELS.inFlight])) {
        const loc = await this.locate(w.name);
        if (loc.record && loc.previous) return fail(`container ${w.name} has an update in flight; the update's own recovery handles it`);
      }
      await this.docker.getContainer(c.Id).start();
      return ok(`container ${w.name} started again (was ${c.State.Status}, exit code ${c.State.ExitCode})`);
    } catch (e) {
      return fail(`restart ${w.name} on docker: ${(e as Error).message}`);
    }
  }

  /**
   * Records a quarantine on the engine, beside the state file: the workload's marker container (created from the
   * image it runs, never started, no network) is replaced by one whose label lists the version too. The new marker
   * is created before the old one is removed, so a crash in between leaves two, which discovery merges.
   */
  public async recordQuarantine(w: Workload, entry: WorkloadQuarantine, _signal?: AbortSignal): Promise<Outcome> {
    const name = `${w.name}${QUARANTINE_SUFFIX}`;
    try {
      const old = await this.docker.getContainer(name).inspect().catch(() => undefined);
      const list = withWorkloadQuarantine(parseWorkloadQuarantines(old?.Config.Labels?.[DOCKER_LABELS.quarantine]), entry);
      const current = await this.docker.getContainer(w.name).inspect();
      const labels: Record<string, string> = {
        [DOCKER_LABELS.enable]: 'false', [DOCKER_LABELS.quarantineOf]: w.name, [DOCKER_LABELS.quarantine]: JSON.stringify(list),
        ...(scopeOf(current.Config.Labels) ? { [DOCKER_LABELS.scope]: scopeOf(current.Config.Labels)! } : {}),
      };
      const temp = `${name}-${Date.now().toString(36)}`;
      const created = await this.docker.createContainer({
        name: temp, Image: current.Image, Labels: labels, Entrypoint: ['/modelpilot-quarantine-marker-never-started'],
        HostConfig: { NetworkMode: 'none', RestartPolicy: { Name: 'no' } },
      });
      if (old) await this.docker.getContainer(old.Id).remove({ force: true });
      await created.rename({ name });
      this.logger.info('docker: quarantine recorded on the marker container', { container: name, version: entry.version, versions: list.length });
      return ok(undefined);
    } catch (e) {
      return fail(`record the quarantine of ${entry.version} on docker (${name}): ${(e as Error).message}`);
    }
  }

  /** The repo digest of the image a container runs, when the engine knows it. */
  private async digestOf(c: Docker.ContainerInspectInfo): Promise<string | undefined> {
    const at = imageOf(c).indexOf('@');
    if (at >= 0) return imageOf(c).slice(at + 1);
    const key = `${c.Image} ${c.Config.Image}`;
    const known = this.digests.get(key);
    if (known) return known;
    try {
      const img = await this.docker.getImage(c.Image).inspect();
      const ref = ImageRef.tryParse(c.Config.Image, { allowMutableTag: true });
      for (const rd of img.RepoDigests ?? []) {
        const [repo, digest] = rd.split('@');
        const r = ImageRef.tryParse(repo, { allowMutableTag: true });
        if (ref && r && r.name === ref.name) {
          if (this.digests.size >= MAX_CACHED_DIGESTS) this.digests.clear();
          this.digests.set(key, digest);
          return digest;
        }
      }
    } catch {
      // no digest known
    }
    return undefined;
  }

  /** Finds the containers of workload `name`: under its own name, the newest in-flight one, and the previous one. */
  /**
   * Every container with modelpilot's or Watchtower's enable label (either value; quarantine markers too). Two lists,
   * since a label filter is an AND.
   */
  private async labelled(): Promise<Docker.ContainerInfo[]> {
    const lists = await Promise.all([DOCKER_LABELS.enable, WATCHTOWER_LABELS.enable]
      .map((label) => this.docker.listContainers({ all: true, filters: JSON.stringify({ label: [label] }) })));
    const byId = new Map<string, Docker.ContainerInfo>();
    for (const c of lists.flat()) byId.set(c.Id, c);
    return [...byId.values()];
  }

  private async locate(name: string, members?: Docker.ContainerInfo[]): Promise<Located> {
    if (!members) {
      const list = (await this.labelled()).filter((c) => watched(c.Labels));
      members = list.filter((c) => (parseRecord(c.Labels?.[DOCKER_LABELS.inFlight])?.name ?? logicalName(nameOf(c))) === name);
    }
    const inspected: Docker.ContainerInspectInfo[] = [];
    for (const m of members) {
      try {
        inspected.push(await this.docker.getContainer(m.Id).inspect());
      } catch {
        // removed meanwhile
      }
    }
    const named = inspected.find((c) => nameOf(c) === name);
    const withRecord = inspected
      .map((c) => ({ c, r: parseRecord(c.Config.Labels?.[DOCKER_LABELS.inFlight]) }))
      .filter((x) => x.r?.name === name)
      .sort((a, b) => Date.parse(b.c.Created) - Date.parse(a.c.Created));
    // The newest record whose previous container still exists is the one in flight; otherwise the newest record.
    let chosen = withRecord.find((x) => inspected.some((c) => c.Id === x.r!.previousId)) ?? withRecord[0];
    let previous: Docker.ContainerInspectInfo | undefined;
    if (chosen) {
      previous = inspected.find((c) => c.Id === chosen!.r!.previousId);
      if (!previous) {
        previous = await this.docker.getContainer(chosen.r!.previousId).inspect().catch(() => undefined);
      }
      if (!previous) chosen = withRecord[0];
    }
    return { named, next: chosen?.c, record: chosen?.r, previous };
  }

  // -------------------------------------------------------------------------------------------------------------
  // apply
  // -------------------------------------------------------------------------------------------------------------

  public async apply(plan: UpdatePlan, signal?: AbortSignal): Promise<Outcome> {
    const name = plan.workload.name;
    const log = { target: plan.workload.id, from: plan.from, to: plan.to, attempt: plan.attempt };
    try {
      const loc = await this.locate(name);
      if (loc.record && loc.previous) {
        return fail(`container ${name} already has an update in flight (${loc.record.from} -> ${loc.record.to}); promote or roll it back first`);
      }
      const old = loc.named;
      if (!old) return fail(`container ${name} not found; it was removed or renamed outside the agent`);
      // A container the engine is restarting (a version that crashes) may be moved off; a stopped one is left alone.
      if (!old.State.Running && !old.State.Restarting) {
        return fail(`container ${name} is ${old.State.Status}, not running; the agent updates only running containers`);
      }
      const slot = this.slotOf(old);
      // 1. Pull first: a failed pull leaves everything as it was.
      await this.pull(plan.to, signal);
      signal?.throwIfAborted();
      // A never-started leftover from an interrupted apply is removed (it holds the -next name).
      await this.removeByName(`${name}${SUFFIX.next}`, false);
      if (slot) return await this.applyBlueGreen(plan, old, slot, log);
      // 2. Create the new container, carrying the record, before the old one is touched.
      const record: DockerInFlightRecord = {
        from: plan.from, to: plan.to, attempt: plan.attempt, startedAt: this.now().toISOString(), trigger: plan.trigger,
        name, previousId: old.Id, previousName: `${name}${SUFFIX.prev}`,
      };
      const image = await this.docker.getImage(old.Image).inspect().catch(() => undefined);
      const spec = recreateSpec(old, image, plan.to, record);
      const created = await this.docker.createContainer({ ...spec, name: `${name}${SUFFIX.next}` });
      this.logger.info('docker: new container created', { ...log, container: `${name}${SUFFIX.next}`, id: created.id });
      // 3-6. Stop and park the old one, put the new one in its place, start it.
      await this.stop(old);
      await this.docker.getContainer(old.Id).rename({ name: record.previousName });
      await created.rename({ name });
      await created.start();
      this.logger.info('docker: new container started', { ...log, container: name, previous: record.previousName });
      return ok(undefined);
    } catch (e) {
      this.logger.error('docker: apply failed', { ...log, error: (e as Error).message });
      return fail(`apply ${plan.toString()} on docker: ${(e as Error).message}`);
    }
  }


  // -------------------------------------------------------------------------------------------------------------
  // blue/green behind the proxy
  // -------------------------------------------------------------------------------------------------------------

  /**
   * The container's blue/green slot: its proxy backend, the model's two ports and the one it listens on; undefined
   * without the labels. Labels without a configured proxy, or a port outside the list, are an error naming the fix.
   */
  private slotOf(c: Docker.ContainerInspectInfo): { backend: string; ports: [number, number]; port: number } | undefined {
    const labels = c.Config.Labels ?? {};
    const backend = labels[DOCKER_LABELS.proxyBackend];
    if (!backend) return undefined;
    const name = nameOf(c);
    if (!this.options.proxy) {
      this.logger.warn('container is labelled for blue/green but the agent has no proxy; updating it stop-then-start',
        { container: name, fix: "set targets.docker.proxy.haproxy in agent.yaml (e.g. '127.0.0.1:9999')" });
      return undefined;
    }
    const ports = parsePorts(labels[DOCKER_LABELS.proxyPorts]);
    if (!ports) {
      throw new Error(`container ${name} label '${DOCKER_LABELS.proxyPorts}' is '${labels[DOCKER_LABELS.proxyPorts] ?? ''}'; `
        + `give the model's two ports, one HAProxy server each, e.g. '${DOCKER_LABELS.proxyPorts}=9001,9002'`);
    }
    const port = listenPort(c);
    if (port === undefined || !ports.includes(port)) {
      throw new Error(`container ${name} listens on ${port ?? 'no known port'} (env ${MODEL_SERVER_ENV.port} or its published port), `
        + `which is not one of '${DOCKER_LABELS.proxyPorts}=${ports.join(',')}'; start it on ${ports[0]}`);
    }
    return { backend, ports, port };
  }

  /** The proxy server of `port` in `backend`; an error names the haproxy.cfg fix when there is none. */
  /** `sessions`: also read the requests in progress (only draining needs them). */
  private async serverOn(backend: string, port: number, signal?: AbortSignal, sessions = false): Promise<ProxyServer> {
    const servers = await this.options.proxy!.servers(backend, signal, { sessions });
    const s = servers.find((x) => x.port === port);
    if (!s) {
      throw new Error(`${this.options.proxy!.describe} backend '${backend}' has no server on port ${port} (servers: `
        + `${servers.map((x) => `${x.name}:${x.port}`).join(', ') || 'none'}); haproxy.cfg needs one server per port of '${DOCKER_LABELS.proxyPorts}'`);
    }
    return s;
  }

  /** Puts `port` into rotation and waits until the proxy sends it requests (its health check passes). */
  private async admit(backend: string, port: number, signal?: AbortSignal): Promise<void> {
    const proxy = this.options.proxy!;
    let s = await this.serverOn(backend, port, signal);
    if (s.admin !== 'ready') await proxy.setState(backend, s.name, 'ready', signal);
    const deadline = this.now().getTime() + (this.options.admitTimeoutMs ?? 30_000);
    while (!(s = await this.serverOn(backend, port, signal)).up) {
      if (this.now().getTime() > deadline) throw new Error(`${proxy.describe}: ${backend}/${s.name} (port ${port}) did not come UP within its health checks`);
      await this.sleep(100, signal);
    }
    this.logger.info('proxy: in rotation', { backend, server: s.name, port });
  }

  /** Takes `port` out of rotation: no new requests; waits (bounded) for those in progress, then maintenance. */
  private async drain(backend: string, port: number, signal?: AbortSignal): Promise<void> {
    const proxy = this.options.proxy!;
    let s = await this.serverOn(backend, port, signal);
    if (s.admin === 'maint') return;
    if (s.admin !== 'drain') await proxy.setState(backend, s.name, 'drain', signal);
    const deadline = this.now().getTime() + (this.options.drainTimeoutMs ?? 30_000);
    while ((s = await this.serverOn(backend, port, signal, true)).current > 0 && this.now().getTime() < deadline) await this.sleep(50, signal);
    if (s.current > 0) this.logger.warn('proxy: drain timed out; requests still in progress', { backend, server: s.name, port, current: s.current });
    await proxy.setState(backend, s.name, 'maint', signal);
    this.logger.info('proxy: out of rotation', { backend, server: s.name, port });
  }

  /** apply, blue/green: the new version starts on the other port, out of rotation; the old one keeps serving. */
  private async applyBlueGreen(plan: UpdatePlan, old: Docker.ContainerInspectInfo, slot: { backend: string; ports: [number, number]; port: number },
    log: Record<string, unknown>): Promise<Outcome> {
    const name = plan.workload.name;
    const port = slot.ports[0] === slot.port ? slot.ports[1] : slot.ports[0];
    // Nothing may reach the new port before the gate has seen it ready (a health check alone would admit it).
    const server = await this.serverOn(slot.backend, port);
    if (server.admin !== 'maint') await this.options.proxy!.setState(slot.backend, server.name, 'maint');
    const record: DockerInFlightRecord = {
      from: plan.from, to: plan.to, attempt: plan.attempt, startedAt: this.now().toISOString(), trigger: plan.trigger,
      name, previousId: old.Id, previousName: name, blueGreen: { backend: slot.backend, port, previousPort: slot.port },
    };
    const image = await this.docker.getImage(old.Image).inspect().catch(() => undefined);
    const spec = retarget(recreateSpec(old, image, plan.to, record), slot.port, port);
    const created = await this.docker.createContainer({ ...spec, name: `${name}${SUFFIX.next}` });
    await created.start();
    this.logger.info('docker: new version started beside the old one (blue/green)', { ...log, container: `${name}${SUFFIX.next}`, port, serving: slot.port });
    return ok(undefined);
  }

  /** promote, blue/green: new in rotation, old drained (stop timeout honoured), names swapped, old removed. */
  private async promoteBlueGreen(plan: UpdatePlan, loc: Located, rec: BlueGreenRecord): Promise<Outcome> {
    const name = plan.workload.name;
    const fresh = loc.next!;
    const old = loc.previous;
    if (!fresh.State.Running) return fail(`container ${nameOf(fresh)} (${plan.to}) does not run; refusing to take the previous one out of rotation`);
    const { backend, port, previousPort } = rec.blueGreen;
    await this.admit(backend, port);
    if (old) {
      await this.drain(backend, previousPort);
      if (nameOf(old) === name) await this.docker.getContainer(old.Id).rename({ name: `${name}${SUFFIX.prev}` });
    }
    if (nameOf(fresh) !== name) await this.docker.getContainer(fresh.Id).rename({ name });
    if (old) {
      await this.stop(old);
      await this.docker.getContainer(old.Id).remove({ force: false });
      this.logger.info('docker: promoted behind the proxy; previous container drained and removed', { target: plan.workload.id, to: plan.to, port, removed: old.Id.slice(0, 12) });
      if (this.options.cleanup && old.Image !== fresh.Image) await this.removeImage(old.Image, plan);
    }
    await this.removeByName(`${name}${SUFFIX.failed}`, true);
    return ok(undefined);
  }

  /** rollback, blue/green: the old one (started again if needed) back in rotation first, then the new one out and gone. */
  private async rollbackBlueGreen(plan: UpdatePlan, loc: Located): Promise<Outcome> {
    const name = plan.workload.name;
    const rec = loc.record!;
    const { backend, port, previousPort } = rec.blueGreen!;
    const fresh = loc.next!;
    const old = loc.previous!;
    if (!old.State.Running) {
      await this.docker.getContainer(old.Id).start();
      this.logger.info('docker: previous container started again', { target: plan.workload.id, container: nameOf(old) });
    }
    await this.admit(backend, previousPort);
    await this.drain(backend, port);
    await this.stop(fresh);
    if (nameOf(fresh) === name) await this.docker.getContainer(fresh.Id).rename({ name: `${name}${SUFFIX.failed}` });
    if (nameOf(old) !== name) await this.docker.getContainer(old.Id).rename({ name });
    await this.docker.getContainer(fresh.Id).remove({ force: true });
    this.logger.info('docker: rolled back behind the proxy; the new version never left the other port', { target: plan.workload.id, from: plan.to, serving: previousPort });
    return ok(undefined);
  }

  /**
   * After an HAProxy restart (or a person's `set server`) the running version's server may be out of rotation:
   * with no update in flight, the port of the container that runs is put back.
   */
  private async syncProxy(c: Docker.ContainerInspectInfo): Promise<void> {
    try {
      const slot = this.slotOf(c);
      if (!slot || !c.State.Running) return;
      const s = await this.serverOn(slot.backend, slot.port);
      if (s.admin !== 'ready') {
        await this.options.proxy!.setState(slot.backend, s.name, 'ready');
        this.logger.warn('proxy: the running version was out of rotation; put back', { container: nameOf(c), backend: slot.backend, server: s.name, port: slot.port, was: s.admin });
      }
    } catch (e) {
      this.logger.warn('proxy: could not check the rotation', { container: nameOf(c), error: (e as Error).message });
    }
  }

  private async pull(image: string, signal?: AbortSignal): Promise<void> {
    const ref = ImageRef.parse(image, { field: 'image', allowMutableTag: true });
    // Pull by digest when pinned (the tag is kept for humans only); an engine accepts `name@digest`.
    const what = ref.digest ? `${ref.name}@${ref.digest}` : ref.toString();
    const cred = this.options.credentials?.get(ref.registry);
    const opts: Record<string, unknown> = {};
    if (cred) opts.authconfig = { username: cred.username, password: cred.password, serveraddress: ref.registry };
    let stream: NodeJS.ReadableStream;
    try {
      stream = await this.docker.pull(what, opts);
    } catch (e) {
      throw new Error(`pull of ${what} failed: ${(e as Error).message}${trustHint((e as Error).message, ref.registry)}`);
    }
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        (stream as unknown as { destroy?: () => void }).destroy?.();
        reject(new Error('aborted while pulling'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.docker.modem.followProgress(stream, (err: Error | null, events: Array<{ error?: string }>) => {
        signal?.removeEventListener('abort', onAbort);
        const bad = events?.find((ev) => ev.error);
        const why = err?.message ?? bad?.error;
        if (err || bad) reject(new Error(`pull of ${what} failed: ${why}${trustHint(String(why), ref.registry)}`));
        else resolve();
      });
    });
    this.logger.info('docker: image pulled', { image: what });
  }

  private stopTimeout(c: Docker.ContainerInspectInfo): number {
    const label = Number(c.Config.Labels?.[DOCKER_LABELS.stopTimeout]);
    if (Number.isInteger(label) && label >= 0) return label;
    // 0 is what podman reports when none was set, so only a positive StopTimeout counts as the container's own.
    const own = (c.Config as { StopTimeout?: number }).StopTimeout;
    if (typeof own === 'number' && own > 0) return own;
    return this.options.stopTimeoutSeconds ?? 10;
  }

  private async stop(c: Docker.ContainerInspectInfo): Promise<void> {
    try {
      await this.docker.getContainer(c.Id).stop({ t: this.stopTimeout(c) });
    } catch (e) {
      if ((e as { statusCode?: number }).statusCode !== 304) throw e; // 304: already stopped
    }
  }

  private async removeByName(name: string, mustBeStopped: boolean): Promise<void> {
    try {
      const c = await this.docker.getContainer(name).inspect();
      if (mustBeStopped && c.State.Running) throw new Error(`container ${name} is running; not removing it`);
      await this.docker.getContainer(c.Id).remove({ force: true });
    } catch (e) {
      if ((e as { statusCode?: number }).statusCode !== 404) throw e;
    }
  }

  // -------------------------------------------------------------------------------------------------------------
  // waitReady
  // -------------------------------------------------------------------------------------------------------------

  /**
   * The new version's own address (the origin of its `modelpilot.ready-url` label) and, when `previousName` runs
   * beside it (blue/green), the serving version's.
   */
  private async endpoints(c: Docker.ContainerInspectInfo, previousName?: string): Promise<Endpoints | { problem: string }> {
    const origin = (u?: string): string | undefined => {
      try {
        return u ? new URL(u).origin : undefined;
      } catch {
        return undefined;
      }
    };
    const url = origin(c.Config.Labels?.[DOCKER_LABELS.readyUrl]);
    if (!url) {
      return { problem: `container ${nameOf(c)} has no '${DOCKER_LABELS.readyUrl}' label, so the agent does not know its address to replay the golden set; `
        + `label it with its readiness URL, e.g. ${DOCKER_LABELS.readyUrl}=http://127.0.0.1:8080/health/ready` };
    }
    const previous = previousName ? await this.docker.getContainer(previousName).inspect().catch(() => undefined) : undefined;
    const previousUrl = origin(previous?.Config.Labels?.[DOCKER_LABELS.readyUrl]);
    return { url, ...(previousUrl ? { previousUrl } : {}) };
  }

  public async waitReady(plan: UpdatePlan, timeoutMs: number, signal?: AbortSignal, beforeTraffic?: BeforeTraffic): Promise<HealthResult> {
    // Blue/green: the new version runs beside the old one as N-modelpilot-next until promote.
    const beside = this.options.proxy ? await this.docker.getContainer(`${plan.workload.name}${SUFFIX.next}`).inspect().catch(() => undefined) : undefined;
    const bgRec = beside ? parseRecord(beside.Config.Labels?.[DOCKER_LABELS.inFlight]) : undefined;
    const bg = bgRec?.blueGreen && bgRec.to === plan.to ? bgRec.blueGreen : undefined;
    const name = bg ? `${plan.workload.name}${SUFFIX.next}` : plan.workload.name;
    const healthy = async (reason: string, c: Docker.ContainerInspectInfo): Promise<HealthResult> => {
      if (beforeTraffic) {
        // the quality gate, at the new version's own address: on blue/green before it joins the rotation
        const at = await this.endpoints(c, bg ? plan.workload.name : undefined);
        const q = 'url' in at ? await beforeTraffic(at, signal) : { status: 'Unhealthy' as const, reason: at.problem };
        if (q.status !== 'Healthy') return { status: 'Unhealthy', reason: `quality gate: ${q.reason}` };
      }
      if (!bg) return { status: 'Healthy', reason };
      await this.admit(bg.backend, bg.port, signal);
      return { status: 'Healthy', reason: `${reason}; in rotation on port ${bg.port} beside the previous version on ${bg.previousPort}` };
    };
    const deadline = this.now().getTime() + timeoutMs;
    let last = 'not checked yet';
    for (;;) {
      try {
        const c = await this.docker.getContainer(name).inspect();
        const rec = parseRecord(c.Config.Labels?.[DOCKER_LABELS.inFlight]);
        if (!rec || rec.to !== plan.to) return { status: 'Unhealthy', reason: `container ${name} does not run ${plan.to} (runs ${c.Config.Image})` };
        const st = c.State;
        if (st.Status === 'exited' || st.Status === 'dead' || (st.Status === 'created' && !st.Running && !st.Restarting)) {
          return { status: 'Unhealthy', reason: `container ${name} is ${st.Status} (exit code ${st.ExitCode}${st.Error ? `, ${st.Error}` : ''})` };
        }
        if (st.Restarting) {
          last = `container ${name} is restarting (exit code ${st.ExitCode})`;
        } else if (st.Running) {
          const url = c.Config.Labels?.[DOCKER_LABELS.readyUrl];
          const health = (st as { Health?: { Status?: string } }).Health?.Status;
          if (url) {
            const r = await this.probe(url, signal);
            if (r === true) return await healthy(`${url} answered 2xx`, c);
            last = `${url}: ${r}`;
          } else if (health && health !== 'none') {
            if (health === 'healthy') return await healthy(`container ${name} HEALTHCHECK is healthy`, c);
            if (health === 'unhealthy') return { status: 'Unhealthy', reason: `container ${name} HEALTHCHECK is unhealthy` };
            last = `container ${name} HEALTHCHECK is ${health}`;
          } else {
            return await healthy(`container ${name} is running (no HEALTHCHECK and no '${DOCKER_LABELS.readyUrl}' label to probe)`, c);
          }
        }
      } catch (e) {
        if ((e as { statusCode?: number }).statusCode === 404) return { status: 'Unhealthy', reason: `container ${name} is gone` };
        last = (e as Error).message;
      }
      const left = deadline - this.now().getTime();
      if (left <= 0) return { status: 'Unhealthy', reason: `not ready within ${Math.round(timeoutMs / 1000)}s: ${last}` };
      await this.sleep(Math.min(this.options.pollIntervalMs ?? 250, left), signal);
    }
  }

  private async probe(url: string, signal?: AbortSignal): Promise<true | string> {
    try {
      const res = await this.send({ url, signal, timeoutMs: 2000 });
      return res.status >= 200 && res.status < 300 ? true : `answered ${res.status}`;
    } catch (e) {
      return `unreachable (${(e as Error).message})`;
    }
  }

  // -------------------------------------------------------------------------------------------------------------
  // promote / rollback
  // -------------------------------------------------------------------------------------------------------------

  public async promote(plan: UpdatePlan, _signal?: AbortSignal): Promise<Outcome> {
    const name = plan.workload.name;
    try {
      const loc = await this.locate(name);
      if (!loc.record || loc.record.to !== plan.to) return fail(`container ${name} has no update to ${plan.to} in flight`);
      if (loc.record.blueGreen && loc.next && this.options.proxy) {
        return await this.promoteBlueGreen(plan, loc, loc.record as BlueGreenRecord);
      }
      if (!loc.named || loc.named.Id !== loc.next?.Id || !loc.named.State.Running) {
        return fail(`container ${name} does not run ${plan.to}; refusing to remove the previous container`);
      }
      if (loc.previous) {
        if (loc.previous.State.Running) return fail(`previous container ${nameOf(loc.previous)} is running; refusing to remove it`);
        await this.docker.getContainer(loc.previous.Id).remove({ force: false });
        this.logger.info('docker: promoted; previous container removed', { target: plan.workload.id, to: plan.to, removed: nameOf(loc.previous) });
        if (this.options.cleanup && loc.previous.Image !== loc.named.Image) await this.removeImage(loc.previous.Image, plan);
      }
      await this.removeByName(`${name}${SUFFIX.failed}`, true);
      return ok(undefined);
    } catch (e) {
      return fail(`promote ${plan.toString()} on docker: ${(e as Error).message}`);
    }
  }

  /**
   * `cleanup`: removes the replaced image unless a container (running or not: another model, a parked version, a
   * quarantine marker) still uses it. A failure is logged, never fails the promotion.
   */
  private async removeImage(imageId: string, plan: UpdatePlan): Promise<void> {
    try {
      // every container, compared by image id (engines differ on `ancestor` filters and on the `sha256:` prefix)
      const bare = (id: string | undefined) => (id ?? '').replace(/^sha256:/, '');
      const stillUsed = (await this.docker.listContainers({ all: true })).filter((c) => bare(c.ImageID) === bare(imageId));
      if (stillUsed.length > 0) {
        this.logger.info('docker: cleanup kept the replaced image; a container still uses it', { image: imageId, containers: stillUsed.map((c) => c.Names[0]) });
        return;
      }
      await this.docker.getImage(imageId).remove();
      this.logger.info('docker: cleanup removed the replaced image', { target: plan.workload.id, image: imageId });
    } catch (e) {
      this.logger.warn('docker: cleanup could not remove the replaced image', { image: imageId, error: (e as Error).message });
    }
  }

  public async rollback(plan: UpdatePlan, _signal?: AbortSignal): Promise<Outcome> {
    const name = plan.workload.name;
    const log = { target: plan.workload.id, from: plan.from, to: plan.to };
    try {
      const loc = await this.locate(name);
      const rec = loc.record;
      const fresh = loc.next;
      const old = loc.previous;
      if (!rec || !fresh || !old) {
        // Nothing in flight: fine if the container under N runs something other than the new image.
        if (loc.named && loc.named.State.Running && (!rec || loc.named.Id !== fresh?.Id)) {
          await this.removeByName(`${name}${SUFFIX.next}`, true);
          return ok(undefined);
        }
        return fail(`container ${name}: no previous container to roll back to (record ${rec ? `names ${rec.previousId.slice(0, 12)}, which is gone` : 'missing'})`);
      }
      if (rec.blueGreen && this.options.proxy) return await this.rollbackBlueGreen(plan, loc);
      // 1. Stop the new one (it keeps running until the old one is about to take the name back).
      await this.stop(fresh);
      // 2. Move it out of the way, 3. give the old one its name back, 4. start it.
      if (nameOf(fresh) === name) await this.docker.getContainer(fresh.Id).rename({ name: `${name}${SUFFIX.failed}` });
      if (nameOf(old) !== name) await this.docker.getContainer(old.Id).rename({ name });
      const now = await this.docker.getContainer(old.Id).inspect();
      if (!now.State.Running) await this.docker.getContainer(old.Id).start();
      this.logger.info('docker: previous container restored', { ...log, container: name });
      // 5. Only now that the old one runs again is the failed one removed.
      await this.docker.getContainer(fresh.Id).remove({ force: true });
      return ok(undefined);
    } catch (e) {
      this.logger.error('docker: rollback failed', { ...log, error: (e as Error).message });
      return fail(`rollback ${plan.toString()} on docker: ${(e as Error).message}`);
    }
  }
}

/**
 * The create spec of the new container: the old container's config with the new image. Settings that only echo
 * the old image's defaults (env, cmd, entrypoint, labels, exposed ports, workdir, user, healthcheck) are left out,
 * so the new image's own defaults apply — only what was overridden on the container carries over.
 * Host settings (ports, mounts, restart policy, network mode, …) carry over whole.
 */
/**
 * The fix for a pull the engine refused because it does not trust the registry: the agent's own
 * `registries.insecure` covers only its registry client, not the engine's pull. Empty for other errors.
 */
export function trustHint(message: string, registry: string): string {
  if (!/server gave HTTP response to HTTPS client|x509:|certificate signed by unknown authority|tls: /i.test(message)) return '';
  return ` — the engine does not trust ${registry} (plain HTTP or an unknown certificate); the agent's registries.insecure covers only the agent's own`
    + ` registry client. Fix it on the engine: Docker daemon.json "insecure-registries": ["${registry}"] (or install the CA in /etc/docker/certs.d/${registry}/);`
    + ` podman registries.conf [[registry]] location="${registry}" insecure=true`;
}

/**
 * The PromQL matchers that select one container's series: its `modelpilot.metrics.selector` label, else the port
 * its model server listens on (`PORT` env, or the first published host port) as the scrape instance's port.
 */
export function metricScopeOf(c: Docker.ContainerInspectInfo): string[] {
  const label = c.Config.Labels?.[DOCKER_LABELS.metricsSelector];
  if (label) return label.split(/,(?=\s*[a-zA-Z_][a-zA-Z0-9_]*\s*(?:=~|!~|!=|=))/).map((m) => m.trim()).filter(Boolean);
  // Blue/green: a version may listen on either port; the gate's queries also select the version.
  const ports = parsePorts(c.Config.Labels?.[DOCKER_LABELS.proxyPorts]);
  if (ports && c.Config.Labels?.[DOCKER_LABELS.proxyBackend]) return [`instance=~".+:(${ports.join('|')})"`];
  const env = (c.Config.Env ?? []).find((e) => e.startsWith(`${MODEL_SERVER_ENV.port}=`));
  let port = env?.slice(MODEL_SERVER_ENV.port.length + 1);
  const bindings = c.HostConfig?.PortBindings as Record<string, Array<{ HostPort?: string }> | undefined> | undefined;
  const published = Object.values(bindings ?? {}).flatMap((b) => b ?? []).find((b) => b.HostPort)?.HostPort;
  if (c.HostConfig?.NetworkMode !== 'host' && published) port = published;
  return port && /^\d+$/.test(port) ? [`instance=~".+:${port}"`] : [];
}

export function recreateSpec(
  old: Docker.ContainerInspectInfo, oldImage: Docker.ImageInspectInfo | undefined, image: string, record: DockerInFlightRecord,
): Docker.ContainerCreateOptions {
  const c = old.Config;
  const ic = (oldImage?.Config ?? {}) as Partial<Docker.ContainerInspectInfo['Config']>;
  const imageEnv = new Set(ic.Env ?? []);
  // HOSTNAME is set by the engine (podman writes it into Env), never by the user: let the engine set it again.
  // A MODEL_VERSION set on the container to the old version (the metrics' version label) follows the new version.
  const fromTag = ImageRef.tryParse(record.from, { allowMutableTag: true })?.tag;
  const toTag = ImageRef.tryParse(image, { allowMutableTag: true })?.tag;
  const env = (c.Env ?? []).filter((e) => !imageEnv.has(e) && !e.startsWith('HOSTNAME='))
    .map((e) => (fromTag && toTag && e === `${MODEL_SERVER_ENV.version}=${fromTag}` ? `${MODEL_SERVER_ENV.version}=${toTag}` : e));
  const imageLabels = ic.Labels ?? {};
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(c.Labels ?? {})) {
    if (k === DOCKER_LABELS.inFlight) continue;
    if (imageLabels[k] === v) continue;
    labels[k] = v;
  }
  labels[DOCKER_LABELS.inFlight] = JSON.stringify(record);
  labels[DOCKER_LABELS.image] = image;
  const imagePorts = ic.ExposedPorts ?? {};
  const exposed = Object.fromEntries(Object.entries(c.ExposedPorts ?? {}).filter(([p]) => !(p in imagePorts)));
  // The new container keeps the old one's restart policy as the user set it (`no` included: the agent then restarts
  // a crashed version itself, bounded); only a container with none at all gets `unless-stopped`.
  const policy = old.HostConfig?.RestartPolicy;
  const restartPolicy = policy?.Name ? policy : { Name: 'unless-stopped' };
  const host: Docker.HostConfig = { ...old.HostConfig, RestartPolicy: restartPolicy };
  // A CPU limit set as NanoCpus (compose `cpus`) is reported by podman's inspect as CpuPeriod + CpuQuota too, and the
  // engine refuses a create with both ("NanoCpus conflicts with CpuPeriod and CpuQuota"): NanoCpus is what was set.
  if (host.NanoCpus) {
    delete host.CpuPeriod;
    delete host.CpuQuota;
  }
  const spec: Docker.ContainerCreateOptions = {
    Image: image,
    Env: env,
    Labels: labels,
    HostConfig: host,
  };
  if (Object.keys(exposed).length > 0) spec.ExposedPorts = exposed;
  if (!sameList(c.Cmd, ic.Cmd)) spec.Cmd = c.Cmd;
  if (!sameList(c.Entrypoint, ic.Entrypoint)) spec.Entrypoint = c.Entrypoint as string[];
  if (c.WorkingDir && c.WorkingDir !== ic.WorkingDir) spec.WorkingDir = c.WorkingDir;
  if (c.User && c.User !== ic.User) spec.User = c.User;
  const hc = (c as { Healthcheck?: unknown }).Healthcheck;
  if (hc && !sameList(hc, (ic as { Healthcheck?: unknown }).Healthcheck)) (spec as { Healthcheck?: unknown }).Healthcheck = hc;
  const stopSignal = (c as { StopSignal?: string }).StopSignal;
  const defaultSignal = stopSignal === '15' || stopSignal === 'SIGTERM' || stopSignal === 'TERM';
  if (stopSignal && !defaultSignal && stopSignal !== (ic as { StopSignal?: string }).StopSignal) spec.StopSignal = stopSignal;
  const st = (c as { StopTimeout?: number }).StopTimeout;
  if (typeof st === 'number' && st > 0) spec.StopTimeout = st;
  if (c.Tty) spec.Tty = c.Tty;
  if (c.OpenStdin) spec.OpenStdin = c.OpenStdin;
  const mode = old.HostConfig?.NetworkMode ?? '';
  const nets = old.NetworkSettings?.Networks ?? {};
  if (mode !== 'host' && mode !== 'none' && !mode.startsWith('container:') && Object.keys(nets).length > 0) {
    const endpoints: Record<string, Docker.EndpointSettings> = {};
    for (const [net, s] of Object.entries(nets)) {
      const aliases = ((s.Aliases ?? []) as string[]).filter((a) => a !== old.Id.slice(0, 12) && a !== old.Config.Hostname);
      endpoints[net] = { ...(aliases.length ? { Aliases: aliases } : {}), ...(s.IPAMConfig ? { IPAMConfig: s.IPAMConfig } : {}) };
    }
    spec.NetworkingConfig = { EndpointsConfig: endpoints };
  }
  return spec;
}

/** The two ports of `modelpilot.proxy.ports` (`9001,9002`), or undefined when the label is not that. */
export function parsePorts(text: string | undefined): [number, number] | undefined {
  const parts = (text ?? '').split(',').map((p) => p.trim());
  if (parts.length !== 2 || !parts.every((p) => /^\d{1,5}$/.test(p))) return undefined;
  const [a, b] = parts.map(Number);
  if (a === b || a < 1 || b < 1 || a > 65535 || b > 65535) return undefined;
  return [a, b];
}

/** The port the model server in a container listens on: its published host port, else its `PORT` env. */
export function listenPort(c: Docker.ContainerInspectInfo): number | undefined {
  const bindings = c.HostConfig?.PortBindings as Record<string, Array<{ HostPort?: string }> | undefined> | undefined;
  const published = Object.values(bindings ?? {}).flatMap((b) => b ?? []).find((b) => b.HostPort)?.HostPort;
  if (c.HostConfig?.NetworkMode !== 'host' && published) return Number(published);
  const env = (c.Config.Env ?? []).find((e) => e.startsWith(`${MODEL_SERVER_ENV.port}=`));
  return env ? Number(env.slice(MODEL_SERVER_ENV.port.length + 1)) : undefined;
}

/**
 * The create spec moved from port `from` to port `to`: the `PORT` env (host networking) or the published host
 * port, and the ready URL and metrics selector labels that name the port.
 */
export function retarget(spec: Docker.ContainerCreateOptions, from: number, to: number): Docker.ContainerCreateOptions {
  const swap = (text: string): string => text.replace(new RegExp(`:${from}(?=[/"\\s|)]|$)`, 'g'), `:${to}`);
  const labels = { ...spec.Labels };
  for (const k of [DOCKER_LABELS.readyUrl, DOCKER_LABELS.metricsSelector]) if (labels[k]) labels[k] = swap(labels[k]);
  const host = { ...spec.HostConfig };
  const bindings = host.PortBindings as Record<string, Array<{ HostIp?: string; HostPort?: string }>> | undefined;
  const published = host.NetworkMode !== 'host' && bindings && Object.values(bindings).some((b) => b?.some((x) => x.HostPort === String(from)));
  if (published) {
    host.PortBindings = Object.fromEntries(Object.entries(bindings).map(([k, list]) =>
      [k, (list ?? []).map((x) => (x.HostPort === String(from) ? { ...x, HostPort: String(to) } : x))]));
    return { ...spec, Labels: labels, HostConfig: host };
  }
  const env = [...(spec.Env ?? []).filter((e) => !e.startsWith(`${MODEL_SERVER_ENV.port}=`)), `${MODEL_SERVER_ENV.port}=${to}`];
  return { ...spec, Env: env, Labels: labels };
}
