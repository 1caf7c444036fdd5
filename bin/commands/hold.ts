/**
 * `modelpilot hold <model> [--until <time|duration>] [--reason <text>]`, `hold <model> --release`, `hold list`: an
 * operator's hold on a model's automatic updates, kept in the agent's state directory (overrides.json) so it survives
 * restarts; a running agent picks it up at its next cycle. Every change is in the audit log.
 */
import { AuditLog } from '../../agent/state/audit';
import { OverrideStore } from '../../agent/state/overrides';
import { DNS_LABEL_RE } from '../../lib/core/checks';
import { parseDuration } from '../../lib/core/duration';
import { resolveState } from '../agent-config';
import { parseCommandArgs } from '../args';

const USAGE = `usage: modelpilot hold <model> [--until <ISO time | duration such as 2h>] [--reason <text>] [--state-dir <dir> | --config <agent.yaml>]
       modelpilot hold <model> --release [--state-dir <dir> | --config <agent.yaml>]
       modelpilot hold list [--json] [--state-dir <dir> | --config <agent.yaml>]

A held model is not updated automatically (the agent still watches it, and still rolls back what an alert names)
until the hold ends (--until) or is released. A manual rollback the agent detects is a hold too (source
manual-rollback): release it here when the newer versions may go again. On Kubernetes, the annotation
modelpilot.dev/hold on the Deployment does the same.
`;

export async function run(argv: string[]): Promise<number> {
  const args = parseCommandArgs(argv, {
    'state-dir': { type: 'string', needs: 'a directory' }, config: { type: 'string', needs: 'an agent.yaml' },
    until: { type: 'string', needs: "an end time, e.g. '--until 2h' or '--until 2026-12-24T00:00:00Z'" },
    reason: { type: 'string', needs: 'a reason' }, release: { type: 'boolean' }, json: { type: 'boolean' },
  }, true);
  if ('error' in args) return usageError(args.error);
  if (args.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const [model, ...more] = args.positionals;
  if (model === undefined) return usageError('the model is missing');
  if (more.length) return usageError(`one model at a time (got '${model}' and '${more[0]}')`);
  if (model !== 'list' && !DNS_LABEL_RE.test(model)) return usageError(`'${model}' is not a model name; use lowercase letters, digits and '-'`);
  const state = resolveState('hold', args.values);
  if (typeof state === 'number') return state;
  let store: OverrideStore;
  try {
    store = new OverrideStore(state.stateDir);
  } catch (e) {
    process.stderr.write(`modelpilot hold: ${(e as Error).message}\n`);
    return 1;
  }
  const audit = new AuditLog(state.auditFile);
  if (model === 'list') {
    const { holds } = store.list();
    if (args.values.json) process.stdout.write(JSON.stringify(holds, null, 2) + '\n');
    else if (holds.length === 0) process.stdout.write('no holds\n');
    else for (const h of holds) process.stdout.write(`${h.model}  until ${h.until ?? 'released'}  since ${h.since}  (${h.source}) ${h.reason}\n`);
    return 0;
  }
  if (args.values.release) {
    if (args.values.until || args.values.reason) return usageError("'--release' takes no '--until' or '--reason'");
    const released = store.releaseHold(model);
    if (!released) {
      process.stderr.write(`modelpilot hold: '${model}' is not held in ${store.file}\n`);
      return 1;
    }
    audit.append({ event: 'released', target: '-', model, result: 'ok', reason: `hold released by an operator (was: ${released.reason})` });
    process.stdout.write(`released the hold on ${model}; the agent updates it again from its next cycle\n`);
    return 0;
  }
  const now = new Date();
  let until: string | undefined;
  if (args.values.until !== undefined) {
    const text = args.values.until;
    const t = /^\d{4}-\d\d-\d\dT/.test(text) ? Date.parse(text) : NaN;
    if (!Number.isNaN(t)) {
      until = new Date(t).toISOString();
    } else {
      try {
        until = new Date(now.getTime() + parseDuration(text).toMilliseconds()).toISOString();
      } catch {
        return usageError(`'--until' value '${text}' is neither an ISO time nor a duration; give e.g. '2h' or '2026-12-24T00:00:00Z'`);
      }
    }
    if (Date.parse(until) <= now.getTime()) return usageError(`'--until' value '${text}' is in the past`);
  }
  const reason = args.values.reason ?? 'held by an operator';
  store.hold({ model, ...(until ? { until } : {}), reason, since: now.toISOString(), source: 'operator' });
  audit.append({ event: 'hold', target: '-', model, result: 'operator', reason: `held ${until ? `until ${until}` : 'until released'}: ${reason}` });
  process.stdout.write(`held ${model} ${until ? `until ${until}` : "until 'modelpilot hold " + model + " --release'"}\n`);
  return 0;
}

function usageError(msg: string): number {
  process.stderr.write(`modelpilot hold: ${msg}\n\n${USAGE}`);
  return 2;
}
