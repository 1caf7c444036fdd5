// Runs the Pulumi program (stacks/index.ts) against pulumi.runtime.setMocks, in an isolated module registry, and
// records every registered resource: type, name, inputs (secrets still wrapped), provider and dependencies.
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import * as YAML from 'yaml';

export const ROOT = path.resolve(__dirname, '..', '..');

// Each isolated copy of the SDK adds a process 'exit' listener; a test file loads a dozen of them.
process.setMaxListeners(64);

/** The marker Pulumi puts on a secret value when it crosses the RPC boundary (what the engine encrypts). */
const SECRET_SIG_KEY = '4dabf18193072939515e22adb298388d';
const SECRET_SIG = '1b47061264138c4ac30d75fd1eb44270';

/** Secret values the tests feed as `--secret` config; they must never appear outside a secret wrapper. */
export const TEST_SECRETS: Readonly<Record<string, string>> = {
  'modelpilot:registryPassword': 'registry-pass-Zq8xW1',
  'modelpilot:slackWebhookUrl': 'https://hooks.slack.com/services/T0001/B0001/slacktoken9Xy',
  'modelpilot:webhookHmacKey': 'hmac-5f0c2a7d9e1b4c3a8f6e2d1c0b9a8f7e',
  'modelpilot:webhookToken': 'token-0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a',
};

export interface RecordedResource {
  readonly type: string;
  readonly name: string;
  /** Inputs as the engine receives them; secret values are `{ [SECRET_SIG_KEY]: SECRET_SIG, value }`. */
  readonly inputs: Record<string, unknown>;
  /** Provider reference (`urn::id`), for custom resources. */
  readonly provider?: string;
  /** Names of the resources this one depends on (dependsOn and property dependencies). */
  readonly dependsOn: readonly string[];
  /** Name of the parent resource ('' for the stack's root resources). */
  readonly parent: string;
}

export interface ProgramRun {
  readonly resources: readonly RecordedResource[];
  readonly outputs: Record<string, unknown>;
  byName(name: string): RecordedResource;
  ofType(type: string): RecordedResource[];
}

/** Reads `Pulumi.<stack>.yaml` and returns its config as the engine passes it: strings, JSON for structured values. */
export function stackFileConfig(stack: string): Record<string, string> {
  const file = path.join(ROOT, `Pulumi.${stack}.yaml`);
  const doc = YAML.parse(fs.readFileSync(file, 'utf8')) as { config?: Record<string, unknown> };
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(doc.config ?? {})) {
    if (v !== null && typeof v === 'object' && 'secure' in (v as object)) continue;
    out[k] = typeof v === 'string' ? v : (v !== null && typeof v === 'object' ? JSON.stringify(v) : String(v));
  }
  return out;
}

/** The digest the mocked push returns for an image name: deterministic, so tests can compute it. */
export function mockDigest(imageName: string): string {
  return `sha256:${createHash('sha256').update(imageName).digest('hex')}`;
}

/** The value of an Output, or the string 'unknown' when it is not known (preview). */
async function resolveOutput(o: import('@pulumi/pulumi').Output<unknown>): Promise<unknown> {
  const known = await (o as unknown as { isKnown: Promise<boolean> }).isKnown;
  if (!known) return 'unknown';
  return new Promise((resolve) => o.apply(resolve));
}

function urnName(urn: string): string {
  return urn.slice(urn.lastIndexOf('::') + 2);
}

/**
 * Runs stacks/index.ts as stack `stack` with `config` (secret keys marked secret) and resolves its exports.
 * Rejects with the program's error when it throws.
 */
