/**
 * The audit log as a page people can look at (`modelpilot history --html out.html`): per workload, a time axis of
 * the versions served (from promotions and rollbacks), markers for rollbacks, quarantines, holds and refusals, and
 * every entry with its gate verdict and the SLO values that decided it; filters by workload, event and text.
 * One self-contained file: inline CSS and script, a Content-Security-Policy that allows no network request.
 */
import type { AuditEntry } from './audit';

/** Events drawn as markers on a workload's time axis. */
const MARKERS = new Set(['rolled-back', 'quarantined', 'hold', 'refused', 'failed', 'rollback-failed', 'restarted', 'available',
  'apply-failed', 'aborted', 'skipped', 'promoted']);

/** Events that report something going wrong: their rows read as failures whatever their `result` (a rollback that worked is `ok`). */
const FAILURE_EVENTS = new Set(['rolled-back', 'quarantined', 'apply-failed', 'rollback-failed', 'restart-failed', 'failed', 'aborted', 'reverted',
  'refused', 'blocked', 'skipped']);

/** Escapes text for HTML content and attribute values. */
function esc(text: unknown): string {
  return String(text ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]!));
}

/** `repo:1.2.0@sha256:…` → `1.2.0`. */
function versionOf(image: string | undefined): string | undefined {
  if (!image) return undefined;
  const noDigest = image.split('@')[0];
  const colon = noDigest.lastIndexOf(':');
  return colon > noDigest.lastIndexOf('/') ? noDigest.slice(colon + 1) : image.includes('@') ? image.split('@')[1].slice(0, 19) : noDigest;
}

/**
 * How a served interval ended or stands: `served` (running, no verdict in the log: the first version, one rolled back
 * to), `trial` (applied, not yet proven), `proven` (promoted), `failed` (rolled back: a bad version's time in
 * production, however short). A version that never got ready never served (readiness keeps it out of rotation): it
 * gets no interval, only its markers; `never-ready` is the state of such an interval until its rollback removes it.
 */
export type SegmentState = 'served' | 'trial' | 'proven' | 'failed' | 'never-ready';

/** Intervals of the version a workload served, from what the audit log proves (applies, promotions, rollbacks, recoveries). */
export interface ServedSegment { version: string; from: number; to: number; state: SegmentState }

export function servedSegments(entries: readonly AuditEntry[], end: number): ServedSegment[] {
  const segs: ServedSegment[] = [];
  const open = (version: string | undefined, at: number, state: SegmentState) => {
    if (!version) return;
    const last = segs[segs.length - 1];
    if (last && last.version === version && last.to === end) {
      if (state !== 'served') last.state = state;
      return;
    }
    if (last && last.to === end) last.to = at;
    segs.push({ version, from: at, to: end, state });
  };
  for (const e of entries) {
    const at = Date.parse(e.time);
    if (segs.length === 0 && e.from && (e.event === 'apply' || e.event === 'planned')) open(versionOf(e.from), at, 'served');
    const last = segs[segs.length - 1];
    if (e.event === 'apply' && e.result === 'started') {
      open(versionOf(e.to), at, 'trial');
    } else if (e.event === 'verify' && e.result === 'rollback' && /^readiness: (?!Healthy)/.test(e.reason ?? '') && last?.state === 'trial' && last.to === end) {
      // never ready: readiness keeps a version out of rotation (HAProxy, a Service), so it never served a request
      last.state = 'never-ready';
    } else if (last?.to === end && neverServed(e, last)) {
      // the switch never completed, or the version never got ready: it did not serve; the one before it never stopped
      segs.pop();
      if (segs.length) segs[segs.length - 1].to = end;
    } else if (e.event === 'promoted' || (e.event === 'recovered' && e.result === 'ok')) {
      open(versionOf(e.to), at, e.event === 'promoted' ? 'proven' : 'served');
    } else if ((e.event === 'rolled-back' || e.event === 'aborted') && e.result === 'ok') {
      if (last && last.to === end && last.version !== versionOf(e.to)) last.state = 'failed';
      open(versionOf(e.to ?? e.from), at, 'served');
    } else if (e.event === 'pinned' && e.to) {
      open(versionOf(e.to), at, 'served');
    }
  }
  return segs;
}

