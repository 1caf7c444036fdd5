/**
 * The chaos scenarios. Each one starts a workload of its own (bench/chaos/harness.ts), breaks one thing, keeps
 * traffic on it (autocannon, bounded in connections, time and count) and returns its numbers and whether its
 * invariant held. Invariants: no request lost where the design promises it (blue/green), the old version never
 * removed before the new one is proven, old or new always serving (never neither), the audit log valid JSONL.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readAuditFile } from '../../agent/state/audit';
import { HaproxyRuntime } from '../../agent/targets/docker/haproxy';
import { EngineKiller, startEngineKiller } from '../../test/support/engine-killer';
import { firstServed, LoadReport, servedVersion, startLoad, watchVersions } from '../../test/support/single-host';
import { waitFor } from '../../test/support/tools';
import { auditEvent, ChaosEnv, isVersion, startWorkload, Version, Workload, WorkloadOptions } from './harness';

/** One scenario's outcome, as written to bench/results/chaos.json. */
export interface ScenarioResult {
  readonly scenario: string;
  readonly variant: string;
  /** The invariant, in words. */
  readonly invariant: string;
  readonly held: boolean;
  /** Why it did not hold (empty when it did). */
  readonly violations: string[];
  readonly numbers: Record<string, number | string | boolean | null>;
  readonly seconds: number;
}

type Numbers = Record<string, number | string | boolean | null>;

let scenarios = 0;

/** Runs `body` on a fresh workload, always cleans up, and times it. */
async function scenario(env: ChaosEnv, name: string, variant: string, invariant: string, o: Omit<WorkloadOptions, 'name'>,
  body: (w: Workload, check: (ok: boolean, violation: string) => void) => Promise<Numbers>): Promise<ScenarioResult> {
  const started = Date.now();
  const violations: string[] = [];
  // a container name and a repository path component: lower case, no leading or trailing '-'
  // unique per run (a repository of its own: truncated names of two variants must not share one)
  const id = `s${++scenarios}-${name}-${variant}`.replace(/[^a-z0-9-]/gi, '-').toLowerCase().slice(0, 40).replace(/-+$/, '');
  let numbers: Numbers = {};
  let w: Workload | undefined;
  try {
    w = await startWorkload(env, { ...o, name: id });
    numbers = await body(w, (ok, v) => { if (!ok) violations.push(v); });
  } catch (e) {
    violations.push(`scenario failed: ${(e as Error).message.split('\n')[0]}`);
    console.error(`${name} ${variant}: ${(e as Error).message.slice(0, 6000)}`);
  } finally {
    if (w && fs.existsSync(w.auditFile)) {
      const audit = readAuditFile(w.auditFile);
      if (audit.unreadable.length > 0) violations.push(`audit log has ${audit.unreadable.length} line(s) that are not JSON`);
      const tag = (ref?: string): string => (ref ? /:([^:@/]+)(@|$)/.exec(ref)?.[1] ?? '' : '');
      numbers.auditEntries = audit.entries.length;
      numbers.auditTrail = audit.entries.filter((e) => e.event !== 'planned')
        .map((e) => `${e.event}:${e.result}${e.to ? ` ${tag(e.from)}->${tag(e.to)}` : ''}`).join(', ');
    }
    await w?.stop().catch(() => undefined);
  }
  const seconds = Math.round((Date.now() - started) / 100) / 10;
  return { scenario: name, variant, invariant, held: violations.length === 0, violations, numbers, seconds };
}

/** The new version is in rotation (admitted and UP): the gate is reading it. */
async function gateStarted(api: HaproxyRuntime, w: Workload): Promise<boolean> {
  const s = (await api.servers(w.name)).find((x) => x.port === w.ports[1]);
  return s?.admin === 'ready' && s.up && (await w.containers()).length === 2;
}

/** 10 connections of traffic and the version watcher on the workload, 1 s of it, then the push; `pushed`: when it finished. */
async function pushUnderLoad(env: ChaosEnv, w: Workload, version: Version) {
  const load = startLoad(w.url, { connections: 10, maxSeconds: 120, maxRequests: 3_000_000 });
  const seen = watchVersions(w.url, 120);
  await new Promise((r) => setTimeout(r, 1000));
  await env.push(w.repository, version);
  return { load, seen, pushed: Date.now() };
}

const loadNumbers = (r: LoadReport): Numbers => ({
  requests: r.requests, failedRequests: r.failed, non2xx: r.non2xx, socketErrors: r.errors, longestGapMs: r.longestGapMs, p99Ms: r.p99Ms,
});

/** The single container of the workload is running and serving `version`. */
/**
 * Whether `version` answers `/health/ready` within `timeoutMs` (one probe has a 1 s timeout: under load a single
 * probe of a serving version can time out, which is not "not serving").
 */
async function servesWithin(w: Workload, version: Version, timeoutMs: number): Promise<boolean> {
  return waitFor(async () => (await servedVersion(w.url)) === version, { what: `${version} serving`, timeoutMs }).then(() => true, () => false);
}

