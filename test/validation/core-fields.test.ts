/**
 * The generated field table (lib/validation/core-fields.generated.ts) is what the pinned @kubernetes/client-node says:
 * regenerate with `npx ts-node --transpile-only scripts/gen-core-fields.ts` after a client upgrade.
 */
import * as fs from 'fs';
import * as path from 'path';
import { CORE_CLIENT_VERSION, CORE_FIELDS } from '../../lib/validation/core-fields.generated';
import { validateManifest } from '../../lib/validation/validate';
import { coreFieldsFromClient, renderCoreFields } from '../../scripts/gen-core-fields';

test('the table is the pinned client\'s models, field for field', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '../../package.json'), 'utf8')) as { devDependencies: Record<string, string> };
  expect(CORE_CLIENT_VERSION).toBe(pkg.devDependencies['@kubernetes/client-node']);
  expect(CORE_FIELDS).toEqual(coreFieldsFromClient());
  expect(fs.readFileSync(path.join(__dirname, '../../lib/validation/core-fields.generated.ts'), 'utf8')).toBe(renderCoreFields());
});

test('validation finds a misspelt core field through the table, and accepts the right one', () => {
  const deployment = (probe: Record<string, unknown>) => ({
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'm', namespace: 'ml' },
    spec: {
      selector: { matchLabels: { app: 'm' } },
      template: { metadata: { labels: { app: 'm' } }, spec: { containers: [{ name: 'm', image: 'r/m:1.0.0', readinessProbe: probe }] } },
    },
  });
  expect(validateManifest(deployment({ periodSecond: 5 }))).toEqual([{
    object: 'Deployment ml/m', path: '$.spec.template.spec.containers[0].readinessProbe.periodSecond',
    message: "unknown field 'periodSecond' (not part of Probe); did you mean 'periodSeconds'?",
  }]);
  expect(validateManifest(deployment({ periodSeconds: 5 }))).toEqual([]);
});