/**
 * Whether `e` ends the open interval `last` as one that never served: a switch that never completed (apply-failed,
 * reverted, while on trial), or the rollback of a version that never got ready.
 */
function neverServed(e: AuditEntry, last: ServedSegment): boolean {
  if (e.event === 'rolled-back') return last.state === 'never-ready' && last.version === versionOf(e.from);
  if (e.event === 'apply-failed' || e.event === 'reverted') return (last.state === 'trial' || last.state === 'never-ready') && last.version === versionOf(e.to);
  return false;
}

export interface TimelineOptions {
  readonly title?: string;
  /** When the page was made (shown; defaults to now). */
  readonly generatedAt?: Date;
  /** The audit log it was made from (its file name is shown, never the host path). */
  readonly source?: string;
}

const SEGMENT_TITLE: Record<SegmentState, string> = {
  served: 'served', trial: 'on trial, not yet proven', proven: 'promoted', failed: 'rolled back', 'never-ready': 'never ready, not served',
};

/** Renders the whole page. */
export function renderTimelineHtml(entries: readonly AuditEntry[], o: TimelineOptions = {}): string {
  const times = entries.map((e) => Date.parse(e.time)).filter((t) => !Number.isNaN(t));
  const start = times.length ? Math.min(...times) : 0;
  const end = times.length ? Math.max(...times) : 1;
  const span = Math.max(1, end - start);
  const pct = (t: number) => (((t - start) / span) * 100).toFixed(3);
  const targets = [...new Set(entries.map((e) => e.target))].sort();
  const events = [...new Set(entries.map((e) => e.event))].sort();
  const sections = targets.map((target) => {
    const mine = entries.filter((e) => e.target === target);
    const segs = servedSegments(mine, end).map((s) => `<div class="seg s-${s.state}" data-version="${esc(s.version)}" data-state="${s.state}" `
      + `title="${esc(s.version)} (${SEGMENT_TITLE[s.state]}): ${esc(new Date(s.from).toISOString())} → ${esc(new Date(s.to).toISOString())}" `
      + `style="left:${pct(s.from)}%;width:${Math.max(0.5, Number(pct(s.to)) - Number(pct(s.from))).toFixed(3)}%">${esc(s.version)}${s.state === 'failed' ? ' ✕' : ''}</div>`).join('');
    const marks = mine.filter((e) => MARKERS.has(e.event)).map((e) => `<div class="mark m-${esc(e.event)}" data-event="${esc(e.event)}" title="${esc(e.time)} ${esc(e.event)}: ${esc(e.reason)}" style="left:${pct(Date.parse(e.time))}%"></div>`).join('');
    return `<section class="workload" data-target="${esc(target)}"><h2>${esc(target)}${mine[0]?.model ? ` <small>model ${esc(mine[0].model)}</small>` : ''}</h2>`
      + `<div class="axis" aria-label="versions served">${segs}${marks}</div></section>`;
  }).join('\n');
  const rows = entries.map((e, i) => {
    const evidence = e.evidence ? Object.entries(e.evidence).map(([k, v]) => `<span class="kv">${esc(k)}=${esc(Number.isInteger(v) ? v : v.toPrecision(4))}</span>`).join(' ') : '';
    const change = e.from || e.to ? `${esc(versionOf(e.from) ?? '')}${e.from && e.to ? ' → ' : ''}${esc(versionOf(e.to) ?? '')}` : '';
    return `<tr class="event ev-${esc(e.event)}${FAILURE_EVENTS.has(e.event) ? ' bad' : ''}" id="e${i}" data-event="${esc(e.event)}" data-target="${esc(e.target)}" data-result="${esc(e.result)}">`
      + `<td class="t">${esc(e.time)}</td><td>${esc(e.target)}</td><td class="ev">${esc(e.event)}</td><td>${change}</td>`
      + `<td class="r r-${esc(e.result)}">${esc(e.result)}</td><td>${esc(e.trigger ?? '')}</td><td class="why">${esc(e.reason ?? '')}${evidence ? `<div class="evidence">${evidence}</div>` : ''}</td></tr>`;
  }).join('\n');
  const title = o.title ?? 'modelpilot rollout timeline';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#1d2330}
h1{font-size:1.4em;margin:0 0 .2em}h2{font-size:1.05em;margin:1em 0 .3em}small{color:#667;font-weight:normal}
.meta{color:#667;margin-bottom:1em}
.filters{display:flex;gap:1em;flex-wrap:wrap;align-items:center;padding:.6em;background:#f3f5f9;border-radius:6px}
.filters label{white-space:nowrap}
.axis{position:relative;height:34px;background:#eef1f6;border-radius:4px;margin-bottom:.5em}
.seg{position:absolute;top:4px;height:26px;background:#4a7bd0;color:#fff;font-size:12px;line-height:26px;overflow:hidden;text-indent:4px;border-right:2px solid #fff;box-sizing:border-box}
.mark{position:absolute;top:0;width:4px;height:34px;margin-left:-2px;background:#999}
.m-rolled-back,.m-rollback-failed,.m-failed{background:#d0342c}.m-quarantined{background:#8a2be2}.m-hold{background:#e69500}.m-refused{background:#222}.m-available{background:#2a9d8f}
table{border-collapse:collapse;width:100%;margin-top:1em}th,td{text-align:left;padding:4px 6px;border-bottom:1px solid #e3e6ec;vertical-align:top}
th{background:#f3f5f9;position:sticky;top:0}.t{white-space:nowrap;font-family:monospace;font-size:12px}
.r-ok,.r-healthy,.r-promote{color:#18794e}.r-failed,.r-rollback,.r-unhealthy{color:#d0342c;font-weight:600}
tr.bad td.ev,tr.bad td.r{color:#d0342c;font-weight:600}tr.bad{background:#fff4f3}
.s-trial{background:repeating-linear-gradient(135deg,#4a7bd0 0 6px,#7fa3e0 6px 12px)}.s-failed{background:repeating-linear-gradient(135deg,#d0342c 0 6px,#e8766f 6px 12px)}
.s-served{background:#6d87b3}.m-promoted{background:#18794e}.m-apply-failed,.m-aborted{background:#d0342c}.m-skipped{background:#555}
.evidence{font-family:monospace;font-size:12px;color:#445}.kv{margin-right:.8em}
tr.hidden,section.hidden{display:none}
</style></head>
<body>
<h1>${esc(title)}</h1>
<div class="meta">${entries.length} entries, ${targets.length} workload(s), ${esc(times.length ? new Date(start).toISOString() : '-')} → ${esc(times.length ? new Date(end).toISOString() : '-')}${o.source ? ` · from ${esc(o.source.split('/').pop())}` : ''} · made ${esc((o.generatedAt ?? new Date()).toISOString())}</div>
<form class="filters" id="filters" onsubmit="return false">
<label>workload <select id="f-target"><option value="">all</option>${targets.map((t) => `<option value="${esc(t)}">${esc(t)}</option>`).join('')}</select></label>
<span>events ${events.map((ev) => `<label><input type="checkbox" class="f-event" value="${esc(ev)}" checked> ${esc(ev)}</label>`).join(' ')}</span>
<label>text <input type="search" id="f-text" placeholder="version, reason …"></label>
<span id="shown"></span>
</form>
${sections}
<table><thead><tr><th>time</th><th>workload</th><th>event</th><th>version</th><th>result</th><th>trigger</th><th>why / SLO values</th></tr></thead>
<tbody>
${rows}
</tbody></table>
<script>
(function(){
  var rows=[].slice.call(document.querySelectorAll('tr.event'));
  var secs=[].slice.call(document.querySelectorAll('section.workload'));
  function apply(){
    var t=document.getElementById('f-target').value;
    var on={};[].forEach.call(document.querySelectorAll('.f-event'),function(c){on[c.value]=c.checked;});
    var q=document.getElementById('f-text').value.toLowerCase();
    var n=0;
    rows.forEach(function(r){var show=(!t||r.dataset.target===t)&&on[r.dataset.event]&&(!q||r.textContent.toLowerCase().indexOf(q)>=0);r.classList.toggle('hidden',!show);if(show)n++;});
    secs.forEach(function(s){s.classList.toggle('hidden',!!t&&s.dataset.target!==t);});
    document.getElementById('shown').textContent=n+' of '+rows.length+' shown';
  }
  document.getElementById('filters').addEventListener('input',apply);
  document.getElementById('filters').addEventListener('change',apply);
  apply();
})();
</script>
</body></html>
`;
}
