/**
 * The real canary of test/cluster/delivery-scenario.ts (the run the cluster tier asserts): Argo Rollouts' controller
 * (v1.8.3 from the Go module proxy) on the test control plane, its analysis against a live Prometheus, the updater
 * handing each version to the Rollout. Times, from the updater's Deployment patch to its promote / rollback decision:
 * a healthy canary promoted, a canary with 40 % errors aborted and rolled back, an idle canary aborted after maxIdle.
 * Writes bench/results/delivery.json. Needs scripts/cluster/build.sh and scripts/delivery/build.sh.
 */
import * as fs from 'fs';
import * as path from 'path';
import { runDeliveryScenario } from '../test/cluster/delivery-scenario';

const RUNS = Number(process.env.DELIVERY_BENCH_RUNS ?? 3);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const runs: Array<Record<string, number>> = [];
  for (let i = 0; i < RUNS; i++) {
    const r = await runDeliveryScenario();
    try {
      runs.push({ healthyPromotionMs: r.ms.healthy, errorsAbortMs: r.ms.errors, idleAbortMs: r.ms.idle });
    } finally {
      await r.stop();
    }
    process.stdout.write(`run ${i + 1}: ${JSON.stringify(runs[i])}\n`);
  }
  const result = {
    measured: new Date().toISOString(),
    setup: 'Kubernetes v1.37.2 control plane on 127.0.0.1 (kwok pods), rollouts-controller v1.8.3 built from the Go module proxy, Debian Prometheus '
      + 'scraping a synthetic exporter every 1s; canary: setWeight 50 then the Slo analysis (4 measurements every 2s, minSamples 10, maxIdle 4s); '
      + 'the updater\'s KubernetesTarget as the synthesized ServiceAccount, polling the Rollout every 250 ms',
    notes: [
      'healthy: the Deployment patch → Rollout at 50 % → 4 analysis measurements → promoted: bounded below by the analysis (3 intervals = 6 s)',
      'errors (40 % 5xx): the first measurement with data fails error-ratio (failureLimit 0): abort, then the updater restores the template',
      'idle (no requests): served-requests fails at its 3rd measurement (failureLimit = maxIdle / interval = 2): about 2 intervals',
    ],
    runs,
    median: Object.fromEntries(['healthyPromotionMs', 'errorsAbortMs', 'idleAbortMs'].map((k) => [k, median(runs.map((r) => r[k]))])),
  };
  fs.writeFileSync(path.join(__dirname, 'results/delivery.json'), JSON.stringify(result, null, 2) + '\n');
  process.stdout.write(`${JSON.stringify(result.median)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
