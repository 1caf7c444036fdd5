/**
 * HAProxy's runtime API (the `stats socket … level admin` of haproxy.cfg), the traffic switch of the Docker target's
 * blue/green updates. One command per connection, as HAProxy's non-interactive mode expects: connect, write the
 * command and a newline, read until HAProxy closes. Over TCP (`127.0.0.1:9999`) or a unix socket (`/run/haproxy.sock`).
 *
 * The agent never rewrites haproxy.cfg: a backend holds two servers, one per port of the model (`blue` and `green`
 * in the generated config), and an update only changes their administrative state — `maint` (no traffic), `ready`
 * (in rotation once its health check passes) and `drain` (no new requests; the ones in progress finish).
 */
import * as fs from 'node:fs';
import * as net from 'node:net';

/** One server of a backend, from `show servers state` and `show stat`. */
export interface ProxyServer {
  readonly name: string;
  readonly port: number;
  /** Administrative state: what the agent (or a person) set. */
  readonly admin: 'ready' | 'maint' | 'drain';
  /** HAProxy sends it requests: operational state UP (its health check passes) and not in maintenance. */
  readonly up: boolean;
  /** Requests (sessions) in progress on it. */
  readonly current: number;
}

/** The traffic switch the Docker target drives; {@link HaproxyRuntime} is the one implementation. */
export interface TrafficProxy {
  /** `haproxy 127.0.0.1:9999`, for messages. */
  readonly describe: string;
  /** `sessions: false` skips the stats read (`current` is then 0): enough for a state check on every cycle. */
  servers(backend: string, signal?: AbortSignal, opts?: { sessions?: boolean }): Promise<ProxyServer[]>;
  setState(backend: string, server: string, state: 'ready' | 'maint' | 'drain', signal?: AbortSignal): Promise<void>;
}

/** srv_admin_state bits (HAProxy's SRV_ADMF_*): any maintenance bit, and the drain bits. */
const ADMF_MAINT = 0x01 | 0x02 | 0x04 | 0x20 | 0x40;
const ADMF_DRAIN = 0x08 | 0x10;
/** srv_op_state 2 = SRV_ST_RUNNING (UP), 3 = SRV_ST_STARTING (slowstart). */
const OP_UP = new Set([2, 3]);

export class HaproxyRuntime implements TrafficProxy {
  public readonly describe: string;
  private readonly where: { host: string; port: number } | { path: string };

  /** The last failure to write the server-state file, if the last write failed (the switch itself went on). */
  public stateFileError?: string;

  /**
   * @param address `host:port` of a TCP stats socket, or the path of a unix one.
   * @param stateFile HAProxy's `server-state-file` (haproxy.cfg: `load-server-state-from-file global`): written after
   *   every rotation change, so an HAProxy that restarts comes back with the rotation the agent decided (a rejected
   *   version stays in maintenance) instead of its config's defaults.
   */
  constructor(address: string, private readonly timeoutMs = 5000, private readonly stateFile?: string) {
    this.describe = `haproxy ${address}`;
    const m = /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(address);
    if (address.startsWith('/')) this.where = { path: address };
    else if (m && Number(m[2]) > 0 && Number(m[2]) < 65536) this.where = { host: m[1], port: Number(m[2]) };
    else {
      throw new Error(`haproxy runtime API address '${address}' is neither host:port nor an absolute unix socket path; `
        + "give e.g. '127.0.0.1:9999' (haproxy.cfg: 'stats socket ipv4@127.0.0.1:9999 level admin') or '/run/haproxy/admin.sock'");
    }
  }

  /** Sends one command and returns HAProxy's answer. */
  public command(cmd: string, signal?: AbortSignal): Promise<string> {
    return new Promise((resolve, reject) => {
      const sock = 'path' in this.where ? net.connect(this.where.path) : net.connect(this.where.port, this.where.host);
      let out = '';
      const done = (e?: Error): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        sock.destroy();
        if (e) reject(e);
        else resolve(out);
      };
      const onAbort = (): void => done(new Error(`${this.describe}: aborted during '${cmd}'`));
      const timer = setTimeout(() => done(new Error(`${this.describe}: no answer to '${cmd}' within ${this.timeoutMs} ms`)), this.timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      sock.setEncoding('utf8');
      sock.on('connect', () => sock.write(`${cmd}\n`));
      sock.on('data', (d: string) => { out += d; });
      sock.on('end', () => done());
      sock.on('error', (e) => done(new Error(`${this.describe}: ${e.message} (is HAProxy running with 'stats socket … level admin' there?)`)));
    });
  }

