/**
 * `modelpilot pin <model> <version> [--reason <text>]`, `pin <model> --release`, `pin list`: the model runs exactly
 * this version — the agent moves it there (through the health gate) and nowhere else until unpinned. Kept in the
 * agent's state directory (overrides.json), in force from the agent's next cycle, in the audit log.
 */
import { AuditLog } from '../../agent/state/audit';
import { OverrideStore } from '../../agent/state/overrides';
import { DNS_LABEL_RE } from '../../lib/core/checks';
import { parseVersionTag, versionKeyProblem } from '../../lib/core/image-ref';
import { resolveState } from '../agent-config';
import { parseCommandArgs } from '../args';

const USAGE = `usage: modelpilot pin <model> <version> [--reason <text>] [--state-dir <dir> | --config <agent.yaml>]
       modelpilot pin <model> --release [--state-dir <dir> | --config <agent.yaml>]
       modelpilot pin list [--json] [--state-dir <dir> | --config <agent.yaml>]

A pinned model runs exactly <version>: the agent rolls it there (an older version too: a rollback that sticks)
through the health gate, and leaves it there. A quarantined version is not applied by a pin (release it first).
On Kubernetes, the annotation modelpilot.dev/pin on the Deployment does the same.
`;

export async function run(argv: string[]): Promise<number> {
  const args = parseCommandArgs(argv, {
    'state-dir': { type: 'string', needs: 'a directory' }, config: { type: 'string', needs: 'an agent.yaml' },
    reason: { type: 'string', needs: 'a reason' }, release: { type: 'boolean' }, json: { type: 'boolean' },
  }, true);
  if ('error' in args) return usageError(args.error);
  if (args.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const [model, version, ...more] = args.positionals;
  if (model === undefined) return usageError('the model is missing');
  if (more.length) return usageError(`too many arguments ('${more[0]}')`);
  if (model !== 'list' && !DNS_LABEL_RE.test(model)) return usageError(`'${model}' is not a model name; use lowercase letters, digits and '-'`);
  const state = resolveState('pin', args.values);
  if (typeof state === 'number') return state;
  let store: OverrideStore;
  try {
    store = new OverrideStore(state.stateDir);
  } catch (e) {
    process.stderr.write(`modelpilot pin: ${(e as Error).message}\n`);
    return 1;
  }
  const audit = new AuditLog(state.auditFile);
  if (model === 'list') {
    const { pins } = store.list();
    if (args.values.json) process.stdout.write(JSON.stringify(pins, null, 2) + '\n');
    else if (pins.length === 0) process.stdout.write('no pins\n');
    else for (const p of pins) process.stdout.write(`${p.model}  ${p.version}  since ${p.since}  (${p.source}) ${p.reason}\n`);
    return 0;
  }
  if (args.values.release) {
    if (version !== undefined) return usageError("'--release' takes no version");
    const unpinned = store.unpin(model);
    if (!unpinned) {
      process.stderr.write(`modelpilot pin: '${model}' is not pinned in ${store.file}\n`);
      return 1;
    }
    audit.append({ event: 'released', target: '-', model, result: 'ok', reason: `pin to ${unpinned.version} released by an operator` });
    process.stdout.write(`unpinned ${model} (was ${unpinned.version}); its update policy applies again from the agent's next cycle\n`);
    return 0;
  }
  if (version === undefined) return usageError(`the version is missing; give e.g. 'modelpilot pin ${model} 1.3.0'`);
  if (!parseVersionTag(version)) return usageError(`version ${versionKeyProblem(version)?.replace(/ \(or '<tag>@sha256.*\)/, '') ?? `'${version}' is not a version tag; give a semantic version such as 1.3.0`}`);
  const reason = args.values.reason ?? 'pinned by an operator';
  store.pin({ model, version, reason, since: new Date().toISOString(), source: 'operator' });
  audit.append({ event: 'pinned', target: '-', model, result: 'operator', reason: `pinned to ${version}: ${reason}` });
  process.stdout.write(`pinned ${model} to ${version}; the agent moves it there at its next cycle\n`);
  return 0;
}

function usageError(msg: string): number {
  process.stderr.write(`modelpilot pin: ${msg}\n\n${USAGE}`);
  return 2;
}
