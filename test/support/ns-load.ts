/**
 * Load from inside a network namespace (the node tier's Services exist only there): run as
 * `nsenter --net=<ns> node -r ts-node/register/transpile-only test/support/ns-load.ts <url> <max s> <max requests> <connections> [reconnect rate]`,
 * it drives {@link startLoad} and {@link watchVersions} against the URL until SIGTERM or its bounds, then prints one JSON
 * line: the load report and the versions `/health/ready` answered, in order. {@link startNsLoad} is the caller's side.
 */
import { ChildProcess } from 'child_process';
import { LoadReport, startLoad, watchVersions } from './single-host';

/** The load report's numbers (see {@link LoadReport}), and each change of the version answering `/health/ready` (undefined: none answered). */
export type NsLoadReport = Pick<LoadReport, 'requests' | 'ok' | 'non2xx' | 'errors' | 'failed' | 'longestGapMs' | 'p99Ms'>
  & { readonly versions: Array<{ at: number; version: string | undefined }> };

/** Starts the load in the namespace through `spawnIn` (e.g. a TestNode's `spawn`); `stop()` ends it and returns the report. */
export function startNsLoad(spawnIn: (file: string, args: readonly string[]) => ChildProcess, url: string,
  o: { maxSeconds?: number; maxRequests?: number; connections?: number; reconnectRate?: number } = {}): { stop(): Promise<NsLoadReport> } {
  const child = spawnIn(process.execPath, ['-r', 'ts-node/register/transpile-only', __filename, url, String(o.maxSeconds ?? 300),
    String(o.maxRequests ?? 2_000_000), String(o.connections ?? 4), String(o.reconnectRate ?? 0)]);
  let out = '';
  let err = '';
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return {
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
      const line = out.trim().split('\n').pop() ?? '';
      try {
        return JSON.parse(line) as NsLoadReport;
      } catch {
        throw new Error(`the load in the namespace printed no report (exit ${child.exitCode}): ${err.slice(-2000)}`);
      }
    },
  };
}

async function main(argv: string[]): Promise<void> {
  const [url, maxSeconds, maxRequests, connections, reconnectRate] = argv;
  const load = startLoad(url, { maxSeconds: Number(maxSeconds), maxRequests: Number(maxRequests), connections: Number(connections), timeoutS: 5,
    reconnectRate: Number(reconnectRate ?? 0) || undefined });
  const seen = watchVersions(url, Number(maxSeconds));
  const until = Date.now() + Number(maxSeconds) * 1000;
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', () => resolve());
    const t = setInterval(() => { if (Date.now() >= until) { clearInterval(t); resolve(); } }, 500);
  });
  const r = await load.stop();
  const versions = seen.stop();
  process.stdout.write(`${JSON.stringify({
    requests: r.requests, ok: r.ok, non2xx: r.non2xx, errors: r.errors, failed: r.failed, longestGapMs: r.longestGapMs, p99Ms: r.p99Ms, versions,
  })}\n`);
  process.exit(0);
}

if (require.main === module) void main(process.argv.slice(2));
