import * as fs from 'fs';
import * as path from 'path';
import { AuditLog, formatTimeline, readAudit } from '../../agent/state/audit';
import { run } from '../../bin/commands/history';
import { capture, tmpDir } from './fakes';

const R = '127.0.0.1:5000/models/recsys';

function sampleLog(): AuditLog {
  let t = Date.parse('2026-01-01T10:00:00Z');
  const log = new AuditLog(path.join(tmpDir(), 'audit.jsonl'), () => new Date((t += 1000)));
  log.append({ event: 'apply', target: 'docker/recsys', model: 'recsys', from: `${R}:1.0.0`, to: `${R}:1.1.0@sha256:${'a'.repeat(64)}`, trigger: 'poll', attempt: 1, result: 'started' });
  log.append({ event: 'promoted', target: 'docker/recsys', model: 'recsys', from: `${R}:1.0.0`, to: `${R}:1.1.0@sha256:${'a'.repeat(64)}`, trigger: 'poll', result: 'ok', reason: 'SLO met' });
  log.append({ event: 'rolled-back', target: 'docker/other', model: 'other', from: `${R}:1.2.0`, to: `${R}:1.1.0`, trigger: 'webhook:registry', attempt: 2, result: 'ok', reason: 'not ready' });
  return log;
}

describe('AuditLog', () => {
  test('appends one JSON line per entry with time, target, from, to, trigger, reason, result', () => {
    const log = sampleLog();
    const lines = fs.readFileSync(log.file, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(3);
    expect(JSON.parse(lines[1])).toEqual({
      time: '2026-01-01T10:00:02.000Z', event: 'promoted', target: 'docker/recsys', model: 'recsys', from: `${R}:1.0.0`,
      to: `${R}:1.1.0@sha256:${'a'.repeat(64)}`, trigger: 'poll', result: 'ok', reason: 'SLO met',
    });
  });

  test('a torn last line (agent killed mid-write) is skipped, the rest is kept', () => {
    const log = sampleLog();
    fs.appendFileSync(log.file, '{"time":"2026-01-01T10:00:09.000Z","ev');
    expect(readAudit(log.file)).toHaveLength(3);
  });

  test('a torn last line is cut off when the log is opened, so the next entry never glues onto it', () => {
    const log = sampleLog();
    fs.appendFileSync(log.file, '{"time":"2026-01-01T10:00:09.000Z","ev');
    const reopened = new AuditLog(log.file, () => new Date('2026-01-01T11:00:00Z'));
    expect(reopened.repairedBytes).toBe('{"time":"2026-01-01T10:00:09.000Z","ev'.length);
    reopened.append({ event: 'promoted', target: 'docker/recsys', result: 'ok' });
    expect(readAudit(log.file).map((e) => e.event)).toEqual(['apply', 'promoted', 'rolled-back', 'promoted']);
    expect(new AuditLog(log.file).repairedBytes).toBe(0);
  });

  test('a write the disk refuses (ENOSPC on /dev/full) throws, naming the file and how much was written', () => {
    const log = new AuditLog('/dev/full');
    expect(() => log.append({ event: 'quarantined', target: 'docker/recsys', result: 'ok' })).toThrow(
      /^cannot append to the audit log \/dev\/full \(ENOSPC after 0 of \d+ bytes\)$/);
  });

  test('modelpilot history names every unreadable line on stderr and exits 1 instead of dropping them silently', async () => {
    const log = sampleLog();
    const lines = fs.readFileSync(log.file, 'utf8').split('\n');
    lines.splice(1, 0, '{"time":"2026-01-01T10:00:01.500Z","event":"apply"{"time":"glued');
    fs.writeFileSync(log.file, lines.join('\n'));
    const r = await capture(() => run(['--file', log.file]));
    expect(r.code).toBe(1);
    expect(r.err).toBe(`modelpilot history: ${log.file} line 2 is not an audit entry (torn or corrupted), skipped: {"time":"2026-01-01T10:00:01.500Z","event":"apply"{"time":"glued\n`);
    expect(r.out.trim().split('\n')).toHaveLength(3);
  });

  test('previousOf finds what ran before the last promotion to an image', () => {
    const log = sampleLog();
    expect(log.previousOf('docker/recsys', (ref) => ref.startsWith(`${R}:1.1.0`))).toBe(`${R}:1.0.0`);
    expect(log.previousOf('docker/other', () => true)).toBeUndefined();
  });

  test('a missing file is an empty log', () => {
    expect(readAudit('/nonexistent/audit.jsonl')).toEqual([]);
  });
});

describe('timeline', () => {
  test('prints one readable line per entry, digests shortened', () => {
    expect(formatTimeline(sampleLog().read())).toBe([
      '2026-01-01 10:00:01Z  docker/recsys  apply            recsys:1.0.0 -> recsys:1.1.0  (poll)  started',
      '2026-01-01 10:00:02Z  docker/recsys  promoted         recsys:1.0.0 -> recsys:1.1.0  (poll)  ok: SLO met',
      '2026-01-01 10:00:03Z  docker/other   rolled-back      recsys:1.2.0 -> recsys:1.1.0  (webhook:registry, attempt 2)  ok: not ready',
    ].join('\n') + '\n');
  });

  test('modelpilot history filters by target or model and limits to the last N', async () => {
    const log = sampleLog();
    const r = await capture(() => run(['--file', log.file, '--target', 'recsys', '--last', '1']));
    expect(r.code).toBe(0);
    expect(r.out).toBe('2026-01-01 10:00:02Z  docker/recsys  promoted         recsys:1.0.0 -> recsys:1.1.0  (poll)  ok: SLO met\n');
    const json = await capture(() => run(['--file', log.file, '--json']));
    expect(json.out.trim().split('\n').map((l) => JSON.parse(l).event)).toEqual(['apply', 'promoted', 'rolled-back']);
  });

  test('modelpilot history on an empty log says so (a missing log is an error: test/bad-input/corpus.test.ts)', async () => {
    const file = path.join(tmpDir(), 'empty.jsonl');
    fs.writeFileSync(file, '');
    expect(await capture(() => run(['--file', file]))).toEqual({ code: 0, out: 'no audit entries\n', err: '' });
  });

  test('modelpilot history exits 2 on a bad --last', async () => {
    const r = await capture(() => run(['--last', 'ten']));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^modelpilot history: '--last' value 'ten' is not a positive whole number; give e.g. '--last 20'\n/);
  });
});
