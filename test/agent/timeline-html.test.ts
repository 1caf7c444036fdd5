/**
 * The timeline page's model (fast tier; the page runs in Chromium in timeline.integration.test.ts): which version
 * was served when, and nothing from the log reaches the page unescaped.
 */
import type { AuditEntry } from '../../agent/state/audit';
import { renderTimelineHtml, servedSegments } from '../../agent/state/timeline-html';

const e = (time: string, event: AuditEntry['event'], extra: Partial<AuditEntry> = {}): AuditEntry => ({ time: `2026-01-01T00:0${time}:00.000Z`, event, target: 'docker/a', result: 'ok', ...extra });
const R = 'r.example/m';

test('served versions: every version that served, however briefly — a bad version\'s time in production is drawn as failed (#28)', () => {
  const log = [
    e('0', 'planned', { from: `${R}:1.0.0`, to: `${R}:1.1.0@sha256:${'a'.repeat(64)}` }),
    e('1', 'promoted', { from: `${R}:1.0.0`, to: `${R}:1.1.0@sha256:${'a'.repeat(64)}` }),
    e('2', 'apply', { from: `${R}:1.1.0`, to: `${R}:1.2.0`, result: 'started' }),
    e('3', 'rolled-back', { from: `${R}:1.2.0`, to: `${R}:1.1.0` }),
    e('4', 'promoted', { to: `${R}:1.3.0` }),
  ];
  const end = Date.parse('2026-01-01T00:09:00Z');
  expect(servedSegments(log, end).map((s) => [s.version, new Date(s.from).getUTCMinutes(), new Date(s.to).getUTCMinutes(), s.state])).toEqual([
    ['1.0.0', 0, 1, 'served'], ['1.1.0', 1, 2, 'proven'], ['1.2.0', 2, 3, 'failed'], ['1.1.0', 3, 4, 'served'], ['1.3.0', 4, 9, 'proven'],
  ]);
});

test('a switch that never completed (apply-failed, reverted) draws nothing for the version; one on trial at the end stays on trial', () => {
  const log = [
    e('0', 'apply', { from: `${R}:1.0.0`, to: `${R}:1.1.0`, result: 'started' }),
    e('1', 'apply-failed', { from: `${R}:1.0.0`, to: `${R}:1.1.0`, result: 'failed' }),
    e('2', 'apply', { from: `${R}:1.0.0`, to: `${R}:1.2.0`, result: 'started' }),
  ];
  const end = Date.parse('2026-01-01T00:05:00Z');
  expect(servedSegments(log, end).map((s) => [s.version, new Date(s.from).getUTCMinutes(), new Date(s.to).getUTCMinutes(), s.state])).toEqual([
    ['1.0.0', 0, 2, 'served'], ['1.2.0', 2, 5, 'trial'],
  ]);
});

test('a version that never got ready never served: no interval for it, the previous one runs on; its markers stay', () => {
  const log = [
    e('0', 'promoted', { from: `${R}:1.0.0`, to: `${R}:1.1.0` }),
    e('1', 'apply', { from: `${R}:1.1.0`, to: `${R}:1.2.0`, result: 'started' }),
    e('2', 'verify', { from: `${R}:1.1.0`, to: `${R}:1.2.0`, result: 'rollback', reason: 'readiness: Unhealthy (not ready within 20s)' }),
    e('3', 'quarantined', { to: `${R}:1.2.0` }),
    e('3', 'rolled-back', { from: `${R}:1.2.0`, to: `${R}:1.1.0` }),
  ];
  const end = Date.parse('2026-01-01T00:05:00Z');
  expect(servedSegments(log, end).map((s) => [s.version, new Date(s.from).getUTCMinutes(), new Date(s.to).getUTCMinutes(), s.state])).toEqual([
    ['1.1.0', 0, 5, 'proven'],
  ]);
  const html = renderTimelineHtml(log, { generatedAt: new Date(0) });
  expect(html).toContain('class="mark m-rolled-back"');
  expect(html).toContain('class="mark m-quarantined"');
});

test('rows of rollbacks and quarantines read as failures although their result is ok; the page shows the log\'s file name, not its host path', () => {
  const html = renderTimelineHtml([
    e('0', 'rolled-back', { from: `${R}:1.2.0`, to: `${R}:1.1.0` }), e('1', 'quarantined', { to: `${R}:1.2.0` }), e('2', 'promoted', { to: `${R}:1.1.0` }),
  ], { generatedAt: new Date(0), source: '/var/lib/modelpilot/secret-host-dir/audit.jsonl' });
  expect(html).toContain('<tr class="event ev-rolled-back bad"');
  expect(html).toContain('<tr class="event ev-quarantined bad"');
  expect(html).toContain('<tr class="event ev-promoted"');
  expect(html).toContain('from audit.jsonl');
  expect(html).not.toContain('secret-host-dir');
});

test('the page escapes what the log holds and allows no network request', () => {
  const html = renderTimelineHtml([e('0', 'refused', { reason: '<script>alert(1)</script> "x"', to: `${R}:1.0.0` })], { generatedAt: new Date(0) });
  expect(html).not.toContain('<script>alert(1)');
  expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt; &quot;x&quot;');
  expect(html).toContain("default-src 'none'");
  expect(html).not.toMatch(/(src|href)="https?:/);
});
