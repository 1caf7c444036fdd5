/**
 * The Pulumi program as a module, the way `pulumi up` runs it (its top level declares the resources): the repo's
 * stacks/index.ts with a bad config, and a platform repo's own program that imports the packed package's
 * `modelpilot/pulumi` entry point. Each runs in a child process (engine.ts runProgram) on the real engine and
 * Kubernetes provider against one fresh real control plane (kwok pods: Ready is kwok's stage, nothing is pulled).
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as YAML from 'yaml';
import { stackFileConfig, TEST_SECRETS } from '../pulumi/harness';
import { startCluster, TestCluster } from '../support/cluster';
import { installCrds } from '../support/crds';
import { installPacked, packRepository } from '../support/pack';
import { configMap, runProgram } from './engine';

jest.setTimeout(900_000);

const ROOT = path.resolve(__dirname, '../..');
const DIGEST = `sha256:${'4'.repeat(64)}`;
const PROJECT = YAML.parse(fs.readFileSync(path.join(ROOT, 'Pulumi.yaml'), 'utf8')) as Record<string, unknown>;
let cluster: TestCluster;

beforeAll(async () => {
  cluster = await startCluster({ nodes: 1 });
  installCrds(cluster.kubectl);
  // no provisioner here: a volume for the platform example's updater state claim (1Gi, no StorageClass) to bind to
  cluster.kubectl(['apply', '-f', '-'], JSON.stringify({
    apiVersion: 'v1', kind: 'PersistentVolume', metadata: { name: 'updater-state-platform' },
    spec: { capacity: { storage: '1Gi' }, accessModes: ['ReadWriteOnce'], storageClassName: '', hostPath: { path: path.join(cluster.dir, 'pv-platform') } },
  }));
});

afterAll(async () => {
  await cluster?.stop();
});

/** Names of the resources in a stack's checkpoint on the file backend (none when the stack never applied any). */
function stateResources(stateDir: string): string[] {
  const files = fs.readdirSync(stateDir, { recursive: true }).map(String).filter((f) => /\.pulumi\/stacks\/.*\.json$/.test(f));
  return files.flatMap((f) => {
    const checkpoint = JSON.parse(fs.readFileSync(path.join(stateDir, f), 'utf8')) as { checkpoint?: { latest?: { resources?: Array<{ urn: string }> } } };
    return (checkpoint.checkpoint?.latest?.resources ?? []).map((r) => r.urn);
  });
}

describe('a bad config fails before any resource is touched, naming the key and the fix (stacks/index.ts on the real engine)', () => {
  test.each<[string, Record<string, string | undefined>, string]>([
    ['a required key is missing', { 'modelpilot:model': undefined }, "'modelpilot:model' is not set; set it with `pulumi config set modelpilot:model recsys`"],
    ['a key has the wrong type', { 'modelpilot:replicas': 'three' },
      "'modelpilot:replicas' value 'three' is not a number; set it with `pulumi config set modelpilot:replicas 2`"],
    ['a required secret is missing', { 'modelpilot:webhookToken': undefined },
      "'modelpilot:webhookToken' is not set but"],
    ['the version is not a semantic version', { 'modelpilot:version': 'latest' },
      "'modelpilot:version' value 'latest' is not a semantic version; use a version such as '1.4.0' or '1.5.0-rc.1'; set it with `pulumi config set modelpilot:version 1.4.0`"],
    ['a structured key is wrong', { 'modelpilot:registry': JSON.stringify({ host: 'https://registry.example.com', repository: 'models/recsys' }) },
      "'modelpilot:registry.host' value 'https://registry.example.com' is not a host[:port]; give it without scheme or path"],
  ])('%s', async (name, patch, expected) => {
    // GIVEN the dev stack's config, in a namespace of its own, with one key changed (undefined = removed)
    const ns = `bad-${name.split(' ').slice(-2).join('-').replace(/[^a-z-]/g, '')}`.slice(0, 40);
    const config: Record<string, string> = { ...stackFileConfig('dev'), ...TEST_SECRETS, 'modelpilot:kubeContext': 'test', 'modelpilot:imageDigest': DIGEST, 'modelpilot:namespace': ns };
    for (const [k, v] of Object.entries(patch)) {
      if (v === undefined) delete config[k];
      else config[k] = v;
    }
    // WHEN pulumi preview and pulumi up run it
    const { results, stateDir, home } = await runProgram({
      stackName: 'dev', program: path.join(ROOT, 'stacks/index.ts'), config: configMap(config, Object.keys(TEST_SECRETS)),
      ops: ['up'], env: { KUBECONFIG: cluster.kubeconfig }, projectSettings: PROJECT,
    });
    try {
      // THEN up fails with the key (and, from the program, the value and the fix)
      expect(results).toHaveLength(1);
      expect(results[0].ok).toBe(false);
      expect(results[0].error).toContain(expected);
      expect(results[0].error).not.toContain('Unhandled exception'); // a pulumi.RunError: the message, no stack trace
      console.log(`bad config (${name}): ${results[0].error.split('\n').filter((l) => l.includes('modelpilot:')).slice(0, 2).join(' | ').trim()}`);
      // AND nothing was applied: no resource in the state, no namespace on the API server
      expect(stateResources(stateDir).filter((u) => !/::pulumi:pulumi:Stack::/.test(u))).toEqual([]);
      expect(cluster.kubectlResult(['get', 'namespace', ns]).status).not.toBe(0);
    } finally {
      fs.rmSync(home, { recursive: true, force: true });
    }
  });
});

