/**
 * Starts Debian's Prometheus and Alertmanager for a test: free 127.0.0.1 ports, temp dirs for config and storage,
 * stopped by PID. Missing binaries fail with an error naming scripts/install-test-tools.sh.
 *
 * ```ts
 * const am = await startAlertmanager({ config: routing.toAlertmanagerYaml(), files: { 'secrets/hook/token': 't0k3n' } });
 * const prom = await startPrometheus({
 *   scrapeInterval: '1s', evaluationInterval: '1s', ruleGroups: [alerts.group], alertmanagerUrl: am.url,
 *   scrapeConfigs: [{ job_name: 'model', static_configs: [{ targets: ['127.0.0.1:8080'], labels: { model: 'm' } }] }],
 * });
 * const result = await prom.query('up');
 * await prom.stop(); await am.stop();
 * ```
 */
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { stringify } from 'yaml';
import { freePort, requireTool, stopChild, tailFile, waitFor, WaitAbort } from './tools';

/** A running Prometheus or Alertmanager. */
export interface TestServer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  /** Temp dir holding the config, the log and the storage. */
  readonly dir: string;
  readonly pid: number;
  /** The log so far (stdout + stderr). */
  log(): string;
  /** Stops the process by PID and removes the temp dir. */
  stop(): Promise<void>;
}

export interface PrometheusOptions {
  /** Global scrape interval, e.g. '1s'. @default '15s' */
  readonly scrapeInterval?: string;
  /** Global rule evaluation interval. @default '15s' */
  readonly evaluationInterval?: string;
  /** `scrape_configs` entries, as prometheus.yml writes them. @default [] */
  readonly scrapeConfigs?: Array<Record<string, unknown>>;
  /** Rule groups, written to `rules.yml` and loaded. @default [] */
  readonly ruleGroups?: unknown[];
  /** Alertmanager to send alerts to. @default - none */
  readonly alertmanagerUrl?: string;
  /** @default 60000 */
  readonly startTimeoutMs?: number;
}

export interface TestPrometheus extends TestServer {
  /** Instant query; returns `data.result`. */
  query(promql: string): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>>;
  /** Active alerts (`/api/v1/alerts`). */
  alerts(): Promise<Array<{ labels: Record<string, string>; state: string; activeAt: string; value: string }>>;
}

export interface AlertmanagerOptions {
  /** The native alertmanager.yml text. */
  readonly config: string;
  /** Extra files, relative to the temp dir (e.g. the `*_file` secrets); the text `$DIR` in `config` is replaced by the dir. */
  readonly files?: Record<string, string>;
  /** @default 60000 */
  readonly startTimeoutMs?: number;
}

/** Finds the Alertmanager binary: Debian names it `prometheus-alertmanager`, upstream `alertmanager`. */
export function alertmanagerBinary(): string {
  try {
    return requireTool('prometheus-alertmanager', 'prometheus-alertmanager');
  } catch {
    return requireTool('alertmanager', 'prometheus-alertmanager');
  }
}

export async function startPrometheus(opts: PrometheusOptions = {}): Promise<TestPrometheus> {
  const bin = requireTool('prometheus', 'prometheus');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelpilot-prom-'));
  const port = await freePort();
  const config: Record<string, unknown> = {
    global: { scrape_interval: opts.scrapeInterval ?? '15s', evaluation_interval: opts.evaluationInterval ?? '15s' },
    scrape_configs: opts.scrapeConfigs ?? [],
  };
  if (opts.ruleGroups && opts.ruleGroups.length > 0) {
    fs.writeFileSync(path.join(dir, 'rules.yml'), stringify({ groups: opts.ruleGroups }, { lineWidth: 0 }));
    config.rule_files = [path.join(dir, 'rules.yml')];
  }
  if (opts.alertmanagerUrl) {
    const u = new URL(opts.alertmanagerUrl);
    config.alerting = { alertmanagers: [{ static_configs: [{ targets: [u.host] }], timeout: '2s' }] };
  }
  fs.writeFileSync(path.join(dir, 'prometheus.yml'), stringify(config, { lineWidth: 0 }));
  const server = await launch(bin, [
    `--config.file=${path.join(dir, 'prometheus.yml')}`,
    `--storage.tsdb.path=${path.join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    // Resend firing alerts often so a short test sees them quickly.
    '--rules.alert.resend-delay=1s',
    '--log.level=info',
  ], dir, port, opts.startTimeoutMs ?? 60_000, 'prometheus');
  const api = async (p: string) => {
    const res = await fetch(`${server.url}${p}`);
    const body = await res.json() as { status: string; data: unknown; error?: string };
    if (body.status !== 'success') throw new Error(`prometheus ${p}: ${body.error ?? res.status}`);
    return body.data;
  };
  return {
    ...server,
    query: async (q) => (await api(`/api/v1/query?query=${encodeURIComponent(q)}`) as { result: never }).result,
    alerts: async () => (await api('/api/v1/alerts') as { alerts: never }).alerts,
  };
}

export async function startAlertmanager(opts: AlertmanagerOptions): Promise<TestServer> {
  const bin = alertmanagerBinary();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelpilot-am-'));
  const port = await freePort();
  for (const [rel, text] of Object.entries(opts.files ?? {})) {
    const file = path.join(dir, rel);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, text, { mode: 0o600 });
  }
  fs.writeFileSync(path.join(dir, 'alertmanager.yml'), opts.config.split('$DIR').join(dir));
  return launch(bin, [
    `--config.file=${path.join(dir, 'alertmanager.yml')}`,
    `--storage.path=${path.join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    // No gossip cluster: a single instance, no extra port.
    '--cluster.listen-address=',
  ], dir, port, opts.startTimeoutMs ?? 60_000, 'alertmanager');
}

async function launch(bin: string, args: string[], dir: string, port: number, timeoutMs: number, what: string): Promise<TestServer> {
  const logFile = path.join(dir, `${what}.log`);
  const out = fs.openSync(logFile, 'a');
  const child: ChildProcess = spawn(bin, args, { cwd: dir, stdio: ['ignore', out, out] });
  fs.closeSync(out);
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    await stopChild(child);
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(async () => {
      if (child.exitCode !== null) throw new WaitAbort(`${what} exited with code ${child.exitCode}:\n${tailFile(logFile)}`);
      const res = await fetch(`${url}/-/ready`);
      return res.ok;
    }, { what: `${what} on ${url}`, timeoutMs, intervalMs: 200, diagnostics: () => tailFile(logFile) });
  } catch (err) {
    await stop();
    throw err;
  }
  return { url, port, dir, pid: child.pid!, log: () => tailFile(logFile, 20_000), stop };
}
