/**
 * Operator overrides that stick: a **hold** (no automatic update of a model, until a time or until released) and a
 * **pin** (the model runs exactly this version: the agent moves it there, through the health gate, and nowhere
 * else). Set with `modelpilot hold` / `modelpilot pin` (or, on Kubernetes, the `modelpilot.dev/hold` and
 * `modelpilot.dev/pin` annotations on the Deployment). Persisted in `<stateDir>/overrides.json`, written atomically
 * (temp file + rename) and re-read every cycle, so what the CLI writes while the agent runs takes effect at the next
 * cycle and survives restarts.
 */
import * as fs from 'fs';
import * as path from 'path';

/** A hold on a model's automatic updates. */
export interface HoldEntry {
  readonly model: string;
  /** ISO-8601 time the hold ends by itself; absent: until released. */
  readonly until?: string;
  readonly reason: string;
  /** ISO-8601 time it was set. */
  readonly since: string;
  /** Who set it: `operator`, `kubernetes-annotation`, … */
  readonly source: string;
}

/** A pin: the model runs exactly `version`. */
export interface PinEntry {
  readonly model: string;
  /** The version (tag), e.g. `1.3.0`. */
  readonly version: string;
  readonly reason: string;
  readonly since: string;
  readonly source: string;
}

interface StoreFile {
  readonly version: 1;
  readonly holds: HoldEntry[];
  readonly pins: PinEntry[];
}

/** The override store in `<stateDir>/overrides.json`. */
export class OverrideStore {
  public static readonly FILE = 'overrides.json';

  public readonly file: string;
  private holds: HoldEntry[] = [];
  private pins: PinEntry[] = [];

  constructor(stateDir: string) {
    this.file = path.join(stateDir, OverrideStore.FILE);
    this.reload();
  }

  /** Re-reads the file (the CLI may have changed it). */
  public reload(): void {
    let text: string;
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
        this.holds = [];
        this.pins = [];
        return;
      }
      throw e;
    }
    let parsed: Partial<StoreFile>;
    try {
      parsed = JSON.parse(text) as Partial<StoreFile>;
    } catch (e) {
      throw new Error(`override store '${this.file}' is not valid JSON (${(e as Error).message}); restore it from a backup or fix it by hand`);
    }
    const valid = (list: unknown, key: 'holds' | 'pins'): boolean => Array.isArray(list)
      && list.every((x) => x && typeof x === 'object' && typeof (x as { model?: unknown }).model === 'string'
        && (key === 'holds' || typeof (x as { version?: unknown }).version === 'string'));
    if (!parsed || !valid(parsed.holds ?? [], 'holds') || !valid(parsed.pins ?? [], 'pins')) {
      throw new Error(`override store '${this.file}' is not a { holds: [...], pins: [...] } file of entries with a 'model' (and a pin's 'version'); `
        + 'restore it from a backup or fix it by hand');
    }
    this.holds = [...(parsed.holds ?? [])];
    this.pins = [...(parsed.pins ?? [])];
  }

  /** The hold in force on `model` at `now` (an expired one is not), if any. */
  public holdOf(model: string, now: Date): HoldEntry | undefined {
    return this.holds.find((h) => h.model === model && (h.until === undefined || Date.parse(h.until) > now.getTime()));
  }

  /** The pin of `model`, if any. */
  public pinOf(model: string): PinEntry | undefined {
    return this.pins.find((p) => p.model === model);
  }

  public list(): { holds: readonly HoldEntry[]; pins: readonly PinEntry[] } {
    return { holds: this.holds, pins: this.pins };
  }

  /** Sets (or replaces) the hold of a model. Throws when the file cannot be written. */
  public hold(entry: HoldEntry): void {
    this.holds = [...this.holds.filter((h) => h.model !== entry.model), entry];
    this.save();
  }

  /** Ends the hold of a model; returns it, or undefined when there was none. */
  public releaseHold(model: string): HoldEntry | undefined {
    const found = this.holds.find((h) => h.model === model);
    if (!found) return undefined;
    this.holds = this.holds.filter((h) => h.model !== model);
    this.save();
    return found;
  }

  /** Sets (or replaces) the pin of a model. */
  public pin(entry: PinEntry): void {
    this.pins = [...this.pins.filter((p) => p.model !== entry.model), entry];
    this.save();
  }

  /** Removes the pin of a model; returns it, or undefined when there was none. */
  public unpin(model: string): PinEntry | undefined {
    const found = this.pins.find((p) => p.model === model);
    if (!found) return undefined;
    this.pins = this.pins.filter((p) => p.model !== model);
    this.save();
    return found;
  }

  private save(): void {
    const tmp = `${this.file}.${process.pid}.tmp`;
    const body: StoreFile = { version: 1, holds: this.holds, pins: this.pins };
    try {
      fs.mkdirSync(path.dirname(this.file), { recursive: true });
      fs.writeFileSync(tmp, JSON.stringify(body, null, 2) + '\n', { mode: 0o600 });
      fs.renameSync(tmp, this.file);
    } catch (e) {
      fs.rmSync(tmp, { force: true });
      throw new Error(`cannot write the override store '${this.file}': ${(e as Error).message}`);
    }
  }
}