describe("a platform repo's own program, importing 'modelpilot/pulumi' from the packed package (examples/pulumi-platform)", () => {
  const EXAMPLE = path.join(ROOT, 'examples/pulumi-platform');
  let tmp: string;
  let project: string;

  beforeAll(() => {
    // GIVEN a project laid out as npm would install the example's package.json: the packed modelpilot and its peers
    execFileSync(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit' });
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'modelpilot-platform-'));
    project = path.join(tmp, 'project');
    const deps = JSON.parse(fs.readFileSync(path.join(EXAMPLE, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
    const peers = [...Object.keys(deps.dependencies), ...Object.keys(deps.devDependencies)].filter((d) => d !== 'modelpilot' && d !== 'typescript');
    installPacked(packRepository(tmp), project, peers);
    for (const f of ['index.ts', 'tsconfig.json', 'Pulumi.yaml', 'Pulumi.dev.yaml']) fs.copyFileSync(path.join(EXAMPLE, f), path.join(project, f));
  }, 300_000);

  afterAll(() => { if (tmp) fs.rmSync(tmp, { recursive: true, force: true }); });

  test('compiles with the classic tsconfig of a Pulumi project (moduleResolution node: the types come through typesVersions)', () => {
    const r = spawnTsc(project);
    expect(r.output).toBe('');
    expect(r.status).toBe(0);
    expect(fs.existsSync(path.join(project, 'bin/index.js'))).toBe(true);
  });

  test('pulumi up applies it with the team\'s own settings; destroy removes it', async () => {
    // WHEN the compiled program runs on the real engine with the example's Pulumi.dev.yaml (kube context: the test cluster)
    const file = (YAML.parse(fs.readFileSync(path.join(project, 'Pulumi.dev.yaml'), 'utf8')) as { config: Record<string, unknown> }).config;
    const values = Object.fromEntries(Object.entries(file).map(([k, v]) => [k, typeof v === 'object' ? JSON.stringify(v) : String(v)]));
    const secrets = { 'modelpilot:webhookHmacKey': TEST_SECRETS['modelpilot:webhookHmacKey'], 'modelpilot:webhookToken': TEST_SECRETS['modelpilot:webhookToken'] };
    const config = configMap({ ...values, ...secrets, 'modelpilot:kubeContext': 'test', 'modelpilot:imageDigest': DIGEST }, Object.keys(secrets));
    const run = await runProgram({
      stackName: 'dev', projectName: 'recsys-platform', program: path.join(project, 'bin/index.js'), config,
      ops: ['up'], env: { KUBECONFIG: cluster.kubeconfig }, home: path.join(tmp, 'engine'),
    });
    expect(run.results.map((r) => r.error)).toEqual(['']);
    const [up] = run.results;
    console.log(`platform example: pulumi up ${up.ms} ms, ${JSON.stringify(up.changes)}`);
    // THEN the model runs in the example's namespace with the team's settings, pinned to the digest
    const d = JSON.parse(cluster.kubectl(['get', 'deployment', 'recsys', '-n', 'recsys-dev', '-o', 'json'])) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(d.metadata.labels['app.kubernetes.io/part-of']).toBe('recommendations');
    expect(d.spec.template.spec.containers[0].resources.requests.cpu).toBe('250m');
    expect(d.spec.template.spec.containers[0].env).toContainEqual({ name: 'LOG_LEVEL', value: 'debug' });
    expect(d.spec.template.spec.containers[0].image).toBe(`registry.platform.example.com/models/recsys:1.4.0@${DIGEST}`);
    expect(d.status.conditions.find((c: { type: string }) => c.type === 'Available').status).toBe('True');
    expect(up.outputs.imageRef).toBe(d.spec.template.spec.containers[0].image);
    // AND destroy takes it all away, namespace included
    const down = await runProgram({
      stackName: 'dev', projectName: 'recsys-platform', program: path.join(project, 'bin/index.js'), config,
      ops: ['destroy'], env: { KUBECONFIG: cluster.kubeconfig }, home: path.join(tmp, 'engine'),
    });
    expect(down.results.map((r) => r.error)).toEqual(['']);
    expect(cluster.kubectlResult(['get', 'namespace', 'recsys-dev']).status).not.toBe(0);
  });
});

function spawnTsc(dir: string): { status: number | null; output: string } {
  try {
    execFileSync(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', path.join(dir, 'tsconfig.json')], { cwd: dir, encoding: 'utf8', stdio: 'pipe' });
    return { status: 0, output: '' };
  } catch (e) {
    const err = e as { status: number | null; stdout?: string; stderr?: string };
    return { status: err.status, output: `${err.stdout ?? ''}${err.stderr ?? ''}` };
  }
}
