/**
 * Every file synth writes reads the same in a YAML 1.1 reader (#28's finding): PyYAML — what Ansible, docker-compose
 * 1.x and Python linters use — parses each synthesized file of every example, and what it reads equals what the
 * YAML 1.2 reader (the `yaml` library, as kubectl-like tools read it) reads. Before, an unquoted `=` (an
 * AlertmanagerConfig matcher's matchType) was YAML 1.1's `!!value` tag, and PyYAML failed on the demo's output.
 * Needs Debian's python3-yaml (scripts/install-test-tools.sh).
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parseAllDocuments } from 'yaml';
import { run as synth } from '../../bin/commands/synth';
import { capture } from '../support/cli';
import { requireTool } from '../support/tools';

const ROOT = path.resolve(__dirname, '../..');
const EXAMPLES = ['recommendation-model', 'canary-gitops', 'llm-gpu'];

/** PyYAML's reading of a multi-document file, as JSON. */
function pyyaml(file: string): unknown[] {
  const py = 'import json, sys, yaml\nprint(json.dumps(list(yaml.safe_load_all(open(sys.argv[1])))))';
  const r = spawnSync(requireTool('python3', 'python3-yaml'), ['-c', py, file], { encoding: 'utf8', timeout: 60_000, maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`PyYAML cannot read ${path.basename(file)}: ${r.stderr.trim().split('\n').slice(-2).join(' ')}`);
  return JSON.parse(r.stdout) as unknown[];
}

test.each(EXAMPLES)('%s: PyYAML reads every synthesized file as the YAML 1.2 reader does', async (example) => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'modelpilot-pyyaml-'));
  try {
    const { code, err } = await capture(() => synth([path.join(ROOT, 'examples', example, 'app.ts'), '--out', out]));
    expect(err).toBe('');
    expect(code).toBe(0);
    const files = fs.readdirSync(out).filter((f) => f.endsWith('.yaml'));
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) {
      const file = path.join(out, f);
      const js = parseAllDocuments(fs.readFileSync(file, 'utf8')).map((d) => d.toJS() as unknown).filter((d) => d !== null);
      expect({ file: f, docs: pyyaml(file) }).toEqual({ file: f, docs: JSON.parse(JSON.stringify(js)) });
    }
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
}, 120_000);