async function settledOn(w: Workload, version: Version, timeoutMs = 90_000): Promise<void> {
  await waitFor(async () => (await servedVersion(w.url)) === version && (await w.containers()).length === 1, {
    what: `${w.name} to settle on ${version}`, timeoutMs, diagnostics: () => w.agent.output().slice(-3000),
  });
}

// ---------------------------------------------------------------------------------------------------------------

/** A healthy version under load: promoted; with the proxy no request fails. */
export function healthyUpdate(env: ChaosEnv, o: { proxy: boolean; version: '1.1.0' | '1.2.0' }): Promise<ScenarioResult> {
  const loadMs = o.version === '1.2.0' ? 3000 : 0;
  return scenario(env, 'healthy-update-under-load', `${o.proxy ? 'blue-green' : 'stop-then-start'}-load-${loadMs / 1000}s`,
    o.proxy ? 'promoted; 0 failed requests; old container removed only after the new one was promoted'
      : 'promoted (judged from readiness; the loading answers are the switch\'s outage); the old container removed only after (failed requests are the measured cost)',
    { proxy: o.proxy }, async (w, check) => {
      const { load, seen, pushed } = await pushUnderLoad(env, w, o.version);
      // Both must promote. Stop-then-start: the model answers 503 while it loads on the only port; the gate counts only
      // what it served after readiness (the rest is the switch's outage, in the verdict's evidence).
      const decidedAt = await auditEvent(w, 'promoted or rolled back', (e) => (e.event === 'promoted' && isVersion(e.to, o.version))
        || (e.event === 'rolled-back' && isVersion(e.from, o.version)));
      const promoted = w.audit().some((e) => e.event === 'promoted' && isVersion(e.to, o.version));
      const promotedAt = decidedAt;
      await settledOn(w, promoted ? o.version : '1.0.0');
      await new Promise((r) => setTimeout(r, 500));
      const report = await load.stop();
      const versions = seen.stop();
      const applyAt = Date.parse(w.audit().find((e) => e.event === 'apply' && isVersion(e.to, o.version))?.time ?? '') || pushed;
      const servingAt = firstServed(versions, o.version, pushed);
      const pushToServingMs = servingAt ? servingAt - pushed : null;
      if (o.proxy) check(report.failed === 0, `${report.failed} request(s) failed during a blue/green update`);
      // both paths: without a proxy the answers before readiness are the switch's outage, not the version's errors
      check(promoted, `a healthy version was not promoted: ${w.audit().find((e) => e.event === 'verify')?.reason ?? ''}`);
      check(!promoted || w.audit().findIndex((e) => e.event === 'promoted') > w.audit().findIndex((e) => e.event === 'verify'), 'promoted before verify');
      return {
        outcome: promoted ? 'promoted' : `rolled back: ${w.audit().find((e) => e.event === 'verify' && isVersion(e.to, o.version))?.reason?.slice(0, 160) ?? ''}`,
        ...loadNumbers(report), modelLoadMs: loadMs, p99DuringSwitchMs: report.p99Between(applyAt, promotedAt + 1000),
        failedDuringSwitch: report.failedBetween(applyAt, promotedAt + 1000),
        pushToServingMs, pushToServingTargetMs: loadMs + 1000 + 250, pushToPromotedMs: promoted ? promotedAt - pushed : null,
        targetMet: pushToServingMs !== null && pushToServingMs <= loadMs + 1250,
      };
    });
}

/** The quality gate of the chaos and quality scenarios: accuracy on the shipped golden set, at least 0.65 (lib/core/quality.ts). */
export const QUALITY_GATE = { metric: 'accuracy', threshold: 0.65, prediction: 'prediction.label', minSamples: 100 } as const;

/**
 * A model version that answers every request with 200 and valid outputs, pushed under load behind HAProxy: with the
 * quality gate (the golden set replayed at the new version's own port before it joins the rotation) the
 * shuffled-labels version is rolled back and quarantined and never answers a user; with only readiness and the
 * error-rate gate (the control) the same push is promoted; the small-drift version passes the quality gate.
 */
