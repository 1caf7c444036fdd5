/**
 * The real Pulumi engine for the Pulumi tier: the `pulumi` CLI and the pulumi-resource-kubernetes provider built by
 * scripts/pulumi/build.sh from the Go module proxy, run offline (file backend, passphrase secrets, no update check,
 * no plugin downloads, the provider found on PATH). The program runs in this process through the Automation API's
 * inline programs (`pulumi up --client`): the pulumi-language-nodejs host cannot be built here (the module proxy
 * refuses it), and the Automation API does not need it.
 */
import { execFileSync, spawn } from 'child_process';
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

/** The environment of an offline engine whose home and file-backend state live under `home`. */
export function engineEnv(home: string, env: Record<string, string> = {}): { envVars: Record<string, string>; stateDir: string; bin: string } {
  const bin = pulumiBinDir();
  const stateDir = path.join(home, 'state');
  fs.mkdirSync(stateDir, { recursive: true });
  const envVars = {
    PULUMI_BACKEND_URL: `file://${stateDir}`, PULUMI_CONFIG_PASSPHRASE: 'modelpilot-test-passphrase', PULUMI_HOME: path.join(home, 'home'),
    PULUMI_SKIP_UPDATE_CHECK: 'true', PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: 'true', PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK: 'true',
    PATH: `${bin}:${process.env.PATH ?? ''}`, ...env,
  };
  return { envVars, stateDir, bin };
}

/** A stack of project `modelpilot` on a fresh file backend, running `program` in-process. */
export async function testStack(stackName: string, program: () => Promise<Record<string, unknown>>, env: Record<string, string>): Promise<TestStack> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'modelpilot-pulumi-'));
  const { envVars, stateDir, bin } = engineEnv(home, env);
  const pulumiCommand = await PulumiCommand.get({ root: path.dirname(bin), skipVersionCheck: true });
  const stack = await LocalWorkspace.createOrSelectStack({ stackName, projectName: 'modelpilot', program }, { pulumiCommand, envVars, workDir: home });
  return { stack, stateDir, remove: () => fs.rmSync(home, { recursive: true, force: true }) };
}

/** What one operation of {@link runProgram} gave. */
export interface OpResult {
  readonly op: 'preview' | 'up' | 'destroy';
  readonly ok: boolean;
  /** Resource changes other than `same`. */
  readonly changes: Record<string, number>;
  readonly outputs: Record<string, unknown>;
  /** The engine's error output when `ok` is false. */
  readonly error: string;
  readonly ms: number;
}

export interface RunProgramOptions {
  readonly stackName: string;
  /** The program's entry module (a .ts file under this repository, or a compiled .js file of a user's project). */
  readonly program: string;
  readonly config: ConfigMap;
  readonly ops: ReadonlyArray<OpResult['op']>;
  /** Extra environment (e.g. KUBECONFIG). */
  readonly env?: Record<string, string>;
  /** The engine's home and state; a fresh temp dir when not given. */
  readonly home?: string;
  /** Project name (the config namespace stays 'modelpilot'). @default 'modelpilot' */
  readonly projectName?: string;
  /** Called with the runner's pid once it started (its process group holds the engine and the plugins). */
  readonly onSpawn?: (pid: number) => void;
  /** Kill the run after this long. @default 300_000 */
  readonly timeoutMs?: number;
  /** Project settings (a parsed Pulumi.yaml: its typed `config` is checked by the engine before the program runs). */
  readonly projectSettings?: Record<string, unknown>;
}

/**
 * Runs a program module as `pulumi` would (its top level declares the resources, its exports are the stack outputs)
 * in a child process, through the Automation API of the `@pulumi/pulumi` that the program itself resolves (so a
 * user project's copy of the SDK, not this repository's). A failing program fails only its operation, not the test
 * process.
 */
export function runProgram(opts: RunProgramOptions): Promise<{ results: OpResult[]; stateDir: string; home: string }> {
  const home = opts.home ?? fs.mkdtempSync(path.join(os.tmpdir(), 'modelpilot-pulumi-'));
  const { envVars, stateDir, bin } = engineEnv(home, opts.env);
  const spec = JSON.stringify({ ...opts, onSpawn: undefined, home, envVars, pulumiRoot: path.dirname(bin), projectName: opts.projectName ?? 'modelpilot' });
  const timeoutMs = opts.timeoutMs ?? 300_000;
  return new Promise((resolve, reject) => {
    // its own process group, so that a timeout stops the engine and the provider it started too
    const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', path.join(__dirname, 'runner.ts'), spec],
      { cwd: ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    if (child.pid !== undefined) opts.onSpawn?.(child.pid);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => { stdout += b.toString(); });
    child.stderr.on('data', (b: Buffer) => { stderr = (stderr + b.toString()).slice(-20_000); });
    let killed = false;
    const timer = setTimeout(() => { killed = true; try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* gone */ } }, timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      const line = stdout.split('\n').find((l) => l.startsWith('MODELPILOT-RESULT '));
      if (!line) {
        reject(new Error(`the program runner gave no result (${killed ? `killed after ${timeoutMs} ms` : `exit ${code}`}):\n${stderr.slice(-4000)}`));
        return;
      }
      resolve({ results: JSON.parse(line.slice('MODELPILOT-RESULT '.length)) as OpResult[], stateDir, home });
    });
  });
}

/** Config as Automation API takes it: plain values, and the secret keys marked secret. */
export function configMap(values: Record<string, string>, secretKeys: readonly string[]): ConfigMap {
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [k, { value: v, secret: secretKeys.includes(k) }]));
}
