/**
 * The Pulumi program as a module, the way `pulumi up` runs it (its top level declares the resources): the repo's
 * stacks/index.ts with a bad config, and a platform repo's own program that imports the packed package's
 * `modelpilot/pulumi` entry point. Each runs in a child process (engine.ts runProgram) on the real engine and
 * Kubernetes provider against one fresh real control plane (kwok pods: Ready is kwok's stage, nothing is pulled).
 */
import * as fs from 'fs';
import * as path from 'path';
import * as YAML from 'yaml';
import { stackFileConfig, TEST_SECRETS } from '../pulumi/harness';
import { startCluster, TestCluster } from '../support/cluster';
import { installCrds } from '../support/crds';
import { configMap, runProgram } from './engine';

jest.setTimeout(900_000);

const ROOT = path.resolve(__dirname, '../..');
const DIGEST = `sha256:${'4'.repeat(64)}`;
const PROJECT = YAML.parse(fs.readFileSync(path.join(ROOT, 'Pulumi.yaml'), 'utf8')) as Record<string, unknown>;
let cluster: TestCluster;

beforeAll(async () => {
  cluster = await startCluster({ nodes: 1 });
  installCrds(cluster.kubectl);
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
