/**
 * The audit log: an append-only JSONL file of every decision and attempt the agent makes.
 * One line per entry, written (and flushed to disk) before the agent moves on, so that the log and the record on
 * the target together say what happened even when the agent is killed. `modelpilot history` prints it.
 */
import * as fs from 'fs';
import * as path from 'path';

/** What happened. */
export type AuditEvent =
  | 'planned' // a newer version was chosen
  | 'available' // monitorOnly: a newer version is there and nothing was changed
  | 'waiting' // the chosen version is younger than minImageAge (`reason` says until when)
  | 'skipped' // a watched workload cannot be updated (`result`: not-semver, no-tag, no-registry-access, not-in-registry) — `reason` says why and the fix
  | 'refused' // a version was refused and never applied (`result`: signature, unverified, mlflow) — `reason` says why
  | 'hold' // automatic updates of the workload are held (`result`: who: operator, kubernetes-annotation, manual-rollback)
  | 'pinned' // the workload is pinned to a version (it runs it, or was moved there)
  | 'blocked' // a newer version was not rolled out: the running one could not be restored (`reason` says why)
  | 'apply' // an attempt to switch the workload started (the previous image is `from`)
  | 'apply-failed' // the switch did not complete (pull failed, timeout, …)
  | 'verify' // a health verdict
  | 'promoted' // the new version is proven healthy and kept
  | 'reported' // an outcome was written back to MLflow as model-version tags (`result`: ok, failed)
  | 'attested' // proof of the promotion was written to the registry (`result`: ok, failed; `reason`: the attestation's tag)
  | 'rolled-back' // the previous version runs again
  | 'rollback-failed' // restoring the previous version failed (will be retried)
  | 'held' // the verdict was inconclusive and the agent keeps the new version unpromoted
  | 'restarted' // the current version had crashed and was started again (`reason` says how it had stopped)
  | 'restart-failed' // starting a crashed current version again failed
  | 'quarantined' // a version was excluded from automatic updates
  | 'released' // an operator released a quarantined version
  | 'ignored' // an alert was not acted on (`reason` says why, e.g. an operator released the version after it began)
  | 'recovered' // an in-flight update left by a previous agent was found on start
  | 'aborted' // the agent shut down mid-update and reversed it
  | 'reverted' // what a failed apply left behind was undone (the version never ran)
  | 'failed'; // the update was given up for this cycle

export interface AuditEntry {
  /** ISO-8601 time. */
  readonly time: string;
  readonly event: AuditEvent;
  /** Workload id (`docker/<name>`, `k8s/<ns>/<name>`), or `-` for store-wide entries. */
  readonly target: string;
  readonly model?: string;
  /** Full image reference before. */
  readonly from?: string;
  /** Full image reference after (or being rolled out). */
  readonly to?: string;
  readonly trigger?: string;
  readonly reason?: string;
  /** `ok`, `failed`, `healthy`, `unhealthy`, `inconclusive`, `started`, … */
  readonly result: string;
  readonly attempt?: number;
  /** The numbers behind a verdict: requests n, errors k, the Wilson bounds, the ceiling, p99 (verify entries). */
  readonly evidence?: Readonly<Record<string, number>>;
  /** The golden set of a quality verdict: file, sha256 digest, samples (verify entries). */
  readonly goldenSet?: { readonly source: string; readonly digest: string; readonly samples: number };
}

export type AuditInput = Omit<AuditEntry, 'time'> & { readonly time?: string };

/** Appends entries to a JSONL file. */
export class AuditLog {
  /** Bytes of a torn last line found (and cut off) when the log was opened; 0 when the log was intact. */
  public readonly repairedBytes: number;

