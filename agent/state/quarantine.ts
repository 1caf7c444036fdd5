/**
 * The quarantine: versions that failed their health gate and must never be applied again automatically, until an
 * operator releases them (`modelpilot quarantine release <model> <version>`). Persisted as one JSON file in the
 * agent's state dir, written atomically (temp file + rename), and re-read each cycle so a release made by the CLI
 * while the agent runs takes effect at the next cycle.
 *
 * A newer version is never blocked by an older quarantined one: the update policy still chooses the highest
 * acceptable version, skipping only the quarantined ones. Once a workload is promoted past a quarantined version,
 * that entry is superseded and dropped.
 */
import * as fs from 'fs';
import * as path from 'path';
import { parseVersionTag, sameVersion } from '../../lib/core/image-ref';

export { sameVersion };

export interface QuarantineEntry {
  /** The model (the `model` label / `modelpilot.model`). */
  readonly model: string;
  /** The version: a tag (`1.2.0`) or, for the digest policy, `tag@sha256:…`. */
  readonly version: string;
  /** `registry/repository` it came from. */
  readonly repository?: string;
  /** Why, e.g. `error ratio 0.5 > 0.05 over 1m`. */
  readonly reason: string;
  /** ISO-8601 time it was quarantined. */
  readonly since: string;
  /** What found it bad: `health-gate`, `webhook:alertmanager`, … */
  readonly source: string;
}

/** A version an operator released (or a promotion superseded): a quarantine the workload still carries from before is not restored. */
export interface ReleasedEntry {
  readonly model: string;
  readonly version: string;
  /** ISO-8601 time of the release. */
  readonly at: string;
}

interface StoreFile {
  readonly version: 1;
  readonly entries: QuarantineEntry[];
  /** Newest {@link MAX_RELEASED} releases. */
  readonly released?: ReleasedEntry[];
}

const MAX_RELEASED = 200;

/** The quarantine store in `<stateDir>/quarantine.json`. */
export class QuarantineStore {
  public static readonly FILE = 'quarantine.json';

  public readonly file: string;
  private entries: QuarantineEntry[] = [];
  private released: ReleasedEntry[] = [];
  /** Entries added while the file could not be written: kept (and re-merged on reload) until a save succeeds. */
  private unsaved: QuarantineEntry[] = [];

  /** `now`: the agent's clock (the time a release is remembered at). */
  constructor(stateDir: string, private readonly now: () => Date = () => new Date()) {
    this.file = path.join(stateDir, QuarantineStore.FILE);
    this.reload();
  }

  /** True while an added entry could not be written to the file (the decision is kept in memory meanwhile). */
  public get hasUnsaved(): boolean {
    return this.unsaved.length > 0;
  }

  /** Re-reads the file (the CLI may have released something); entries not yet written stay. */
  public reload(): void {
    this.read();
    for (const u of this.unsaved) {
      if (!this.entries.some((e) => e.model === u.model && sameVersion(e.version, u.version))) this.entries = [...this.entries, u];
    }
    if (this.unsaved.length > 0) this.trySave();
  }

