/**
 * `modelpilot test-rules [app.ts|manifests.yaml] [--tests extra_test.yml…]`: extracts every generated rule group,
 * runs `promtool check rules` on each and `promtool test rules` on the generated tests (per alert: one series that
 * must fire, one that must not) and on the user's own test files; prints a pass/fail table; exits 1 on a failure.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { App } from 'cdk8s';
import { stringify } from 'yaml';
import { checkInputFile, readInputFile } from '../../agent/files';
import { ModelAlerts } from '../../lib/monitoring/model-alerts';
import { generateRuleTests, ruleTestFile } from '../../lib/monitoring/rule-tests';
import { DEFAULT_APP, loadApp } from './synth';
import { readManifests } from './validate';

const USAGE = `usage: modelpilot test-rules [app.ts | manifests.yaml] [--tests extra_test.yml ...] [--keep]

  app.ts        module whose default export (or export 'build') adds charts to a cdk8s App; every ModelAlerts in it
                gets generated tests. A .yaml/.yml/.json file of manifests works too (its PrometheusRules are
                checked; only --tests run against them). Default: the built-in demo examples/recommendation-model
  --tests f     promtool rule test file(s) of your own; they are copied next to the extracted rule files, so their
                rule_files name those (e.g. modelpilot-recsys.rules.yml)
  --keep        keep the work directory (rule and test files) and print its path
  env PROMTOOL  promtool binary (default: promtool on PATH)`;

/** One row of the result table. */
export interface ResultRow {
  readonly kind: 'check' | 'test';
  readonly group: string;
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
}

interface Args { app?: string; tests: string[]; keep: boolean }

function parseArgs(argv: string[]): Args | string {
  const args: Args = { tests: [], keep: false };
  let inTests = false;
  for (const a of argv) {
    if (a === '--tests') { inTests = true; continue; }
    if (a === '--keep') { args.keep = true; continue; }
    if (a.startsWith('--')) return `unknown option '${a}'`;
    if (inTests) args.tests.push(a);
    else if (args.app === undefined) args.app = a;
    else return `unexpected argument '${a}'; give one app (then --tests for test files)`;
  }
  if (inTests && args.tests.length === 0) return '\'--tests\' needs at least one test file';
  return args;
}

/** The promtool binary, or an error naming the install script. */
export function findPromtool(env: NodeJS.ProcessEnv = process.env): string {
  const candidates = env.PROMTOOL ? [env.PROMTOOL] : (env.PATH ?? '').split(path.delimiter).filter(Boolean).map((d) => path.join(d, 'promtool'));
  for (const c of candidates) {
    try {
      fs.accessSync(c, fs.constants.X_OK);
      return c;
    } catch {
      // next
    }
  }
  throw new Error(`promtool was not found (${env.PROMTOOL ? `PROMTOOL='${env.PROMTOOL}'` : 'not on PATH'}); `
    + 'install it with `bash scripts/install-test-tools.sh` (Debian package \'prometheus\')');
}

/** Splits promtool output into per-file blocks keyed by the file name (after `Checking` / `Unit Testing:`). */
export function splitPromtoolOutput(output: string, marker: RegExp): Map<string, string> {
  const blocks = new Map<string, string>();
  let current: string | undefined;
  for (const line of output.split('\n')) {
    const m = marker.exec(line);
    if (m) {
      current = path.basename(m[1].trim());
      blocks.set(current, '');
    } else if (current) {
      blocks.set(current, blocks.get(current) + line + '\n');
    }
  }
  return blocks;
}

interface PromtoolInput { readonly file: string; readonly group: string; readonly name: string }

