/**
 * The real control plane and the updater's Kubernetes target on it (test/cluster/updater-scenario.ts, the same run
 * the cluster tier asserts): control-plane start-up and RSS, push → Deployment Available on the new version, bad
 * version → the old ReplicaSet serving again, restart → update finished, API requests per update (from the
 * apiserver's audit log of the updater's ServiceAccount) and the agent's RSS. Writes bench/results/cluster.json.
 * Needs the binaries of scripts/cluster/build.sh and the Debian docker-registry.
 */
import * as fs from 'fs';
import * as path from 'path';
import { ApiCall, runUpdaterScenario } from '../test/cluster/updater-scenario';

const RUNS = Number(process.env.CLUSTER_BENCH_RUNS ?? 3);

const byVerb = (calls: readonly ApiCall[]): Record<string, number> => {
  const out: Record<string, number> = {};
  for (const c of calls) out[`${c.verb} ${c.resource}`] = (out[`${c.verb} ${c.resource}`] ?? 0) + 1;
  return out;
};
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const runs = [];
  for (let i = 0; i < RUNS; i++) {
    const r = await runUpdaterScenario();
    runs.push({
      startupMs: r.startupMs, controlPlaneRssMiB: Object.fromEntries(Object.entries(r.controlPlaneRssKiB).map(([k, v]) => [k, Math.round(v / 1024)])),
      promoteMs: r.promoteMs, rollbackMs: r.rollbackMs, resumeMs: r.resumeMs,
      apiRequests: {
        promote: r.calls.promote.length, rollback: r.calls.rollback.length,
        promoteByVerb: byVerb(r.calls.promote), rollbackByVerb: byVerb(r.calls.rollback),
      },
      agentRssMiB: Math.round(r.agentRssKiB / 1024),
    });
    process.stdout.write(`run ${i + 1}: ${JSON.stringify(runs[i])}\n`);
  }
  const result = {
    measured: new Date().toISOString(),
    setup: 'Kubernetes v1.37.2 control plane on 127.0.0.1 (etcd, apiserver, KCM, scheduler, kwok; pods are kwok\'s), Debian distribution registry with push '
      + 'notifications, the agent as a child process (ts-node) authenticated as the synthesized ServiceAccount; readinessTimeout 15s, bakeWindow 0s, probe gate',
    notes: [
      'rollbackMs includes the 15 s readiness timeout the bad version is given (its pods never become Ready)',
      'API requests are the updater ServiceAccount\'s audit events (ResponseComplete) within each phase, ±1 s; a watch counts once',
      'agentRssMiB runs under ts-node (the image runs compiled JS, which is smaller)',
    ],
    median: {
      startupMs: median(runs.map((r) => r.startupMs)), promoteMs: median(runs.map((r) => r.promoteMs)),
      rollbackMs: median(runs.map((r) => r.rollbackMs)),
      resumeMs: median(runs.map((r) => r.resumeMs)), apiRequestsPromote: median(runs.map((r) => r.apiRequests.promote)),
      apiRequestsRollback: median(runs.map((r) => r.apiRequests.rollback)), agentRssMiB: median(runs.map((r) => r.agentRssMiB)),
    },
    runs,
  };
  fs.writeFileSync(path.join(__dirname, 'results', 'cluster.json'), JSON.stringify(result, null, 2) + '\n');
  process.stdout.write(`${JSON.stringify(result.median)}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`${(e as Error).stack ?? e}\n`);
  process.exitCode = 1;
});
