/**
 * The README's benchmark tables are rendered from bench/results/*.json, never typed (#28). Each table sits between
 * `<!-- bench:<name> -->` and `<!-- /bench:<name> -->` markers; `npm run bench` re-renders them after a run, `npm run
 * readme` re-renders them from the stored results, and test/readme-figures.test.ts fails when the README differs
 * from the rendering (a result changed and the README did not, or someone edited a figure by hand).
 */
import * as fs from 'fs';
import * as path from 'path';
import { WATCHTOWER_POLL_SECONDS } from './peers-settings';

const RESULTS = path.join(__dirname, 'results');

/* eslint-disable @typescript-eslint/no-explicit-any -- the results are JSON written by the benches; each renderer reads its own shape */
type Json = any;

const int = (n: number): string => Math.round(n).toLocaleString('en-US');
const sec = (ms: number, digits = 1): string => (ms / 1000).toFixed(digits);
const range = (values: number[], f: (n: number) => string): string => {
  const lo = f(Math.min(...values));
  const hi = f(Math.max(...values));
  return lo === hi ? lo : `${lo}–${hi}`;
};

function synthRow(r: Json): string {
  const big = r.results.reduce((a: Json, b: Json) => (b.stacks > a.stacks ? b : a));
  const ratios = r.results.map((x: Json) => x.ratio as number);
  return `${big.stacks} model stacks (${big.objects} objects) synthesized + validated in ~${int(big.modelpilot.medianMs)} ms; ratio to plain `
    + `cdk8s-plus-28 ≤ ${r.target.maxRatio} (${range(ratios, (n) => n.toFixed(2))} in the last run)`;
}

function modelServerRow(r: Json): string {
  const s = r.results.single;
  return `~${int(Math.round(s.requestsPerSecond.mean / 100) * 100)} req/s on \`/predict\`, client p99 ${s.latencyMs.p99} ms `
    + `(${r.settings.connections} connections, ${r.settings.durationSeconds} s)`;
}

function alertingRow(r: Json): string {
  const s = r.settings;
  return `error onset → firing alert at the updater webhook ${r.timeToFireSeconds.toFixed(1)} s; recovery → resolved `
    + `${r.timeToResolveSeconds.toFixed(0)} s (${s.scrapeInterval} scrape, ${s.evaluationInterval} evaluation, ${s.sloWindow} window)`;
}

function agentRow(r: Json): string {
  const w = r.watched100;
  return `webhook push → new version serving ${sec(r.webhookPushToServing.medianMs, 2)} s; polling (${sec(r.pollingPushToServing.pollIntervalMs, 0)} s) `
    + `${sec(r.pollingPushToServing.medianMs, 1)} s; bad version → previous serving again ${sec(r.badVersionToPreviousServing.medianMs, 1)} s `
    + `(readiness timeout ${sec(r.badVersionToPreviousServing.readinessTimeoutMs, 0)} s); ${w.registryRequestsPerImagePerQuietPoll} registry request per `
    + `image per quiet poll; ${int(w.agentRssMb)} MB RSS (${int(w.agentPeakRssMb)} MB peak) watching ${w.images} images (medians of `
    + `${r.webhookPushToServing.runs.length})`;
}

function nodeRow(r: Json): string {
  const h = r.healthy as Json;
  const b = r.badVersion as Json;
  return 'the same push on a real node (kubelet + containerd, the updater as its pod, Prometheus gate, bake 15 s): push → new pods serving '
    + `${sec(h.pushToServingMs as number, 1)} s, promoted ${sec(h.pushToDecisionMs as number, 1)} s, ${int(h.failedRequests as number)} failed of `
    + `${int(h.requests as number)}; 10 %-errors version → previous serving again ${sec(b.pushToServingMs as number, 1)} s, `
    + `${int(b.failedRequests as number)} failed of ${int(b.requests as number)}; ${int(h.apiRequests as number)} / ${int(b.apiRequests as number)} API requests `
    + `per update / rollback; updater ${int(r.updaterRssMiB as number)} MiB RSS (one run; docs/cluster.md)`;
}

