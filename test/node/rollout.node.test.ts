/**
 * The synthesized stack on a real node (test/node/stack-on-node.ts; kubelet + kube-proxy + containerd + bridge CNI in
 * a network namespace, the control plane beside them), without the updater: what the node itself does with what we
 * render. Load goes through the model's Service (kube-proxy) from inside the namespace, bounded in time and count.
 *
 * Scenarios: the stack comes up on real probes with images pulled through the registry's NodePort; a new version
 * rolls out with 0 failed requests (maxUnavailable 0, readiness, the preStop drain); a version that crashes on start
 * goes to CrashLoopBackOff while the old pods keep serving with 0 failed requests. Overrides: see stack-on-node.ts.
 */
import { startNsLoad } from '../support/ns-load';
import { waitFor } from '../support/tools';
import { NS, REPO, StackOnNode, startStackOnNode } from './stack-on-node';

jest.setTimeout(600_000);

let s: StackOnNode;
const kubectl = (args: readonly string[], input?: string): string => s.kubectl(args, input);

/** Moves the Deployment to `version` as the updater does: the image, MODEL_VERSION and the version label in one change. */
function setVersion(version: string): void {
  kubectl(['patch', 'deployment', 'recsys', '-n', NS, '--type=strategic', '-p', JSON.stringify({
    spec: { template: {
      metadata: { labels: { 'app.kubernetes.io/version': version } },
      spec: { containers: [{ name: 'model', image: `${REPO}:${version}`, env: [{ name: 'MODEL_VERSION', value: version }] }] },
    } },
  })]);
}

beforeAll(async () => {
  s = await startStackOnNode();
});

afterAll(async () => {
  await s?.stop();
});

test('the registry and the model run from the synthesized manifests on real probes; the image came through the NodePort', () => {
  expect(s.readyImages('recsys')).toEqual([`${REPO}:1.0.0`, `${REPO}:1.0.0`]);
  const images = s.node.ctr(['images', 'ls', '-q']);
  expect(images).toContain(`${REPO}:1.0.0`);
  const events = kubectl(['get', 'events', '-n', NS, '--field-selector', 'reason=Pulled', '-o', 'jsonpath={range .items[*]}{.message}{"\\n"}{end}']);
  expect(events).toMatch(new RegExp(`Successfully pulled image "${REPO}:1.0.0"`));
});

test('a new version rolls out through the Service with 0 failed requests', async () => {
  await s.pushVersion('1.1.0');
  const load = startNsLoad((f, a) => s.node.spawn(f, a), s.serviceUrl('recsys'), { maxSeconds: 240, maxRequests: 500_000, connections: 4 });
  await waitFor(() => s.readyImages('recsys').length === 2, { what: 'load started', timeoutMs: 5000 });
  const t0 = Date.now();
  setVersion('1.1.0');
  kubectl(['rollout', 'status', 'deployment/recsys', '-n', NS, '--timeout=240s']);
  const rolloutMs = Date.now() - t0;
  await waitFor(() => s.readyImages('recsys').every((i) => i.endsWith(':1.1.0')), { what: '1.1.0 on every ready pod', timeoutMs: 60_000 });
  const report = await load.stop();
  console.log(`rolling update 1.0.0 → 1.1.0 on the real node: ${rolloutMs} ms; load ${JSON.stringify({ ...report, versions: report.versions.map((v) => v.version) })}`);
  expect(report.requests).toBeGreaterThan(100);
  expect(report.failed).toBe(0);
  expect(report.versions.map((v) => v.version)).toContain('1.1.0');
});

test('a version that crashes on start goes to CrashLoopBackOff; the old pods keep serving with 0 failed requests', async () => {
  await s.pushVersion('1.2.0', { MODEL_FAULT_CRASH_ON_START: 'true' });
  const load = startNsLoad((f, a) => s.node.spawn(f, a), s.serviceUrl('recsys'), { maxSeconds: 240, maxRequests: 500_000, connections: 4 });
  setVersion('1.2.0');
  let waiting = '';
  await waitFor(() => {
    const pods = s.json(['get', 'pods', '-n', NS, '-l', 'app.kubernetes.io/instance=recsys']).items as Array<Record<string, any>>; // eslint-disable-line @typescript-eslint/no-explicit-any -- Kubernetes JSON
    const bad = pods.find((p) => p.spec.containers[0].image === `${REPO}:1.2.0`);
    const st = bad?.status.containerStatuses?.[0];
    waiting = st?.state?.waiting?.reason ?? '';
    return waiting === 'CrashLoopBackOff' && (st?.restartCount ?? 0) >= 2;
  }, { what: '1.2.0 in CrashLoopBackOff after 2 restarts', timeoutMs: 180_000, intervalMs: 1000, diagnostics: () => s.node.logs().slice(-3000) });
  const dep = s.json(['get', 'deployment', 'recsys', '-n', NS]);
  expect(dep.status.availableReplicas).toBe(2);
  expect(s.readyImages('recsys')).toEqual([`${REPO}:1.1.0`, `${REPO}:1.1.0`]);
  const report = await load.stop();
  console.log(`crash-looping 1.2.0 on the real node: ${JSON.stringify({ ...report, versions: report.versions.map((v) => v.version) })}`);
  expect(report.failed).toBe(0);
  expect(report.versions.map((v) => v.version)).toEqual(['1.1.0']);
  kubectl(['rollout', 'undo', 'deployment/recsys', '-n', NS]);
  kubectl(['rollout', 'status', 'deployment/recsys', '-n', NS, '--timeout=120s']);
});
