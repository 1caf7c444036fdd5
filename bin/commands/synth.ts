/**
 * `modelpilot synth [app.ts] [--out dist]`: synthesizes a modelpilot app into one YAML file per chart, after
 * validating every object. With no app it synthesizes the built-in demo, examples/recommendation-model.
 *
 * The app.ts contract: the module exports a function — as its default export or named `build` — that takes a cdk8s
 * `App` and adds one or more charts to it (e.g. `new SelfHealingModelStack(app, 'my-model', {...})`). It may be async.
 * It must not call `app.synth()`: modelpilot does that, validates, and writes `<out>/<chart id>.yaml`.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ApiObject, App, Chart } from 'cdk8s';
import { checkInputFile, checkOutputDir, checkOutputFile, hasHeader, isManifestYaml } from '../../agent/files';
import { SINGLE_HOST_IMAGES, singleHostBundle, SingleHostService } from '../../lib/compose/single-host';
import { DEFAULT_UPDATER_IMAGE } from '../../lib/core/contract/names';
import { assertPeer, requirePeer } from '../../lib/core/peer';
import { portableYaml } from '../../lib/core/yaml';
import { SelfHealingModelStack } from '../../lib/stack';
import { defaultUpdaterImageUsers, missingReferences, prerequisitesMarkdown } from '../../lib/validation/prerequisites';
import { describeObject, formatIssue, validateManifests } from '../../lib/validation/validate';
import { SynthWarning, warningsOf } from '../../lib/validation/warnings';
import { parseCommandArgs } from '../args';

/** What an app module exports. */
export type AppBuilder = (app: App) => void | Promise<void>;

/** One synthesized chart. */
export interface SynthesizedChart {
  /** The chart id, also the file name (`<id>.yaml`). */
  readonly id: string;
  /** Every object of the chart, as JSON. */
  readonly objects: Array<Record<string, unknown>>;
  /** The stack, when the chart is a SelfHealingModelStack (the compose target renders from it). */
  readonly stack?: SelfHealingModelStack;
}

/** The built-in demo app (resolves in the sources and in the compiled build/). */
export const DEFAULT_APP = path.join(__dirname, '..', '..', 'examples', 'recommendation-model', 'app');

/** What one `--target` renders from the synthesized charts. */
interface SynthTarget {
  /** For the usage text: what it writes. */
  readonly writes: string;
  /** A few words on where it runs, for messages. */
  readonly where: string;
  /** Writes the output (every file checked before the first is written); the exit status. */
  write(charts: readonly SynthesizedChart[], o: { out: string; appFile?: string; images: Partial<Record<SingleHostService, string>> }): number;
}

/**
 * The targets of `modelpilot synth --target`, one table (docs/extending.md says how to add one; a test keeps the
 * page and this table in step). The first is the default.
 */
export const SYNTH_TARGETS = {
  kubernetes: {
    where: 'a Kubernetes cluster',
    writes: '<out>/<stack>.yaml, one per chart, and SECRETS.md (what the manifests read and do not create)',
    write: (charts, o) => writeKubernetes(charts, o.out, o.appFile),
  },
  compose: {
    where: 'one Docker host',
    writes: 'one Docker host: <out>/<stack>/compose.yaml, haproxy.cfg, prometheus.yml, rules.yml, alertmanager.yml, agent.yaml\n'
      + '                (and registry.yml, SECRETS.md) for each SelfHealingModelStack — the same declaration, blue/green behind HAProxy',
    write: (charts, o) => writeCompose(charts, o.out, o.images, o.appFile),
  },
} as const satisfies Record<string, SynthTarget>;
type SynthTargetName = keyof typeof SYNTH_TARGETS;
const TARGET_NAMES = Object.keys(SYNTH_TARGETS) as SynthTargetName[];

const USAGE = `usage: modelpilot synth [app.ts] [--out <dir>] [--strict] [--target ${TARGET_NAMES.join('|')}] [--image <service>=<ref>]...

Synthesizes a modelpilot app into validated YAML, one file per chart (stack).
  app.ts        module whose default export (or export 'build') is a function (app: cdk8s.App) => void
                that adds charts to the app; default: the built-in demo examples/recommendation-model
  --out <dir>   output directory (default: dist)
  --strict      treat warnings (legal but unsafe settings) as errors: print them, write nothing, exit 1
  --target      ${TARGET_NAMES.map((t, i) => `${t}${i === 0 ? ' (default)' : ''}: ${SYNTH_TARGETS[t].writes}`).join('\n                ')}
  --image       compose only: the image of a supporting service (${Object.keys(SINGLE_HOST_IMAGES).join(', ')}),
                e.g. --image proxy=registry.internal/haproxy:2.6 (repeatable; defaults: the upstream images)
Exit status: 0 when every object is valid and written, 1 on invalid objects, a failing app or (with --strict)
a warning, 2 on usage errors.`;

