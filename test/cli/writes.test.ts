/**
 * No command writes over a file it did not create for that purpose (#27): every write path of the CLI, in-process
 * (the sweep in test/cli/sweep.integration.test.ts runs the built CLI against devices and kernel paths too).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { run as history } from '../../bin/commands/history';
import { run as pipeline } from '../../bin/commands/pipeline';
import { run as registryCredentials } from '../../bin/commands/registry-credentials';
import { run as synth } from '../../bin/commands/synth';
import { capture } from '../support/cli';

let dir: string;
let audit: string;
let config: string;
const AUDIT = '{"time":"2026-12-01T00:00:00.000Z","event":"promoted","target":"recsys","model":"recsys","result":"ok"}\n';

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelpilot-writes-'));
  fs.mkdirSync(path.join(dir, 'state'));
  audit = path.join(dir, 'state', 'audit.jsonl');
  fs.writeFileSync(audit, AUDIT);
  config = path.join(dir, 'agent.yaml');
  fs.writeFileSync(config, `stateDir: ${path.join(dir, 'state')}\ntargets: { docker: {} }\n`);
});
afterEach(() => { fs.rmSync(dir, { recursive: true, force: true }); });

describe('history --html', () => {
  test('over the audit log it reads (--file): refused, exit 2, the log kept', async () => {
    const r = await capture(() => history(['--file', audit, '--html', audit]));
    expect(r.code).toBe(2);
    expect(r.err).toBe(`modelpilot history: '--html' value '${audit}' is the audit log this command reads; writing there would destroy it; `
      + "give a new file for the page, e.g. '--html audit.html'\n");
    expect(fs.readFileSync(audit, 'utf8')).toBe(AUDIT);
  });

  test('over the audit log through another path (--config, a ../ path): refused, the log kept', async () => {
    const other = path.join(dir, 'state', '..', 'state', 'audit.jsonl');
    const r = await capture(() => history(['--config', config, '--html', other]));
    expect(r.code).toBe(2);
    expect(r.err).toContain('is the audit log this command reads; writing there would destroy it');
    expect(fs.readFileSync(audit, 'utf8')).toBe(AUDIT);
  });

  test('over the agent config or the quarantine store: refused', async () => {
    const q = path.join(dir, 'state', 'quarantine.json');
    fs.writeFileSync(q, '{"version":1,"entries":[]}\n');
    expect((await capture(() => history(['--config', config, '--html', config]))).err).toContain('is the agent config this command reads');
    expect((await capture(() => history(['--file', audit, '--html', q]))).err).toContain("is the agent's state file quarantine.json");
    expect(fs.readFileSync(q, 'utf8')).toBe('{"version":1,"entries":[]}\n');
  });

  test('over a file of another kind: refused; over an earlier page: replaced', async () => {
    const notes = path.join(dir, 'notes.txt');
    fs.writeFileSync(notes, 'mine\n');
    const r = await capture(() => history(['--file', audit, '--html', notes]));
    expect(r.code).toBe(2);
    expect(r.err).toContain(`'--html' value '${notes}' already exists and holds something other than an HTML page (5 bytes), which this never replaces`);
    expect(fs.readFileSync(notes, 'utf8')).toBe('mine\n');
    const page = path.join(dir, 'timeline.html');
    expect((await capture(() => history(['--file', audit, '--html', page]))).code).toBe(0);
    expect((await capture(() => history(['--file', audit, '--html', page]))).code).toBe(0);
    expect(fs.readFileSync(page, 'utf8')).toMatch(/^<!doctype html>/);
  });
});

test('registry-credentials --out over a file that is not manifests: refused, kept', async () => {
  const notes = path.join(dir, 'notes.md');
  fs.writeFileSync(notes, '# notes\n');
  const r = await capture(() => registryCredentials(['--namespace', 'ml', '--out', notes]));
  expect(r.code).toBe(2);
  expect(r.err).toContain(`'--out' value '${notes}' already exists and holds something other than Kubernetes manifests`);
  expect(fs.readFileSync(notes, 'utf8')).toBe('# notes\n');
});

test('pipeline --out over a hand-written workflow: refused, kept; over its own earlier output: replaced', async () => {
  const wf = path.join(dir, 'release.yml');
  fs.writeFileSync(wf, 'name: my release\non: push\n');
  const args = ['github', '--image', 'registry.example.com/models/recsys', '--out', wf];
  const r = await capture(() => pipeline(args));
  expect(r.code).toBe(2);
  expect(r.err).toContain("already exists and holds something other than a pipeline 'modelpilot pipeline' wrote");
  expect(fs.readFileSync(wf, 'utf8')).toBe('name: my release\non: push\n');
  const own = path.join(dir, 'own.yml');
  expect((await capture(() => pipeline([...args.slice(0, -1), own]))).code).toBe(0);
  expect((await capture(() => pipeline([...args.slice(0, -1), own]))).code).toBe(0);
});

test('synth --out: a file where the directory should be, and a user file named like a chart: refused, nothing written', async () => {
  const file = path.join(dir, 'dist');
  fs.writeFileSync(file, 'x');
  const r = await capture(() => synth(['--out', file]));
  expect(r.code).toBe(2);
  expect(r.err).toContain(`'--out' value '${file}' is a file, not a directory`);
  const out = path.join(dir, 'out');
  fs.mkdirSync(out);
  fs.writeFileSync(path.join(out, 'recommendation-model.yaml'), 'my: notes\n');
  const r2 = await capture(() => synth(['--out', out]));
  expect(r2.code).toBe(2);
  expect(r2.err).toContain('nothing written');
  expect(fs.readdirSync(out)).toEqual(['recommendation-model.yaml']);
  expect(fs.readFileSync(path.join(out, 'recommendation-model.yaml'), 'utf8')).toBe('my: notes\n');
});
