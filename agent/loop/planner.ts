/** Planning: which workloads to look at now, and which version each moves to (registry + policy + quarantine). */
import type { KeyObject } from 'node:crypto';
import { DOCKER_LABELS } from '../../lib/core/contract/names';
import { ImageRef, parseVersionTag, versionKey } from '../../lib/core/image-ref';
import type { Candidate } from '../../lib/core/update-policy';
import { verifyVerifiedIn } from '../registry/attestation';
import { RegistryError } from '../registry/client';
import { verifyCosignSignature } from '../registry/cosign';
import { resolveListedTag } from '../registry/listed-tag';
import { RepositoryName, TriggerEvent, UpdatePlan, Workload } from '../types';
import type { LoopContext } from './context';
import type { ImageSettings, VerifiedInRequirement } from './settings';

const MAX_REMEMBERED = 10_000;

export class Planner {
  private readonly images = new Map<string, ImageSettings>();
  private readonly lastChecked = new Map<string, number>();
  /** `<workload> <digest>` → the tag it was rolled out under (engines may forget the tag). */
  private readonly promotedTags = new Map<string, string>();
  /** `repo@digest` the registry was seen to serve (a digest's manifest does not change; bounded). */
  private readonly servable = new Set<string>();
  /** `<workload> <from> <to>` updates blocked because `from` cannot be pulled back; audited once each. */
  private readonly blocked = new Set<string>();
  /** `repo:tag` → when the agent first saw it (the age of a version whose image config has no `created`). */
  private readonly firstSeen = new Map<string, number>();
  /** `<workload> <image> <kind>` versions refused (signature, unverified); audited once each. */
  private readonly refused = new Set<string>();
  /** Workload + image pairs already explained as not updatable (logged and audited once). */
  private readonly explained = new Set<string>();
  /** `<workload> <version>` versions waiting for their minimum age; audited once each. */
  private readonly waiting = new Map<string, number>();

  constructor(private readonly c: LoopContext) {
    for (const i of c.o.images ?? []) this.images.set(i.repository, i);
  }

  /** The shortest poll interval of any repository (the poll trigger's tick). */
  public get tickMs(): number {
    return Math.min(this.c.o.pollIntervalMs, ...[...this.images.values()].map((i) => i.pollIntervalMs ?? Infinity));
  }

  /** Why this workload is looked at now (a trigger source), or undefined to leave it alone. */
  public triggerFor(w: Workload, events: readonly TriggerEvent[], now: number): string | undefined {
    const ref = ImageRef.tryParse(w.image, { allowMutableTag: true });
    const repo = ref?.name ?? w.image;
    for (const e of events) {
      if (e.rollback) continue;
      if (e.source === 'poll') {
        const interval = this.images.get(repo)?.pollIntervalMs ?? this.c.o.pollIntervalMs;
        const last = this.lastChecked.get(repo);
        // A quarter tick of slack so a timer that fires a few ms early does not skip a whole interval.
        if (last === undefined || now - last + this.tickMs / 4 >= interval) return e.source;
        continue;
      }
      const repos = e.repositories ?? [];
      const models = e.models ?? [];
      if (repos.length === 0 && models.length === 0) return e.source;
      if (ref && repos.some((r) => r === ref.name || r === ref.repository || r.replace(/:[^/]*$/, '') === ref.name)) return e.source;
      if (models.includes(w.model)) return e.source;
    }
    return undefined;
  }