/** Loads an app module (a .ts file is compiled on the fly with ts-node, transpile-only) and returns its builder. */
export function loadApp(file: string): AppBuilder {
  const resolved = path.resolve(file);
  if (fs.existsSync(resolved)) {
    const unfit = checkInputFile(resolved, { field: 'app', fix: "give the path of an app.ts, e.g. 'examples/llm-gpu/app.ts'", maxBytes: 16 * 1024 * 1024 });
    if (unfit && !fs.statSync(resolved).isDirectory()) throw new Error(unfit); // a directory resolves to its index.ts
  }
  if (/\.tsx?$/.test(resolved)) registerTsNode();
  if (/\.(ya?ml|json)$/i.test(resolved)) {
    throw new Error(`app '${file}' is a data file, not an app module; synth takes an app.ts (or .js) that adds charts; `
      + "to check manifests give them to 'modelpilot validate'");
  }
  let mod: Record<string, unknown>;
  try {
    mod = require(resolved) as Record<string, unknown>;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND' && !fs.existsSync(resolved) && !fs.existsSync(resolved + '.ts') && !fs.existsSync(resolved + '.js')) {
      throw new Error(`app '${file}' does not exist; give the path of an app.ts, e.g. 'examples/llm-gpu/app.ts'`);
    }
    if (e instanceof SyntaxError) throw new Error(`app '${file}' is not a valid TypeScript or JavaScript module (${e.message}); give the path of an app.ts`);
    throw new Error(`app '${file}' failed to load: ${(e as Error).message}`);
  }
  const fn = typeof mod.default === 'function' ? mod.default : mod.build;
  if (typeof fn !== 'function') {
    throw new Error(`app '${file}' exports no builder; add 'export default function build(app: App) { new SelfHealingModelStack(app, ...) }'`);
  }
  return fn as AppBuilder;
}

/**
 * Runs a builder on a fresh App and returns each chart's objects, in chart order. The constructs' warnings (legal
 * but unsafe settings) are appended to `warnings` when it is given.
 */
export async function synthesize(builder: AppBuilder, warnings?: SynthWarning[]): Promise<SynthesizedChart[]> {
  const app = new App({ outdir: fs.mkdtempSync(path.join(os.tmpdir(), 'modelpilot-synth-')) });
  try {
    await builder(app);
    const charts = app.node.children.filter((c): c is Chart => Chart.isChart(c));
    if (charts.length === 0) {
      throw new Error('the app adds no chart; create at least one SelfHealingModelStack (or another cdk8s Chart) on the app it is given');
    }
    // Run construct validations (node.addValidation) the way app.synth() does.
    for (const c of app.node.findAll()) {
      const errors = c.node.validate();
      if (errors.length) throw new Error(`${c.node.path}: ${errors.join('; ')}`);
    }
    checkCollisions(charts);
    warnings?.push(...warningsOf(app));
    return charts.map((c) => ({
      id: c.node.id, objects: c.toJson() as Array<Record<string, unknown>>, ...(SelfHealingModelStack.isStack(c) ? { stack: c } : {}),
    }));
  } finally {
    fs.rmSync(app.outdir, { recursive: true, force: true });
  }
}

/**
 * Two objects with the same group, kind, namespace and name — in one chart or across the app's charts — would
 * overwrite each other on apply. Throws naming both construct paths and the fix.
 */
export function checkCollisions(charts: readonly Chart[]): void {
  const seen = new Map<string, string>();
  for (const chart of charts) {
    for (const o of chart.node.findAll().filter((c): c is ApiObject => ApiObject.isApiObject(c))) {
      const ns = o.metadata.namespace;
      const id = `${o.kind} ${ns ? `${ns}/` : ''}${o.name}`;
      const key = `${o.apiGroup}|${id}`;
      const other = seen.get(key);
      if (other !== undefined) {
        throw new Error(`${id} is defined twice, by '${other}' and by '${o.node.path}'; each object must be unique per group, kind, namespace and name: `
          + 'give the second one another name (the model, registry or updater name of its stack) or put that stack in another namespace');
      }
      seen.set(key, o.node.path);
    }
  }
}

/** Renders objects as a multi-document YAML stream. */
export function toYaml(objects: readonly unknown[]): string {
  return objects.map((o) => portableYaml(o, { lineWidth: 0 })).join('---\n');
}

