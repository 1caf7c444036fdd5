/**
 * The published package, as a user gets it: packed with `npm pack`, installed (offline, see test/support/pack.ts)
 * into a project that has only the cdk8s peers, then used through its entry points.
 */
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { installPacked, packedFiles, packRepository } from '../support/pack';

const ROOT = path.resolve(__dirname, '../..');
const CDK8S_PEERS = ['cdk8s', 'constructs', 'cdk8s-plus-28'];
let dir: string;
let copied: string[];

function node(code: string): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, ['-e', code], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
}

beforeAll(() => {
  // The package's own build script, from a build without the CLI file: what `npm ci` (prepare) leaves on a fresh clone.
  fs.rmSync(path.join(ROOT, 'build/bin/modelpilot.js'), { force: true });
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: 'inherit' });
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelpilot-pack-'));
  const tarball = packRepository(dir);
  copied = installPacked(tarball, path.join(dir, 'project'), CDK8S_PEERS);
  dir = path.join(dir, 'project');
}, 180_000);

afterAll(() => fs.rmSync(path.dirname(dir), { recursive: true, force: true }));

describe('the packed package', () => {
  test('the build leaves the CLI executable: `npx modelpilot` runs it as a program (sh -c), not through node', () => {
    // npx links the project's own bin once in its cache (~/.npm/_npx) and marks it executable only then; a later
    // clean clone at the same path is run through that link, so the build itself must set the mode.
    const cli = path.join(ROOT, 'build/bin/modelpilot.js');
    expect(fs.statSync(cli).mode & 0o111).toBe(0o111);
    const r = spawnSync(cli, ['--help'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    expect(r.error).toBeUndefined();
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('synth');
  });

  test('ships only the build of lib/, agent/, bin/, the demo app and docs: no sources, tests, benchmarks or maps', () => {
    const files = packedFiles();
    expect(files).toContain('build/lib/index.js');
    expect(files).toContain('build/lib/index.d.ts');
    expect(files).toContain('build/agent/index.js');
    expect(files).toContain('build/lib/pulumi/index.js');
    expect(files).toContain('build/bin/modelpilot.js');
    expect(files.filter((f) => /^(test|bench|lib|agent|stacks|scripts|tools)\//.test(f) || /\.ts$/.test(f) && !/\.d\.ts$/.test(f))).toEqual([]);
    expect(files.filter((f) => /\.map$|^build\/(test|bench|stacks|scripts)\//.test(f))).toEqual([]);
  });

  test('a cdk8s-only project gets no Pulumi, dockerode, Kubernetes client, ts-node or typescript', () => {
    expect(copied.filter((p) => /^(@pulumi\/|dockerode|docker-modem|@kubernetes\/client-node|ts-node|typescript)/.test(p))).toEqual([]);
    expect(copied).toEqual(expect.arrayContaining(['cdk8s', 'constructs', 'cdk8s-plus-28', 'zod', 'yaml', 'kubernetes-models']));
  });

  test("import { SelfHealingModelStack } from 'modelpilot' synthesizes a stack, loading no agent, Pulumi, dockerode or kube-client module", () => {
    const r = node(`
      const { App } = require('cdk8s');
      const { SelfHealingModelStack, ModelRegistry } = require('modelpilot');
      const app = new App();
      new SelfHealingModelStack(app, 'recsys', {
        namespace: 'ml', registry: ModelRegistry.inCluster({ nodePort: 30500 }), monitoring: {}, updater: {},
        model: { name: 'recsys', image: 'localhost:30500/models/recsys:1.4.0' },
      });
      const kinds = app.charts[0].toJson().map((o) => o.kind);
      const loaded = Object.keys(require.cache).map((k) => k.slice(k.lastIndexOf('node_modules/') + 13));
      process.stdout.write(JSON.stringify({ kinds, loaded }));
    `);
    expect(r.stderr).toBe('');
    const { kinds, loaded } = JSON.parse(r.stdout) as { kinds: string[]; loaded: string[] };
    expect(kinds).toEqual(expect.arrayContaining(['Deployment', 'Service', 'ServiceMonitor', 'PrometheusRule', 'Role', 'NetworkPolicy']));
    expect(loaded.filter((m) => /^modelpilot\/build\/(agent|lib\/pulumi|bin)\//.test(m))).toEqual([]);
    expect(loaded.filter((m) => /^(@pulumi|dockerode|docker-modem|@kubernetes\/client-node|ts-node|typescript)\//.test(m))).toEqual([]);
  });

  test("'modelpilot/pulumi' without the Pulumi SDK throws, naming the package and the version to install", () => {
    const r = node("require('modelpilot/pulumi')");
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("the Pulumi component ('modelpilot/pulumi') needs the package '@pulumi/pulumi', which is not installed; install it with 'npm install @pulumi/pulumi@3.248.0'");
  });

  test('`modelpilot synth` validates every object without @kubernetes/client-node (the core types\' fields are a generated table)', () => {
    const out = path.join(dir, 'synth-out');
    const r = spawnSync(process.execPath, [path.join(dir, 'node_modules/modelpilot/build/bin/modelpilot.js'), 'synth', '--out', out], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/wrote 1 file\(s\), \d+ valid objects/);
    expect(fs.existsSync(path.join(dir, 'node_modules/@kubernetes/client-node'))).toBe(false);
  });

  test("'modelpilot/agent' loads and validates a config; its Kubernetes target names the missing client", () => {
    const r = node(`
      const agent = require('modelpilot/agent');
      const c = agent.parseConfig({ targets: { docker: {} }, images: [{ repository: '127.0.0.1:5000/models/recsys' }] });
      let err = '';
      try { agent.kubernetesTarget({ namespace: 'ml' }); } catch (e) { err = e.message; }
      process.stdout.write(JSON.stringify({ stateDir: c.stateDir, err, internal: 'Planner' in agent }));
    `);
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({
      stateDir: '/var/lib/modelpilot', internal: false,
      err: "the Kubernetes target needs the package '@kubernetes/client-node', which is not installed; install it with 'npm install @kubernetes/client-node@0.22.3'",
    });
  });

  test('deep imports outside the exports map are refused; ./package.json is exported', () => {
    expect(node("require('modelpilot/build/lib/pulumi')").stderr).toContain('ERR_PACKAGE_PATH_NOT_EXPORTED');
    expect(node("process.stdout.write(require('modelpilot/package.json').name)").stdout).toBe('modelpilot');
  });

  test('a strict TypeScript project type-checks against the constructs\' published .d.ts (stripInternal on, skipLibCheck off)', () => {
    fs.writeFileSync(path.join(dir, 'app.ts'), [
      "import { App, Duration as CdkDuration } from 'cdk8s';",
      "import { Duration, ModelRegistry, SelfHealingModelStack, Slo, UpdatePolicy } from 'modelpilot';",
      'const app = new App();',
      "new SelfHealingModelStack(app, 'm', { model: { name: 'm', image: 'localhost:30500/models/m:1.0.0', updatePolicy: UpdatePolicy.semver('minor'),",
      '  slo: new Slo({ window: CdkDuration.minutes(10), maxP99Latency: Duration.millis(500) }) }, namespace: \'ml\', registry: ModelRegistry.inCluster({ nodePort: 30500 }), updater: {} });',
    ].join('\n'));
    fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { strict: true, module: 'node16', moduleResolution: 'node16', target: 'ES2022', noEmit: true, skipLibCheck: false, types: [] },
      files: ['app.ts'],
    }));
    // No @types/node: the constructs' declarations need nothing beyond cdk8s and constructs.
    const r = spawnSync(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], { cwd: dir, encoding: 'utf8' });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});
