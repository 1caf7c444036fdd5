/**
 * Argo Rollouts on a real node (test/node/stack-on-node.ts with `delivery`): the controller runs as a pod from its own
 * install manifest, the Rollout's pods are real (kubelet + containerd), its analysis queries the Prometheus that
 * scrapes them with the labels the stack's ServiceMonitor / PodMonitor gives (`rollouts_pod_template_hash` included),
 * and the in-cluster updater hands each version to the Rollout and follows its verdict. Load goes through the model's
 * (active) Service from inside the namespace (bounded).
 *
 * For a canary (50 %, then the analysis) and for blue-green (auto-promotion, then the post-promotion analysis on real
 * traffic, the default): a healthy version passes its analysis and is promoted by the Rollout and the updater with 0
 * failed requests; a version answering 30 % errors fails its analysis, the Rollout aborts to the stable pods (blue-green:
 * switches the active Service back to them, still running for `scaleDownDelay`), and the updater restores the
 * Deployment's template and quarantines the version — the requests the bad version failed meanwhile are counted.
 * Durations shortened so the file runs in minutes: analysis every 5 s × 3, bake window 10 s, poll 5 s.
 * Overrides: see stack-on-node.ts (6: the controller's image).
 */
import { Cpu } from 'cdk8s-plus-28';
import { AuditEntry } from '../../agent/state/audit';
import { CanaryStep, Delivery, Duration, Slo } from '../../lib';
import { NsLoadReport, startNsLoad } from '../support/ns-load';
import { waitFor } from '../support/tools';
import { isVersion, NS, Obj, StackOnNode, startStackOnNode } from './stack-on-node';

jest.setTimeout(900_000);

const DELIVERIES: Array<[string, () => Delivery]> = [
  ['a canary', () => Delivery.canary({ steps: [CanaryStep.setWeight(50), CanaryStep.analysis()], analysis: { interval: Duration.seconds(5), measurements: 3 } })],
  ['blue-green', () => Delivery.blueGreen({ analysis: { interval: Duration.seconds(5), measurements: 3 } })],
];

/** Connections reopened every 50 requests, so kube-proxy spreads them over the pods as it would many clients. */
const LOAD = { maxSeconds: 400, maxRequests: 5_000_000, connections: 4, reconnectRate: 50 };
const show = (r: NsLoadReport): string => JSON.stringify({ ...r, versions: r.versions.map((v) => v.version) });