function pulumiRow(r: Json): string {
  const m = Object.values(r.median) as Json[];
  const creates = r.runs.map((x: Json) => x.creates as number);
  return `real engine + Kubernetes provider on the test control plane: first \`pulumi up\` ${range(m.map((x) => x.firstUpMs), (n) => sec(n))} s per `
    + `environment (${range(creates, String)} creates), no-op \`pulumi up\` ${range(m.map((x) => x.noopUpMs), (n) => sec(n))} s, destroy `
    + `${range(m.map((x) => x.destroyMs), (n) => sec(n))} s (medians of ${r.runs.length / m.length} per environment); peak `
    + `${int(Math.max(...m.map((x) => x.peakTotalMiB)))} MiB over program host, engine and provider`;
}

function validateRow(r: Json): string {
  const runs = r.runs as Json[];
  const each = (f: (x: Json) => string): string => runs.map(f).join(' / ');
  return `\`modelpilot validate\` on a ${each((x) => int(x.megabytes))} MB file (the demo in ${each((x) => int(x.copies))} namespaces): streamed `
    + `${each((x) => int(x.streaming.maxRssMiB))} MiB peak RSS, ${each((x) => sec(x.streaming.ms))} s, against `
    + `${each((x) => int(x.wholeFile.maxRssMiB))} MiB and ${each((x) => sec(x.wholeFile.ms))} s for whole-file parsing (the peer, same run)`;
}

function deliveryRow(r: Json): string {
  const controller = /rollouts-controller (v[\d.]+)/.exec(r.setup)?.[1] ?? '?';
  const analysis = /(\d+) measurements every (\d+)s/.exec(r.setup);
  const m = r.median;
  return `a real canary (Argo Rollouts controller ${controller}, live Prometheus, the updater) on the test control plane, analysis `
    + `${analysis ? `${analysis[1]} × ${analysis[2]} s` : '?'}: healthy version promoted ${sec(m.healthyPromotionMs)} s after the updater's patch, `
    + `40 % errors aborted and restored in ${sec(m.errorsAbortMs)} s, idle aborted after \`maxIdle\` in ${sec(m.idleAbortMs)} s `
    + `(medians of ${r.runs.length})`;
}

function packageRow(b: Json): string {
  const a = b.installLinesByAudience;
  return `packed files ${b.before.packedFiles} → ${b.after.packedFiles}; a cdk8s-only install ${b.before.cdk8sOnlyInstallMB} → `
    + `${b.after.cdk8sOnlyInstallMB} MB; the agent image's node_modules ${b.before.agentImageNodeModulesMB} → ${b.after.agentImageNodeModulesMB} MB; `
    + `the README's install lines: cdk8s repo ${a.cdk8s.installMB} MB, Pulumi repo ${a.pulumi.installMB} MB, agent only ${a.agent.installMB} MB`;
}

function chaosRow(c: Json): string {
  const scenarios = c.scenarios as Json[];
  const held = scenarios.filter((s) => s.held).length;
  const bg = scenarios.filter((s) => String(s.variant).startsWith('blue-green'));
  const bgFailed = bg.reduce((n, s) => n + (s.numbers.failedRequests as number), 0);
  const kills = scenarios.filter((s) => s.scenario === 'kill-at-engine-call').length;
  return `${scenarios.length} failure scenarios on one Docker host, ${held === scenarios.length ? 'every invariant held' : `${held} invariants held`} in `
    + `one run${c.agent ? ` (${c.agent})` : ''}; blue/green behind HAProxy: ${int(bgFailed)} failed requests over its ${bg.length} scenarios (healthy update, `
    + 'never-ready / 10 %-errors / crash-on-start versions, agent kills); the agent SIGKILLed at four steps'
    + `${kills ? ` and before each of its engine calls (${kills} kills, the kill matrix)` : ''}, registry down/slow/429, partition, Prometheus gone, `
    + 'full state disk, crashes after promotion — details below';
}

function qualityRow(q: Json): string {
  const rows = (q.scenarios as Json[]).map((s) => {
    const n = s.numbers as Json;
    return `${String(s.variant)}: ${String(n.outcome)} in ${sec(n.pushToVerdictMs as number)} s, ${int(n.failedRequests as number)} failed of ${int(n.requests as number)}`;
  });
  return `each push under load behind HAProxy on the real single-host world — ${rows.join('; ')} (${(q.scenarios as Json[]).every((s) => s.held) ? 'every invariant held' : 'NOT every invariant held'}; docs/quality.md)`;
}

