/**
 * `modelpilot history`: prints the agent's audit log (append-only JSONL) as a readable timeline.
 */
import * as fs from 'fs';
import * as path from 'path';
import { checkInputFile, checkOutputFile, isHtml, ProtectedFile } from '../../agent/files';
import { formatTimeline, readAuditFile } from '../../agent/state/audit';
import { renderTimelineHtml } from '../../agent/state/timeline-html';
import { AUDIT_LOG_FILE } from '../../lib/core/contract/paths';
import { DEFAULT_STATE_DIR, loadAgentConfig } from '../agent-config';
import { parseCommandArgs } from '../args';

/** The largest audit log this reads at once (a year of a busy agent is far less). */
const MAX_AUDIT_BYTES = 256 * 1024 * 1024;

const USAGE = `usage: modelpilot history [--file <audit.jsonl> | --config <agent.yaml>] [--target <id|model>] [--last <n>] [--json | --html <out.html>]

Prints every decision and attempt of the agent, oldest first: time, workload, event, from -> to, trigger, result
and reason. Default file: <stateDir>/audit.jsonl from --config, else /var/lib/modelpilot/audit.jsonl.
--html writes one self-contained page (no network requests): per workload a time axis of the versions served with
rollbacks, quarantines and holds marked, every entry with its gate verdict and SLO values, filters.
--html never writes over the audit log, the config, the agent's state files or an existing file that is not an HTML
page (it is refused with the path).
Exit status: 0; 1 when the file is missing or not a regular file, or some lines are not audit entries (each is named
on stderr with its line number and skipped); 2 on usage errors (a refused --html path among them).
`;

export async function run(argv: string[]): Promise<number> {
  const args = parseCommandArgs(argv, { file: { type: 'string' }, config: { type: 'string' }, target: { type: 'string' }, last: { type: 'string' }, json: { type: 'boolean' }, html: { type: 'string' } });
  if ('error' in args) return usageError(args.error);
  if (args.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const { config: configFile, target: filter, json, html } = args.values;
  if (json && html !== undefined) return usageError("'--json' and '--html' are both given; choose one");
  let file = args.values.file;
  const last = args.values.last === undefined ? undefined : Number(args.values.last);
  if (last !== undefined && (!Number.isInteger(last) || last < 1)) {
    return usageError(`'--last' value '${args.values.last}' is not a positive whole number; give e.g. '--last 20'`);
  }
  if (!file && configFile) {
    file = loadAgentConfig('history', configFile)?.auditLog;
    if (!file) return 2;
  }
  const auditFile = file ?? path.join(DEFAULT_STATE_DIR, AUDIT_LOG_FILE);
  const stat = fs.statSync(auditFile, { throwIfNoEntry: false });
  if (!stat) {
    // a mistyped --file or --state-dir must not look like an agent that did nothing
    process.stderr.write(`modelpilot history: ${auditFile} does not exist; give the agent's audit log with --file <audit.jsonl> or --config <agent.yaml>\n`);
    return 1;
  }
  if (stat.isDirectory()) {
    process.stderr.write(`modelpilot history: ${auditFile} is a directory; give the audit log file in it, e.g. --file ${path.join(auditFile, AUDIT_LOG_FILE)}\n`);
    return 1;
  }
  const unfit = checkInputFile(auditFile, {
    field: file === undefined || args.values.file ? '--file' : `'auditLog' of ${configFile}`,
    fix: "give the agent's audit log (JSON lines), e.g. --file /var/lib/modelpilot/audit.jsonl", maxBytes: MAX_AUDIT_BYTES,
  });
  if (unfit) {
    process.stderr.write(`modelpilot history: ${unfit}\n`);
    return 1;
  }
  if (html !== undefined) {
    // never over the log it reads, the agent's state or a file that is not an earlier page (#27: it once replaced the audit log)
    const protect: ProtectedFile[] = [{ path: auditFile, what: 'the audit log this command reads' }];
    if (configFile) protect.push({ path: configFile, what: 'the agent config this command reads' });
    const refused = checkOutputFile(html, {
      field: '--html', kind: 'an HTML page', isSameKind: isHtml, protect, fix: "give a new file for the page, e.g. '--html audit.html'",
    });
    if (refused) {
      process.stderr.write(`modelpilot history: ${refused}\n`);
      return 2;
    }
  }
  const { entries, unreadable } = readAuditFile(auditFile);
  for (const u of unreadable) {
    process.stderr.write(`modelpilot history: ${auditFile} line ${u.line} is not an audit entry (torn or corrupted), skipped: ${u.text}\n`);
  }
  if (html !== undefined) {
    let list = entries.filter((e) => !filter || e.target === filter || e.model === filter);
    if (last !== undefined) list = list.slice(-last);
    try {
      fs.writeFileSync(html, renderTimelineHtml(list, { source: auditFile }));
    } catch (e) {
      process.stderr.write(`modelpilot history: '--html' value '${html}' cannot be written (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); give a writable file path\n`);
      return 1;
    }
    process.stdout.write(`${html}: ${list.length} entries\n`);
  } else if (json) {
    let list = entries.filter((e) => !filter || e.target === filter || e.model === filter);
    if (last !== undefined) list = list.slice(-last);
    process.stdout.write(list.map((e) => JSON.stringify(e)).join('\n') + (list.length ? '\n' : ''));
  } else {
    process.stdout.write(formatTimeline(entries, { filter, last }));
  }
  return unreadable.length > 0 ? 1 : 0;
}

function usageError(msg: string): number {
  process.stderr.write(`modelpilot history: ${msg}\n\n${USAGE}`);
  return 2;
}
