/**
 * The synthesized stack on a real node (test/node/stack-on-node.ts; kubelet + kube-proxy + containerd + bridge CNI in
 * a network namespace, the control plane beside them), without the updater: what the node itself does with what we
 * render. Load goes through the model's Service (kube-proxy) from inside the namespace, bounded in time and count.
 *
 * Scenarios: the stack comes up on real probes with images pulled through the registry's NodePort; a new version
 * rolls out with 0 failed requests (maxUnavailable 0, readiness, the preStop drain); a version that crashes on start
 * goes to CrashLoopBackOff while the old pods keep serving with 0 failed requests; a model that loads for 40 s before
 * its port opens (`MODEL_LISTEN_AFTER_LOAD`, as vLLM and Triton) is restarted by liveness when the startup probe is
 * taken out (the control) and rolls out with no restart and 0 failed requests with the startup probe as rendered from
 * `modelLoadTimeout`. Overrides: see stack-on-node.ts.
 */
import { startNsLoad } from '../support/ns-load';
import { waitFor } from '../support/tools';
import { NS, REPO, StackOnNode, startStackOnNode } from './stack-on-node';

jest.setTimeout(900_000);

let s: StackOnNode;
const kubectl = (args: readonly string[], input?: string): string => s.kubectl(args, input);

/**
 * Moves the Deployment to `version` as the updater does: the image, MODEL_VERSION and the version label in one change
 * (`container` adds to the model container's patch, e.g. `{ startupProbe: null }` to drop the startup probe).
 */
function setVersion(version: string, container: Record<string, unknown> = {}): void {
  kubectl(['patch', 'deployment', 'recsys', '-n', NS, '--type=strategic', '-p', JSON.stringify({
    spec: { template: {
      metadata: { labels: { 'app.kubernetes.io/version': version } },
      spec: { containers: [{ name: 'model', image: `${REPO}:${version}`, env: [{ name: 'MODEL_VERSION', value: version }], ...container }] },
    } },
  })]);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- Kubernetes JSON
type Obj = Record<string, any>;
const podsOf = (version: string): Obj[] => (s.json(['get', 'pods', '-n', NS, '-l', 'app.kubernetes.io/instance=recsys']).items as Obj[])
  .filter((p) => p.spec.containers[0].image === `${REPO}:${version}`);

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
  const load = startNsLoad((f, a) => s.node.spawn(f, a), s.serviceUrl('recsys'), { maxSeconds: 240, maxRequests: 3_000_000, connections: 4 });
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
  const load = startNsLoad((f, a) => s.node.spawn(f, a), s.serviceUrl('recsys'), { maxSeconds: 240, maxRequests: 3_000_000, connections: 4 });
  setVersion('1.2.0');
  let waiting = '';
  await waitFor(() => {
    const bad = podsOf('1.2.0')[0];
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

/** A model that loads for 40 s before its port opens (as vLLM and Triton do): liveness gets no answer meanwhile. */
const SLOW = { MODEL_LISTEN_AFTER_LOAD: 'true', MODEL_LOAD_DELAY_MS: '40000' };

test('without the startup probe, the kubelet kills a model whose load outlasts liveness (the control); the old pods keep serving', async () => {
  const model = (s.objects.find((o) => o.kind === 'Deployment' && o.metadata.name === 'recsys') as Obj).spec.template.spec.containers[0];
  const live = model.livenessProbe;
  // the claim is only meaningful when liveness alone gives up before the load ends
  expect(live.periodSeconds * live.failureThreshold + (live.initialDelaySeconds ?? 0)).toBeLessThan(40);
  await s.pushVersion('1.3.0', SLOW);
  const load = startNsLoad((f, a) => s.node.spawn(f, a), s.serviceUrl('recsys'), { maxSeconds: 240, maxRequests: 3_000_000, connections: 4 });
  setVersion('1.3.0', { startupProbe: null });
  await waitFor(() => (podsOf('1.3.0')[0]?.status.containerStatuses?.[0]?.restartCount ?? 0) >= 1,
    { what: 'the kubelet to restart the slow-loading pod', timeoutMs: 180_000, intervalMs: 1000 });
  const killed = kubectl(['get', 'events', '-n', NS, '--field-selector', 'reason=Unhealthy', '-o', 'jsonpath={range .items[*]}{.message}{"\\n"}{end}']);
  expect(killed).toMatch(/Liveness probe failed/);
  expect(s.readyImages('recsys')).toEqual([`${REPO}:1.1.0`, `${REPO}:1.1.0`]);
  const report = await load.stop();
  console.log(`slow load without a startup probe on the real node: restarted by liveness; load ${JSON.stringify({ ...report, versions: report.versions.map((v) => v.version) })}`);
  expect(report.failed).toBe(0);
  kubectl(['rollout', 'undo', 'deployment/recsys', '-n', NS]);
  kubectl(['rollout', 'status', 'deployment/recsys', '-n', NS, '--timeout=120s']);
});

test('with the startup probe as rendered (sized from modelLoadTimeout), the same slow model rolls out with no restart and 0 failed requests', async () => {
  const model = (s.objects.find((o) => o.kind === 'Deployment' && o.metadata.name === 'recsys') as Obj).spec.template.spec.containers[0];
  expect(model.startupProbe.periodSeconds * model.startupProbe.failureThreshold).toBeGreaterThanOrEqual(120); // modelLoadTimeout's default, 2 min
  const load = startNsLoad((f, a) => s.node.spawn(f, a), s.serviceUrl('recsys'), { maxSeconds: 400, maxRequests: 5_000_000, connections: 4 });
  const t0 = Date.now();
  setVersion('1.3.0');
  // two pods one after the other (maxSurge 1), each ~40 s of load: longer than one kubectl call may block here
  await waitFor(() => {
    const d = s.json(['get', 'deployment', 'recsys', '-n', NS]);
    const st = d.status;
    return st.observedGeneration >= d.metadata.generation && st.updatedReplicas === 2 && st.replicas === 2 && st.availableReplicas === 2;
  }, { what: 'the rollout of the slow-loading 1.3.0', timeoutMs: 360_000, intervalMs: 1000 });
  const rolloutMs = Date.now() - t0;
  await waitFor(() => s.readyImages('recsys').length === 2 && s.readyImages('recsys').every((i) => i.endsWith(':1.3.0')),
    { what: '1.3.0 on every ready pod', timeoutMs: 60_000 });
  const pods = podsOf('1.3.0').filter((p) => p.metadata.deletionTimestamp === undefined);
  expect(pods.length).toBe(2);
  expect(pods.map((p) => p.status.containerStatuses[0].restartCount)).toEqual([0, 0]);
  const report = await load.stop();
  console.log(`slow load (40 s, port closed meanwhile) with the startup probe on the real node: rolled out in ${rolloutMs} ms with no restart; `
    + `load ${JSON.stringify({ ...report, versions: report.versions.map((v) => v.version) })}`);
  expect(report.failed).toBe(0);
  expect(report.versions.map((v) => v.version).pop()).toBe('1.3.0');
});
