/**
 * `modelpilot validate <file.yaml…>`: checks every object of the given manifests against its schema, the same checks
 * `modelpilot synth` runs before it writes.
 */
import * as fs from 'fs';
import * as YAML from 'yaml';
import { formatIssue, validateManifests } from '../../lib/validation/validate';
import { parseCommandArgs } from '../args';

const USAGE = `usage: modelpilot validate <file.yaml…> [--allow-unknown <apiVersion/Kind>]…

Validates every object of every file against its Kubernetes schema (core types, Prometheus Operator, Argo CD and
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

export async function run(argv: string[]): Promise<number> {
  const args = parseCommandArgs(argv, { 'allow-unknown': { type: 'string', multiple: true, needs: 'an apiVersion/Kind' } }, true);
  if ('error' in args) return usageError(args.error);
  if (args.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const { positionals: files, values: { 'allow-unknown': allow = [] } } = args;
  if (files.length === 0) return usageError('no file given');

  let failed = false;
  for (const file of files) {
    let objects: unknown[];
    try {
      objects = readManifests(fs.readFileSync(file, 'utf8'), file);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      process.stderr.write(`${err.code === 'ENOENT' ? `${file}: no such file` : err.message}\n`);
      failed = true;
      continue;
    }
    const result = validateManifests(objects, { allowUnknownKinds: allow });
    if (result.ok) {
      process.stdout.write(`${file}: ${result.checked} objects valid\n`);
    } else {
      failed = true;
      process.stderr.write(`${file}: ${result.issues.length} invalid field(s) in ${result.checked} objects:\n`
        + result.issues.map((i) => `  ${formatIssue(i)}\n`).join(''));
    }
  }
  return failed ? 1 : 0;
}

function usageError(message: string): number {
  process.stderr.write(`modelpilot validate: ${message}\n${USAGE}\n`);
  return 2;
}
