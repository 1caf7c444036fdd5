/**
 * Images that follow a model in MLflow's Model Registry (`images[].mlflow`): MLflow, not the newest tag, decides
 * which version runs — the version an alias (`champion`) points at, or the latest version. An MLflow webhook (or
 * the poll) makes the agent read MLflow; the version is mapped to an image tag (`imageTag` template) and, with
 * `digestTag`, checked against the digest MLflow recorded; it is rolled out through the same health gate, guards
 * and quarantine as any update; and the outcome is written back to MLflow as model-version tags.
 */
import { ImageRef } from '../../lib/core/image-ref';
import type { MlflowModelVersion } from '../mlflow/client';
import type { Target, TriggerEvent, UpdatePlan, Workload } from '../types';
import type { LoopContext } from './context';
import type { Planner } from './planner';
import type { CycleReport, Fail, ImageMlflowSettings, UpdateOutcome } from './settings';
import type { UpdateRunner } from './update';

const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;
const MAX_REMEMBERED = 10_000;

/** What is written back to MLflow for each outcome. */
const STATUS: Readonly<Record<UpdateOutcome, string | undefined>> = {
  promoted: 'deployed', rolled_back: 'rolled-back', failed: 'failed', rollback_failed: 'rollback-failed', held: 'held', aborted: undefined, restarted: undefined, available: 'available',
};

export class MlflowFollower {
  /** `<workload> <what>` decisions audited (and written back) once. */
  private readonly noted = new Set<string>();

  constructor(private readonly c: LoopContext, private readonly planner: Planner, private readonly runner: UpdateRunner) {}

  /** The MLflow settings of the workload's image, if it follows MLflow. */
  public settingsFor(w: Workload): ImageMlflowSettings | undefined {
    const ref = ImageRef.tryParse(w.image, { allowMutableTag: true });
    return ref ? this.c.o.images?.find((i) => i.repository === ref.name)?.mlflow : undefined;
  }

  /** Handles a workload that follows MLflow (true), or leaves it to the update policy (false). */
  public async handle(target: Target, w: Workload, events: readonly TriggerEvent[], now: number, report: CycleReport,
    signal: AbortSignal | undefined, fail: Fail): Promise<boolean> {
    const s = this.settingsFor(w);
    const api = this.c.o.mlflow;
    if (!s || !api) return false;
    const mine = events.filter((e) => e.mlflow?.registeredModel === s.registeredModel);
    const trigger = mine.length > 0 ? mine[mine.length - 1].source : this.planner.triggerFor(w, events.filter((e) => !e.mlflow), now);
    if (!trigger) return true;
    report.checked++;
    let mv: MlflowModelVersion;
    try {
      if (s.alias) {
        mv = await api.client.versionByAlias(s.registeredModel, s.alias, signal);
      } else {
        const latest = (await api.client.registeredModel(s.registeredModel, signal)).latestVersion;
        if (!latest) {
          this.once(w, 'no-version', { event: 'waiting', target: w.id, model: w.model, result: 'mlflow', reason: `MLflow model '${s.registeredModel}' has no version yet` });
          return true;
        }
        mv = await api.client.modelVersion(s.registeredModel, latest, signal);
      }
    } catch (e) {
      fail(`${w.id} MLflow ${s.registeredModel}${s.alias ? `@${s.alias}` : ''}`, e);
      return true;
    }
    const named = `${s.registeredModel} version ${mv.version}${s.alias ? ` (alias ${s.alias})` : ''}`;
    if (mv.status !== 'READY') {
      this.once(w, `not-ready ${mv.version}`, { event: 'waiting', target: w.id, model: w.model, result: 'mlflow', reason: `${named} is ${mv.status}, not READY` });
      return true;
    }
    const tag = s.imageTag.replace(/\{version\}/g, mv.version).replace(/\{name\}/g, s.registeredModel);
    const wanted = s.digestTag ? mv.tags[s.digestTag] : undefined;
    const ref = ImageRef.parse(w.image, { allowMutableTag: true });
    if (s.digestTag && !DIGEST_RE.test(wanted ?? '')) {
      await this.refuse(w, mv, `refused:${mv.version}`, `${named} has no '${s.digestTag}' tag holding a sha256 digest (got ${JSON.stringify(wanted ?? null)}); `
        + `set it to the image's digest, e.g. mlflow.MlflowClient().set_model_version_tag('${s.registeredModel}', '${mv.version}', '${s.digestTag}', 'sha256:…')`);
      return true;
    }
    if (ref.tag === tag && (!wanted || (ref.digest ?? w.digest) === wanted)) return true; // already runs it
    if (this.c.o.quarantine.isQuarantined(w.model, tag)) {
      await this.refuse(w, mv, `quarantined:${mv.version}`, `${named} maps to ${tag}, which is quarantined; release it (modelpilot quarantine release) or move the alias`);
      return true;
    }
    let plan: UpdatePlan;
    try {
      plan = await this.planner.planTo(w, tag, `${trigger} mlflow:${s.registeredModel}/${mv.version}`, signal, `MLflow ${named} → ${tag}`);
    } catch (e) {
      fail(`${w.id} MLflow ${named} → ${tag}`, e);
      return true;
    }
    const digest = ImageRef.parse(plan.to, { allowMutableTag: true }).digest;
    if (wanted && digest !== wanted) {
      await this.refuse(w, mv, `mismatch:${mv.version}:${digest}`,
        `${named}: the registry's ${tag} is ${digest}, but MLflow's '${s.digestTag}' says ${wanted}; the tag moved or the version points at another image`);
      return true;
    }
    const refused = await this.planner.guard(w, plan, signal);
    if (refused) {
      // the planner audited and counted it; MLflow hears it once
      if (this.once(w, `guard:${mv.version}:${digest}`)) await this.writeBack(w, mv, 'refused', refused, plan.to);
      return true;
    }
    const result = await this.runner.execute(target, plan, signal, fail);
    report.updates.push({ workload: w.id, plan: plan.toString(), result });
    const status = STATUS[result];
    if (status) await this.writeBack(w, mv, status, this.reasonOf(w, plan, result), plan.to);
    return true;
  }

