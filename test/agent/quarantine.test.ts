import * as fs from 'fs';
import * as path from 'path';
import { QuarantineStore } from '../../agent/state/quarantine';
import { run } from '../../bin/commands/quarantine';
import { capture, tmpDir } from './fakes';

const entry = (version: string, model = 'recsys') => ({ model, version, reason: 'error ratio 0.5 > 0.05 over 1m', since: '2026-01-01T00:00:00.000Z', source: 'health-gate' });

describe('QuarantineStore', () => {
  test('persists across instances (an agent restart) in <stateDir>/quarantine.json', () => {
    const dir = tmpDir();
    expect(new QuarantineStore(dir).add(entry('1.2.0'))).toBe(true);
    const again = new QuarantineStore(dir);
    expect(again.list()).toEqual([entry('1.2.0')]);
    expect(again.isQuarantined('recsys', '1.2.0')).toBe(true);
    expect(again.isQuarantined('recsys', 'v1.2.0')).toBe(true);
    expect(again.isQuarantined('other', '1.2.0')).toBe(false);
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'quarantine.json'), 'utf8'))).toEqual({ version: 1, entries: [entry('1.2.0')] });
  });

  test('a release is remembered (persisted): a workload\'s older record of that quarantine is not restored, a newer one is', () => {
    const dir = tmpDir();
    const q = new QuarantineStore(dir);
    q.add(entry('1.2.0'));
    q.release('recsys', '1.2.0');
    const again = new QuarantineStore(dir);
    expect(again.releasedSince('recsys', '1.2.0', '2026-01-01T00:00:00.000Z')).toBe(true);
    expect(again.releasedSince('recsys', 'v1.2.0', '2026-01-01T00:00:00.000Z')).toBe(true);
    expect(again.releasedSince('recsys', '1.2.0', '2999-01-01T00:00:00.000Z')).toBe(false);
    expect(again.releasedSince('other', '1.2.0', '2026-01-01T00:00:00.000Z')).toBe(false);
    expect(again.releasedSince('recsys', '1.3.0', '2026-01-01T00:00:00.000Z')).toBe(false);
  });

  test('adding twice keeps one entry', () => {
    const q = new QuarantineStore(tmpDir());
    q.add(entry('1.2.0'));
    expect(q.add(entry('1.2.0'))).toBe(false);
    expect(q.list()).toHaveLength(1);
  });

  test('release removes the entry; reload sees a release made by another process', () => {
    const dir = tmpDir();
    const agent = new QuarantineStore(dir);
    agent.add(entry('1.2.0'));
    expect(new QuarantineStore(dir).release('recsys', '1.2.0')).toEqual(entry('1.2.0'));
    expect(agent.isQuarantined('recsys', '1.2.0')).toBe(true);
    agent.reload();
    expect(agent.isQuarantined('recsys', '1.2.0')).toBe(false);
  });

  test('supersede drops older semver entries of that model only', () => {
    const q = new QuarantineStore(tmpDir());
    q.add(entry('1.2.0'));
    q.add(entry('1.4.0'));
    q.add(entry('1.2.0', 'other'));
    expect(q.supersede('recsys', '1.3.0').map((e) => e.version)).toEqual(['1.2.0']);
    expect(q.list().map((e) => `${e.model} ${e.version}`)).toEqual(['recsys 1.4.0', 'other 1.2.0']);
  });

  test('digest-policy entries (tag@digest) match only that digest', () => {
    const q = new QuarantineStore(tmpDir());
    const bad = `1.0.0@sha256:${'a'.repeat(64)}`;
    q.add(entry(bad));
    expect(q.isQuarantined('recsys', bad)).toBe(true);
    expect(q.isQuarantined('recsys', `1.0.0@sha256:${'b'.repeat(64)}`)).toBe(false);
    expect(q.isQuarantined('recsys', '1.0.0')).toBe(false);
  });

  test('throws if the file is corrupt, naming it and the fix', () => {
    const dir = tmpDir();
    fs.writeFileSync(path.join(dir, 'quarantine.json'), '{nope');
    expect(() => new QuarantineStore(dir)).toThrow(new RegExp(`^quarantine store '${path.join(dir, 'quarantine.json')}' is not valid JSON .*; restore it from a backup or fix it by hand$`));
  });
});

describe('modelpilot quarantine', () => {
  test('list prints a table; release removes and audits; releasing again fails naming what is quarantined', async () => {
    const dir = tmpDir();
    new QuarantineStore(dir).add(entry('1.2.0'));
    const list = await capture(() => run(['list', '--state-dir', dir]));
    expect(list.code).toBe(0);
    expect(list.out).toBe(
      'MODEL   VERSION  SINCE                     SOURCE       REASON\n'
      + 'recsys  1.2.0    2026-01-01T00:00:00.000Z  health-gate  error ratio 0.5 > 0.05 over 1m\n',
    );
    const json = await capture(() => run(['list', '--json', '--state-dir', dir]));
    expect(JSON.parse(json.out)).toEqual([entry('1.2.0')]);

    const rel = await capture(() => run(['release', 'recsys', '1.2.0', '--state-dir', dir]));
    expect(rel).toEqual({ code: 0, out: 'released recsys 1.2.0; the agent may apply it again at its next cycle\n', err: '' });
    expect(new QuarantineStore(dir).list()).toEqual([]);
    const audit = fs.readFileSync(path.join(dir, 'audit.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(audit).toEqual([expect.objectContaining({ event: 'released', model: 'recsys', result: 'ok', reason: '1.2.0 released by an operator (was: error ratio 0.5 > 0.05 over 1m)' })]);

    const again = await capture(() => run(['release', 'recsys', '1.2.0', '--state-dir', dir]));
    expect(again.code).toBe(1);
    expect(again.err).toBe(`modelpilot quarantine: 'recsys 1.2.0' is not quarantined in ${path.join(dir, 'quarantine.json')}; nothing is quarantined\n`);
    expect((await capture(() => run(['list', '--state-dir', dir]))).out).toBe('no quarantined versions\n');
  });

  test('reads the state dir from --config', async () => {
    const dir = tmpDir();
    new QuarantineStore(path.join(dir, 'state')).add(entry('1.2.0'));
    fs.writeFileSync(path.join(dir, 'agent.yaml'), `targets: { docker: {} }\nstateDir: ${path.join(dir, 'state')}\n`);
    expect((await capture(() => run(['list', '--config', path.join(dir, 'agent.yaml')]))).out).toContain('recsys  1.2.0');
  });

  test('exits 2 with usage on a bad command', async () => {
    const r = await capture(() => run(['purge', '--state-dir', tmpDir()]));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^modelpilot quarantine: 'purge' is not a quarantine command\n\nusage: modelpilot quarantine list/);
  });
});
