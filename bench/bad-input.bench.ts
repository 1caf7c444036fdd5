/**
 * `npm run bench bad-input`: the round-2 bad-input corpus (test/bad-input/round2-cases.ts) classified by what a user
 * gets — refused, warning, accepted and correct, accepted and wrong — per kind, into bench/results/bad-input.json.
 * The test asserts the exact messages; this counts outcomes, so that a run on an earlier commit (copy the cases
 * file there and run this) gives the "before" of a change. `MODELPILOT_CORPUS_LABEL=before` stores the run under
 * that label and keeps the other labels of the file.
 */
import * as fs from 'fs';
import * as path from 'path';
import { CASES, classify, Outcome } from '../test/bad-input/round2-cases';

async function main(): Promise<void> {
  const label = process.env.MODELPILOT_CORPUS_LABEL ?? 'after';
  const byKind: Record<string, Partial<Record<Outcome, number>>> = {};
  const total: Partial<Record<Outcome, number>> = {};
  const wrong: string[] = [];
  for (const c of CASES) {
    const { outcome } = await classify(c);
    (byKind[c.kind] ??= {})[outcome] = (byKind[c.kind][outcome] ?? 0) + 1;
    total[outcome] = (total[outcome] ?? 0) + 1;
    const want = 'refused' in c.expected ? 'refused' : 'accepted and correct';
    if (outcome !== want) wrong.push(`${c.kind}: ${c.name}: ${outcome} (should be ${want})`);
  }
  const file = path.join(__dirname, 'results', 'bad-input.json');
  const previous = fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown> : {};
  const run = { commit: process.env.MODELPILOT_CORPUS_COMMIT, cases: CASES.length, total, byKind, notAsTheyShouldBe: wrong };
  fs.writeFileSync(file, JSON.stringify({ ...previous, corpus: 'test/bad-input/round2-cases.ts', [label]: run }, null, 2) + '\n');
  process.stdout.write(`${label}: ${CASES.length} cases: ${JSON.stringify(total)}\n${wrong.map((w) => `  ${w}`).join('\n')}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
  process.exitCode = 1;
});