  /** Asks the registry and the policy for a newer version. */
  public async plan(w: Workload, trigger: string, tags: Map<string, Promise<string[]>>, signal?: AbortSignal): Promise<UpdatePlan | undefined> {
    let ref = ImageRef.parse(w.image, { field: `${w.id} image`, allowMutableTag: true });
    const repo: RepositoryName = { registry: ref.registry, repository: ref.repository };
    const policy = this.images.get(ref.name)?.policy ?? w.policy;
    this.lastChecked.set(ref.name, this.c.o.clock.now().getTime());
    if (policy.kind === 'pinned') return undefined;
    if (ref.tag === undefined && ref.digest) {
      // Some engines (podman) report `repo@digest` for a container created from `repo:tag@digest`: the tag is
      // recovered from the promotion that put this digest there.
      const tag = this.tagOfDigest(w.id, ref.name, ref.digest);
      if (tag) ref = ImageRef.parse(`${ref.name}:${tag}@${ref.digest}`, { allowMutableTag: true });
    }
    if (ref.tag === undefined) {
      this.skip(w, 'no-tag', 'its image has no tag (a bare digest the agent did not roll out), so there is nothing to compare newer tags with',
        'run it from a versioned tag (e.g. :1.4.0), or let the agent roll it out once');
      return undefined;
    }
    if (policy.kind === 'semver' && parseVersionTag(ref.tag) === undefined) {
      // Watchtower's first container: ':latest' with only Watchtower's label; the semver policy cannot order it
      const fix = w.id.startsWith('docker/')
        ? `label the container ${DOCKER_LABELS.policy}=digest to follow the tag's digest (what Watchtower does), or run a versioned tag (e.g. :1.4.0)`
        : "give the Deployment a versioned image tag (e.g. :1.4.0), or set images[].policy: digest in agent.yaml to follow the tag's digest";
      this.skip(w, 'not-semver', `its tag '${ref.tag}' is not a semantic version, which the policy ${policy.toString()} needs to find a newer one`, fix);
      return undefined;
    }
    const current = { tag: ref.tag, digest: ref.digest ?? w.digest };
    let candidates: Candidate[];
    try {
      if (policy.kind === 'digest') {
        candidates = [{ tag: ref.tag, digest: await this.c.o.registry.resolveDigest(repo, ref.tag, signal) }];
      } else {
        let list = tags.get(ref.name);
        if (!list) {
          // a webhook announced something new: a cached tag list (registries.tagsCacheTtl) is not trusted for it
          if (trigger !== 'poll') this.c.o.registry.expireTags?.(repo);
          list = this.c.o.registry.listTags(repo, signal);
          tags.set(ref.name, list);
        }
        candidates = (await list).map((tag) => ({ tag }));
      }
    } catch (e) {
      // no access (401/403) or no such repository (404) will not pass by itself: explained once; still a failure
      // of the cycle (counted, so ModelUpdaterFailing tells a person)
      const denied = registryDenial(e, repo);
      if (denied) this.skip(w, denied.result, denied.why, denied.fix);
      throw e;
    }
    const minAgeMs = (this.images.get(ref.name)?.minImageAge ?? this.c.o.minImageAge)?.toMilliseconds() ?? 0;
    const keys = this.images.get(ref.name)?.signatureKeys ?? this.c.o.signatureKeys;
    const verifiedIn = this.images.get(ref.name)?.verifiedIn ?? this.c.o.verifiedIn;
    const passedOver = new Set<string>();
    let chosen: Candidate | undefined;
    for (;;) {
      const excluded = (c: Candidate) => passedOver.has(c.tag)
        || this.c.o.quarantine.isQuarantined(w.model, versionKey(c.tag, c.digest, policy.kind));
      chosen = policy.select(current, candidates, excluded);
      if (!chosen) break;
      // A version younger than minImageAge waits; an older one the policy also accepts may go meanwhile.
      if (minAgeMs > 0 && policy.kind !== 'digest') {
        const { createdMs, source } = await this.createdAt(ref.name, repo, chosen.tag, signal);
        const until = createdMs + minAgeMs;
        if (until > this.c.o.clock.now().getTime()) {
          passedOver.add(chosen.tag);
          this.wait(w, chosen.tag, until, minAgeMs, source);
          continue;
        }
      }
      // Signed (and proven where required) or refused: the digest checked is the digest planned (a tag moved after
      // the check is not followed).
      if (keys?.length || verifiedIn?.length) {
        const deps = { clock: this.c.o.clock, logger: this.c.log };
        const digest = chosen.digest ?? await resolveListedTag(this.c.o.registry, repo, chosen.tag, deps, signal);
        const refusal = await this.refusal(repo, digest, keys, verifiedIn, signal);
        if (refusal) {
          this.refuse(w, `${ref.name}:${chosen.tag}@${digest}`, refusal.kind, refusal.reason);
          if (policy.kind === 'digest') {
            chosen = undefined;
            break;
          }
          passedOver.add(chosen.tag);
          continue;
        }
        chosen = { ...chosen, digest };
      }
      break;
    }
    this.c.o.metrics.waiting.set({ reason: 'min_image_age' }, this.waitingCount());
    if (!chosen) {
      // why nothing goes (debug: every poll): what the workload runs, what the registry lists, what the policy left out
      this.c.log.debug('no version to move to', {
        workload: w.id, image: w.image, policy: policy.toString(), current: current.tag, listed: candidates.length,
        newest: candidates.map((c) => c.tag).slice(-5),
        quarantined: candidates.filter((c) => this.c.o.quarantine.isQuarantined(w.model, versionKey(c.tag, c.digest, policy.kind))).map((c) => c.tag),
        passedOver: [...passedOver],
      });
      return undefined;
    }
    const failures = this.c.applyFailures.get(`${w.id} ${versionKey(chosen.tag, chosen.digest, policy.kind)}`);
    if (failures && this.c.o.clock.now().getTime() < failures.retryAt) {
      this.c.log.debug('version waits after failed cycles', { workload: w.id, version: chosen.tag, failedCycles: failures.count, retryAt: new Date(failures.retryAt).toISOString() });
      return undefined;
    }
    const deps = { clock: this.c.o.clock, logger: this.c.log };
    const digest = chosen.digest ?? await resolveListedTag(this.c.o.registry, repo, chosen.tag, deps, signal);
    const to = `${ref.name}:${chosen.tag}@${digest}`;
    const recovered = ref.toString() !== ImageRef.parse(w.image, { allowMutableTag: true }).toString();
    let from = recovered ? ref.toString() : ref.digest || !w.digest ? w.image : `${w.image}@${w.digest}`;
    const restorable = await this.restorable(w, repo, ref, signal);
    if ('blocked' in restorable) {
      const key = `${w.id} ${from} ${to}`;
      this.c.log.warn('update blocked: the running image cannot be pulled back', { workload: w.id, from, to, reason: restorable.blocked });
      if (!this.blocked.has(key)) {
        if (this.blocked.size >= MAX_REMEMBERED) this.blocked.clear();
        this.blocked.add(key);
        this.c.audit({ event: 'blocked', target: w.id, model: w.model, from, to, trigger, result: 'failed', reason: restorable.blocked });
      }
      throw new Error(`update to ${to} blocked: ${restorable.blocked}`);
    }
    if (restorable.from) from = restorable.from;
    for (const k of this.blocked) if (k.startsWith(`${w.id} `)) this.blocked.delete(k);
    const fromVersion = policy.kind === 'digest' ? `${ref.tag}@${current.digest ?? 'unknown'}` : ref.tag;
    const plan = new UpdatePlan(w, from, to, fromVersion, versionKey(chosen.tag, digest, policy.kind), trigger);
    this.c.audit({ event: 'planned', target: w.id, model: w.model, from, to, trigger, result: 'ok', reason: `policy ${policy.toString()} chose ${plan.toVersion}` });
    return plan;
  }


