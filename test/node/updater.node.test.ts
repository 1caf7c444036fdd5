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
 * counted, not asserted away; a version answering 10 % errors is rolled back by the SLO gate reading Prometheus and
 * quarantined; a version answering 30 % errors whose rollback the API server refuses (the test takes `patch` on
 * Deployments out of the updater's Role once the update is applied — the rollback is a single write, so this is what
 * holds it open) has its updater pod deleted: the new pod finds the update in flight and the verdict in the state on
 * the PersistentVolume, and finishes the rollback without applying or judging the version again; an image the node
 * cannot pull (its config blob deleted from the registry's storage while the Deployment is on an operator hold) is a
 * failed apply — reverted, retried, quarantined after the failure budget — while the old pods serve, 0 failed
 * requests. The only settings changed from the defaults are the durations (poll 5 s, readiness timeout 90 s, bake
 * window 15 s) so the file runs in minutes. Overrides: see stack-on-node.ts.
 */
import { DEFAULT_ROLLBACK } from '../../agent/loop';
import { AuditEntry } from '../../agent/state/audit';
import { Duration } from '../../lib';
import { NsLoadReport, startNsLoad } from '../support/ns-load';
import { waitFor } from '../support/tools';
import { isVersion, REPO, StackOnNode, startStackOnNode } from './stack-on-node';

jest.setTimeout(900_000);

let s: StackOnNode;
let load: { stop(): Promise<NsLoadReport> };
let report: NsLoadReport | undefined;

const NODE_IN_IMAGE = '/usr/local/bin/node';
const audit = () => s.audit();
const updaterLogs = (): string => s.kubectl(['logs', '-n', 'ml', 'deployment/modelpilot-updater', '--tail=40']);
/** The label selector of a synthesized Deployment, for kubectl's `-l`. */
const selectorOf = (name: string): string => Object.entries((s.objects.find((o) => o.kind === 'Deployment' && o.metadata.name === name)!)
  .spec.selector.matchLabels as Record<string, string>).map(([k, v]) => `${k}=${v}`).join(',');
const auditEvent = (what: string, match: (e: AuditEntry) => boolean, timeoutMs: number): Promise<number> =>
  s.auditAt(what, match, timeoutMs, updaterLogs);

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

test('a version answering 10 % errors is rolled back by the SLO gate on Prometheus and quarantined; the old pods serve again', async () => {
  const l = startNsLoad((f, a) => s.node.spawn(f, a), s.serviceUrl('recsys'), { maxSeconds: 500, maxRequests: 3_000_000, connections: 2 });
  await s.pushVersion('1.4.0', { MODEL_FAULT_ERROR_RATIO: '0.1' });
  const pushed = Date.now();
  const back = await auditEvent('1.4.0 rolled back', (e) => e.event === 'rolled-back' && isVersion(e.from, '1.4.0'), 400_000);
  const verify = audit().find((e) => e.event === 'verify' && isVersion(e.to, '1.4.0'));
  expect(verify?.result).toBe('rollback');
  expect(verify?.reason).toMatch(/error ratio above 0\.05/);
  // the ratio the gate read from Prometheus is the fault's 10 %, within its sampling error
  expect(verify?.evidence?.errorRatio).toBeGreaterThan(0.06);
  expect(verify?.evidence?.errorRatio).toBeLessThan(0.14);
  expect(audit().find((e) => e.event === 'quarantined' && (e.reason ?? '').includes('1.4.0'))).toBeDefined();
  await waitFor(() => s.readyImages('recsys').length === 2 && s.readyImages('recsys').every((i) => i.startsWith(`${REPO}:1.1.0`)),
    { what: 'two Ready pods of 1.1.0 again', timeoutMs: 180_000 });
  const r = await l.stop();
  console.log(`10 %-errors version on the real node: push → rolled back ${back - pushed} ms (evidence ${JSON.stringify(verify?.evidence)}); `
    + `load ${JSON.stringify({ ...r, versions: r.versions.map((v) => v.version) })}`);
  // what users saw: the new pods' errors during the bake, counted (a share of the 10 %: the old pods served the rest)
  expect(r.failed / r.requests).toBeLessThan(0.1);
  expect(r.versions.map((v) => v.version).pop()).toBe('1.1.0');
});

test('the updater pod deleted while its rollback is refused: the new pod finishes the rollback from its durable state, without judging again', async () => {
  const l = startNsLoad((f, a) => s.node.spawn(f, a), s.serviceUrl('recsys'), { maxSeconds: 500, maxRequests: 3_000_000, connections: 2 });
  const role = s.json(['get', 'role', 'modelpilot-updater', '-n', 'ml']);
  const updaterPods = (): string[] => (s.json(['get', 'pods', '-n', 'ml', '-l', selectorOf('modelpilot-updater')]).items as Array<{ metadata: { name: string } }>)
    .map((p) => p.metadata.name);
  const before = updaterPods();
  await s.pushVersion('1.5.0', { MODEL_FAULT_ERROR_RATIO: '0.3' });
  // once the update is applied, take back the Role's patch on Deployments (as a mis-applied RBAC change would):
  // the rollback is one API write, so this is what holds it open long enough to delete the pod in the middle of it
  await waitFor(() => (s.json(['get', 'deployment', 'recsys', '-n', 'ml']).spec.template.spec.containers[0].image as string).includes(':1.5.0'),
    { what: '1.5.0 applied', timeoutMs: 120_000, diagnostics: updaterLogs });
  const revoked = structuredClone(role);
  for (const rule of revoked.rules as Array<{ resources: string[]; verbs: string[] }>) {
    if (rule.resources.includes('deployments')) rule.verbs = rule.verbs.filter((v) => v !== 'patch');
  }
  s.kubectl(['replace', '-f', '-'], JSON.stringify(revoked));
  const refused = await auditEvent('the rollback of 1.5.0 refused', (e) => e.event === 'rollback-failed' && isVersion(e.from, '1.5.0'), 300_000);
  expect(audit().find((e) => e.event === 'quarantined' && (e.reason ?? '').includes('1.5.0'))).toBeDefined();
  s.kubectl(['delete', 'pod', '-n', 'ml', '-l', selectorOf('modelpilot-updater'), '--wait=true', '--timeout=120s']);
  const killed = Date.now();
  // the Role as synthesized again
  s.kubectl(['apply', '--server-side', '--force-conflicts', '--field-manager=modelpilot', '-f', '-'],
    JSON.stringify(s.objects.find((o) => o.kind === 'Role' && o.metadata.name === 'modelpilot-updater')));
  const back = await auditEvent('1.5.0 rolled back by the new pod',
    (e) => e.event === 'rolled-back' && isVersion(e.from, '1.5.0') && e.result === 'ok' && Date.parse(e.time) >= killed - 1000, 300_000);
  // the new pod found the update in flight and its verdict in the state on the PersistentVolume
  const recovered = audit().find((e) => e.event === 'recovered' && isVersion(e.to, '1.5.0') && Date.parse(e.time) >= killed - 1000);
  expect(recovered?.result).toBe('rolling-back');
  expect(recovered?.reason).toMatch(/verdict is already recorded/);
  expect(updaterPods().some((p) => before.includes(p))).toBe(false);
  // judged once, applied once: the new pod carried out the recorded verdict
  expect(audit().filter((e) => e.event === 'apply' && isVersion(e.to, '1.5.0'))).toHaveLength(1);
  expect(audit().filter((e) => e.event === 'verify' && isVersion(e.to, '1.5.0'))).toHaveLength(1);
  await waitFor(() => s.readyImages('recsys').length === 2 && s.readyImages('recsys').every((i) => i.startsWith(`${REPO}:1.1.0`)),
    { what: 'two Ready pods of 1.1.0 again', timeoutMs: 180_000 });
  const r = await l.stop();
  console.log(`updater pod deleted mid-rollback on the real node: first refused rollback → pod deleted ${killed - refused} ms, → rolled back by the new pod `
    + `${back - killed} ms; load ${JSON.stringify({ ...r, versions: r.versions.map((v) => v.version) })}`);
  expect(r.versions.map((v) => v.version).pop()).toBe('1.1.0');
});

test('an image the node cannot pull is a failed apply: reverted, retried, quarantined after the failure budget; the old pods serve throughout', async () => {
  const l = startNsLoad((f, a) => s.node.spawn(f, a), s.serviceUrl('recsys'), { maxSeconds: 500, maxRequests: 3_000_000, connections: 2 });
  // held while the image is pushed and broken (the registry notifies the updater at once)
  s.kubectl(['annotate', 'deployment', 'recsys', '-n', 'ml', 'modelpilot.dev/hold=node-tier: breaking 1.6.0']);
  await s.pushVersion('1.6.0');
  const lost = s.breakImage('1.6.0');
  s.kubectl(['annotate', 'deployment', 'recsys', '-n', 'ml', 'modelpilot.dev/hold-']);
  const released = Date.now();
  const q = await auditEvent('1.6.0 quarantined', (e) => e.event === 'quarantined' && (e.reason ?? '').includes('1.6.0'), 400_000);
  const budget = DEFAULT_ROLLBACK.failureBudget!;
  expect(audit().find((e) => e.event === 'quarantined' && (e.reason ?? '').includes('1.6.0'))?.reason)
    .toMatch(new RegExp(`every apply failed in ${budget} cycle\\(s\\): .*cannot pull '${REPO}:1\\.6\\.0@sha256:[0-9a-f]{64}': (ErrImagePull|ImagePullBackOff)`));
  const failedApplies = audit().filter((e) => e.event === 'apply-failed' && isVersion(e.to, '1.6.0'));
  expect(failedApplies).toHaveLength(DEFAULT_ROLLBACK.maxAttempts * budget);
  expect(audit().filter((e) => e.event === 'reverted' && isVersion(e.from, '1.6.0'))).toHaveLength(DEFAULT_ROLLBACK.maxAttempts * budget);
  // never judged: no verdict, no rollback of a version that never ran
  expect(audit().filter((e) => (e.event === 'verify' || e.event === 'rolled-back') && (isVersion(e.to, '1.6.0') || isVersion(e.from, '1.6.0')))).toEqual([]);
  const pulls = s.kubectl(['get', 'events', '-n', 'ml', '--field-selector', 'reason=Failed', '-o', 'jsonpath={range .items[*]}{.message}{"\\n"}{end}']);
  expect(pulls).toMatch(/Failed to pull image .*1\.6\.0/);
  expect(s.readyImages('recsys')).toHaveLength(2);
  expect(s.readyImages('recsys').every((i) => i.startsWith(`${REPO}:1.1.0@`))).toBe(true);
  const r = await l.stop();
  console.log(`unpullable image (config blob ${lost} deleted) on the real node: hold released → quarantined ${q - released} ms after ${failedApplies.length} `
    + `failed applies; load ${JSON.stringify({ ...r, versions: r.versions.map((v) => v.version) })}`);
  expect(r.failed).toBe(0);
  expect(r.versions.map((v) => v.version)).toEqual(['1.1.0']);
});
