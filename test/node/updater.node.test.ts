/**
 * The updater on a real node (test/node/stack-on-node.ts): the synthesized `modelpilot-updater` Deployment runs the
 * image built from agent/Dockerfile as its least-privilege ServiceAccount, with its state on a PersistentVolume; the
 * registry pod notifies it by Service name (CoreDNS); its SLO gate reads Prometheus through `prometheus-operated`.
 * Load goes through the model's Service from inside the namespace for the whole file (bounded).
 *
 * Scenarios: a healthy push is rolled out by the updater and promoted after the bake window with 0 failed requests;
 * a version that never gets ready is rolled back through the Deployment's history and quarantined while the old pods
 * serve, 0 failed requests; a version that passes the gate and then exits 137 at each start (the test writes its
 * crash file into the pods' /tmp once the audit says promoted: `MODEL_FAULT_CRASH_WHEN_FILE`) is rolled back by the
 * post-promotion watch after the kubelet's restarts and quarantined — the requests that failed while it crashed are
 * counted, not asserted away. The only settings changed from the defaults are the durations (poll 5 s, readiness
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

const NODE_IN_IMAGE = '/usr/local/bin/node';
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

test('a promoted version that exits 137 at each start is rolled back by the post-promotion watch and quarantined', async () => {
  // traffic for the gate to judge, and to count what fails while the version crashes
  const crashLoad = startNsLoad((f, a) => s.node.spawn(f, a), s.serviceUrl('recsys'), { maxSeconds: 700, maxRequests: 3_000_000, connections: 2 });
  await s.pushVersion('1.3.0', { MODEL_FAULT_CRASH_WHEN_FILE: '/tmp/crash' });
  const pushed = Date.now();
  const promotedAt = await auditEvent('1.3.0 promoted', (e) => e.event === 'promoted' && isVersion(e.to, '1.3.0'), 300_000);
  // the crash file in each pod's /tmp (an emptyDir: it outlives the container, so every restart crashes again)
  const pods = (s.json(['get', 'pods', '-n', 'ml', '-l', 'app.kubernetes.io/instance=recsys']).items as Array<{ metadata: { name: string }; spec: { containers: Array<{ image: string }> } }>)
    .filter((p) => p.spec.containers[0].image.includes(':1.3.0'));
  expect(pods.length).toBe(2);
  const crashedAt = Date.now();
  for (const p of pods) s.kubectl(['exec', '-n', 'ml', p.metadata.name, '-c', 'model', '--', NODE_IN_IMAGE, '-e', "require('fs').writeFileSync('/tmp/crash', '')"]);
  const back = await auditEvent('1.3.0 rolled back', (e) => e.event === 'rolled-back' && isVersion(e.from, '1.3.0'), 400_000);
  const quarantined = audit().find((e) => e.event === 'quarantined' && (e.reason ?? '').includes('1.3.0'));
  expect(quarantined?.reason).toMatch(/crashing after its promotion/);
  await waitFor(() => s.readyImages('recsys').length === 2 && s.readyImages('recsys').every((i) => i.startsWith(`${REPO}:1.1.0`)),
    { what: 'two Ready pods of 1.1.0 again', timeoutMs: 180_000 });
  const r = await crashLoad.stop();
  console.log(`crash after promotion on the real node: push → promoted ${promotedAt - pushed} ms, first crash → rolled back ${back - crashedAt} ms; `
    + `load ${JSON.stringify({ ...r, versions: r.versions.map((v) => v.version) })}`);
  expect(r.versions.map((v) => v.version).pop()).toBe('1.1.0');
});
