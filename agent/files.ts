/**
 * Reading and writing the files a user names, safely (issue #27).
 *
 * - Reading: what the CLI and the agent read is type-checked before it is opened — a device (`/dev/zero`,
 *   `/dev/urandom`), a FIFO, a socket, a directory or a file of a pseudo-filesystem (`/proc`, `/sys`, whose files
 *   report size 0 and may never end) is refused at once — and bounded in size; a text file holding NUL bytes is
 *   refused as binary. Regular files on a local disk are read in one go, so no read waits on a stream.
 * - Writing: no command writes over a file it did not create for that purpose. An output that is one of the
 *   command's inputs or the agent's state (audit log, quarantine and override stores), or an existing non-empty
 *   file of another kind, is refused with the path and the fix; an output on a pseudo-filesystem is refused too.
 *
 * Every refusal is a {@link FileRefusal} whose message reads `'<field>' value '<path>' <problem>; <fix>`.
 */
import * as fs from 'fs';
import * as path from 'path';

/** A file that was refused, with the message a user sees. */
export class FileRefusal extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FileRefusal';
  }
}

/** Filesystems whose files are not data: procfs, sysfs, debugfs, tracefs, securityfs, cgroup (v1 and v2), configfs. */
const PSEUDO_FS: Record<number, string> = {
  0x9fa0: 'procfs', 0x62656572: 'sysfs', 0x64626720: 'debugfs', 0x74726163: 'tracefs', 0x73636673: 'securityfs',
  0x27e0eb: 'cgroupfs', 0x63677270: 'cgroup2fs', 0x62656570: 'configfs',
};

/** The default bound of a text input (a config, a key, an audit log page): 16 MiB. */
export const MAX_INPUT_BYTES = 16 * 1024 * 1024;

/** What kind of thing a stat says a path is, in words ('a character device'). */
export function kindWords(st: fs.Stats): string {
  if (st.isFile()) return 'a file';
  if (st.isDirectory()) return 'a directory';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

/** The pseudo-filesystem `p` (or its nearest existing ancestor) is on, or undefined for a real one. */
export function pseudoFilesystemOf(p: string): string | undefined {
  let dir = path.resolve(p);
  for (;;) {
    try {
      return PSEUDO_FS[fs.statfsSync(dir).type];
    } catch {
      const up = path.dirname(dir);
      if (up === dir) return undefined;
      dir = up;
    }
  }
}

function bytes(n: number): string {
  return n >= 1024 * 1024 ? `${Math.round(n / 1024 / 1024)} MiB` : n >= 1024 ? `${Math.round(n / 1024)} KiB` : `${n} bytes`;
}

/** Options of {@link readInputFile} and {@link checkInputFile}. */
export interface InputOptions {
  /** How the user named the path: `--config`, `webhooks.hmacSecretFile`; empty for a positional (the path alone is named). */
  readonly field: string;
  /** What to do instead, ending the message: "give the agent's audit log, e.g. --file /var/lib/modelpilot/audit.jsonl". */
  readonly fix: string;
  /** @default MAX_INPUT_BYTES */
  readonly maxBytes?: number;
}

/**
 * Why `file` cannot be read as a regular data file (missing, a device, a FIFO, a directory, on /proc, too large),
 * as `'<field>' value '<file>' <problem>; <fix>`; undefined when it can. Nothing is opened.
 */
export function checkInputFile(file: string, o: InputOptions): string | undefined {
  const max = o.maxBytes ?? MAX_INPUT_BYTES;
  const say = (problem: string): string => `${o.field ? `${quote(o.field)} value ` : ''}'${file}' ${problem}; ${o.fix}`;
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return say(code === 'ENOENT' || code === 'ENOTDIR' ? 'does not exist' : `cannot be read (${code ?? (e as Error).message})`);
  }
  if (!st.isFile()) return say(`is ${kindWords(st)}, not a file`);
  const pseudo = pseudoFilesystemOf(file);
  if (pseudo) return say(`is on ${pseudo} (a kernel interface, not a data file)`);
  if (st.size > max) return say(`is ${bytes(st.size)}, more than the ${bytes(max)} this reads`);
  return undefined;
}

/**
 * Reads a regular text file of at most `maxBytes` after {@link checkInputFile}; a file holding NUL bytes is refused
 * as binary. Throws a {@link FileRefusal}.
 */
export function readInputFile(file: string, o: InputOptions): string {
  const problem = checkInputFile(file, o);
  if (problem) throw new FileRefusal(problem);
  const max = o.maxBytes ?? MAX_INPUT_BYTES;
  let buf: Buffer;
  try {
    const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    try {
      // read at most max + 1 bytes: a file that grew past the bound after the stat is still refused
      const chunk = Buffer.alloc(Math.min(max + 1, Math.max(fs.fstatSync(fd).size + 1, 64 * 1024)));
      let n = 0;
      for (;;) {
        const r = fs.readSync(fd, chunk, n, chunk.length - n, null);
        if (r === 0) break;
        n += r;
        if (n === chunk.length) break;
      }
      buf = chunk.subarray(0, n);
    } finally {
      fs.closeSync(fd);
    }
  } catch (e) {
    throw new FileRefusal(checkInputFile(file, o) ?? `${named(o.field, file)} cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); ${o.fix}`);
  }
  if (buf.length > max) throw new FileRefusal(`${named(o.field, file)} is more than the ${bytes(max)} this reads; ${o.fix}`);
  if (buf.includes(0)) throw new FileRefusal(`${named(o.field, file)} holds binary data (NUL bytes), not text; ${o.fix}`);
  return buf.toString('utf8');
}