export function modelQuality(env: ChaosEnv, o: { version: '1.7.0' | '1.8.0'; gate: 'quality' | 'http-only' }): Promise<ScenarioResult> {
  const expectPromoted = o.version === '1.8.0' || o.gate === 'http-only';
  return scenario(env, 'model-quality', `${o.version === '1.7.0' ? 'shuffled-labels' : 'small-drift'}-${o.gate}`,
    expectPromoted ? 'promoted; 0 failed requests'
      : 'rejected by the quality gate before it takes traffic, quarantined; 0 failed requests; no user answered by it',
    { proxy: true, ...(o.gate === 'quality' ? { quality: QUALITY_GATE } : {}) }, async (w, check) => {
      const { load, seen, pushed } = await pushUnderLoad(env, w, o.version);
      const decidedAt = await auditEvent(w, 'promoted or rolled back', (e) => (e.event === 'promoted' && isVersion(e.to, o.version))
        || (e.event === 'rolled-back' && isVersion(e.from, o.version)), 180_000);
      const promoted = w.audit().some((e) => e.event === 'promoted' && isVersion(e.to, o.version));
      await settledOn(w, promoted ? o.version : '1.0.0');
      const report = await load.stop();
      const versions = seen.stop();
      const verify = w.audit().find((e) => e.event === 'verify' && isVersion(e.to, o.version));
      const servedByIt = versions.filter((v) => v.version === o.version).length;
      check(report.failed === 0, `${report.failed} request(s) failed`);
      check(promoted === expectPromoted, `${o.version} was ${promoted ? 'promoted' : 'rolled back'}: ${verify?.reason ?? ''}`);
      if (!expectPromoted) {
        check(servedByIt === 0, `${o.version} answered ${servedByIt} of the watcher's requests through the proxy`);
        check(w.audit().some((e) => e.event === 'quarantined' && (e.reason ?? '').startsWith(o.version)), `${o.version} not quarantined`);
      }
      if (o.gate === 'quality') check(verify?.goldenSet?.digest?.startsWith('sha256:') === true, 'the verify entry does not record the golden set\'s digest');
      return {
        outcome: promoted ? 'promoted' : 'rolled back', pushToVerdictMs: decidedAt - pushed, verdict: verify?.reason?.slice(0, 300) ?? null,
        qualityRatio: verify?.evidence?.qualityRatio ?? null, qualityLower: verify?.evidence?.qualityLower ?? null,
        goldenSet: verify?.goldenSet?.digest ?? null, answeredUsersOrWatcher: servedByIt, ...loadNumbers(report),
      };
    });
}

/**
 * The relative gate on one host: 1.9.0 (3 % errors) serves, 1.10.0 (6 %) is pushed under load behind HAProxy; both are
 * under the 10 % ceiling. With `slo.relative.maxErrorRatioFactor: 1.5` the new version is judged against the old one
 * on the same traffic during the bake window (both in rotation) and rejected; with the absolute ceiling alone (the
 * control) it is promoted.
 */
export function relativeGate(env: ChaosEnv, o: { gate: 'relative' | 'absolute-only' }): Promise<ScenarioResult> {
  const slo = { window: '1m', maxErrorRatio: 0.1, maxP99Latency: '2s', minRequestRate: 1, ...(o.gate === 'relative' ? { relative: { maxErrorRatioFactor: 1.5 } } : {}) };
  return scenario(env, 'relative-gate', `errors-3pct-to-6pct-${o.gate}`,
    o.gate === 'relative' ? 'rejected against the version it replaces though under the absolute ceiling; quarantined; the previous version serving'
      : 'promoted (the absolute ceiling alone cannot see it)',
    { proxy: true, start: '1.9.0', health: { bakeWindow: '15s', slo } }, async (w, check) => {
      const { load, pushed } = await pushUnderLoad(env, w, '1.10.0');
      const decidedAt = await auditEvent(w, 'promoted or rolled back', (e) => (e.event === 'promoted' && isVersion(e.to, '1.10.0'))
        || (e.event === 'rolled-back' && isVersion(e.from, '1.10.0')), 180_000);
      const promoted = w.audit().some((e) => e.event === 'promoted' && isVersion(e.to, '1.10.0'));
      await settledOn(w, promoted ? '1.10.0' : '1.9.0');
      const report = await load.stop();
      const verify = w.audit().find((e) => e.event === 'verify' && isVersion(e.to, '1.10.0'));
      check(promoted === (o.gate === 'absolute-only'), `1.10.0 was ${promoted ? 'promoted' : 'rolled back'}: ${verify?.reason ?? ''}`);
      if (!promoted) check(w.audit().some((e) => e.event === 'quarantined' && (e.reason ?? '').startsWith('1.10.0')), '1.10.0 not quarantined');
      return {
        outcome: promoted ? 'promoted' : 'rolled back', pushToVerdictMs: decidedAt - pushed, verdict: verify?.reason?.slice(0, 300) ?? null,
        newErrorRatio: verify?.evidence?.errorRatio ?? null, previousErrorRatio: verify?.evidence?.previousErrorRatio ?? null,
        newRequests: verify?.evidence?.requests ?? null, previousRequests: verify?.evidence?.previousRequests ?? null, ...loadNumbers(report),
      };
    });
}