  /**
   * A plan to exactly `version` (a pin), whatever the policy says: the tag's digest from the registry, the running
   * image as `from` (restorable, as for any update).
   */
  public async planTo(w: Workload, version: string, trigger: string, signal?: AbortSignal, why = `pinned to ${version}`): Promise<UpdatePlan> {
    const ref = ImageRef.parse(w.image, { field: `${w.id} image`, allowMutableTag: true });
    const repo: RepositoryName = { registry: ref.registry, repository: ref.repository };
    const digest = await resolveListedTag(this.c.o.registry, repo, version, { clock: this.c.o.clock, logger: this.c.log }, signal);
    const to = `${ref.name}:${version}@${digest}`;
    let from = ref.digest || !w.digest ? w.image : `${w.image}@${w.digest}`;
    const restorable = await this.restorable(w, repo, ref, signal);
    if ('blocked' in restorable) throw new Error(`pin to ${to} blocked: ${restorable.blocked}`);
    if (restorable.from) from = restorable.from;
    const plan = new UpdatePlan(w, from, to, ref.tag ?? ref.digest ?? w.image, version, trigger);
    this.c.audit({ event: 'planned', target: w.id, model: w.model, from, to, trigger, result: 'ok', reason: why });
    return plan;
  }

  /**
   * When a version was made: its image config's `created`, else (no `created`, an index, a registry without the
   * call) the first time this agent saw the tag.
   */
  private async createdAt(name: string, repo: RepositoryName, tag: string, signal?: AbortSignal): Promise<{ createdMs: number; source: string }> {
    const key = `${name}:${tag}`;
    const created = await this.c.o.registry.imageCreated?.(repo, tag, signal).catch((e: unknown) => {
      this.c.log.warn('image config unreadable; the version\'s age counts from when it was first seen', { image: key, error: (e as Error).message });
      return undefined;
    });
    if (created) return { createdMs: created.getTime(), source: `created ${created.toISOString()}` };
    let seen = this.firstSeen.get(key);
    if (seen === undefined) {
      if (this.firstSeen.size >= MAX_REMEMBERED) this.firstSeen.clear();
      seen = this.c.o.clock.now().getTime();
      this.firstSeen.set(key, seen);
    }
    return { createdMs: seen, source: `first seen ${new Date(seen).toISOString()} (no 'created' in its image config)` };
  }

