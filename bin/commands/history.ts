/**
 * `modelpilot history`: prints the agent's audit log (append-only JSONL) as a readable timeline.
 */
import { formatTimeline, readAudit } from '../../agent/audit';
import { ConfigError, loadConfig } from '../../agent/config';

const USAGE = `usage: modelpilot history [--file <audit.jsonl> | --config <agent.yaml>] [--target <id|model>] [--last <n>] [--json]

Prints every decision and attempt of the agent, oldest first: time, workload, event, from -> to, trigger, result
and reason. Default file: <stateDir>/audit.jsonl from --config, else /var/lib/modelpilot/audit.jsonl.
`;

export async function run(argv: string[]): Promise<number> {
  let file: string | undefined;
  let configFile: string | undefined;
  let filter: string | undefined;
  let last: number | undefined;
  let json = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = (): string | undefined => argv[++i];
    if (a === '--help' || a === '-h') {
      process.stdout.write(USAGE);
      return 0;
    } else if (a === '--file' || a === '--config' || a === '--target' || a === '--last') {
      const v = value();
      if (v === undefined) return usageError(`'${a}' needs a value`);
      if (a === '--file') file = v;
      else if (a === '--config') configFile = v;
      else if (a === '--target') filter = v;
      else {
        last = Number(v);
        if (!Number.isInteger(last) || last < 1) return usageError(`'--last' value '${v}' is not a positive whole number; give e.g. '--last 20'`);
      }
    } else if (a === '--json') {
      json = true;
    } else {
      return usageError(`unknown option '${a}'`);
    }
  }
  if (!file && configFile) {
    try {
      file = loadConfig(configFile).auditLog;
    } catch (e) {
      if (e instanceof ConfigError) {
        process.stderr.write(`modelpilot history: ${e.message}\n`);
        return 2;
      }
      throw e;
    }
  }
  const entries = readAudit(file ?? '/var/lib/modelpilot/audit.jsonl');
  if (json) {
    let list = entries.filter((e) => !filter || e.target === filter || e.model === filter);
    if (last !== undefined) list = list.slice(-last);
    process.stdout.write(list.map((e) => JSON.stringify(e)).join('\n') + (list.length ? '\n' : ''));
  } else {
    process.stdout.write(formatTimeline(entries, { filter, last }));
  }
  return 0;
}

function usageError(msg: string): number {
  process.stderr.write(`modelpilot history: ${msg}\n\n${USAGE}`);
  return 2;
}