export async function runProgram(
  stack: string, config: Record<string, string>, secretKeys: readonly string[], options: { preview?: boolean } = {},
): Promise<ProgramRun> {
  const resources: RecordedResource[] = [];
  const outputs: Record<string, unknown> = {};
  let failure: unknown;
  await jest.isolateModulesAsync(async () => {
    const pulumi = await import('@pulumi/pulumi');
    pulumi.runtime.setAllConfig(config, [...secretKeys]);
    const pending = new Map<string, Omit<RecordedResource, 'dependsOn' | 'parent'>>();
    await pulumi.runtime.setMocks({
      newResource: (args) => {
        const state: Record<string, unknown> = { ...args.inputs };
        // Like the real provider, the push (and so the digest) happens only on `pulumi up`, not on preview.
        if (args.type === 'docker:index/image:Image' && !options.preview) {
          const imageName = String(args.inputs.imageName);
          const repo = imageName.slice(0, imageName.lastIndexOf(':'));
          state.repoDigest = `${repo}@${mockDigest(imageName)}`;
        }
        pending.set(`${args.type}::${args.name}`, { type: args.type, name: args.name, inputs: normalizeArrays(args.inputs) as Record<string, unknown>, provider: args.provider });
        return { id: `${args.name}-id`, state };
      },
      call: (args) => args.inputs,
    }, 'modelpilot', stack, options.preview ?? false);
    // The mock monitor hands newResource neither dependsOn nor dependencies: read them from the request itself.
    const monitor = pulumi.runtime.getMonitor() as unknown as {
      registerResource: (req: { getType(): string; getName(): string; getParent(): string; getDependenciesList(): string[] }, cb: unknown) => void;
    };
    const register = monitor.registerResource.bind(monitor);
    monitor.registerResource = (req, cb) => {
      const deps = req.getDependenciesList().map(urnName);
      const origCb = cb as (err: unknown, res: unknown) => void;
      register(req, (err: unknown, res: unknown) => {
        const rec = pending.get(`${req.getType()}::${req.getName()}`);
        const parent = req.getParent();
        if (rec) resources.push({ ...rec, dependsOn: deps, parent: parent === '' || parent.includes('::pulumi:pulumi:Stack::') ? '' : urnName(parent) });
        origCb(err, res);
      });
    };
    try {
      const program = (await import('../../stacks/index')) as Record<string, unknown>;
      for (const [k, v] of Object.entries(program)) {
        outputs[k] = pulumi.Output.isInstance(v) ? await resolveOutput(v as import('@pulumi/pulumi').Output<unknown>) : v;
      }
      // Let the last registrations (registerOutputs, children created after the exports resolved) finish.
      for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    } catch (err) {
      failure = err;
    }
  });
  if (failure !== undefined) throw failure;
  const byName = (name: string) => {
    const r = resources.find((x) => x.name === name);
    if (!r) throw new Error(`no resource named '${name}'; registered: ${resources.map((x) => x.name).join(', ')}`);
    return r;
  };
  return { resources, outputs, byName, ofType: (type: string) => resources.filter((r) => r.type === type) };
}

/** Reads config through lib/pulumi/config.ts with a fresh SDK instance; returns the error message or 'ok'. */
export async function readConfigError(config: Record<string, string>, secretKeys: readonly string[]): Promise<string> {
  let message = 'ok';
  await jest.isolateModulesAsync(async () => {
    const pulumi = await import('@pulumi/pulumi');
    pulumi.runtime.setAllConfig(config, [...secretKeys]);
    await pulumi.runtime.setMocks({ newResource: (a) => ({ id: a.name, state: a.inputs }), call: (a) => a.inputs }, 'modelpilot', 'test', false);
    const { readStackConfig } = await import('../../lib/pulumi/config');
    try {
      readStackConfig();
    } catch (err) {
      message = (err as Error).message;
    }
  });
  return message;
}

/**
 * Inputs deserialized inside jest's sandbox arrive with arrays as `{ '0': …, '1': … }` objects (the SDK's
 * `instanceof Array` check runs against another realm's Array); turn those back into arrays.
 */
function normalizeArrays(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(normalizeArrays);
  if (value === null || typeof value !== 'object') return value;
  const entries = Object.entries(value as Record<string, unknown>);
  const mapped = entries.map(([k, v]) => [k, normalizeArrays(v)] as const);
  if (entries.length > 0 && entries.every(([k], i) => k === String(i))) return mapped.map(([, v]) => v);
  return Object.fromEntries(mapped);
}

/** True when `value` is a Pulumi secret wrapper. */
export function isSecretValue(value: unknown): boolean {
  return value !== null && typeof value === 'object' && (value as Record<string, unknown>)[SECRET_SIG_KEY] === SECRET_SIG;
}

/** Every string in `value` that is NOT inside a secret wrapper. */
export function plainStrings(value: unknown, out: string[] = []): string[] {
  if (isSecretValue(value)) return out;
  if (typeof value === 'string') out.push(value);
  else if (Array.isArray(value)) value.forEach((v) => plainStrings(v, out));
  else if (value !== null && typeof value === 'object') Object.values(value).forEach((v) => plainStrings(v, out));
  return out;
}

/** The value inside a secret wrapper (throws if `value` is not one). */
export function unwrapSecret(value: unknown): unknown {
  if (!isSecretValue(value)) throw new Error(`expected a secret value, got ${JSON.stringify(value)}`);
  return (value as { value: unknown }).value;
}
