import * as fs from 'fs';
import * as path from 'path';
import * as YAML from 'yaml';
import { run } from '../../bin/commands/synth';
import { main } from '../../bin/modelpilot';
import { validateManifests } from '../../lib';
import { capture as captureOutput } from '../support/cli';

/** Runs the command with stdout/stderr captured. */
const capture = async (argv: string[]) => captureOutput(() => run(argv));

describe('modelpilot synth', () => {
  let dir: string;
  // Apps are written inside the repository (.tmp/ is git-ignored) so that they resolve 'cdk8s' like a user's app does.
  const tmpRoot = path.resolve(__dirname, '../../.tmp');
  beforeEach(() => {
    fs.mkdirSync(tmpRoot, { recursive: true });
    dir = fs.mkdtempSync(path.join(tmpRoot, 'synth-test-'));
  });
  afterEach(() => { fs.rmSync(dir, { recursive: true, force: true }); });

  test('with no app writes the demo stack to <out>/recommendation-model.yaml, valid, and lists objects by kind', async () => {
    const out = path.join(dir, 'dist');
    const { code, out: stdout } = await capture(['--out', out]);
    expect(code).toBe(0);
    expect(fs.readdirSync(out).sort()).toEqual(['SECRETS.md', 'recommendation-model.yaml']);
    const file = path.join(out, 'recommendation-model.yaml');
    const objects = YAML.parseAllDocuments(fs.readFileSync(file, 'utf8')).map((d) => d.toJS());
    expect(objects).toHaveLength(23);
    expect(validateManifests(objects).ok).toBe(true);
    expect(stdout).toContain(`${file}: 23 objects (2 ConfigMap, 2 PersistentVolumeClaim, 3 Deployment, 3 Service, 3 NetworkPolicy, 1 PodDisruptionBudget, `
      + '1 HorizontalPodAutoscaler, 1 ServiceMonitor, 1 PrometheusRule, 1 ServiceAccount, 1 Role, 1 RoleBinding, 1 PodMonitor, '
      + '1 AlertmanagerConfig, 1 Secret)');
    expect(stdout).toContain('  Deployment ml/recsys\n');
    expect(stdout).toContain('  Deployment ml/modelpilot-updater\n');
    expect(stdout).toContain('wrote 1 file(s), 23 valid objects');
  });

  test('loads a user app.ts (ts-node, transpile-only) and writes one file per chart', async () => {
    const app = path.join(dir, 'app.ts');
    const lib = path.resolve(__dirname, '../../lib');
    fs.writeFileSync(app, `
      import { App } from 'cdk8s';
      import { SelfHealingModelStack } from ${JSON.stringify(lib)};
      export default function build(app: App): void {
        for (const env of ['staging', 'prod']) {
          new SelfHealingModelStack(app, 'fraud-' + env, { namespace: env, model: { name: 'fraud', image: 'ghcr.io/acme/fraud:3.1.0' } });
        }
      }
    `);
    const { code, out } = await capture([app, `--out=${path.join(dir, 'o')}`]);
    expect(code).toBe(0);
    expect(fs.readdirSync(path.join(dir, 'o')).sort()).toEqual(['SECRETS.md', 'fraud-prod.yaml', 'fraud-staging.yaml']);
    expect(out).toContain('Deployment prod/fraud');
  });

  test('exits 1 and writes nothing when an object is invalid', async () => {
    const app = path.join(dir, 'bad.ts');
    fs.writeFileSync(app, `
      import { ApiObject, App, Chart } from 'cdk8s';
      export function build(app: App): void {
        const chart = new Chart(app, 'bad');
        new ApiObject(chart, 'svc', { apiVersion: 'v1', kind: 'Service', metadata: { name: 'svc' }, spec: { ports: [{ port: 'eighty' }] } });
      }
    `);
    const { code, err } = await capture([app, '--out', path.join(dir, 'o')]);
    expect(code).toBe(1);
    expect(err).toContain('Service svc: $.spec.ports[0].port: must be integer');
    expect(fs.existsSync(path.join(dir, 'o'))).toBe(false);
  });

  test('exits 1 with the construct error when the app throws on bad input', async () => {
    const app = path.join(dir, 'latest.ts');
    fs.writeFileSync(app, `
      import { App } from 'cdk8s';
      import { SelfHealingModelStack } from ${JSON.stringify(path.resolve(__dirname, '../../lib'))};
      export default (app: App) => { new SelfHealingModelStack(app, 's', { model: { name: 'm', image: 'ghcr.io/acme/m:latest' } }); };
    `);
    const { code, err } = await capture([app, '--out', path.join(dir, 'o')]);
    expect(code).toBe(1);
    expect(err).toBe("modelpilot synth: 'model.image' tag 'latest' is mutable; pin a semver tag such as '1.2.0' or a digest\n");
  });

  test('exits 1 when the app does not exist or exports no builder', async () => {
    expect((await capture([path.join(dir, 'nope.ts')])).err).toContain('does not exist');
    fs.writeFileSync(path.join(dir, 'empty.ts'), 'export const x = 1;\n');
    const r = await capture([path.join(dir, 'empty.ts')]);
    expect(r.code).toBe(1);
    expect(r.err).toContain('exports no builder');
  });

  test('accepts an async builder and is reachable through the modelpilot dispatcher', async () => {
    const app = path.join(dir, 'async.ts');
    fs.writeFileSync(app, `
      import { App } from 'cdk8s';
      import { SelfHealingModelStack } from ${JSON.stringify(path.resolve(__dirname, '../../lib'))};
      export default async function build(app: App): Promise<void> {
        await new Promise((resolve) => setTimeout(resolve, 1));
        new SelfHealingModelStack(app, 'late', { model: { name: 'late', image: 'ghcr.io/acme/late:0.1.0' } });
      }
    `);
    let code = -1;
    const o = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      code = await main(['synth', app, '--out', path.join(dir, 'o')]);
    } finally {
      o.mockRestore();
    }
    expect(code).toBe(0);
    expect(fs.readdirSync(path.join(dir, 'o')).sort()).toEqual(['SECRETS.md', 'late.yaml']);
  });

  test('exits 1 when the app adds no chart', async () => {
    fs.writeFileSync(path.join(dir, 'none.ts'), 'export default function build(): void {}\n');
    const r = await capture([path.join(dir, 'none.ts')]);
    expect(r.code).toBe(1);
    expect(r.err).toBe('modelpilot synth: the app adds no chart; create at least one SelfHealingModelStack (or another cdk8s Chart) on the app it is given\n');
  });

  test('exits 2 on an unknown option', async () => {
    const r = await capture(['--bogus']);
    expect(r.code).toBe(2);
    expect(r.err).toContain("unknown option '--bogus'");
  });
});
