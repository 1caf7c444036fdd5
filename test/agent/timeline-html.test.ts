/**
 * The timeline page's model (fast tier; the page runs in Chromium in timeline.integration.test.ts): which version
 * was served when, and nothing from the log reaches the page unescaped.
 */
import type { AuditEntry } from '../../agent/state/audit';
import { renderTimelineHtml, servedSegments } from '../../agent/state/timeline-html';

const e = (time: string, event: AuditEntry['event'], extra: Partial<AuditEntry> = {}): AuditEntry => ({ time: `2026-01-01T00:0${time}:00.000Z`, event, target: 'docker/a', result: 'ok', ...extra });
const R = 'r.example/m';

test('served versions: from the first update\'s "from", then each promotion and each rollback', () => {
  const log = [
    e('0', 'planned', { from: `${R}:1.0.0`, to: `${R}:1.1.0@sha256:${'a'.repeat(64)}` }),
    e('1', 'promoted', { from: `${R}:1.0.0`, to: `${R}:1.1.0@sha256:${'a'.repeat(64)}` }),
    e('2', 'apply', { from: `${R}:1.1.0`, to: `${R}:1.2.0`, result: 'started' }),
    e('3', 'rolled-back', { from: `${R}:1.2.0`, to: `${R}:1.1.0` }),
    e('4', 'promoted', { to: `${R}:1.3.0` }),
  ];
  const end = Date.parse('2026-01-01T00:09:00Z');
  expect(servedSegments(log, end).map((s) => [s.version, new Date(s.from).getUTCMinutes(), new Date(s.to).getUTCMinutes()])).toEqual([
    ['1.0.0', 0, 1], ['1.1.0', 1, 4], ['1.3.0', 4, 9],
  ]);
});

test('the page escapes what the log holds and allows no network request', () => {
  const html = renderTimelineHtml([e('0', 'refused', { reason: '<script>alert(1)</script> "x"', to: `${R}:1.0.0` })], { generatedAt: new Date(0) });
  expect(html).not.toContain('<script>alert(1)');
  expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt; &quot;x&quot;');
  expect(html).toContain("default-src 'none'");
  expect(html).not.toMatch(/(src|href)="https?:/);
});