  private read(): void {
    let text: string;
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
        this.entries = [];
        return;
      }
      throw e;
    }
    let parsed: StoreFile;
    try {
      parsed = JSON.parse(text) as StoreFile;
    } catch (e) {
      throw new Error(`quarantine store '${this.file}' is not valid JSON (${(e as Error).message}); restore it from a backup or fix it by hand`);
    }
    if (!parsed || !Array.isArray(parsed.entries)) {
      throw new Error(`quarantine store '${this.file}' has no 'entries' list; restore it from a backup or fix it by hand`);
    }
    const bad = parsed.entries.findIndex((e: unknown) => {
      const o = e as Record<string, unknown> | null;
      return o === null || typeof o !== 'object' || typeof o.model !== 'string' || typeof o.version !== 'string';
    });
    if (bad >= 0) {
      throw new Error(`quarantine store '${this.file}' entries[${bad}] is ${JSON.stringify(parsed.entries[bad]).slice(0, 80)}, not an entry with a 'model' and a 'version'; `
        + 'restore the file from a backup or fix that entry by hand');
    }
    this.entries = parsed.entries.map((e) => ({ ...e, reason: typeof e.reason === 'string' ? e.reason : '', since: typeof e.since === 'string' ? e.since : '', source: typeof e.source === 'string' ? e.source : '' }));
    this.released = Array.isArray(parsed.released) ? parsed.released : [];
  }

  /**
   * Whether `version` was released (or superseded) at or after `since`: a quarantine a workload carries from
   * before that (a Deployment annotation, a Docker marker) is then not restored.
   */
  public releasedSince(model: string, version: string, since: string): boolean {
    const t = Date.parse(since);
    return this.released.some((r) => r.model === model && sameVersion(r.version, version) && (Number.isNaN(t) || Date.parse(r.at) >= t));
  }

  private remember(dropped: readonly QuarantineEntry[]): void {
    const at = this.now().toISOString();
    this.released = [...this.released, ...dropped.map((e) => ({ model: e.model, version: e.version, at }))].slice(-MAX_RELEASED);
  }

  public list(): readonly QuarantineEntry[] {
    return this.entries;
  }

  public isQuarantined(model: string, version: string): boolean {
    return this.entries.some((e) => e.model === model && sameVersion(e.version, version));
  }

  /**
   * Quarantines a version; returns false when it already was. The entry is in force at once, in memory; when the
   * file cannot be written it throws (naming the file and the error), keeps the entry, and retries the write at
   * every reload until it succeeds.
   */
  public add(entry: QuarantineEntry): boolean {
    if (this.isQuarantined(entry.model, entry.version)) return false;
    this.entries = [...this.entries, entry];
    this.unsaved = [...this.unsaved, entry];
    this.save();
    this.unsaved = [];
    return true;
  }

  private trySave(): void {
    try {
      this.save();
      this.unsaved = [];
    } catch {
      // still failing: kept in memory; the next add or reload tries again
    }
  }

  /** Releases a version; returns the released entry, or undefined when it was not quarantined. */
  public release(model: string, version: string): QuarantineEntry | undefined {
    const found = this.entries.find((e) => e.model === model && sameVersion(e.version, version));
    if (!found) return undefined;
    this.entries = this.entries.filter((e) => e !== found);
    this.remember([found]);
    this.save();
    return found;
  }

  /**
   * Drops the semver entries of `model` below `version` (a workload was promoted past them, so no policy
   * can choose them again). Returns what was dropped.
   */
  public supersede(model: string, version: string): QuarantineEntry[] {
    const promoted = parseVersionTag(version);
    if (!promoted) return [];
    const dropped = this.entries.filter((e) => {
      const v = parseVersionTag(e.version);
      return e.model === model && v !== undefined && v.compare(promoted) < 0;
    });
    if (dropped.length > 0) {
      this.entries = this.entries.filter((e) => !dropped.includes(e));
      this.remember(dropped);
      this.save();
    }
    return dropped;
  }

  private save(): void {
    const tmp = `${this.file}.${process.pid}.tmp`;
    try {
      fs.mkdirSync(path.dirname(this.file), { recursive: true });
      const body: StoreFile = { version: 1, entries: this.entries, ...(this.released.length ? { released: this.released } : {}) };
      fs.writeFileSync(tmp, JSON.stringify(body, null, 2) + '\n');
      const fd = fs.openSync(tmp, 'r');
      try {
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      fs.renameSync(tmp, this.file);
    } catch (e) {
      try {
        fs.unlinkSync(tmp); // no half-written temp file left behind
      } catch {
        // nothing was created
      }
      throw new Error(`cannot write the quarantine store ${this.file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); `
        + 'the decision is kept in memory until the disk accepts it');
    }
  }
}