/** `'--config' value 'x.yaml'`, or `'x.yaml'` for a positional. */
function named(field: string, file: string): string {
  return `${field ? `${quote(field)} value ` : ''}'${file}'`;
}

/** `--html` → `'--html'`; a field already quoted (`'auditLog' of agent.yaml`) as it is. */
function quote(field: string): string {
  return field.startsWith("'") ? field : `'${field}'`;
}

/** A file an output must never be: an input of the command or part of the agent's state. */
export interface ProtectedFile {
  readonly path: string;
  /** What it is, for the message: 'the audit log this reads'. */
  readonly what: string;
}

/** Options of {@link checkOutputFile}. */
export interface OutputOptions {
  /** The option that named it: `--html`, `--out`. */
  readonly field: string;
  /** What this command writes, for the message: 'an HTML page'. */
  readonly kind: string;
  /**
   * Whether an existing file's first bytes are of the kind this command writes (it may then be replaced): an
   * earlier page, an earlier pipeline.
   */
  readonly isSameKind: (head: string) => boolean;
  /** Files it must never be (compared by device and inode, so a symlink or a `..` path is caught too). */
  readonly protect?: readonly ProtectedFile[];
  /** The fix, ending every message: "give another file, e.g. --html audit.html". */
  readonly fix: string;
}

function sameFile(a: fs.Stats, b: string): boolean {
  const sb = fs.statSync(b, { throwIfNoEntry: false });
  return sb !== undefined && sb.dev === a.dev && sb.ino === a.ino;
}

/** Well-known state files of the agent (lib/core/contract/paths.ts names them); an output is never one. */
const STATE_FILE_RE = /^(audit\.jsonl|quarantine\.json|overrides\.json)$/;

/**
 * Why `file` must not be written by this command, as `'<field>' value '<file>' <problem>; <fix>`; undefined when it
 * may (it does not exist, is empty, or holds an earlier output of the same kind). Nothing is created.
 */
export function checkOutputFile(file: string, o: OutputOptions): string | undefined {
  const say = (problem: string): string => `${quote(o.field)} value '${file}' ${problem}; ${o.fix}`;
  const pseudo = pseudoFilesystemOf(file);
  if (pseudo) return say(`is on ${pseudo} (a kernel interface), where ${o.kind} cannot be written`);
  const st = fs.statSync(file, { throwIfNoEntry: false });
  if (!st) {
    const parent = fs.statSync(path.dirname(path.resolve(file)), { throwIfNoEntry: false });
    if (parent && !parent.isDirectory()) return say(`is inside '${path.dirname(file)}', which is ${kindWords(parent)}, not a directory`);
    return undefined;
  }
  if (!st.isFile()) return say(`is ${kindWords(st)}, not a file ${o.kind} can be written to`);
  for (const p of o.protect ?? []) if (sameFile(st, p.path)) return say(`is ${p.what}; writing there would destroy it`);
  if (STATE_FILE_RE.test(path.basename(file))) return say(`is the agent's state file ${path.basename(file)}; writing there would destroy it`);
  if (st.size === 0) return undefined;
  const fd = fs.openSync(file, 'r');
  let head: string;
  try {
    const b = Buffer.alloc(Math.min(st.size, 64 * 1024));
    head = b.subarray(0, fs.readSync(fd, b, 0, b.length, 0)).toString('utf8');
  } finally {
    fs.closeSync(fd);
  }
  if (!o.isSameKind(head)) return say(`already exists and holds something other than ${o.kind} (${bytes(st.size)}), which this never replaces`);
  return undefined;
}

/**
 * Why directory `dir` must not receive this command's files: it is a file, a device or on a pseudo-filesystem.
 * Undefined when it may (missing directories are created).
 */
export function checkOutputDir(dir: string, field: string, fix: string): string | undefined {
  const say = (problem: string): string => `${quote(field)} value '${dir}' ${problem}; ${fix}`;
  const pseudo = pseudoFilesystemOf(dir);
  if (pseudo) return say(`is on ${pseudo} (a kernel interface), where no files can be written`);
  let p = path.resolve(dir);
  for (;;) {
    const st = fs.statSync(p, { throwIfNoEntry: false });
    if (st) return st.isDirectory() ? undefined : say(`${p === path.resolve(dir) ? 'is' : `is inside '${p}', which is`} ${kindWords(st)}, not a directory`);
    const up = path.dirname(p);
    if (up === p) return undefined;
    p = up;
  }
}

/** An HTML page: its first tag is a doctype or `<html>`. */
export function isHtml(head: string): boolean {
  return /^\s*(<!--[\s\S]*?-->\s*)*<(!doctype\s+html|html[\s>])/i.test(head);
}

/** Text that starts with `# <marker>` on one of its first lines (a file a modelpilot command wrote). */
export function hasHeader(head: string, marker: RegExp): boolean {
  return head.split('\n').slice(0, 5).some((l) => l.startsWith('#') && marker.test(l));
}

/** Kubernetes manifests as synth or kubectl write them: the first content line opens a document or an object. */
export function isManifestYaml(head: string): boolean {
  const first = head.split('\n').find((l) => l.trim() !== '' && !l.startsWith('#'));
  return first !== undefined && /^(---|apiVersion:|kind:)/.test(first);
}
