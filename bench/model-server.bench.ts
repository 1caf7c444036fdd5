/**
 * Throughput and latency of the reference model server's POST /predict on this machine, to calibrate the default
 * alert thresholds (p99 latency ceiling, request-rate expectations).
 *
 * The server runs as the image runs it: the app layer staged by scripts/build-test-image.ts (plain JS, its own
 * node_modules) under plain `node`, in its own process, on 127.0.0.1. Load comes from autocannon in this process:
 * bounded connections, fixed duration (≤ 10 s per scenario), after a short warm-up. Server-side quantiles are
 * also read back from the server's own `model_inference_seconds` histogram.
 *
 * Writes bench/results/model-server.json.
 */
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import * as os from 'os';
import * as path from 'path';
import autocannon from 'autocannon';
import { stageApp } from '../scripts/build-test-image';

const CONNECTIONS = 10;
const DURATION_S = 8;
const WARMUP_S = 1;

const SINGLE = { features: { tenure_months: 1, monthly_charges: 120, support_calls_90d: 8, month_to_month: true } };
const BATCH_10 = {
  instances: Array.from({ length: 10 }, (_, i) => ({
    tenure_months: i * 7,
    monthly_charges: 30 + i * 9,
    support_calls_90d: i % 5,
    month_to_month: i % 2 === 0,
  })),
};

interface Scenario {
  readonly name: string;
  readonly body: unknown;
}

async function startServer(appDir: string): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, [path.join(appDir, 'src', 'main.js')], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', PORT: '0', HOST: '127.0.0.1', MODEL_VERSION: '1.0.0' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout?.setEncoding('utf8');
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not become ready:\n${out}`)), 30_000);
    child.stdout?.on('data', (c: string) => {
      out += c;
      const port = /"msg":"listening".*?"port":(\d+)/.exec(out);
      if (port && out.includes('"msg":"model loaded"')) {
        clearTimeout(timer);
        resolve({ child, port: Number(port[1]) });
      }
    });
    child.once('exit', (code) => reject(new Error(`server exited (${code}):\n${out}`)));
  });
}

function get(port: number, urlPath: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: urlPath, agent: false }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve(text));
      })
      .once('error', reject);
  });
}

/** Cumulative bucket counts of model_inference_seconds, by upper bound. */
async function histogram(port: number): Promise<Array<[number, number]>> {
  const text = await get(port, '/metrics');
  const out: Array<[number, number]> = [];
  for (const m of text.matchAll(/^model_inference_seconds_bucket\{le="([^"]+)"[^}]*\} (\d+(?:\.\d+)?)$/gm)) {
    out.push([m[1] === '+Inf' ? Infinity : Number(m[1]), Number(m[2])]);
  }
  return out;
}

/** histogram_quantile over the difference of two cumulative snapshots (linear interpolation, as Prometheus does). */
function quantile(q: number, before: Array<[number, number]>, after: Array<[number, number]>): number | null {
  const buckets = after.map(([le, c], i) => [le, c - (before[i]?.[1] ?? 0)] as [number, number]);
  const total = buckets[buckets.length - 1]?.[1] ?? 0;
  if (total === 0) return null;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const [le, count] of buckets) {
    if (count >= rank) {
      if (le === Infinity) return prevLe;
      return prevLe + ((le - prevLe) * (rank - prevCount)) / Math.max(count - prevCount, 1);
    }
    prevLe = le;
    prevCount = count;
  }
  return null;
}

async function load(port: number, body: unknown, durationS: number): Promise<autocannon.Result> {
  return autocannon({
    url: `http://127.0.0.1:${port}/predict`,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    connections: CONNECTIONS,
    pipelining: 1,
    duration: durationS,
  });
}

async function main(): Promise<void> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'modelpilot-bench-'));
  const appDir = path.join(work, 'app');
  stageApp(appDir);
  const { child, port } = await startServer(appDir);
  const results: Record<string, unknown> = {};
  try {
    const scenarios: Scenario[] = [
      { name: 'single', body: SINGLE },
      { name: 'batch10', body: BATCH_10 },
    ];
    for (const s of scenarios) {
      await load(port, s.body, WARMUP_S);
      const before = await histogram(port);
      const r = await load(port, s.body, DURATION_S);
      const after = await histogram(port);
      if (r.errors > 0 || r.timeouts > 0 || r.non2xx > 0) {
        throw new Error(`scenario ${s.name}: ${r.errors} errors, ${r.timeouts} timeouts, ${r.non2xx} non-2xx responses`);
      }
      const serverQ = (q: number): number | null => {
        const v = quantile(q, before, after);
        return v === null ? null : Number((v * 1000).toFixed(3));
      };
      results[s.name] = {
        requests: r.requests.total,
        requestsPerSecond: { mean: r.requests.average, stddev: r.requests.stddev, min: r.requests.min, max: r.requests.max },
        latencyMs: { resolution: '1 ms (autocannon)', mean: r.latency.average, p50: r.latency.p50, p90: r.latency.p90, p99: r.latency.p99, p99_9: r.latency.p99_9, max: r.latency.max },
        serverInferenceMs: { p50: serverQ(0.5), p99: serverQ(0.99), note: 'histogram_quantile over model_inference_seconds buckets (bucket resolution)' },
        non2xx: r.non2xx,
        errors: r.errors,
      };
      process.stdout.write(
        `model-server ${s.name}: ${r.requests.average.toFixed(0)} req/s, p50 ${r.latency.p50} ms, p99 ${r.latency.p99} ms (client, ${CONNECTIONS} connections)\n`,
      );
    }
  } finally {
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
    fs.rmSync(work, { recursive: true, force: true });
  }
  const out = {
    benchmark: 'model-server',
    description:
      'POST /predict of the reference model server (plain node, staged image app layer) on 127.0.0.1 under autocannon: bounded connections, fixed duration after a warm-up; single = one instance per request, batch10 = ten',
    settings: { connections: CONNECTIONS, pipelining: 1, durationSeconds: DURATION_S, warmupSeconds: WARMUP_S },
    results,
    machine: { node: process.version, cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, loadavg1m: os.loadavg()[0], note: 'shared 2-core sandbox; load generator and server on the same cores' },
    measuredAt: new Date().toISOString(),
  };
  const file = path.join(__dirname, 'results', 'model-server.json');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);
  process.stdout.write(`wrote ${path.relative(process.cwd(), file)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`model-server bench failed: ${(err as Error).message}\n`);
  process.exit(1);
});