  private reasonOf(w: Workload, plan: UpdatePlan, result: UpdateOutcome): string {
    if (result === 'promoted') return `passed the health gate on ${w.id}`;
    const q = this.c.o.quarantine.list().find((e) => e.model === w.model && e.version === plan.toVersion);
    return q ? q.reason : `${result.replace('_', ' ')} on ${w.id}`;
  }

  /** Audits a refused MLflow version once and writes the refusal back. */
  private async refuse(w: Workload, mv: MlflowModelVersion, key: string, reason: string): Promise<void> {
    if (!this.once(w, key, { event: 'refused', target: w.id, model: w.model, result: 'mlflow', reason })) return;
    this.c.o.metrics.refused.inc({ reason: 'mlflow' });
    await this.writeBack(w, mv, 'refused', reason);
  }

  /** Writes the outcome to MLflow as model-version tags; a failure is audited, never undoes anything. */
  private async writeBack(w: Workload, mv: MlflowModelVersion, status: string, reason: string, image?: string): Promise<void> {
    const api = this.c.o.mlflow!;
    const p = api.tagPrefix;
    const tags: Array<[string, string]> = [
      [`${p}.status`, status], [`${p}.reason`, reason.slice(0, 4000)], [`${p}.workload`, w.id],
      ...(image ? [[`${p}.image`, image] as [string, string]] : []), [`${p}.time`, this.c.o.clock.now().toISOString()],
    ];
    try {
      for (const [k, v] of tags) await api.client.setVersionTag(mv.name, mv.version, k, v);
      this.c.audit({ event: 'reported', target: w.id, model: w.model, result: 'ok', reason: `MLflow ${mv.name} version ${mv.version}: ${p}.status=${status}` });
    } catch (e) {
      this.c.log.warn('could not write the outcome back to MLflow', { workload: w.id, version: mv.version, error: (e as Error).message });
      this.c.audit({ event: 'reported', target: w.id, model: w.model, result: 'failed', reason: `MLflow ${mv.name} version ${mv.version}: ${(e as Error).message}` });
    }
  }

  /** Audits an entry (if given) once per workload and key; false when that key was seen before. */
  private once(w: Workload, key: string, entry?: Parameters<LoopContext['audit']>[0]): boolean {
    const k = `${w.id} ${key}`;
    if (this.noted.has(k)) return false;
    if (this.noted.size >= MAX_REMEMBERED) this.noted.clear();
    this.noted.add(k);
    if (entry) this.c.audit(entry);
    return true;
  }
}
