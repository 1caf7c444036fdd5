/**
 * The real Pulumi engine for the Pulumi tier: the `pulumi` CLI and the pulumi-resource-kubernetes provider built by
 * scripts/pulumi/build.sh from the Go module proxy, run offline (file backend, passphrase secrets, no update check,
 * no plugin downloads, the provider found on PATH). The program runs in this process through the Automation API's
 * inline programs (`pulumi up --client`): the pulumi-language-nodejs host cannot be built here (the module proxy
 * refuses it), and the Automation API does not need it.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ConfigMap, LocalWorkspace, PulumiCommand, Stack } from '@pulumi/pulumi/automation';

const ROOT = path.join(__dirname, '..', '..');

/** The bin directory of the built engine, or a clear error saying how to build it. */
export function pulumiBinDir(): string {
  try {
    return execFileSync('bash', [path.join(ROOT, 'scripts/pulumi/build.sh'), '--check'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim()
      .split('\n').pop()!;
  } catch (e) {
    throw new Error(`the Pulumi engine is not built: ${String((e as { stderr?: string }).stderr ?? e).trim()}`);
  }
}

export interface TestStack {
  readonly stack: Stack;
  /** The state directory of the file backend. */
  readonly stateDir: string;
  remove(): void;
}

/** A stack of project `modelpilot` on a fresh file backend, running `program` in-process. */
export async function testStack(stackName: string, program: () => Promise<Record<string, unknown>>, env: Record<string, string>): Promise<TestStack> {
  const bin = pulumiBinDir();
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'modelpilot-pulumi-'));
  const stateDir = path.join(home, 'state');
  fs.mkdirSync(stateDir);
  const envVars = {
    PULUMI_BACKEND_URL: `file://${stateDir}`, PULUMI_CONFIG_PASSPHRASE: 'modelpilot-test-passphrase', PULUMI_HOME: path.join(home, 'home'),
    PULUMI_SKIP_UPDATE_CHECK: 'true', PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: 'true', PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK: 'true',
    PATH: `${bin}:${process.env.PATH ?? ''}`, ...env,
  };
  const pulumiCommand = await PulumiCommand.get({ root: path.dirname(bin), skipVersionCheck: true });
  const stack = await LocalWorkspace.createOrSelectStack({ stackName, projectName: 'modelpilot', program }, { pulumiCommand, envVars, workDir: home });
  return { stack, stateDir, remove: () => fs.rmSync(home, { recursive: true, force: true }) };
}

/** Config as Automation API takes it: plain values, and the secret keys marked secret. */
export function configMap(values: Record<string, string>, secretKeys: readonly string[]): ConfigMap {
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [k, { value: v, secret: secretKeys.includes(k) }]));
}