/** A bad version under load: rolled back and quarantined; with the proxy no request fails. */
export function badVersion(env: ChaosEnv, o: { proxy: boolean; kind: 'never-ready' | 'errors-10pct' | 'crash-on-start' }): Promise<ScenarioResult> {
  const version: Version = o.kind === 'never-ready' ? '1.3.0' : o.kind === 'errors-10pct' ? '1.4.0' : '1.5.0';
  return scenario(env, 'bad-version-under-load', `${o.proxy ? 'blue-green' : 'stop-then-start'}-${o.kind}`,
    o.proxy ? 'rolled back and quarantined; 0 failed requests; the previous version serving throughout'
      : 'rolled back and quarantined; the previous version serving at the end (failed requests are the measured cost)',
    { proxy: o.proxy }, async (w, check) => {
      const { load, seen, pushed } = await pushUnderLoad(env, w, version);
      const rolledAt = await auditEvent(w, 'rolled-back', (e) => e.event === 'rolled-back' && isVersion(e.from, version), 120_000);
      await settledOn(w, '1.0.0');
      const report = await load.stop();
      const versions = seen.stop();
      // from the push until only the previous version answers again (the bad one out of rotation, or the old one back)
      const lastOther = versions.map((v) => v.version !== '1.0.0' && v.at >= pushed).lastIndexOf(true);
      const onlyOldAfterMs = lastOther >= 0 && versions[lastOther + 1] ? versions[lastOther + 1].at - pushed : lastOther >= 0 ? null : 0;
      const nobody = versions.filter((v) => v.at >= pushed && v.version === undefined).length;
      if (o.proxy) check(report.failed === 0, `${report.failed} request(s) failed while a bad version was rejected`);
      check(w.audit().some((e) => e.event === 'quarantined' && isVersion(e.to, version)), `${version} not quarantined`);
      const verdict = w.audit().find((e) => e.event === 'verify' && isVersion(e.to, version));
      return {
        ...loadNumbers(report), pushToRolledBackMs: rolledAt - pushed, verdict: verdict?.reason?.slice(0, 200) ?? null,
        onlyPreviousVersionAnsweringAfterMs: onlyOldAfterMs, samplesWithNoAnswer: nobody,
      };
    });
}

/** The model container SIGKILLed from the host, restart policy `no`: the agent starts it again. */
export function containerKilled(env: ChaosEnv, o: { version: '1.0.0' | '1.2.0' }): Promise<ScenarioResult> {
  const loadMs = o.version === '1.2.0' ? 3000 : 0;
  return scenario(env, 'model-container-sigkill', `restart-no-load-${loadMs / 1000}s`,
    'serving again without a person; the restart is audited', { proxy: false, restart: 'no', start: o.version }, async (w, check) => {
      const c = await env.docker.getContainer(w.name).inspect();
      const load = startLoad(w.url, { connections: 2, maxSeconds: 60, maxRequests: 1_000_000 });
      await new Promise((r) => setTimeout(r, 500));
      const killed = Date.now();
      process.kill(c.State.Pid, 'SIGKILL');
      await waitFor(async () => (await servedVersion(w.url)) === o.version, { what: 'the killed model to serve again', timeoutMs: 60_000, intervalMs: 50,
        diagnostics: () => w.agent.output().slice(-3000) });
      const back = Date.now();
      const report = await load.stop();
      const restarted = w.audit().find((e) => e.event === 'restarted');
      check(restarted !== undefined, 'no restarted entry in the audit log');
      const killedToServingMs = back - killed;
      const targetMs = 2000 + loadMs;
      return { ...loadNumbers(report), modelLoadMs: loadMs, killedToServingMs, targetMs, targetMet: killedToServingMs <= targetMs };
    });
}

/** The agent SIGKILLed at one step of a blue/green update, then started again. */
export type AgentStep = 'after-create' | 'during-gate' | 'during-switch' | 'during-rollback';

export function agentKilled(env: ChaosEnv, o: { step: AgentStep }): Promise<ScenarioResult> {
  const version: Version = o.step === 'during-rollback' ? '1.4.0' : '1.1.0';
  return scenario(env, 'agent-sigkill', o.step,
    'old or new version serving at every moment (never neither), 0 failed requests, settled on one container after restart, audit valid JSONL',
    { proxy: true }, async (w, check) => {
      const api = new HaproxyRuntime(w.haproxy!.runtimeApi);
      const load = startLoad(w.url, { connections: 4, maxSeconds: 180, maxRequests: 2_000_000 });
      const seen = watchVersions(w.url, 180);
      await env.push(w.repository, version);
      const reached = async (): Promise<boolean> => {
        if (o.step === 'after-create') return (await w.containers()).some((c) => c.name.endsWith('-modelpilot-next'));
        if (o.step === 'during-rollback') return w.audit().some((e) => e.event === 'verify' && e.result === 'rollback');
        const servers = await api.servers(w.name);
        if (o.step === 'during-gate') return servers.find((s) => s.port === w.ports[1])?.admin === 'ready' && servers.every((s) => s.up || s.admin === 'maint');
        return servers.find((s) => s.port === w.ports[0])?.admin !== 'ready';
      };
      await waitFor(reached, { what: `step ${o.step}`, timeoutMs: 90_000, intervalMs: 5, diagnostics: () => w.agent.output().slice(-2000) });
      const killedAt = Date.now();
      await w.agent.stop('SIGKILL');
      const state = { containers: (await w.containers()).map((c) => `${c.name}:${c.state}`).join(' '), servers: (await api.servers(w.name)).map((s) => `${s.port}:${s.admin}`).join(' ') };
      await new Promise((r) => setTimeout(r, 2000)); // the world without an agent for 2 s
      const restartedAt = Date.now();
      await w.restartAgent();
      await waitFor(async () => (await w.containers()).length === 1 && (await servedVersion(w.url)) !== undefined
        && !(await api.servers(w.name)).some((s) => s.admin === 'drain'), { what: 'one container serving after the restart', timeoutMs: 120_000,
        diagnostics: () => w.agent.output().slice(-3000) });
      const settledAt = Date.now();
      await new Promise((r) => setTimeout(r, 500));
      const report = await load.stop();
      const versions = seen.stop();
      const final = await servedVersion(w.url);
      check(!versions.some((v) => v.version === undefined), 'a moment with neither version answering');
      check(report.failed === 0, `${report.failed} request(s) failed`);
      if (o.step === 'during-rollback') check(final === '1.0.0', `ended on ${final}, not the previous version 1.0.0`);
      return {
        ...loadNumbers(report), killedAt: `${state.containers} | ${state.servers}`, finalVersion: final ?? null,
        killToSettledMs: settledAt - killedAt, restartToSettledMs: settledAt - restartedAt,
      };
    });
}

