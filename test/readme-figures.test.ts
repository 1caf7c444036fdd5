/**
 * Figures in the README are measured, not typed (#28): each one here is computed from what it describes — the
 * benchmark tables rendered from bench/results/*.json (bench/readme.ts), the demo's object count from
 * synth, the rule-test count from the generated tests — and the test fails when the README drifts from it.
 */
import * as fs from 'fs';
import * as path from 'path';
import { readResult, renderReadme } from '../bench/readme';
import { synthesize } from '../bin/commands/synth';
import build from '../examples/recommendation-model/app';
import { ModelAlerts } from '../lib';
import { generateRuleTests } from '../lib/monitoring/rule-tests';

const ROOT = path.join(__dirname, '..');
const README = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');

test('the benchmark tables are bench/results rendered (npm run readme re-renders them)', () => {
  expect(README).toBe(renderReadme(README));
});

test('a changed result changes the README: no figure in those tables is typed by hand', () => {
  const changed = (name: string): unknown => {
    const r = readResult(name);
    if (name === 'synth') r.results[r.results.length - 1].modelpilot.medianMs = 123456;
    if (name === 'chaos') r.scenarios[0].numbers.failedRequests = 7777;
    if (name === 'single-host-peers') r.rows[0].requests = 4242424;
    return r;
  };
  const after = renderReadme(README, changed);
  expect(after).toContain('synthesized + validated in ~123,456 ms');
  const first = readResult('chaos').scenarios[0].numbers.requests as number;
  expect(after).toContain(`| 7,777 of ${first.toLocaleString('en-US')} / 0 of`);
  expect(after).toContain('0 of 4,242,424');
});

test('the set-up sample output counts the demo\'s objects', async () => {
  const [chart] = await synthesize(build);
  const n = chart.objects.length;
  expect(README).toContain(`dist/recommendation-model.yaml: ${n} objects (`);
  expect(README).toContain(`wrote 1 file(s), ${n} valid objects`);
});

test('the rule-test count is what test-rules generates for the demo (one check row plus the cases)', async () => {
  const { App } = await import('cdk8s');
  const app = new App();
  build(app);
  const alerts = app.node.findAll().filter((c): c is ModelAlerts => ModelAlerts.isModelAlerts(c));
  expect(alerts).toHaveLength(1);
  const cases = generateRuleTests(alerts[0]).length;
  expect(README).toContain(`promtool tests (${cases} cases per model: \`npx modelpilot test-rules\` on the demo prints ${cases + 1} passed)`);
});