export async function run(argv: string[]): Promise<number> {
  const args = parseCommandArgs(argv, {
    out: { type: 'string', short: 'o', needs: 'a directory' }, strict: { type: 'boolean' },
    target: { type: 'string', needs: TARGET_NAMES.map((t) => `'${t}'`).join(' or ') }, image: { type: 'string', multiple: true, needs: '<service>=<image reference>' },
  }, true);
  if ('error' in args) return usageError(args.error);
  if (args.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const { values: { out = 'dist', strict = false, target = TARGET_NAMES[0], image = [] }, positionals: [appFile, ...more] } = args;
  if (more.length > 0) return usageError(`only one app may be given (got '${appFile}' and '${more[0]}')`);
  if (!(target in SYNTH_TARGETS)) {
    return usageError(`'--target' is '${target}'; give ${TARGET_NAMES.map((t, i) => `'${t}'${i === 0 ? ' (the default)' : ` (${SYNTH_TARGETS[t].where})`}`).join(' or ')}`);
  }
  const images: Partial<Record<SingleHostService, string>> = {};
  for (const i of image) {
    const m = /^([a-z]+)=(\S+)$/.exec(i);
    if (!m || !(m[1] in SINGLE_HOST_IMAGES)) {
      return usageError(`'--image ${i}' is not <service>=<ref> with a service of ${Object.keys(SINGLE_HOST_IMAGES).join(', ')}; e.g. --image proxy=haproxy:2.6`);
    }
    images[m[1] as SingleHostService] = m[2];
  }
  if (image.length > 0 && target !== 'compose') return usageError("'--image' applies to '--target compose' only");

  let charts: SynthesizedChart[];
  const warnings: SynthWarning[] = [];
  try {
    charts = await synthesize(loadApp(appFile ?? DEFAULT_APP), warnings);
  } catch (e) {
    process.stderr.write(`modelpilot synth: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
  for (const w of warnings) process.stderr.write(`modelpilot synth: ${strict ? 'error' : 'warning'}: ${w.path}: ${w.message}\n`);
  if (strict && warnings.length > 0) {
    process.stderr.write(`modelpilot synth: ${warnings.length} warning(s) and --strict; nothing written (fix them, or drop --strict to write anyway)\n`);
    return 1;
  }

  const issues = charts.flatMap((c) => validateManifests(c.objects).issues);
  if (issues.length) {
    process.stderr.write(`modelpilot synth: ${issues.length} invalid field(s); nothing written:\n${issues.map((i) => '  ' + formatIssue(i)).join('\n')}\n`);
    return 1;
  }

  return SYNTH_TARGETS[target as SynthTargetName].write(charts, { out, appFile, images });
}

/** `--target kubernetes`: one YAML file per chart, SECRETS.md beside them. */
function writeKubernetes(charts: readonly SynthesizedChart[], out: string, appFile?: string): number {
  // a quality gate the Kubernetes updater cannot run is refused, never dropped: the user would believe it guards them
  const gated = charts.filter((c) => c.stack?.model.quality && c.stack.updater);
  if (gated.length > 0) {
    process.stderr.write(gated.map((c) => `modelpilot synth: stack '${c.id}': model '${c.stack!.model.modelName}' has a quality gate ('quality'), `
      + "which the updater runs on one Docker host for now (synth --target compose); for Kubernetes remove 'quality' from this stack "
      + '(an Argo Rollouts analysis can judge the canary) — nothing written\n').join(''));
    return 1;
  }
  // every file is checked before the first is written: nothing over a file synth did not write (#27)
  const allObjects = charts.flatMap((c) => c.objects);
  const missing = missingReferences(allObjects);
  const updaterUsers = defaultUpdaterImageUsers(allObjects);
  const secretsFile = path.join(out, 'SECRETS.md');
  const refused = refuseOutputs(out, charts.map((c) => path.join(out, `${c.id}.yaml`)), appFile)
    || refuseOutputs(out, [secretsFile], appFile, isPrerequisites, 'the list of Secrets to create');
  if (refused) return refused;
  fs.mkdirSync(out, { recursive: true });
  let total = 0;
  for (const c of charts) {
    const file = path.join(out, `${c.id}.yaml`);
    fs.writeFileSync(file, toYaml(c.objects));
    total += c.objects.length;
    const byKind = new Map<string, number>();
    for (const o of c.objects) byKind.set(String(o.kind), (byKind.get(String(o.kind)) ?? 0) + 1);
    process.stdout.write(`${file}: ${c.objects.length} objects (${[...byKind].map(([k, n]) => `${n} ${k}`).join(', ')})\n`);
    for (const o of c.objects) process.stdout.write(`  ${describeObject(o)}\n`);
  }
  // what the user must create: the objects the manifests read and do not create, and the published updater image
  fs.writeFileSync(secretsFile, prerequisitesMarkdown(missing, updaterUsers));
  process.stdout.write(`wrote ${charts.length} file(s), ${total} valid objects\n`);
  if (missing.length > 0) {
    process.stdout.write(`create first: ${missing.map((m) => `${m.kind} ${m.namespace}/${m.name}`).join(', ')} (how: ${secretsFile})\n`);
  }
  if (updaterUsers.length > 0) {
    process.stdout.write(`note: the updater runs the published image ${DEFAULT_UPDATER_IMAGE}; to run your own build set updater.image (${secretsFile})\n`);
  }
  return 0;
}

/** SECRETS.md beside the Kubernetes output, as synth writes it. */
function isPrerequisites(head: string): boolean {
  return hasHeader(head, /^# Secrets and ConfigMaps to create/);
}

const OUT_FIX = "give an empty or new directory, or the one an earlier 'modelpilot synth' wrote, e.g. '--out dist'";

/** A compose bundle file synth wrote: its header line, or SECRETS.md's title. */
function isBundleFile(head: string): boolean {
  return hasHeader(head, /^# (Generated by modelpilot|Secret files for stack)/);
}

/** Why synth must not write `files` under `out` (printed; exit 2), or 0 when it may. */
function refuseOutputs(
  out: string, files: readonly string[], appFile: string | undefined, isSameKind = isManifestYaml, kind = 'Kubernetes manifests',
): number {
  const problems = [checkOutputDir(out, '--out', OUT_FIX)];
  if (!problems[0]) {
    const protect = appFile ? [{ path: path.resolve(appFile), what: 'the app this synthesizes' }] : [];
    problems.push(...files.map((f) => checkOutputFile(f, { field: '--out', kind, isSameKind, protect, fix: OUT_FIX })));
  }
  const found = problems.filter((p): p is string => p !== undefined);
  for (const p of found) process.stderr.write(`modelpilot synth: ${p}\n`);
  if (found.length) process.stderr.write('modelpilot synth: nothing written\n');
  return found.length ? 2 : 0;
}

/** `--target compose`: each stack's single-host bundle in `<out>/<stack id>/`. */
function writeCompose(
  charts: readonly SynthesizedChart[], out: string, images: Partial<Record<SingleHostService, string>>, appFile?: string,
): number {
  const stacks = charts.filter((c) => c.stack);
  if (stacks.length === 0) {
    process.stderr.write('modelpilot synth: --target compose renders SelfHealingModelStack charts, and the app adds none\n');
    return 1;
  }
  const bundles: Array<[string, Record<string, string>]> = [];
  for (const c of stacks) {
    let files: Record<string, string>;
    try {
      files = singleHostBundle(c.stack!, { ...c.stack!.singleHost, images: { ...c.stack!.singleHost?.images, ...images } });
    } catch (e) {
      process.stderr.write(`modelpilot synth: stack '${c.id}': ${(e as Error).message}\n`);
      return 1;
    }
    const header = `# Generated by modelpilot from stack '${c.id}' (npx modelpilot synth --target compose); rewritten by every synth.\n`;
    for (const name of Object.keys(files)) if (!isBundleFile(files[name])) files[name] = header + files[name];
    bundles.push([path.join(out, c.id), files]);
  }
  const refused = refuseOutputs(out, bundles.flatMap(([dir, files]) => Object.keys(files).map((n) => path.join(dir, n))), appFile, isBundleFile,
    'a compose bundle file');
  if (refused) return refused;
  for (const [dir, files] of bundles) {
    fs.mkdirSync(dir, { recursive: true });
    for (const [name, text] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
      fs.writeFileSync(path.join(dir, name), text);
    }
    process.stdout.write(`${dir}/: ${Object.keys(files).join(', ')}\n`);
  }
  const skipped = charts.filter((c) => !c.stack).map((c) => c.id);
  if (skipped.length) process.stdout.write(`not for one host (Kubernetes only): ${skipped.join(', ')}\n`);
  process.stdout.write(`wrote ${stacks.length} single-host bundle(s)\n`);
  return 0;
}

function usageError(message: string): number {
  process.stderr.write(`modelpilot synth: ${message}\n${USAGE}\n`);
  return 2;
}

function registerTsNode(): void {
  if ((process as unknown as Record<symbol, unknown>)[Symbol.for('ts-node.register.instance')] || require.extensions['.ts']) return;
  assertPeer('typescript', 'synthesizing a TypeScript app');
  requirePeer<typeof import('ts-node')>('ts-node', 'synthesizing a TypeScript app').register({ transpileOnly: true, compilerOptions: { module: 'commonjs' } });
}