/**
 * The kill matrix: the agent SIGKILLed just before its `call`-th engine call (counted from the push of a 10 %-errors
 * version: pull, create, stop, rename, start, the quarantine marker, the rollback's stop/rename/start/remove), then
 * started again on the same state. `call` undefined: a run without a kill, which lists the calls (the steps).
 * Invariant: once judged bad the version is never applied again (its `apply` audit entries after the verdict), the
 * old version serving at the end, one container, the bad version quarantined.
 */
export function killAtEngineCall(env: ChaosEnv, o: { proxy: boolean; call?: number }): Promise<ScenarioResult> {
  const bad: Version = '1.4.0';
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelpilot-engine-killer-'));
  const socket = path.join(dir, 'engine.sock');
  let killer: EngineKiller | undefined;
  return startEngineKiller(env.pod.socketPath, socket).then((k) => {
    killer = k;
    return scenario(env, 'kill-at-engine-call', `${o.proxy ? 'blue-green' : 'stop-then-start'}-${o.call ?? 'none'}`,
      'the bad version never applied again once judged bad; the previous version serving at the end on one container; the bad version quarantined',
      { proxy: o.proxy, engineSocket: socket }, async (w, check) => {
        const load = startLoad(w.url, { connections: 4, maxSeconds: 150, maxRequests: 2_000_000 });
        k.arm(o.call, () => w.agent.pid);
        await env.push(w.repository, bad);
        // killed, or (no kill set / fewer calls than `call`) the rollback finished
        await waitFor(() => k.killed !== undefined || w.audit().some((e) => e.event === 'rolled-back' && isVersion(e.from, bad)),
          { what: 'the kill or the rollback', timeoutMs: 120_000, intervalMs: 10, diagnostics: () => w.agent.output().slice(-2000) });
        const killed = k.killed;
        k.disarm();
        if (killed) {
          await new Promise((r) => setTimeout(r, 1000)); // the world without an agent for 1 s
          await w.restartAgent();
        }
        await settledOn(w, '1.0.0', 120_000);
        await auditEvent(w, `${bad} quarantined`, (e) => e.event === 'quarantined' && (e.reason ?? '').startsWith(bad), 60_000);
        await new Promise((r) => setTimeout(r, 1500)); // a few more cycles: nothing re-applies it
        const report = await load.stop();
        const audit = w.audit();
        const applies = audit.filter((e) => e.event === 'apply' && isVersion(e.to, bad)).length;
        const judged = audit.filter((e) => e.event === 'verify' && isVersion(e.to, bad)).length;
        // once judged bad, never applied again (a kill before the verdict may see it applied once more, judged once)
        const verdict = audit.findIndex((e) => e.event === 'verify' && e.result === 'rollback' && isVersion(e.to, bad));
        const appliesAfterVerdict = verdict < 0 ? 0 : audit.slice(verdict).filter((e) => e.event === 'apply' && isVersion(e.to, bad)).length;
        check(verdict >= 0, `${bad} was never judged`);
        check(appliesAfterVerdict === 0, `${bad} applied ${appliesAfterVerdict} time(s) after it was judged bad`);
        check(await servesWithin(w, '1.0.0', 15_000), 'the previous version is not serving');
        return {
          killedBefore: killed ? `${killed.call.method} ${killed.call.path.replace(/\?.*$/, '')}` : null,
          calls: k.calls.map((c) => `${c.method} ${c.path.replace(/\?.*$/, '')}`).join(' | '),
          callCount: k.calls.length, appliesOfBadVersion: applies, appliesAfterVerdict, verdictsOfBadVersion: judged,
          finalVersion: (await servedVersion(w.url)) ?? null, ...loadNumbers(report),
        };
      });
  }).finally(async () => {
    await killer?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });
}

/**
 * A version that passes the gate and, once promoted, exits 137 at each start (the scenario writes its crash file when
 * the audit says promoted), under the engine's restart policy: the post-promotion watch rolls it back to the previous
 * version and quarantines it. Measured: first crash → old version serving.
 */