  /** Records (and audits once) a version that waits for its minimum age. */
  private wait(w: Workload, tag: string, until: number, minAgeMs: number, source: string): void {
    const key = `${w.id} ${tag}`;
    const now = this.c.o.clock.now().getTime();
    for (const [k, t] of this.waiting) if (t <= now) this.waiting.delete(k);
    if (this.waiting.has(key)) return;
    if (this.waiting.size >= MAX_REMEMBERED) this.waiting.clear();
    this.waiting.set(key, until);
    const reason = `${tag} is younger than minImageAge ${Math.round(minAgeMs / 1000)}s (${source}); it waits until ${new Date(until).toISOString()}`;
    this.c.log.info('version waits for its minimum age', { workload: w.id, version: tag, until: new Date(until).toISOString() });
    this.c.audit({ event: 'waiting', target: w.id, model: w.model, result: 'min-image-age', reason });
  }

  /**
   * The signature and `requireVerifiedIn` guards on a plan chosen outside the policy (MLflow): the refusal's reason
   * (audited once, counted), or undefined when the plan may go.
   */
  public async guard(w: Workload, plan: UpdatePlan, signal?: AbortSignal): Promise<string | undefined> {
    const ref = ImageRef.parse(plan.to, { allowMutableTag: true });
    const keys = this.images.get(ref.name)?.signatureKeys ?? this.c.o.signatureKeys;
    const verifiedIn = this.images.get(ref.name)?.verifiedIn ?? this.c.o.verifiedIn;
    if (!ref.digest || (!keys?.length && !verifiedIn?.length)) return undefined;
    const refusal = await this.refusal({ registry: ref.registry, repository: ref.repository }, ref.digest, keys, verifiedIn, signal);
    if (refusal) this.refuse(w, plan.to, refusal.kind, refusal.reason);
    return refusal?.reason;
  }

  /** Why a digest may not go: no valid signature by a trusted key, or no proof from an environment it must pass first. */
  private async refusal(repo: RepositoryName, digest: string, keys: readonly KeyObject[] | undefined,
    verifiedIn: readonly VerifiedInRequirement[] | undefined, signal?: AbortSignal): Promise<{ kind: 'signature' | 'unverified'; reason: string } | undefined> {
    if (keys?.length) {
      const verdict = await verifyCosignSignature(this.c.o.registry, repo, digest, keys, signal);
      if (!verdict.signed) return { kind: 'signature', reason: `not signed by a trusted key: ${verdict.reason}` };
    }
    for (const req of verifiedIn ?? []) {
      const verdict = await verifyVerifiedIn(this.c.o.registry, repo, digest, req.environment, req.keys, signal);
      if (!verdict.verified) return { kind: 'unverified', reason: `not verified in '${req.environment}': ${verdict.reason}` };
    }
    return undefined;
  }

  /**
   * A watched workload the agent cannot update: one log line and one audit entry ('skipped') per workload and image,
   * naming why and the fix — never a silent `updates: []`.
   */
  private skip(w: Workload, result: string, why: string, fix: string): void {
    const key = `${w.id} ${w.image}`;
    if (this.explained.has(key)) return;
    if (this.explained.size >= MAX_REMEMBERED) this.explained.clear();
    this.explained.add(key);
    const reason = `${w.id} runs ${w.image} and is not updated: ${why}; ${fix}`;
    this.c.log.warn('workload skipped: it cannot be updated', { workload: w.id, image: w.image, reason: why, fix });
    this.c.audit({ event: 'skipped', target: w.id, model: w.model, from: w.image, result, reason });
  }