  public async servers(backend: string, signal?: AbortSignal, opts: { sessions?: boolean } = {}): Promise<ProxyServer[]> {
    const state = await this.command(`show servers state ${backend}`, signal);
    if (/^Can.t find backend/m.test(state)) throw new Error(`${this.describe} has no backend '${backend}'; check haproxy.cfg and the container's label`);
    const stat = opts.sessions === false ? '' : await this.command('show stat', signal);
    return parseServers(backend, state, stat);
  }

  public async setState(backend: string, server: string, state: 'ready' | 'maint' | 'drain', signal?: AbortSignal): Promise<void> {
    const answer = (await this.command(`set server ${backend}/${server} state ${state}`, signal)).trim();
    // Success is an empty answer; anything else is HAProxy's error.
    if (answer) throw new Error(`${this.describe}: set server ${backend}/${server} state ${state}: ${answer}`);
    if (this.stateFile) await this.saveState(signal);
  }

  /** Writes `show servers state` (every backend) to the server-state file, atomically; a failure is kept, not thrown. */
  public async saveState(signal?: AbortSignal): Promise<void> {
    const file = this.stateFile!;
    const tmp = `${file}.${process.pid}.tmp`;
    try {
      const text = await this.command('show servers state', signal);
      if (!/^\d+\s*\n#/.test(text)) throw new Error(`unexpected answer to 'show servers state': ${text.slice(0, 120)}`);
      fs.writeFileSync(tmp, text);
      fs.renameSync(tmp, file);
      this.stateFileError = undefined;
    } catch (e) {
      fs.rmSync(tmp, { force: true });
      this.stateFileError = `server-state file ${file} not written: ${(e as Error).message}`;
    }
  }
}

/**
 * Joins `show servers state <backend>` (version line, `# header`, rows) and `show stat` (CSV, `# header`) into
 * the backend's servers.
 */
export function parseServers(backend: string, state: string, stat: string): ProxyServer[] {
  const lines = state.split('\n').map((l) => l.trim()).filter(Boolean);
  const header = lines.find((l) => l.startsWith('#'));
  if (!header) throw new Error(`unexpected answer to 'show servers state ${backend}': ${state.slice(0, 200)}`);
  const cols = header.replace(/^#\s*/, '').split(/\s+/);
  const at = (row: string[], name: string): string => row[cols.indexOf(name)] ?? '';
  const statLines = stat.split('\n').filter(Boolean);
  const statCols = (statLines[0] ?? '').replace(/^#\s*/, '').split(',');
  const current = new Map<string, number>();
  for (const l of statLines.slice(1)) {
    const f = l.split(',');
    if (f[statCols.indexOf('pxname')] === backend) current.set(f[statCols.indexOf('svname')], Number(f[statCols.indexOf('scur')]) || 0);
  }
  const out: ProxyServer[] = [];
  for (const l of lines) {
    if (l.startsWith('#') || /^\d+$/.test(l)) continue;
    const row = l.split(/\s+/);
    if (at(row, 'be_name') !== backend) continue;
    const adminBits = Number(at(row, 'srv_admin_state'));
    const name = at(row, 'srv_name');
    const maint = (adminBits & ADMF_MAINT) !== 0;
    out.push({
      name,
      port: Number(at(row, 'srv_port')),
      admin: maint ? 'maint' : (adminBits & ADMF_DRAIN) !== 0 ? 'drain' : 'ready',
      up: !maint && OP_UP.has(Number(at(row, 'srv_op_state'))),
      current: current.get(name) ?? 0,
    });
  }
  return out;
}