export function crashAfterPromotion(env: ChaosEnv, o: { proxy: boolean }): Promise<ScenarioResult> {
  const bad: Version = '1.6.0';
  return scenario(env, 'crash-after-promotion', o.proxy ? 'blue-green' : 'stop-then-start',
    'promoted, then rolled back to the previous version within the watch window once it kept crashing; quarantined',
    { proxy: o.proxy, restart: 'unless-stopped', agent: { rollback: { attemptTimeout: '60s', maxAttempts: 2, maxRestarts: 2, watchAfterPromotion: '5m',
      backoff: { initial: '500ms', max: '2s' } } } }, async (w, check) => {
      const load = startLoad(w.url, { connections: 4, maxSeconds: 240, maxRequests: 3_000_000 });
      const seen = watchVersions(w.url, 240);
      await env.push(w.repository, bad);
      // (a bound for a loaded machine: push, pull, readiness, the bake window and Prometheus; 90 s was not always enough in CI)
      const promotedAt = await auditEvent(w, `${bad} promoted`, (e) => e.event === 'promoted' && isVersion(e.to, bad), 240_000);
      w.crashVersion();
      await auditEvent(w, `${bad} rolled back`, (e) => e.event === 'rolled-back' && isVersion(e.from, bad), 180_000);
      await settledOn(w, '1.0.0', 60_000);
      const report = await load.stop();
      const versions = seen.stop();
      // the first moment after the promotion that the new version did not answer: its first crash
      const firstCrash = versions.find((v) => v.at > promotedAt && v.version !== bad)?.at;
      const oldBack = firstServed(versions, '1.0.0', promotedAt);
      check(w.audit().some((e) => e.event === 'quarantined' && (e.reason ?? '').startsWith(bad)), `${bad} not quarantined`);
      check(oldBack !== undefined, 'the previous version never served again');
      return {
        firstCrashToOldServingMs: firstCrash && oldBack ? oldBack - firstCrash : null, promotedToOldServingMs: oldBack ? oldBack - promotedAt : null,
        reason: w.audit().find((e) => e.event === 'quarantined' && (e.reason ?? '').startsWith(bad))?.reason?.slice(0, 200) ?? null, ...loadNumbers(report),
      };
    });
}

/** The registry down, slow or answering 429 — while the agent polls, or while the engine pulls. */
export function registryFault(env: ChaosEnv, o: { fault: 'down' | 'slow' | '429'; phase: 'poll' | 'pull' }): Promise<ScenarioResult> {
  return scenario(env, 'registry-fault', `${o.fault}-during-${o.phase}`,
    'the running version keeps serving with 0 failed requests; nothing is applied half-way; the new version is promoted once the registry is back',
    { proxy: true }, async (w, check) => {
      const load = startLoad(w.url, { connections: 4, maxSeconds: 150, maxRequests: 2_000_000 });
      // during the poll: every request; during the pull: the engine's pull by digest (the agent resolves tags)
      await env.faults.set(o.fault, { delayMs: 8000, only: o.phase === 'pull' ? /\/manifests\/sha256:/ : undefined });
      const faultAt = Date.now();
      await env.push(w.repository, '1.1.0', true);
      await new Promise((r) => setTimeout(r, 8000));
      const duringFault = w.audit().filter((e) => e.time >= new Date(faultAt).toISOString()).map((e) => `${e.event}:${e.result}`);
      const servingDuring = await servedVersion(w.url);
      await env.faults.set('pass');
      const healed = Date.now();
      const promotedAt = await auditEvent(w, 'promoted after the registry is back', (e) => e.event === 'promoted' && isVersion(e.to, '1.1.0'), 120_000);
      await settledOn(w, '1.1.0');
      const report = await load.stop();
      check(report.failed === 0, `${report.failed} request(s) failed`);
      check(servingDuring === '1.0.0' || (o.fault === 'slow' && servingDuring === '1.1.0'), `during the fault ${servingDuring ?? 'nothing'} answered`);
      check(!w.audit().some((e) => e.event === 'quarantined'), 'a good version was quarantined for a registry fault');
      return {
        ...loadNumbers(report), auditDuringFault: [...new Set(duringFault)].join(' '), healedToPromotedMs: Math.max(0, promotedAt - healed),
        faultedRequests: env.faults.counts[o.fault],
      };
    });
}

