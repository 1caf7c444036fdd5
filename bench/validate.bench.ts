/**
 * `modelpilot validate` on a large input: a ~40 MB multi-document YAML (the demo stack repeated in 1,000 namespaces,
 * 23,000 objects — the size of the 42 MB file that took 10.4 s and 1.5 GB RSS before). The CLI now streams a document
 * at a time; the peer in the same run is the whole-file way it used before (read the file, parse every document,
 * validate the list), run through the same validation. Each variant runs in its own child process, so its peak RSS
 * (`process.resourceUsage().maxRSS`) is its own; both must report the same number of objects and issues.
 *
 * Writes bench/results/validate.json.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const COPIES = [1000, 2000];

const STREAMING = `
const { run } = require('./bin/commands/validate');
const t0 = Date.now();
let out = '';
process.stdout.write = (s) => { out += s; return true; };
process.stderr.write = (s) => { out += s; return true; };
run([process.argv[1]]).then((code) => {
  const ms = Date.now() - t0;
  const m = /(\\d+) objects valid|(\\d+) invalid field\\(s\\) in (\\d+) objects/.exec(out);
  require('fs').writeSync(3, JSON.stringify({ code, ms, maxRssMiB: Math.round(process.resourceUsage().maxRSS / 1024), objects: Number(m[1] ?? m[3]), issues: Number(m[2] ?? 0) }));
});`;

const WHOLE_FILE = `
const fs = require('fs');
const { readManifests } = require('./bin/commands/validate');
const { validateManifests } = require('./lib/validation/validate');
const t0 = Date.now();
const objects = readManifests(fs.readFileSync(process.argv[1], 'utf8'), process.argv[1]);
const r = validateManifests(objects);
const ms = Date.now() - t0;
fs.writeSync(3, JSON.stringify({ code: r.ok ? 0 : 1, ms, maxRssMiB: Math.round(process.resourceUsage().maxRSS / 1024), objects: r.checked, issues: r.issues.length }));`;

function runVariant(code: string, file: string): Record<string, number> {
  const r = spawnSync(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', code, file], {
    cwd: path.join(__dirname, '..'), stdio: ['ignore', 'inherit', 'inherit', 'pipe'], encoding: 'utf8', maxBuffer: 1 << 20,
  });
  if (r.status !== 0) throw new Error(`variant exited ${r.status}`);
  return JSON.parse(String(r.output[3])) as Record<string, number>;
}

function main(): void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelpilot-validate-bench-'));
  try {
    const out = path.join(dir, 'demo');
    const synth = spawnSync(process.execPath, ['-r', 'ts-node/register/transpile-only', 'bin/modelpilot.ts', 'synth', '--out', out], { cwd: path.join(__dirname, '..') });
    if (synth.status !== 0) throw new Error(`synth failed: ${String(synth.stderr)}`);
    const demo = fs.readFileSync(path.join(out, 'recommendation-model.yaml'), 'utf8');
    const runs = COPIES.map((copies) => {
      const file = path.join(dir, `large-${copies}.yaml`);
      const fd = fs.openSync(file, 'w');
      for (let i = 0; i < copies; i++) fs.writeSync(fd, (i ? '---\n' : '') + demo.replace(/namespace: ml\b/g, `namespace: ml-${i}`));
      fs.closeSync(fd);
      const bytes = fs.statSync(file).size;
      const streaming = runVariant(STREAMING, file);
      const wholeFile = runVariant(WHOLE_FILE, file);
      fs.rmSync(file);
      if (streaming.objects !== wholeFile.objects || streaming.issues !== wholeFile.issues) {
        throw new Error(`the variants disagree: ${JSON.stringify({ streaming, wholeFile })}`);
      }
      return {
        copies, megabytes: Number((bytes / 1e6).toFixed(1)), objects: streaming.objects, issues: streaming.issues,
        streaming: { ms: streaming.ms, maxRssMiB: streaming.maxRssMiB }, wholeFile: { ms: wholeFile.ms, maxRssMiB: wholeFile.maxRssMiB },
      };
    });
    const result = {
      measured: new Date().toISOString(),
      setup: 'modelpilot validate on one file holding the demo stack (23 objects) in N namespaces; each variant in its own process; 2 cores',
      variants: {
        streaming: 'the CLI: a document at a time (bin/commands/validate.ts streamManifests)',
        wholeFile: 'peer: read the file, parse all documents, validate the list (how the CLI worked before)',
      },
      runs,
    };
    fs.mkdirSync(path.join(__dirname, 'results'), { recursive: true });
    fs.writeFileSync(path.join(__dirname, 'results', 'validate.json'), JSON.stringify(result, null, 2) + '\n');
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main();