  constructor(public readonly file: string, private readonly now: () => Date = () => new Date()) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    this.repairedBytes = repairTornTail(file);
  }

  /**
   * Appends one entry and flushes it to disk before returning. A line is written whole or not at all: a short
   * write (a full disk) is cut back to where the line began and throws, so the next entry never glues onto it.
   */
  public append(input: AuditInput): AuditEntry {
    const entry: AuditEntry = { time: input.time ?? this.now().toISOString(), ...input };
    const line = Buffer.from(JSON.stringify(entry) + '\n');
    const fd = fs.openSync(this.file, 'a');
    const start = fs.fstatSync(fd).size;
    try {
      let written = 0;
      try {
        while (written < line.length) {
          const n = fs.writeSync(fd, line, written, line.length - written);
          if (n <= 0) throw Object.assign(new Error('short write'), { code: 'EIO' });
          written += n;
        }
        fs.fdatasyncSync(fd);
      } catch (e) {
        try {
          fs.ftruncateSync(fd, start);
        } catch {
          // the next open repairs the tail
        }
        throw new Error(`cannot append to the audit log ${this.file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message} after ${written} of ${line.length} bytes)`);
      }
    } finally {
      fs.closeSync(fd);
    }
    return entry;
  }

  /** Every entry, oldest first. */
  public read(): AuditEntry[] {
    return readAudit(this.file);
  }

  /**
   * The image that ran before the current one on `target` (`isImage` recognises the current one), from the most
   * recent promotion to it
   * (what an Alertmanager-triggered rollback goes back to).
   */
  public previousOf(target: string, isImage: (ref: string) => boolean): string | undefined {
    const entries = this.read();
    for (let i = entries.length - 1; i >= 0; i--) {
      const e = entries[i];
      if (e.target === target && e.event === 'promoted' && e.to && isImage(e.to) && e.from) return e.from;
    }
    return undefined;
  }
}

/** Cuts a torn last line (no newline: the writer was killed or the disk filled mid-line); returns its length. */
function repairTornTail(file: string): number {
  let text: Buffer;
  try {
    if (!fs.statSync(file).isFile()) return 0; // a device or pipe has no tail to repair
    text = fs.readFileSync(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw e;
  }
  if (text.length === 0 || text[text.length - 1] === 0x0a) return 0;
  const keep = text.lastIndexOf(0x0a) + 1;
  fs.truncateSync(file, keep);
  return text.length - keep;
}

/** A line of the audit log that is not a JSON entry. */
export interface UnreadableLine {
  /** 1-based line number. */
  readonly line: number;
  /** The start of the text. */
  readonly text: string;
}

/** Reads a JSONL audit file with the lines it could not read; a missing file is an empty log. */
export function readAuditFile(file: string): { entries: AuditEntry[]; unreadable: UnreadableLine[] } {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { entries: [], unreadable: [] };
    throw e;
  }
  const entries: AuditEntry[] = [];
  const unreadable: UnreadableLine[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    try {
      const e = JSON.parse(line) as AuditEntry;
      if (typeof e !== 'object' || e === null || typeof e.event !== 'string' || typeof e.time !== 'string') throw new Error('not an entry');
      entries.push(e);
    } catch {
      unreadable.push({ line: i + 1, text: line.slice(0, 80) });
    }
  });
  return { entries, unreadable };
}

/** The entries of a JSONL audit file (see {@link readAuditFile} for the lines it could not read). */
export function readAudit(file: string): AuditEntry[] {
  return readAuditFile(file).entries;
}

/** Options for {@link formatTimeline}. */
export interface TimelineOptions {
  /** Only this workload id or model. */
  readonly filter?: string;
  /** Only the last N entries. */
  readonly last?: number;
}

/** Renders entries as a readable timeline, one line each: `time  target  event  from -> to  (trigger) result: reason`. */
export function formatTimeline(entries: readonly AuditEntry[], options: TimelineOptions = {}): string {
  let list = entries.filter((e) => !options.filter || e.target === options.filter || e.model === options.filter);
  if (options.last !== undefined) list = list.slice(-options.last);
  if (list.length === 0) return 'no audit entries\n';
  const width = Math.max(...list.map((e) => e.target.length));
  return list.map((e) => {
    const move = e.from && e.to ? `${shortRef(e.from)} -> ${shortRef(e.to)}` : shortRef(e.to ?? e.from) ?? '';
    const parts = [
      e.time.replace('T', ' ').replace(/\.\d+Z$/, 'Z'),
      e.target.padEnd(width),
      e.event.padEnd(15),
      move,
      e.trigger ? `(${e.trigger}${e.attempt && e.attempt > 1 ? `, attempt ${e.attempt}` : ''})` : '',
      e.result,
      e.reason ? `: ${e.reason}` : '',
    ];
    return parts.filter((p) => p !== '').join('  ').replace(/ {2}: /, ': ');
  }).join('\n') + '\n';
}

/** `registry/repo:1.2.0@sha256:abcdef…` → `repo:1.2.0` (the digest is kept as 12 hex characters when there is no tag). */
function shortRef(ref?: string): string | undefined {
  if (!ref) return undefined;
  const [name, digest] = ref.split('@');
  const last = name.split('/').pop() as string;
  if (last.includes(':')) return last;
  return digest ? `${last}@${digest.slice(7, 19)}` : last;
}