/** Prometheus stops answering while the gate reads it: never promoted on no evidence. */
export function prometheusDown(env: ChaosEnv): Promise<ScenarioResult> {
  return scenario(env, 'prometheus-unreachable', 'during-gate',
    'not promoted without evidence (inconclusive → rollback); the previous version serving; 0 failed requests', { proxy: true }, async (w, check) => {
      const api = new HaproxyRuntime(w.haproxy!.runtimeApi);
      const load = startLoad(w.url, { connections: 4, maxSeconds: 120, maxRequests: 2_000_000 });
      await env.push(w.repository, '1.1.0');
      await waitFor(async () => gateStarted(api, w), { what: 'the gate to start', timeoutMs: 60_000, intervalMs: 10 });
      await w.prom.stop();
      const decidedAt = await auditEvent(w, 'a verdict', (e) => e.event === 'verify' && isVersion(e.to, '1.1.0'));
      await waitFor(async () => (await w.containers()).length === 1, { what: 'one container', timeoutMs: 60_000 });
      const report = await load.stop();
      const verdict = w.audit().find((e) => e.event === 'verify' && isVersion(e.to, '1.1.0'))!;
      check(verdict.result !== 'promote', `promoted on no evidence: ${verdict.reason}`);
      check((await servedVersion(w.url)) === '1.0.0', 'the previous version is not serving');
      check(report.failed === 0, `${report.failed} request(s) failed`);
      return { ...loadNumbers(report), verdict: `${verdict.result}: ${verdict.reason?.slice(0, 160)}`, decidedAt: new Date(decidedAt).toISOString() };
    });
}

/** The agent cannot reach the registry (a blackhole: connections accepted, never answered) while a version is pushed. */
export function partition(env: ChaosEnv): Promise<ScenarioResult> {
  return scenario(env, 'partition-agent-registry', 'blackhole-with-push',
    'the agent stays up (healthz) and changes nothing while cut off; promoted after the partition heals; 0 failed requests', { proxy: true }, async (w, check) => {
      const load = startLoad(w.url, { connections: 4, maxSeconds: 150, maxRequests: 2_000_000 });
      await env.faults.set('blackhole');
      await env.push(w.repository, '1.1.0', true);
      await new Promise((r) => setTimeout(r, 10_000));
      const healthy = await fetch(`http://127.0.0.1:${w.agent.port}/healthz`, { signal: AbortSignal.timeout(2000) }).then((r) => r.status, () => 0);
      const containers = (await w.containers()).length;
      await env.faults.set('pass');
      const healed = Date.now();
      const promotedAt = await auditEvent(w, 'promoted after the partition', (e) => e.event === 'promoted' && isVersion(e.to, '1.1.0'), 120_000);
      await settledOn(w, '1.1.0');
      const report = await load.stop();
      check(containers === 1, `${containers} containers during the partition`);
      check(report.failed === 0, `${report.failed} request(s) failed`);
      return { ...loadNumbers(report), healthzDuringPartition: healthy, healedToPromotedMs: promotedAt - healed };
    });
}

/** The state directory (a 512 kB tmpfs) fills up while a bad version is rolled back. */
export async function stateDirFull(env: ChaosEnv): Promise<ScenarioResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelpilot-chaos-tmpfs-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=512k', 'tmpfs', dir]);
  } catch (e) {
    return { scenario: 'state-dir-full', variant: 'tmpfs-during-rollback', invariant: 'not run', held: false, violations: [`mount tmpfs: ${(e as Error).message}`], numbers: {}, seconds: 0 };
  }
  try {
    return await scenario(env, 'state-dir-full', 'tmpfs-during-rollback',
      'the previous version serving after the rollback (the new container removed, the old one kept); 0 failed requests; the agent keeps running',
      { proxy: true, stateDir: dir }, async (w, check) => {
        const api = new HaproxyRuntime(w.haproxy!.runtimeApi);
        const load = startLoad(w.url, { connections: 4, maxSeconds: 150, maxRequests: 2_000_000 });
        await env.push(w.repository, '1.4.0');
        await waitFor(async () => gateStarted(api, w), { what: 'the gate to start', timeoutMs: 60_000, intervalMs: 10 });
        // fill it
        let filled = 0;
        try {
          const fd = fs.openSync(path.join(dir, 'filler'), 'w');
          const chunk = Buffer.alloc(16 * 1024);
          for (let i = 0; i < 64; i++) { fs.writeSync(fd, chunk); filled += chunk.length; }
          fs.closeSync(fd);
        } catch { /* ENOSPC: full */ }
        await waitFor(async () => (await w.containers()).length === 1 && (await servedVersion(w.url)) === '1.0.0'
          && (await api.servers(w.name)).find((s) => s.port === w.ports[1])?.admin === 'maint', {
          what: 'the rollback with a full state dir', timeoutMs: 90_000, diagnostics: () => w.agent.output().slice(-3000) });
        const alive = await fetch(`http://127.0.0.1:${w.agent.port}/healthz`, { signal: AbortSignal.timeout(2000) }).then((r) => r.status, () => 0);
        const report = await load.stop();
        check(report.failed === 0, `${report.failed} request(s) failed`);
        check(w.agent.child.exitCode === null, `the agent exited (${w.agent.child.exitCode})`);
        const errors = w.agent.output().split('\n').filter((l) => /ENOSPC|no space/i.test(l)).length;
        return { ...loadNumbers(report), filledBytes: filled, agentHealthz: alive, logLinesNamingENOSPC: errors };
      });
  } finally {
    // lazily: a process that still has the directory open (the killed agent's last writes) must not fail the suite
    try { execFileSync('umount', ['-l', dir]); } catch { /* already */ }
    try { fs.rmSync(dir, { recursive: true, force: true }); } catch { /* left for the OS */ }
  }
}