const SUMMARY: Array<{ name: string; file?: string; label?: string; render: (r: Json) => string }> = [
  { name: 'synth', render: synthRow },
  { name: 'model-server', render: modelServerRow },
  { name: 'alerting', render: alertingRow },
  { name: 'agent', render: agentRow },
  { name: 'node', render: nodeRow },
  { name: 'quality', render: qualityRow },
  { name: 'registry', label: '`registry`, `kubernetes`', render: () => 'request counts per poll / update, rollout detection by watch vs polling' },
  { name: 'pulumi', render: pulumiRow },
  { name: 'validate', render: validateRow },
  { name: 'delivery', render: deliveryRow },
  { name: 'package', render: packageRow },
  { name: 'chaos', label: '`chaos` (`npm run chaos`)', render: chaosRow },
  { name: 'single-host-peers', render: () => 'modelpilot and Watchtower side by side on the same podman and registry — table below' },
];

export function renderSummary(read: (name: string) => Json): string {
  const rows = SUMMARY.map((b) => `| ${b.label ?? `\`${b.name}\``} | ${b.render(b.render.length ? read(b.name) : undefined)} |`);
  return ['| benchmark | result |', '|---|---|', ...rows].join('\n');
}

// ---- modelpilot and Watchtower side by side ----

const PEER_TOOL: Record<string, string> = {
  'modelpilot (blue/green, HAProxy)': 'modelpilot, blue/green behind HAProxy',
  'modelpilot (stop-then-start)': 'modelpilot, no proxy (stop-then-start)',
  'watchtower v1.7.1': 'Watchtower v1.7.1 as it is',
};

function peerTrigger(t: string): string {
  if (t === 'http-api') return 'HTTP API';
  if (t === 'poll') return `poll (${WATCHTOWER_POLL_SECONDS} s)`;
  return t;
}

function peerOutcome(row: Json): string {
  const o = String(row.outcome);
  const restarts = /restarts (\d+)/.exec(o)?.[1];
  if (o.startsWith('updated; the old container removed')) return 'promoted after the gate; old container drained, then removed';
  if (o.startsWith('rolled back:') && /prometheus-slo: Unhealthy/.test(o)) {
    return 'the model answered 503 while loading on the only port; its own error ratio failed the gate: rolled back';
  }
  if (o.startsWith('rolled back and quarantined')) {
    return /readiness: Healthy/.test(o) ? 'the Prometheus gate caught it (HAProxy replayed its failures on the old version): rolled back, quarantined'
      : 'never ready, never in rotation: rolled back, quarantined';
  }
  if (o.startsWith('stopped and removed the old container')) {
    return 'stopped and removed the old container, then podman refused to create the new one under `/<name>`: nothing serving';
  }
  if (o.startsWith('updated to')) return row.trigger === 'poll' ? 'updated' : 'updated (stop, then start: the gap is the model load)';
  if (o.startsWith('kept')) {
    return /serving nothing/.test(o) ? `kept it: ${restarts} restarts, nothing serving` : `kept it: users' error ratio afterwards ${row.errorRatioAfter}`;
  }
  return o;
}

export function renderPeers(r: Json): string {
  const gap = (row: Json): string => (row.longestGapMs > 30_000 ? `${sec(row.longestGapMs)} s (to the end of the run)` : `${sec(row.longestGapMs, 2)} s`);
  const rows = (r.rows as Json[]).map((row) => {
    const tool = PEER_TOOL[row.tool] ?? String(row.tool).replace(/^watchtower/, 'Watchtower');
    const kase = row.case === '10 % HTTP 500' ? 'ready, 10 % HTTP 500' : row.case;
    const serving = row.pushToServingMs === null ? (String(row.tool).startsWith('modelpilot') ? '—' : 'never') : `${sec(row.pushToServingMs, 2)} s`;
    return `| ${tool} | ${kase} | ${peerTrigger(row.trigger)} | ${serving} | ${int(row.failedRequests)} of ${int(row.requests)} | ${gap(row)} | ${peerOutcome(row)} |`;
  });
  return ['| tool | version pushed | trigger | push → serving | failed requests | longest gap | what happened |', '|---|---|---|---|---|---|---|', ...rows]
    .join('\n');
}

