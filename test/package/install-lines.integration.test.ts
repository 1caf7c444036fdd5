/**
 * The README's install line for each audience (cdk8s repo, Pulumi repo, agent only), run as written: the line is read
 * from the README (`<!-- install: <audience> -->`), its packages are installed from the packed tarball into an empty
 * folder (test/support/pack.ts: offline, the closure npm would lay out, with modelpilot's required peers as npm adds
 * them), and the audience's next command runs from that folder with the installed CLI.
 *
 * Differs from a user's machine: packages come from this repository's node_modules (the lock's versions) instead of
 * the npm registry; the test checks that each version on the line is the one the lock holds.
 */
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { installPacked, packRepository, readmeInstallLine as installLine } from '../support/pack';

const ROOT = path.resolve(__dirname, '../..');
let work: string;
let tarball: string;

function install(audience: string): string {
  const packages = installLine(audience);
  const own = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
  for (const p of packages) {
    const installed = p.name === 'modelpilot' ? own.version
      : (JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules', p.name, 'package.json'), 'utf8')) as { version: string }).version;
    expect(`${p.name}@${p.version}`).toBe(`${p.name}@${installed}`);
  }
  const dir = path.join(work, audience);
  installPacked(tarball, dir, packages.map((p) => p.name).filter((n) => n !== 'modelpilot'));
  return dir;
}

function cli(dir: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  // what `npx modelpilot` runs: the package's bin, from the project folder
  return spawnSync(path.join(dir, 'node_modules/modelpilot/build/bin/modelpilot.js'), args, { cwd: dir, encoding: 'utf8', timeout: 180_000 });
}

beforeAll(() => {
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: 'inherit' });
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'modelpilot-install-'));
  tarball = packRepository(work);
}, 300_000);

afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

test('cdk8s repo: the line makes `modelpilot synth app.ts` work (Kubernetes and compose), without the Kubernetes client', () => {
  const dir = install('cdk8s');
  expect(fs.existsSync(path.join(dir, 'node_modules/@kubernetes/client-node'))).toBe(false);
  for (const example of ['recommendation-model', 'llm-gpu']) {
    fs.writeFileSync(path.join(dir, `${example}.ts`),
      fs.readFileSync(path.join(ROOT, 'examples', example, 'app.ts'), 'utf8').replace("from '../../lib'", "from 'modelpilot'"));
  }
  const k8s = cli(dir, ['synth', 'recommendation-model.ts', '--out', 'dist']);
  expect(k8s.stderr).toBe('');
  expect(k8s.status).toBe(0);
  expect(k8s.stdout).toMatch(/wrote 1 file\(s\), \d+ valid objects/);
  expect(fs.readFileSync(path.join(dir, 'dist/recommendation-model.yaml'), 'utf8')).toContain('kind: Deployment');
  const compose = cli(dir, ['synth', 'llm-gpu.ts', '--target', 'compose', '--strict', '--out', 'host']);
  expect(compose.stderr).toBe('');
  expect(compose.status).toBe(0);
  expect(fs.readFileSync(path.join(dir, 'host/llm-gpu/compose.yaml'), 'utf8')).toContain('driver: nvidia');
});

test('Pulumi repo: the line makes `modelpilot/pulumi` load', () => {
  const dir = install('pulumi');
  const r = spawnSync(process.execPath, ['-e', "const p = require('modelpilot/pulumi'); process.stdout.write(typeof p.ModelEnvironment + ' ' + typeof p.readStackConfig)"],
    { cwd: dir, encoding: 'utf8', timeout: 120_000 });
  expect(r.stderr).toBe('');
  expect(r.stdout).toBe('function function');
});

test('agent only: the line makes `modelpilot agent --config agent.yaml --check` pass on a Docker-target config', () => {
  const dir = install('agent');
  fs.writeFileSync(path.join(dir, 'agent.yaml'), [
    `stateDir: ${path.join(dir, 'state')}`,
    'targets:', '  docker:', `    socket: ${path.join(dir, 'no-engine.sock')}`,
    'images:', '  - repository: 127.0.0.1:5000/models/recsys',
  ].join('\n') + '\n');
  fs.mkdirSync(path.join(dir, 'state'));
  const r = cli(dir, ['agent', '--config', 'agent.yaml', '--check']);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  expect(r.stdout).toBe('agent.yaml is valid\n');
});
