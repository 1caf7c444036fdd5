/**
 * The updater on a real node (test/node/stack-on-node.ts): the synthesized `modelpilot-updater` Deployment runs the
 * image built from agent/Dockerfile as its least-privilege ServiceAccount, with its state on a PersistentVolume; the
 * registry pod notifies it by Service name (CoreDNS); its SLO gate reads Prometheus through `prometheus-operated`.
 * Load goes through the model's Service from inside the namespace for the whole file (bounded).
 *
 * Scenarios: a healthy push is rolled out by the updater and promoted after the bake window with 0 failed requests;
 * a version that never gets ready is rolled back through the Deployment's history and quarantined while the old pods
 * serve, 0 failed requests. The only settings changed from the defaults are the durations (poll 5 s, readiness
 * timeout 90 s, bake window 15 s) so the file runs in minutes. Overrides: see stack-on-node.ts.
 */
import * as path from 'path';
import { readAuditFile } from '../../agent/state/audit';
import { Duration } from '../../lib';
import { NsLoadReport, startNsLoad } from '../support/ns-load';
import { waitFor } from '../support/tools';
import { REPO, StackOnNode, startStackOnNode } from './stack-on-node';

jest.setTimeout(900_000);

let s: StackOnNode;
let load: { stop(): Promise<NsLoadReport> };
let report: NsLoadReport | undefined;

const audit = () => readAuditFile(path.join(s.stateDir!, 'audit.jsonl')).entries;
const isVersion = (ref: string | undefined, v: string): boolean => ref !== undefined && (ref.includes(`:${v}@`) || ref.endsWith(`:${v}`));
const updaterLogs = (): string => s.kubectl(['logs', '-n', 'ml', 'deployment/modelpilot-updater', '--tail=40']);

async function auditEvent(what: string, match: (e: ReturnType<typeof audit>[number]) => boolean, timeoutMs: number): Promise<number> {
  let at = 0;
  await waitFor(() => {
    const e = audit().find(match);
    if (e) at = Date.parse(e.time);
    return e !== undefined;
  }, { what, timeoutMs, intervalMs: 250, diagnostics: updaterLogs });
  return at;
}

beforeAll(async () => {
  s = await startStackOnNode({
    updater: { pollInterval: Duration.seconds(5), readinessTimeout: Duration.seconds(90), bakeWindow: Duration.seconds(15) },
  });
  load = startNsLoad((f, a) => s.node.spawn(f, a), s.serviceUrl('recsys'), { maxSeconds: 780, maxRequests: 3_000_000, connections: 2 });
});

afterAll(async () => {
  if (!report) await load?.stop().catch(() => undefined);
  await s?.stop();
});

test('a healthy push is rolled out by the in-cluster updater and promoted after the bake window', async () => {
  await s.pushVersion('1.1.0');
  const pushed = Date.now();
  const promoted = await auditEvent('1.1.0 promoted', (e) => e.event === 'promoted' && isVersion(e.to, '1.1.0'), 300_000);
  console.log(`push → promoted by the updater on the real node: ${promoted - pushed} ms`);
  expect(s.readyImages('recsys').every((i) => i.startsWith(`${REPO}:1.1.0`))).toBe(true);
});

test('a version that never gets ready is rolled back and quarantined; the old pods serve', async () => {
  await s.pushVersion('1.2.0', { MODEL_FAULT_NEVER_READY: 'true' });
  const pushed = Date.now();
  const back = await auditEvent('1.2.0 rolled back', (e) => e.event === 'rolled-back' && isVersion(e.from, '1.2.0'), 400_000);
  await auditEvent('1.2.0 quarantined', (e) => e.event === 'quarantined' && (e.reason ?? '').includes('1.2.0'), 60_000);
  console.log(`push of a never-ready version → rolled back by the updater on the real node: ${back - pushed} ms`);
  await waitFor(() => s.readyImages('recsys').length === 2 && s.readyImages('recsys').every((i) => i.startsWith(`${REPO}:1.1.0`)),
    { what: 'two Ready pods of 1.1.0', timeoutMs: 120_000 });
  report = await load.stop();
  console.log(`load through the Service for the whole file: ${JSON.stringify({ ...report, versions: report.versions.map((v) => v.version) })}`);
  expect(report.requests).toBeGreaterThan(1000);
  expect(report.failed).toBe(0);
  expect(report.versions.map((v) => v.version)).not.toContain('1.2.0');
});