// ---- the chaos suite ----

export function renderChaos(c: Json): string {
  const by = (scenario: string, variant: string): Json => {
    const s = (c.scenarios as Json[]).find((x) => x.scenario === scenario && x.variant === variant);
    if (!s) throw new Error(`bench/results/chaos.json has no ${scenario}/${variant}`);
    return s.numbers;
  };
  const group = (scenario: string): Json[] => (c.scenarios as Json[]).filter((x) => x.scenario === scenario).map((x) => x.numbers);
  const failed = (n: Json): string => int(n.failedRequests);
  const of = (n: Json): string => `${failed(n)} of ${int(n.requests)}`;
  const gapMax = (ns: Json[]): string => `≤ ${sec(Math.max(...ns.map((n) => n.longestGapMs)), 2)} s`;
  const allZero = (ns: Json[]): string => (ns.every((n) => n.failedRequests === 0) ? '0 each' : ns.map(failed).join(' / '));
  const h0 = by('healthy-update-under-load', 'blue-green-load-0s');
  const h3 = by('healthy-update-under-load', 'blue-green-load-3s');
  const s0 = by('healthy-update-under-load', 'stop-then-start-load-0s');
  const s3 = by('healthy-update-under-load', 'stop-then-start-load-3s');
  const nr = by('bad-version-under-load', 'blue-green-never-ready');
  const er = by('bad-version-under-load', 'blue-green-errors-10pct');
  const cr = by('bad-version-under-load', 'blue-green-crash-on-start');
  const snr = by('bad-version-under-load', 'stop-then-start-never-ready');
  const ser = by('bad-version-under-load', 'stop-then-start-errors-10pct');
  const k0 = by('model-container-sigkill', 'restart-no-load-0s');
  const k3 = by('model-container-sigkill', 'restart-no-load-3s');
  const agent = group('agent-sigkill');
  const registry = group('registry-fault');
  const prom = by('prometheus-unreachable', 'during-gate');
  const part = by('partition-agent-registry', 'blackhole-with-push');
  const disk = by('state-dir-full', 'tmpfs-during-rollback');
  const ms = (n: number): string => (n < 10 ? n.toFixed(1) : int(n));
  const rows = [
    `| healthy update, blue/green, load 0 s / 3 s | ${of(h0)} / ${of(h3)} | ${sec(h0.longestGapMs, 2)} s / ${sec(h3.longestGapMs, 2)} s | push → serving `
      + `${sec(h0.pushToServingMs, 2)} s / ${sec(h3.pushToServingMs, 2)} s (targets ${sec(h0.pushToServingTargetMs, 2)} s / ${sec(h3.pushToServingTargetMs, 2)} s); `
      + `p99 during the switch ${ms(h0.p99DuringSwitchMs)} / ${ms(h3.p99DuringSwitchMs)} ms |`,
    `| healthy update, stop-then-start (no proxy), load 0 s / 3 s | ${of(s0)} / ${of(s3)} | ${sec(s0.longestGapMs, 2)} s / ${sec(s3.longestGapMs, 2)} s | `
      + `0 s: push → serving ${sec(s0.pushToServingMs, 2)} s, p99 during the switch ${ms(s0.p99DuringSwitchMs)} ms; 3 s: `
      + `${s3.pushToServingMs == null ? 'the gate saw the version\'s own loading 503s and rolled it back' : `push → serving ${sec(s3.pushToServingMs, 2)} s`} |`,
    `| never ready / 10 % HTTP 500 / crashes on start, blue/green | ${[nr, er, cr].map(failed).join(' / ')} | ${gapMax([nr, er, cr])} | push → rolled back `
      + `${sec(nr.pushToRolledBackMs)} s (readiness timeout ${/within (\d+)s/.exec(String(nr.verdict))?.[1] ?? '?'} s) / ${sec(er.pushToRolledBackMs)} s (Prometheus gate) / ${sec(cr.pushToRolledBackMs)} s |`,
    `| never ready / 10 % HTTP 500, stop-then-start | ${failed(snr)} / ${failed(ser)} | ${sec(snr.longestGapMs, 2)} s / ${sec(ser.longestGapMs, 2)} s | `
      + `push → rolled back ${sec(snr.pushToRolledBackMs)} s / ${sec(ser.pushToRolledBackMs)} s |`,
    `| model container SIGKILLed, restart policy \`no\`, load 0 s / 3 s | ${failed(k0)} / ${failed(k3)} (no proxy, one container) | `
      + `${sec(k0.longestGapMs, 2)} s / ${sec(k3.longestGapMs, 2)} s | killed → serving ${sec(k0.killedToServingMs, 2)} s / ${sec(k3.killedToServingMs, 2)} s `
      + `(targets ${sec(k0.targetMs, 0)} s / ${sec(k3.targetMs, 0)} s) |`,
    `| agent SIGKILLed after create / during the gate / during the switch / during the rollback | ${allZero(agent)} | ${gapMax(agent)} | restarted agent `
      + `settled in ${range(agent.map((n) => n.killToSettledMs), (n) => sec(n))} s; never neither version answering |`,
    `| registry down / slow / 429, during the poll and during the pull | ${allZero(registry)} | ${gapMax(registry)} | registry back → promoted `
      + `${range(registry.map((n) => n.healedToPromotedMs), (n) => sec(n))} s; no version quarantined |`,
    `| Prometheus unreachable during the gate | ${failed(prom)} | ${sec(prom.longestGapMs, 2)} s | inconclusive → rolled back (never promoted on no evidence) |`,
    `| partition agent ↔ registry (blackhole) with a push | ${failed(part)} | ${sec(part.longestGapMs, 2)} s | agent /healthz ${part.healthzDuringPartition} `
      + `throughout; healed → promoted ${sec(part.healedToPromotedMs)} s |`,
    `| state directory full (${int(disk.filledBytes / 1024)} kB tmpfs) during a rollback | ${failed(disk)} | ${sec(disk.longestGapMs, 2)} s | rolled back, the `
      + `previous version serving; the agent reports itself degraded (/healthz ${disk.agentHealthz}) |`,
  ];
  const held = (c.scenarios as Json[]).every((s) => s.held);
  return [`The chaos suite (bench/results/chaos.json, one run of ${int(c.durationSeconds)} s, ${held ? `all ${c.scenarios.length} invariants held`
    : 'SOME INVARIANTS VIOLATED'}):`, '', '| scenario | failed requests | longest gap | time |', '|---|---|---|---|', ...rows, ''].join('\n').trimEnd();
}

