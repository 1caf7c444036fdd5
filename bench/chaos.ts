/**
 * `npm run chaos [-- <name filter>[|<another>…] [<results file suffix>]]`: the chaos and load suite on one Docker
 * host (bench/chaos/scenarios.ts), all
 * on 127.0.0.1 — real registry behind a fault proxy, podman's Docker API, HAProxy, Prometheus, the reference model
 * server and `modelpilot agent` processes. Writes bench/results/chaos.json (every scenario's numbers and whether its
 * invariant held) and exits 1 when one did not hold. Needs scripts/install-test-tools.sh and root (a tmpfs mount
 * for the full-state-dir scenario). About 10–15 minutes on 2 cores.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startChaosEnv, VERSIONS } from './chaos/harness';
import { ALL, ScenarioResult } from './chaos/scenarios';
import { writeReadme } from './readme';

async function main(): Promise<number> {
  const filter = process.argv[2];
  const terms = (filter ?? '').toLowerCase().split('|').filter(Boolean);
  const chosen = ALL.filter((s) => terms.length === 0 || terms.some((t) => s.name.toLowerCase().includes(t)));
  if (chosen.length === 0) {
    process.stderr.write(`chaos: no scenario matches '${filter}'; scenarios: ${ALL.map((s) => s.name).join(', ')}\n`);
    return 2;
  }
  const started = Date.now();
  const env = await startChaosEnv();
  // Interrupted: stop what the suite started (podman and its containers, the registry, the fault proxy) first.
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => { void env.stop().finally(() => process.exit(130)); });
  }
  const results: ScenarioResult[] = [];
  try {
    for (const s of chosen) {
      process.stdout.write(`== ${s.name} ... `);
      let r: ScenarioResult;
      try {
        r = await s.run(env);
      } catch (e) {
        r = { scenario: s.name, variant: '', invariant: 'the scenario ran', held: false, violations: [`threw: ${(e as Error).message}`], numbers: {}, seconds: 0 };
      }
      results.push(r);
      process.stdout.write(`${r.held ? 'held' : `VIOLATED: ${r.violations.join('; ')}`} (${r.seconds}s) ${JSON.stringify(r.numbers)}\n`);
    }
  } finally {
    await env.stop();
  }
  const out = {
    suite: 'chaos', date: new Date().toISOString(), durationSeconds: Math.round((Date.now() - started) / 1000),
    machine: { cpus: os.cpus().length, memoryGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version },
    versions: Object.fromEntries(Object.entries(VERSIONS).map(([v, d]) => [v, d.what])),
    agent: 'the agent image built from agent/Dockerfile', filter: filter ?? null, allHeld: results.every((r) => r.held), scenarios: results,
  };
  const file = path.join(__dirname, 'results', filter ? `chaos-${process.argv[3] ?? filter.replace(/\W+/g, '-').slice(0, 60)}.json` : 'chaos.json');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(out, null, 2) + '\n');
  process.stdout.write(`chaos: ${results.filter((r) => r.held).length}/${results.length} invariants held; wrote ${file}\n`);
  if (!filter) writeReadme();
  return out.allHeld ? 0 : 1;
}

main().then((code) => { process.exitCode = code; }, (e) => { process.stderr.write(`chaos: ${(e as Error).stack}\n`); process.exitCode = 1; });