/** Runs the whole thing in `workDir`; returns the table rows. */
export async function testRules(appFile: string, userTests: string[], workDir: string, promtool: string): Promise<ResultRow[]> {
  // A rule file to check or a test file to run: `group` and `name` are its row in the table.
  const groups: PromtoolInput[] = [];
  const testFiles: PromtoolInput[] = [];
  const write = (name: string, data: unknown) => fs.writeFileSync(path.join(workDir, name), stringify(data, { lineWidth: 0 }));

  if (/\.(ya?ml|json)$/.test(appFile)) {
    const text = readInputFile(appFile, { field: '', fix: 'give an app.ts or a manifests file (.yaml, .yml or .json)', maxBytes: 256 * 1024 * 1024 });
    for (const o of readManifests(text, appFile) as Array<Record<string, unknown>>) {
      if (o.kind !== 'PrometheusRule') continue;
      const meta = (o.metadata ?? {}) as Record<string, string>;
      const file = `${meta.namespace ?? 'default'}-${meta.name}.rules.yml`;
      write(file, o.spec);
      groups.push({ file, group: `${meta.namespace ?? 'default'}/${meta.name}`, name: 'promtool check rules' });
    }
  } else {
    const builder = loadApp(appFile);
    const app = new App({ outdir: fs.mkdtempSync(path.join(os.tmpdir(), 'modelpilot-test-rules-synth-')) });
    try {
      await builder(app);
      const seen = new Set<string>();
      for (const c of app.node.findAll()) {
        if (!ModelAlerts.isModelAlerts(c)) continue;
        const file = `${c.group.name}.rules.yml`;
        if (seen.has(file)) throw new Error(`two rule groups are named '${c.group.name}'; give each model a distinct name`);
        seen.add(file);
        write(file, { groups: [c.group] });
        groups.push({ file, group: c.group.name, name: 'promtool check rules' });
        generateRuleTests(c).forEach((t, i) => {
          const testFile = `${c.group.name}.${String(i).padStart(2, '0')}.test.yml`;
          write(testFile, ruleTestFile(c, file, [t]));
          testFiles.push({ file: testFile, group: c.group.name, name: t.testCase.name });
        });
      }
    } finally {
      fs.rmSync(app.outdir, { recursive: true, force: true });
    }
  }
  if (groups.length === 0) {
    throw new Error(`'${appFile}' holds no rule group; add a 'monitoring' section to the SelfHealingModelStack (or a ModelAlerts)`);
  }
  userTests.forEach((t, i) => {
    const unfit = checkInputFile(t, { field: '--tests', fix: 'give a promtool rule test file (YAML)' });
    if (unfit) throw new Error(unfit);
    const file = `user-${i}-${path.basename(t)}`;
    fs.copyFileSync(t, path.join(workDir, file));
    testFiles.push({ file, group: '(yours)', name: t });
  });

  // One promtool run per kind; each file's row reads its own block of the output (all of it when promtool wrote none).
  const promtoolRows = (kind: ResultRow['kind'], marker: RegExp, inputs: readonly PromtoolInput[]): ResultRow[] => {
    if (inputs.length === 0) return [];
    const r = spawnSync(promtool, [kind, 'rules', ...inputs.map((i) => i.file)], { cwd: workDir, encoding: 'utf8' });
    const blocks = splitPromtoolOutput(`${r.stdout}\n${r.stderr}`, marker);
    return inputs.map((i) => {
      const block = blocks.get(i.file) ?? '';
      const ok = /SUCCESS/.test(block) && !/FAILED/.test(block);
      return { kind, group: i.group, name: i.name, ok, detail: block.trim() || `${r.stdout}${r.stderr}`.trim() };
    });
  };
  return [...promtoolRows('check', /^Checking (.+)$/, groups), ...promtoolRows('test', /^Unit Testing:\s+(.+)$/, testFiles)];
}

/** The table, one row per check/test, with the failure detail under each failed row. */
export function formatTable(rows: readonly ResultRow[]): string {
  const gw = Math.max(5, ...rows.map((r) => r.group.length));
  const lines = [`RESULT  ${'GROUP'.padEnd(gw)}  CHECK`];
  for (const r of rows) {
    lines.push(`${(r.ok ? 'PASS' : 'FAIL').padEnd(6)}  ${r.group.padEnd(gw)}  ${r.name}`);
    if (!r.ok) lines.push(...r.detail.split('\n').map((l) => `        ${l}`));
  }
  const failed = rows.filter((r) => !r.ok).length;
  lines.push('', `${rows.length - failed} passed, ${failed} failed`);
  return lines.join('\n') + '\n';
}

export async function run(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const args = parseArgs(argv);
  if (typeof args === 'string') {
    process.stderr.write(`modelpilot test-rules: ${args}\n${USAGE}\n`);
    return 2;
  }
  let promtool: string;
  try {
    promtool = findPromtool();
  } catch (e) {
    process.stderr.write(`modelpilot test-rules: ${(e as Error).message}\n`);
    return 2;
  }
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelpilot-test-rules-'));
  try {
    const rows = await testRules(args.app ?? DEFAULT_APP, args.tests, workDir, promtool);
    process.stdout.write(formatTable(rows));
    if (args.keep) process.stdout.write(`rule and test files kept in ${workDir}\n`);
    return rows.every((r) => r.ok) ? 0 : 1;
  } catch (e) {
    process.stderr.write(`modelpilot test-rules: ${(e as Error).message}\n`);
    return 2;
  } finally {
    if (!args.keep) fs.rmSync(workDir, { recursive: true, force: true });
  }
}
