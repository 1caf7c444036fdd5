/**
 * `modelpilot validate <file.yaml…>`: checks every object of the given manifests against its schema, the same checks
 * `modelpilot synth` runs before it writes.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as readline from 'readline';
import * as YAML from 'yaml';
import { checkInputFile, pseudoFilesystemOf } from '../../agent/files';
import { describeObject, formatIssue, validateManifest, ValidationIssue } from '../../lib/validation/validate';
import { parseCommandArgs } from '../args';

const USAGE = `usage: modelpilot validate <file.yaml|dir…> [--allow-unknown <apiVersion/Kind>]…

Validates every object of every file (a directory: every .yaml, .yml and .json under it) against its Kubernetes schema (core types, Prometheus Operator, Argo CD and
Argo Rollouts CRDs). An unknown kind is an error unless allowed with --allow-unknown (e.g. example.com/v1/Widget, or '*').
Exit status: 0 when all objects are valid, 1 when any is invalid or a file cannot be read or parsed, 2 on usage errors.`;

/** Reads the objects of a YAML stream; a `kind: List` contributes its items. */
export function readManifests(text: string, file: string): unknown[] {
  const docs = YAML.parseAllDocuments(text);
  const objects: unknown[] = [];
  for (const doc of docs) {
    if (doc.errors.length) {
      throw new Error(`${file}: YAML error: ${doc.errors[0].message.split('\n')[0]}`);
    }
    const value = doc.toJS() as unknown;
    if (value === null || value === undefined) continue;
    const v = value as Record<string, unknown>;
    if (typeof v === 'object' && typeof v.kind === 'string' && v.kind.endsWith('List') && Array.isArray(v.items)) objects.push(...v.items);
    else objects.push(value);
  }
  return objects;
}

/**
 * The objects of a manifest file, one YAML document at a time: the file is read as a stream and split at document
 * markers, so memory holds one document, not the whole file (a 40 MB rendered chart validates in bounded memory).
 * A `.json` file is one document.
 */
export async function* streamManifests(file: string): AsyncGenerator<unknown> {
  const toObjects = (text: string, firstLine: number): unknown[] => {
    try {
      return readManifests(text, file);
    } catch (e) {
      throw new Error((e as Error).message.replace(`${file}: `, `${file}: document at line ${firstLine}: `));
    }
  };
  if (file.endsWith('.json')) {
    yield* toObjects(await fs.promises.readFile(file, 'utf8'), 1);
    return;
  }
  const hasContent = (text: readonly string[]): boolean => text.some((l) => l.trim() !== '' && !l.trimStart().startsWith('#'));
  const lines = readline.createInterface({ input: fs.createReadStream(file, { encoding: 'utf8' }), crlfDelay: Infinity });
  let doc: string[] = [];
  let start = 1;
  let n = 0;
  for await (const line of lines) {
    n++;
    if (/^---(\s|$)/.test(line) || /^\.\.\.\s*$/.test(line)) {
      if (hasContent(doc)) yield* toObjects(doc.join('\n'), start);
      doc = /^---\s+\S/.test(line) ? [line.replace(/^---\s+/, '')] : [];
      start = n + 1;
      continue;
    }
    doc.push(line);
  }
  if (hasContent(doc)) yield* toObjects(doc.join('\n'), start);
}

/** The largest manifest file read (it is streamed, one document in memory at a time). */
const MAX_MANIFEST_BYTES = 256 * 1024 * 1024;
const MANIFEST_FIX = 'give a manifest file (.yaml, .yml or .json) or a directory of them';

/** The manifest files named by the arguments: files as given, directories searched (recursively) for .yaml/.yml/.json. */
function expandFiles(args: readonly string[]): { files: string[]; errors: string[] } {
  const files: string[] = [];
  const errors: string[] = [];
  for (const a of args) {
    let st: fs.Stats;
    try {
      st = fs.statSync(a);
    } catch {
      errors.push(`${a}: no such file or directory`);
      continue;
    }
    if (!st.isDirectory()) {
      const unfit = checkInputFile(a, { field: '', fix: MANIFEST_FIX, maxBytes: MAX_MANIFEST_BYTES });
      if (unfit) errors.push(unfit);
      else files.push(a);
      continue;
    }
    const pseudo = pseudoFilesystemOf(a);
    if (pseudo) {
      errors.push(`'${a}' is on ${pseudo} (a kernel interface, not manifests); ${MANIFEST_FIX}`);
      continue;
    }
    const found = (fs.readdirSync(a, { recursive: true }) as string[]).map((f) => path.join(a, f))
      .filter((f) => /\.(ya?ml|json)$/.test(f) && fs.statSync(f, { throwIfNoEntry: false })?.isFile()).sort();
    if (found.length === 0) errors.push(`${a}: directory holds no .yaml, .yml or .json file`);
    files.push(...found);
  }
  return { files, errors };
}

export async function run(argv: string[]): Promise<number> {
  const args = parseCommandArgs(argv, { 'allow-unknown': { type: 'string', multiple: true, needs: 'an apiVersion/Kind' } }, true);
  if ('error' in args) return usageError(args.error);
  if (args.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const { positionals, values: { 'allow-unknown': allow = [] } } = args;
  if (positionals.length === 0) return usageError('no file given');
  const { files, errors } = expandFiles(positionals);
  for (const e of errors) process.stderr.write(`${e}\n`);
  let failed = errors.length > 0;
  for (const file of files) {
    const issues: ValidationIssue[] = [];
    const seen = new Map<string, number>();
    let checked = 0;
    try {
      for await (const obj of streamManifests(file)) {
        checked++;
        issues.push(...validateManifest(obj, { allowUnknownKinds: allow }));
        if (obj && typeof obj === 'object') {
          const key = describeObject(obj as Record<string, unknown>);
          const first = seen.get(key);
          if (first !== undefined) {
            issues.push({ object: key, path: '$', message: `is defined twice (objects ${first} and ${checked}); names must be unique per kind and namespace` });
          } else {
            seen.set(key, checked);
          }
        }
      }
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      process.stderr.write(`${err.code === 'ENOENT' ? `${file}: no such file` : err.code ? `${file}: cannot be read (${err.code})` : err.message}\n`);
      failed = true;
      continue;
    }
    if (issues.length === 0) {
      process.stdout.write(`${file}: ${checked} objects valid\n`);
    } else {
      failed = true;
      process.stderr.write(`${file}: ${issues.length} invalid field(s) in ${checked} objects:\n`
        + issues.map((i) => `  ${formatIssue(i)}\n`).join(''));
    }
  }
  return failed ? 1 : 0;
}

function usageError(message: string): number {
  process.stderr.write(`modelpilot validate: ${message}\n${USAGE}\n`);
  return 2;
}
