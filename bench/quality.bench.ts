/**
 * `npm run bench quality`: the model-quality scenarios (bench/chaos/scenarios.ts QUALITY_SCENARIOS) on the real
 * single-host world — registry, podman's Docker API, HAProxy, Prometheus, the agent image — each push under load
 * behind HAProxy. Writes bench/results/quality.json: per scenario the verdict, the time from push to verdict, the
 * golden-set numbers and the requests that failed. Needs scripts/install-test-tools.sh and root.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startChaosEnv, VERSIONS } from './chaos/harness';
import { QUALITY_GATE, QUALITY_SCENARIOS, ScenarioResult } from './chaos/scenarios';

async function main(): Promise<number> {
  const started = Date.now();
  const env = await startChaosEnv();
  const results: ScenarioResult[] = [];
  try {
    for (const s of QUALITY_SCENARIOS) {
      process.stdout.write(`== ${s.name} ... `);
      const r = await s.run(env);
      results.push(r);
      process.stdout.write(`${r.held ? 'held' : `VIOLATED: ${r.violations.join('; ')}`} (${r.seconds}s) ${JSON.stringify(r.numbers)}\n`);
    }
  } finally {
    await env.stop();
  }
  const out = {
    suite: 'quality', date: new Date().toISOString(), durationSeconds: Math.round((Date.now() - started) / 1000),
    machine: { cpus: os.cpus().length, memoryGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version },
    gate: QUALITY_GATE, goldenSet: 'examples/model-server/golden/churn.jsonl (400 samples, 200 per label)',
    versions: { '1.0.0': VERSIONS['1.0.0'].what, '1.7.0': VERSIONS['1.7.0'].what, '1.8.0': VERSIONS['1.8.0'].what },
    allHeld: results.every((r) => r.held), scenarios: results,
  };
  const file = path.join(__dirname, 'results', 'quality.json');
  fs.writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);
  process.stdout.write(`quality: ${results.filter((r) => r.held).length}/${results.length} held; wrote ${file}\n`);
  return out.allHeld ? 0 : 1;
}

main().then((code) => { process.exitCode = code; }, (e) => { process.stderr.write(`quality: ${(e as Error).stack}\n`); process.exitCode = 1; });
