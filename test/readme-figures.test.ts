/**
 * Figures in the README are measured, not typed (#28): each one here is computed from what it describes — the
 * package row from bench/results/package.json (written by `npm run bench package`), the demo's object count from
 * synth, the rule-test count from the generated tests — and the test fails when the README drifts from it.
 */
import * as fs from 'fs';
import * as path from 'path';
import { synthesize } from '../bin/commands/synth';
import build from '../examples/recommendation-model/app';
import { ModelAlerts } from '../lib';
import { generateRuleTests } from '../lib/monitoring/rule-tests';

const ROOT = path.join(__dirname, '..');
const README = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');

interface PackageBench {
  before: { packedFiles: number; cdk8sOnlyInstallMB: number; agentImageNodeModulesMB: number };
  after: { packedFiles: number; cdk8sOnlyInstallMB: number; agentImageNodeModulesMB: number };
  installLinesByAudience: Record<'cdk8s' | 'pulumi' | 'agent', { installMB: number }>;
}

test('the package row is bench/results/package.json', () => {
  const b = JSON.parse(fs.readFileSync(path.join(ROOT, 'bench/results/package.json'), 'utf8')) as PackageBench;
  const a = b.installLinesByAudience;
  expect(README).toContain(`| \`package\` | packed files ${b.before.packedFiles} → ${b.after.packedFiles}; a cdk8s-only install `
    + `${b.before.cdk8sOnlyInstallMB} → ${b.after.cdk8sOnlyInstallMB} MB; the agent image's node_modules ${b.before.agentImageNodeModulesMB} → `
    + `${b.after.agentImageNodeModulesMB} MB; the README's install lines: cdk8s repo ${a.cdk8s.installMB} MB, Pulumi repo ${a.pulumi.installMB} MB, `
    + `agent only ${a.agent.installMB} MB |`);
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