export const TABLES: Record<string, (read: (name: string) => Json) => string> = {
  summary: renderSummary,
  peers: (read) => renderPeers(read('single-host-peers')),
  chaos: (read) => renderChaos(read('chaos')),
};

export function readResult(name: string, dir = RESULTS): Json {
  return JSON.parse(fs.readFileSync(path.join(dir, `${name}.json`), 'utf8'));
}

/** The README with every `<!-- bench:x -->` section replaced by its rendering. Throws on a missing marker. */
export function renderReadme(readme: string, read: (name: string) => Json = (n) => readResult(n)): string {
  let out = readme;
  for (const [name, render] of Object.entries(TABLES)) {
    const open = `<!-- bench:${name} -->`;
    const close = `<!-- /bench:${name} -->`;
    const a = out.indexOf(open);
    const b = out.indexOf(close);
    if (a < 0 || b < a) throw new Error(`README.md: no ${open} … ${close} section`);
    out = `${out.slice(0, a + open.length)}\n${render(read)}\n${out.slice(b)}`;
  }
  return out;
}

/** Renders the README's benchmark tables from bench/results in place. */
export function writeReadme(): void {
  const file = path.join(__dirname, '..', 'README.md');
  const before = fs.readFileSync(file, 'utf8');
  const after = renderReadme(before);
  if (after !== before) fs.writeFileSync(file, after);
  process.stdout.write(`README.md: benchmark tables ${after === before ? 'already current' : 'rendered'} from bench/results\n`);
}

if (require.main === module) writeReadme();
