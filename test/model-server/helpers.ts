/** Test helpers for the reference model server: HTTP on 127.0.0.1, a child-process launcher, a metrics parser. */
import { ChildProcess, spawn } from 'child_process';
import * as http from 'http';
import * as path from 'path';
import { stopChild, waitFor, WaitAbort } from '../support/tools';

export const SERVER_DIR = path.resolve(__dirname, '..', '..', 'examples', 'model-server');
export const SERVER_MAIN = path.join(SERVER_DIR, 'src', 'main.ts');

/** A customer the shipped model should flag: new, month-to-month, many support calls, high bill. */
export const RISKY = { tenure_months: 1, monthly_charges: 120, support_calls_90d: 8, month_to_month: true };
/** A customer the shipped model should keep: six years in, on a contract, no calls, low bill. */
export const LOYAL = { tenure_months: 72, monthly_charges: 30, support_calls_90d: 0, month_to_month: false };

export interface HttpResult {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly text: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly json: any;
}

/** One request on a fresh connection (no keep-alive pool, so drains are not held up by the test client). */
export function request(port: number, method: string, urlPath: string, body?: unknown, timeoutMs = 15_000): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method,
        path: urlPath,
        agent: false,
        timeout: timeoutMs,
        headers: payload === undefined ? {} : { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => {
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
      },
    );
    req.once('timeout', () => req.destroy(new Error(`${method} ${urlPath} timed out`)));
    req.once('error', reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

export interface MetricSample {
  readonly value?: string;
  readonly labels?: Record<string, string>;
  readonly buckets?: Record<string, string>;
  readonly count?: string;
  readonly sum?: string;
}

export interface MetricFamily {
  readonly name: string;
  readonly help: string;
  readonly type: string;
  readonly metrics: MetricSample[];
}

/** Parses the Prometheus text exposition format with parse-prometheus-text-format (prom2json-shaped output). */
export function parseMetrics(text: string): MetricFamily[] {
  const parse = require('parse-prometheus-text-format') as (t: string) => MetricFamily[];
  return parse(text);
}

export function family(families: MetricFamily[], name: string): MetricFamily {
  const f = families.find((x) => x.name === name);
  if (!f) throw new Error(`metric family '${name}' not found; have ${families.map((x) => x.name).join(', ')}`);
  return f;
}

/** Value of the sample of `name` whose labels include `labels`; undefined if there is none. */
export function sampleValue(families: MetricFamily[], name: string, labels: Record<string, string>): number | undefined {
  const s = family(families, name).metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
  return s?.value === undefined ? undefined : Number(s.value);
}

export interface ServerProcess {
  readonly child: ChildProcess;
  readonly port: number;
  /** Every JSON log line so far. */
  logs(): Array<Record<string, unknown>>;
  /** Resolves with the exit code/signal. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(): Promise<void>;
}

/**
 * Spawns the server (`examples/model-server/src/main.ts` through ts-node's transpile-only hook) with PORT=0 and
 * reads the bound port from its `listening` log line. With `expectListening: false` it resolves as soon as the
 * process has started (for crash and bad-config cases; `port` is then 0).
 */
export async function spawnServer(env: Record<string, string> = {}, opts: { expectListening?: boolean } = {}): Promise<ServerProcess> {
  const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', SERVER_MAIN], {
    cwd: path.resolve(SERVER_DIR, '..', '..'),
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Array<Record<string, unknown>> = [];
  let stderr = '';
  let buffer = '';
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (chunk: string) => {
    buffer += chunk;
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      try {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        lines.push({ raw: line });
      }
    }
  });
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (c: string) => (stderr += c));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  let hasExited = false;
  void exited.then(() => (hasExited = true));
  let port = 0;
  if (opts.expectListening ?? true) {
    await waitFor(
      () => {
        const listening = lines.find((l) => l.msg === 'listening');
        if (listening) {
          port = Number(listening.port);
          return true;
        }
        if (hasExited) throw new WaitAbort(`server exited before listening:\n${JSON.stringify(lines)}\n${stderr}`);
        return false;
      },
      { what: 'the model server to log "listening"', timeoutMs: 60_000, intervalMs: 50, diagnostics: () => `${JSON.stringify(lines)}\n${stderr}` },
    );
  }
  return { child, port, logs: () => lines, exited, stop: () => stopChild(child) };
}