describe.each(DELIVERIES)('%s through the Argo Rollouts controller on the real node', (kind, delivery) => {
  let s: StackOnNode;
  const audit = () => s.audit();
  const rollout = (): Obj => s.json(['get', 'rollouts.argoproj.io', 'recsys', '-n', NS]);
  /** The AnalysisRuns created since `t` (ms), newest last. */
  const runsSince = (t: number): Obj[] => (s.json(['get', 'analysisruns.argoproj.io', '-n', NS]).items as Obj[])
    .filter((a) => Date.parse(a.metadata.creationTimestamp) >= t - 1000)
    .sort((a, b) => Date.parse(a.metadata.creationTimestamp) - Date.parse(b.metadata.creationTimestamp));
  const diagnostics = (): string => `rollout status: ${JSON.stringify(rollout().status)}\n`
    + `updater: ${s.kubectl(['logs', '-n', NS, 'deployment/modelpilot-updater', '--tail=30'])}\n`
    + `controller: ${s.kubectl(['logs', '-n', 'argo-rollouts', 'deployment/argo-rollouts', '--tail=30'])}`;
  const serving = (): string[] => s.servingImages('recsys');
  const auditAt = (what: string, match: (e: AuditEntry) => boolean): Promise<number> => s.auditAt(what, match, 400_000, diagnostics);
  /**
   * A keep-alive connection stays on the pod it reached (kube-proxy keeps established connections): after a blue-green
   * switch or a canary's abort it is still answered by the other version until that pod has drained. The load's
   * version watcher is such a connection, so its last answer is only the serving version once no other pod is left.
   */
  const onlyPodsOf = (version: string): Promise<void> => waitFor(() => (s.json(['get', 'pods', '-n', NS, '-l', 'app.kubernetes.io/instance=recsys']).items as Obj[])
    .every((p) => (p.spec.containers[0].image as string).includes(`:${version}`)), { what: `only pods of ${version} left`, timeoutMs: 240_000, intervalMs: 1000, diagnostics });
  const results = (run: Obj): string => JSON.stringify((run.status.metricResults as Obj[])
    .map((m) => [m.name, m.phase, m.measurements?.at(-1)?.value]));

  beforeAll(async () => {
    s = await startStackOnNode({
      updater: { pollInterval: Duration.seconds(5), readinessTimeout: Duration.seconds(240), bakeWindow: Duration.seconds(10) },
      delivery: delivery(),
      slo: new Slo({ minSamples: 10 }),
      // blue-green runs both colours' pods at once: 4 × the default 500m request does not fit this 2-core node
      resources: { cpu: { request: Cpu.millis(200) } },
    });
    await waitFor(() => rollout().status?.phase === 'Healthy' && serving().length === 2,
      { what: 'the Rollout Healthy on 1.0.0 with two serving pods', timeoutMs: 240_000, intervalMs: 1000, diagnostics });
  });

  afterAll(async () => {
    await s?.stop();
  });

  test('a healthy version passes its analysis on the real pods\' metrics and is promoted by the Rollout and the updater, 0 failed requests', async () => {
    const before = rollout().status.stableRS as string;
    const load = startNsLoad((f, a) => s.node.spawn(f, a), s.serviceUrl('recsys'), LOAD);
    await s.pushVersion('1.1.0');
    const pushed = Date.now();
    const promoted = await auditAt('1.1.0 promoted', (e) => e.event === 'promoted' && isVersion(e.to, '1.1.0'));
    const st = rollout().status;
    expect(st.phase).toBe('Healthy');
    expect(st.stableRS).toBe(st.currentPodHash);
    expect(st.stableRS).not.toBe(before);
    const run = runsSince(pushed).pop();
    expect(run?.status.phase).toBe('Successful');
    // the analysis read the new pods' own requests (the label the monitor copies from the pod)
    const served = (run!.status.metricResults as Obj[]).find((m) => m.name === 'served-requests');
    expect(Number(JSON.parse(served?.measurements?.at(-1)?.value ?? '[0]')[0])).toBeGreaterThanOrEqual(10);
    expect(audit().find((e) => e.event === 'verify' && isVersion(e.to, '1.1.0'))?.reason).toMatch(/Successful/);
    await waitFor(() => serving().length === 2 && serving().every((i) => i.includes(':1.1.0')),
      { what: '1.1.0 on every serving pod', timeoutMs: 180_000, intervalMs: 1000, diagnostics });
    await onlyPodsOf('1.1.0');
    const r = await load.stop();
    console.log(`healthy ${kind} on the real node: push → promoted ${promoted - pushed} ms; analysis ${results(run!)}; load ${show(r)}`);
    expect(r.failed).toBe(0);
    expect(r.versions.map((v) => v.version).pop()).toBe('1.1.0');
  });

  test('a version answering 30 % errors fails its analysis: the Rollout aborts to the stable pods, the updater restores the template and quarantines it',
    async () => {
      const stable = rollout().status.stableRS as string;
      const load = startNsLoad((f, a) => s.node.spawn(f, a), s.serviceUrl('recsys'), LOAD);
      await s.pushVersion('1.2.0', { MODEL_FAULT_ERROR_RATIO: '0.3' });
      const pushed = Date.now();
      const back = await auditAt('1.2.0 rolled back', (e) => e.event === 'rolled-back' && isVersion(e.from, '1.2.0'));
      const q = audit().find((e) => e.event === 'quarantined' && (e.reason ?? '').includes('1.2.0'));
      expect(q?.reason).toMatch(/error-ratio/);
      const failed = runsSince(pushed).find((a) => a.status?.phase === 'Failed');
      expect(failed).toBeDefined();
      expect((failed!.status.metricResults as Obj[]).find((m) => m.name === 'error-ratio')?.phase).toBe('Failed');
      expect(s.json(['get', 'deployment', 'recsys', '-n', NS]).spec.template.spec.containers[0].image).toContain(':1.1.0@');
      await waitFor(() => rollout().status.stableRS === stable && serving().length === 2 && serving().every((i) => i.includes(':1.1.0')),
        { what: 'the stable 1.1.0 pods serving alone again', timeoutMs: 240_000, intervalMs: 1000, diagnostics });
      await onlyPodsOf('1.1.0');
      const r = await load.stop();
      console.log(`30 %-errors ${kind} on the real node: push → rolled back ${back - pushed} ms; analysis ${results(failed!)}; load ${show(r)}`);
      expect(r.versions.map((v) => v.version).pop()).toBe('1.1.0');
    });
});
