/**
 * The stack on a real node (test/node/stack-on-node.ts: kubelet + kube-proxy + containerd + bridge CNI in a network
 * namespace, the control plane beside them; the updater as its synthesized pod from the agent image, Prometheus
 * behind `prometheus-operated`): the same world the node tier asserts, measured once.
 *
 * - push → new pods serving (every Ready pod on the new version, read from the API) and → promoted (the audit log);
 * - bad version (10 % errors) → the old version serving again, and → rolled back;
 * - failed requests through the model's Service during each scenario (from inside the namespace, 2 connections);
 * - API requests of the updater's ServiceAccount per update (the apiserver's audit log, ±1 s around each phase);
 * - the updater's RSS (its container's process, read from /proc on this host).
 *
 * Durations as in the node tier (poll 5 s, readiness timeout 90 s, bake window 15 s). Writes bench/results/node.json.
 * Needs root and the binaries of scripts/cluster/build.sh and scripts/node/build.sh (see docs/cluster.md).
 */
import * as fs from 'fs';
import * as path from 'path';
import { Duration } from '../lib';
import { isVersion, REPO, startStackOnNode, StackOnNode } from '../test/node/stack-on-node';
import { startNsLoad } from '../test/support/ns-load';
import { waitFor } from '../test/support/tools';

const SA = 'system:serviceaccount:ml:modelpilot-updater';
const UPDATER = { pollInterval: Duration.seconds(5), readinessTimeout: Duration.seconds(90), bakeWindow: Duration.seconds(15) };

interface Call { verb: string; resource: string; at: number }

function updaterCalls(s: StackOnNode): Call[] {
  return s.node.cluster.auditEvents().filter((e) => e.user?.username === SA && e.stage === 'ResponseComplete').map((e) => ({
    verb: e.verb as string, resource: `${e.objectRef?.resource ?? ''}${e.objectRef?.subresource ? `/${e.objectRef.subresource}` : ''}`,
    at: Date.parse(e.requestReceivedTimestamp),
  }));
}

const byVerb = (calls: readonly Call[]): Record<string, number> => {
  const out: Record<string, number> = {};
  for (const c of calls) out[`${c.verb} ${c.resource}`] = (out[`${c.verb} ${c.resource}`] ?? 0) + 1;
  return out;
};

/** VmRSS (KiB) of the updater container's process: its task PID from the node's containerd. */
function updaterRssKiB(s: StackOnNode): number {
  const updater = s.objects.find((o) => o.kind === 'Deployment' && o.metadata.name === 'modelpilot-updater')!;
  const selector = Object.entries(updater.spec.selector.matchLabels as Record<string, string>).map(([k, v]) => `${k}=${v}`).join(',');
  const pod = (s.json(['get', 'pods', '-n', 'ml', '-l', selector]).items as Array<{ status: { containerStatuses: Array<{ containerID: string }> } }>)[0];
  const id = pod.status.containerStatuses[0].containerID.replace(/^containerd:\/\//, '');
  const line = s.node.ctr(['task', 'ls']).split('\n').find((l) => l.startsWith(id));
  const pid = Number(line?.split(/\s+/)[1]);
  return Number(/VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);
}

async function main(): Promise<void> {
  const t0 = Date.now();
  const s = await startStackOnNode({ updater: UPDATER });
  const startupMs = Date.now() - t0;
  try {
    const servingAt = async (version: string): Promise<number> => {
      await waitFor(() => {
        const images = s.servingImages('recsys');
        return images.length === 2 && images.every((i) => i.startsWith(`${REPO}:${version}`));
      }, { what: `every serving pod on ${version}`, timeoutMs: 400_000, intervalMs: 250 });
      return Date.now();
    };
    const scenario = async (version: string, env: Record<string, string>, outcome: 'promoted' | 'rolled-back', serving: string) => {
      const load = startNsLoad((f, a) => s.node.spawn(f, a), s.serviceUrl('recsys'), { maxSeconds: 500, maxRequests: 5_000_000, connections: 2 });
      await s.pushVersion(version, env);
      const pushed = Date.now();
      // the new version serving comes before its promotion (the bake); the old one serving again after the rollback
      const early = version === serving ? await servingAt(serving) : undefined;
      const decided = await s.auditAt(`${version} ${outcome}`, (e) => e.event === outcome && isVersion(outcome === 'promoted' ? e.to : e.from, version), 400_000);
      const servingAgain = early ?? await servingAt(serving);
      const r = await load.stop();
      const calls = updaterCalls(s).filter((c) => c.at >= pushed - 1000 && c.at <= Math.max(decided, servingAgain) + 1000);
      return {
        version, fault: env, outcome, serving,
        pushToServingMs: servingAgain - pushed, pushToDecisionMs: decided - pushed,
        requests: r.requests, failedRequests: r.failed, longestGapMs: r.longestGapMs,
        apiRequests: calls.length, apiRequestsByVerb: byVerb(calls),
      };
    };
    const healthy = await scenario('1.1.0', {}, 'promoted', '1.1.0');
    process.stdout.write(`healthy: ${JSON.stringify(healthy)}\n`);
    const bad = await scenario('1.2.0', { MODEL_FAULT_ERROR_RATIO: '0.1' }, 'rolled-back', '1.1.0');
    process.stdout.write(`10 % errors: ${JSON.stringify(bad)}\n`);
    const result = {
      measured: new Date().toISOString(),
      setup: 'one real node in a network namespace: kubelet v1.37.2 + kube-proxy (iptables) + containerd 2.4 + bridge CNI beside the control plane; '
        + 'the in-cluster registry pod (NodePort, hosts.toml, pull Secret); the updater as its synthesized pod from agent/Dockerfile (poll 5 s, '
        + 'readinessTimeout 90 s, bakeWindow 15 s); Debian Prometheus behind prometheus-operated; load through the model Service, 2 connections',
      notes: [
        'one run (2 cores); the node tier (test/node) asserts the same scenarios',
        'healthy: pushToServingMs is push → every serving pod (Ready, not terminating: the Service\'s endpoints) on the new version (maxSurge 1, two '
          + 'pods one after the other); the promotion follows the 15 s bake',
        'bad version: pushToServingMs is push → every serving pod on the old version again; it includes the rollout of the bad version, the bake '
          + 'that judged it and the rollout back (maxUnavailable 0: the bad pods serve until the old ones are Ready)',
        'apiRequests: the updater ServiceAccount\'s requests in the apiserver audit log from the push to the decision (±1 s), Events included',
      ],
      startupMs,
      healthy,
      badVersion: bad,
      updaterRssMiB: Math.round(updaterRssKiB(s) / 1024),
    };
    fs.writeFileSync(path.join(__dirname, 'results', 'node.json'), JSON.stringify(result, null, 2) + '\n');
    process.stdout.write(`${JSON.stringify({ healthy: healthy.pushToServingMs, bad: bad.pushToServingMs, rss: result.updaterRssMiB })}\n`);
  } finally {
    await s.stop();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`${(e as Error).stack ?? e}\n`);
  process.exitCode = 1;
});
