/**
 * `modelpilot hold`, `pin` and `quarantine add`: what they write to the agent's state directory (which the loop
 * reads each cycle: test/agent/overrides.test.ts), what they audit, and every bad input.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { readAudit } from '../../agent/state/audit';
import { OverrideStore } from '../../agent/state/overrides';
import { QuarantineStore } from '../../agent/state/quarantine';
import { run as hold } from '../../bin/commands/hold';
import { run as pin } from '../../bin/commands/pin';
import { run as quarantine } from '../../bin/commands/quarantine';
import { capture } from '../support/cli';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelpilot-overrides-cli-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));
const audit = () => readAudit(path.join(dir, 'audit.jsonl')).map((e) => `${e.event} ${e.model} ${e.result}: ${e.reason}`);

test('hold until released, list, release; each in the audit log', async () => {
  expect(await capture(() => hold(['recsys', '--reason', 'incident 4711', '--state-dir', dir]))).toEqual({ code: 0, out: "held recsys until 'modelpilot hold recsys --release'\n", err: '' });
  expect(new OverrideStore(dir).holdOf('recsys', new Date())).toMatchObject({ model: 'recsys', reason: 'incident 4711', source: 'operator' });
  expect((await capture(() => hold(['list', '--state-dir', dir]))).out).toMatch(/^recsys {2}until released {2}since \S+ {2}\(operator\) incident 4711\n$/);
  expect(await capture(() => hold(['recsys', '--release', '--state-dir', dir]))).toMatchObject({ code: 0, out: 'released the hold on recsys; the agent updates it again from its next cycle\n' });
  expect(new OverrideStore(dir).holdOf('recsys', new Date())).toBeUndefined();
  expect(audit()).toEqual(['hold recsys operator: held until released: incident 4711', 'released recsys ok: hold released by an operator (was: incident 4711)']);
});

test('hold --until takes a duration or an ISO time', async () => {
  const before = Date.now();
  expect((await capture(() => hold(['recsys', '--until', '2h', '--state-dir', dir]))).code).toBe(0);
  const until = Date.parse(new OverrideStore(dir).list().holds[0].until!);
  expect(until - before).toBeGreaterThanOrEqual(2 * 3_600_000 - 1000);
  expect(until - before).toBeLessThan(2 * 3_600_000 + 60_000);
  expect((await capture(() => hold(['fraud', '--until', '2099-01-01T00:00:00Z', '--state-dir', dir]))).code).toBe(0);
  expect(new OverrideStore(dir).holdOf('fraud', new Date())?.until).toBe('2099-01-01T00:00:00.000Z');
});

test('pin, list, release', async () => {
  expect(await capture(() => pin(['recsys', '1.3.0', '--reason', 'known good', '--state-dir', dir]))).toEqual({ code: 0, out: 'pinned recsys to 1.3.0; the agent moves it there at its next cycle\n', err: '' });
  expect(new OverrideStore(dir).pinOf('recsys')).toMatchObject({ version: '1.3.0', reason: 'known good', source: 'operator' });
  expect((await capture(() => pin(['list', '--json', '--state-dir', dir]))).out).toContain('"version": "1.3.0"');
  expect((await capture(() => pin(['recsys', '--release', '--state-dir', dir]))).out).toBe("unpinned recsys (was 1.3.0); its update policy applies again from the agent's next cycle\n");
  expect(new OverrideStore(dir).pinOf('recsys')).toBeUndefined();
  expect(audit()).toEqual(['pinned recsys operator: pinned to 1.3.0: known good', 'released recsys ok: pin to 1.3.0 released by an operator']);
});

test('quarantine add: the agent never applies the version; release lifts it', async () => {
  expect(await capture(() => quarantine(['add', 'recsys', '1.4.0', '--reason', 'CVE-2026-1234 in the base image', '--state-dir', dir]))).toMatchObject({ code: 0 });
  expect(new QuarantineStore(dir).list()).toEqual([expect.objectContaining({ model: 'recsys', version: '1.4.0', reason: 'CVE-2026-1234 in the base image', source: 'operator' })]);
  expect(await capture(() => quarantine(['add', 'recsys', '1.4.0', '--reason', 'again', '--state-dir', dir]))).toMatchObject({ code: 1, err: expect.stringContaining("'recsys 1.4.0' is already quarantined") });
  expect((await capture(() => quarantine(['release', 'recsys', '1.4.0', '--state-dir', dir]))).code).toBe(0);
  expect(audit()[0]).toBe('quarantined recsys operator: 1.4.0: CVE-2026-1234 in the base image');
});

test.each<[string, () => Promise<number>, number, string]>([
  ['hold without a model', () => hold(['--state-dir', '/tmp']), 2, 'the model is missing'],
  ['hold of a bad name', () => hold(['Rec_Sys', '--state-dir', '/tmp']), 2, "'Rec_Sys' is not a model name"],
  ['hold --until nonsense', () => hold(['recsys', '--until', 'soon', '--state-dir', '/tmp']), 2, "'--until' value 'soon' is neither an ISO time nor a duration; give e.g. '2h'"],
  ['hold --until in the past', () => hold(['recsys', '--until', '2020-01-01T00:00:00Z', '--state-dir', '/tmp']), 2, "'--until' value '2020-01-01T00:00:00Z' is in the past"],
  ['hold in a missing state dir', () => hold(['recsys', '--state-dir', '/nonexistent/state']), 1, "state directory '/nonexistent/state' does not exist"],
  ['pin without a version', () => pin(['recsys', '--state-dir', '/tmp']), 2, "the version is missing; give e.g. 'modelpilot pin recsys 1.3.0'"],
  ['pin to latest', () => pin(['recsys', 'latest', '--state-dir', '/tmp']), 2, "version 'latest' is not a version the agent applies; give a semantic version tag such as '1.3.0'"],
  ['quarantine add without a reason', () => quarantine(['add', 'recsys', '1.4.0', '--state-dir', '/tmp']), 2, "'--reason' is missing; say why recsys 1.4.0 must not be applied"],
])('%s', async (_name, fn, code, message) => {
  const r = await capture(fn);
  expect(r.code).toBe(code);
  expect(r.err).toContain(message);
});

test('release of what is not held or pinned exits 1 and says so', async () => {
  expect(await capture(() => hold(['recsys', '--release', '--state-dir', dir]))).toMatchObject({ code: 1, err: expect.stringContaining("'recsys' is not held") });
  expect(await capture(() => pin(['recsys', '--release', '--state-dir', dir]))).toMatchObject({ code: 1, err: expect.stringContaining("'recsys' is not pinned") });
});
