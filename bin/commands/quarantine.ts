/**
 * `modelpilot quarantine list|release <model> <version>`: shows or releases versions the agent quarantined.
 * Reads the state dir from `--state-dir`, else from `--config agent.yaml`'s `stateDir`, else `/var/lib/modelpilot`.
 * A running agent picks a release up at its next cycle.
 */
import { AuditLog } from '../../agent/state/audit';
import { QuarantineStore } from '../../agent/state/quarantine';
import { DNS_LABEL_RE } from '../../lib/core/checks';
import { versionKeyProblem } from '../../lib/core/image-ref';
import { resolveState } from '../agent-config';
import { parseCommandArgs } from '../args';

const USAGE = `usage: modelpilot quarantine list [--json] [--state-dir <dir> | --config <agent.yaml>]
       modelpilot quarantine release <model> <version> [--state-dir <dir> | --config <agent.yaml>]
       modelpilot quarantine add <model> <version> --reason <text> [--state-dir <dir> | --config <agent.yaml>]

A quarantined version failed its health gate (or an alert named it, or an operator added it) and is never applied
again automatically, until it is released here or a newer version is promoted past it.
`;

export async function run(argv: string[]): Promise<number> {
  const args = parseCommandArgs(argv, {
    'state-dir': { type: 'string' }, config: { type: 'string' }, json: { type: 'boolean' }, reason: { type: 'string', needs: 'a reason' },
  }, true);
  if ('error' in args) return usageError(args.error);
  if (args.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const { positionals: positional, values: { json } } = args;
  const state = resolveState('quarantine', args.values);
  if (typeof state === 'number') return state;
  const { stateDir, auditFile } = state;
  let store: QuarantineStore;
  try {
    store = new QuarantineStore(stateDir); // reads and checks quarantine.json
  } catch (e) {
    process.stderr.write(`modelpilot quarantine: ${(e as Error).message}\n`);
    return 1;
  }
  const [verb, model, version] = positional;
  if (verb === 'list' && positional.length === 1) {
    const entries = store.list();
    if (json) {
      process.stdout.write(JSON.stringify(entries, null, 2) + '\n');
    } else if (entries.length === 0) {
      process.stdout.write('no quarantined versions\n');
    } else {
      const rows = [['MODEL', 'VERSION', 'SINCE', 'SOURCE', 'REASON'], ...entries.map((e) => [e.model, e.version, e.since, e.source, e.reason])];
      const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
      process.stdout.write(rows.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]))).join('  ')).join('\n') + '\n');
    }
    return 0;
  }
  if (verb === 'release' && positional.length === 3) {
    const released = store.release(model, version);
    if (!released) {
      const known = store.list().map((e) => `${e.model} ${e.version}`);
      process.stderr.write(`modelpilot quarantine: '${model} ${version}' is not quarantined in ${store.file}; ${known.length ? `quarantined: ${known.join(', ')}` : 'nothing is quarantined'}\n`);
      return 1;
    }
    new AuditLog(auditFile).append({
      event: 'released', target: '-', model, result: 'ok', reason: `${version} released by an operator (was: ${released.reason})`,
    });
    process.stdout.write(`released ${model} ${version}; the agent may apply it again at its next cycle\n`);
    return 0;
  }
  if (verb === 'add' && positional.length === 3) {
    if (!DNS_LABEL_RE.test(model)) return usageError(`'${model}' is not a model name; use lowercase letters, digits and '-'`);
    const problem = versionKeyProblem(version);
    if (problem) return usageError(`version ${problem}`);
    const reason = args.values.reason;
    if (!reason) return usageError(`'--reason' is missing; say why ${model} ${version} must not be applied (it is shown in list and in the audit log)`);
    const added = store.add({ model, version, reason, since: new Date().toISOString(), source: 'operator' });
    if (!added) {
      process.stderr.write(`modelpilot quarantine: '${model} ${version}' is already quarantined in ${store.file}\n`);
      return 1;
    }
    new AuditLog(auditFile).append({ event: 'quarantined', target: '-', model, result: 'operator', reason: `${version}: ${reason}` });
    process.stdout.write(`quarantined ${model} ${version}; the agent does not apply it from its next cycle (a running agent leaves a workload already on it alone)\n`);
    return 0;
  }
  return usageError(verb === undefined ? 'missing command' : `'${positional.join(' ')}' is not a quarantine command`);
}

function usageError(msg: string): number {
  process.stderr.write(`modelpilot quarantine: ${msg}\n\n${USAGE}`);
  return 2;
}