/** Every scenario, in order (`npm run chaos`). */
/** The model-quality scenarios (bench/quality.bench.ts writes bench/results/quality.json from them). */
export const QUALITY_SCENARIOS: Array<{ name: string; run: (env: ChaosEnv) => Promise<ScenarioResult> }> = [
  { name: 'model quality: shuffled labels, quality gate', run: (e) => modelQuality(e, { version: '1.7.0', gate: 'quality' }) },
  { name: 'model quality: shuffled labels, readiness + error rate only (control)', run: (e) => modelQuality(e, { version: '1.7.0', gate: 'http-only' }) },
  { name: 'model quality: small drift, quality gate', run: (e) => modelQuality(e, { version: '1.8.0', gate: 'quality' }) },
  { name: 'relative gate: 6 % errors replacing 3 %, under a 10 % ceiling', run: (e) => relativeGate(e, { gate: 'relative' }) },
  { name: 'relative gate: the same push, absolute ceiling only (control)', run: (e) => relativeGate(e, { gate: 'absolute-only' }) },
];

export const ALL: Array<{ name: string; run: (env: ChaosEnv) => Promise<ScenarioResult> }> = [
  ...QUALITY_SCENARIOS,
  { name: 'healthy blue/green 0s', run: (e) => healthyUpdate(e, { proxy: true, version: '1.1.0' }) },
  { name: 'healthy blue/green 3s', run: (e) => healthyUpdate(e, { proxy: true, version: '1.2.0' }) },
  { name: 'healthy stop-then-start 0s', run: (e) => healthyUpdate(e, { proxy: false, version: '1.1.0' }) },
  { name: 'healthy stop-then-start 3s', run: (e) => healthyUpdate(e, { proxy: false, version: '1.2.0' }) },
  { name: 'never-ready blue/green', run: (e) => badVersion(e, { proxy: true, kind: 'never-ready' }) },
  { name: '10% errors blue/green', run: (e) => badVersion(e, { proxy: true, kind: 'errors-10pct' }) },
  { name: 'crash-on-start blue/green', run: (e) => badVersion(e, { proxy: true, kind: 'crash-on-start' }) },
  { name: 'never-ready stop-then-start', run: (e) => badVersion(e, { proxy: false, kind: 'never-ready' }) },
  { name: '10% errors stop-then-start', run: (e) => badVersion(e, { proxy: false, kind: 'errors-10pct' }) },
  { name: 'container SIGKILL 0s', run: (e) => containerKilled(e, { version: '1.0.0' }) },
  { name: 'container SIGKILL 3s', run: (e) => containerKilled(e, { version: '1.2.0' }) },
  { name: 'agent SIGKILL after create', run: (e) => agentKilled(e, { step: 'after-create' }) },
  { name: 'agent SIGKILL during gate', run: (e) => agentKilled(e, { step: 'during-gate' }) },
  { name: 'agent SIGKILL during switch', run: (e) => agentKilled(e, { step: 'during-switch' }) },
  { name: 'agent SIGKILL during rollback', run: (e) => agentKilled(e, { step: 'during-rollback' }) },
  { name: 'registry down during poll', run: (e) => registryFault(e, { fault: 'down', phase: 'poll' }) },
  { name: 'registry slow during poll', run: (e) => registryFault(e, { fault: 'slow', phase: 'poll' }) },
  { name: 'registry 429 during poll', run: (e) => registryFault(e, { fault: '429', phase: 'poll' }) },
  { name: 'registry down during pull', run: (e) => registryFault(e, { fault: 'down', phase: 'pull' }) },
  { name: 'registry slow during pull', run: (e) => registryFault(e, { fault: 'slow', phase: 'pull' }) },
  { name: 'registry 429 during pull', run: (e) => registryFault(e, { fault: '429', phase: 'pull' }) },
  { name: 'Prometheus unreachable during gate', run: (e) => prometheusDown(e) },
  { name: 'partition agent-registry', run: (e) => partition(e) },
  { name: 'state dir full during rollback', run: (e) => stateDirFull(e) },
  { name: 'crash after promotion, stop-then-start', run: (e) => crashAfterPromotion(e, { proxy: false }) },
  { name: 'crash after promotion, blue/green', run: (e) => crashAfterPromotion(e, { proxy: true }) },
  // the kill matrix: the agent SIGKILLed before each engine call of a rolled-back update (a call past the last one
  // runs without a kill; its row says so with killedBefore null)
  ...[false, true].flatMap((proxy) => Array.from({ length: proxy ? 18 : 14 }, (_, i) => ({
    name: `agent SIGKILL before engine call ${i + 1}, ${proxy ? 'blue/green' : 'stop-then-start'}`,
    run: (e: ChaosEnv) => killAtEngineCall(e, { proxy, call: i + 1 }),
  }))),
];