  /** Audits (once per image), counts and logs a refused version: it is never applied. */
  private refuse(w: Workload, image: string, kind: 'signature' | 'unverified', reason: string): void {
    const key = `${w.id} ${image} ${kind}`;
    if (this.refused.has(key)) return;
    if (this.refused.size >= MAX_REMEMBERED) this.refused.clear();
    this.refused.add(key);
    this.c.o.metrics.refused.inc({ reason: kind });
    this.c.log.warn(kind === 'signature' ? 'version refused: no valid signature' : 'version refused: not verified where it must pass first',
      { workload: w.id, image, reason });
    this.c.audit({ event: 'refused', target: w.id, model: w.model, to: image, result: kind, reason });
  }

  /** Versions waiting for their minimum age now. */
  private waitingCount(): number {
    const now = this.c.o.clock.now().getTime();
    let n = 0;
    for (const t of this.waiting.values()) if (t > now) n++;
    return n;
  }

  /**
   * Whether the running image can be restored from the registry: a rollback that has to pull it (a rescheduled
   * pod, a removed container) needs the registry to serve the recorded digest. An engine's local digest (podman
   * records its own for an image it committed and pushed) is not one: then the registry's manifest of the same tag
   * is used when its image config is the running image (same content), and otherwise the update is blocked.
   */
  private async restorable(w: Workload, repo: RepositoryName, ref: ImageRef, signal?: AbortSignal): Promise<{ from?: string } | { blocked: string }> {
    const digest = ref.digest ?? w.digest;
    if (!digest) return {};
    const key = `${ref.name}@${digest}`;
    if (this.servable.has(key)) return {};
    const remember = (k: string) => {
      if (this.servable.size >= MAX_REMEMBERED) this.servable.clear();
      this.servable.add(k);
    };
    if (await this.c.o.registry.hasManifest(repo, digest, signal)) {
      remember(key);
      return {};
    }
    if (w.imageId && ref.tag) {
      const same = await this.c.o.registry.imageConfig(repo, ref.tag, signal).catch(() => undefined);
      if (same && same.config === w.imageId) {
        this.c.log.info('the running digest is the engine\'s own; recorded the registry\'s digest of the same image', { workload: w.id, local: digest, registry: same.manifest });
        return { from: `${ref.name}:${ref.tag}@${same.manifest}` };
      }
    }
    return { blocked: `the running image ${key} is not in registry ${repo.registry} (404 on its manifest), so a rollback could not pull it back; `
      + `push that image to ${repo.registry}/${repo.repository}${ref.tag ? ` as '${ref.tag}'` : ''}, or run a version the registry serves` };
  }

  /** The tag a digest was rolled out under on this workload (from this agent's memory, else the audit log). */
  private tagOfDigest(workload: string, name: string, digest: string): string | undefined {
    const cached = this.promotedTags.get(`${workload} ${digest}`);
    if (cached) return cached;
    let found: string | undefined;
    try {
      for (const e of this.c.o.audit.read()) {
        if (e.target !== workload || (e.event !== 'promoted' && e.event !== 'apply') || !e.to) continue;
        const r = ImageRef.tryParse(e.to, { allowMutableTag: true });
        if (r && r.name === name && r.digest === digest && r.tag) found = r.tag;
      }
    } catch (e) {
      this.c.log.warn('audit log unreadable', { error: (e as Error).message });
    }
    if (found) this.promotedTags.set(`${workload} ${digest}`, found);
    return found;
  }
}

/**
 * Why the registry will not let the agent see a workload's versions, and the fix — for the refusals that do not pass
 * by themselves (401, 403, 404); undefined for anything else (network, 5xx, 429: retried next cycle).
 */
export function registryDenial(e: unknown, repo: RepositoryName): { result: string; why: string; fix: string } | undefined {
  if (!(e instanceof RegistryError)) return undefined;
  const where = `${repo.registry}/${repo.repository}`;
  if (e.status === 401) {
    // the client's message may carry its own generic fix; the one here names the repository
    return { result: 'no-registry-access', why: e.message.replace(/; add credentials for .*$/, ''),
      fix: `put credentials for '${repo.registry}' that may pull ${where} in the docker config the agent reads (registries.dockerConfig)` };
  }
  if (e.status === 403) {
    return { result: 'no-registry-access', why: e.message, fix: `give the agent's registry credentials pull access to ${where}` };
  }
  if (e.status === 404) {
    return { result: 'not-in-registry', why: e.message,
      fix: `check the image name (the registry has no ${where} or not its tag), or push the running version there` };
  }
  return undefined;
}
