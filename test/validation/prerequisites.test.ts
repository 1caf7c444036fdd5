/**
 * What synth tells the user to create (#28): every Secret and ConfigMap the manifests read and do not create, with the
 * kubectl line, in SECRETS.md beside the Kubernetes output; and the note when the updater runs the published image.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { run, synthesize } from '../../bin/commands/synth';
import buildLlm from '../../examples/llm-gpu/app';
import build from '../../examples/recommendation-model/app';
import { defaultUpdaterImageUsers, missingReferences, prerequisitesMarkdown } from '../../lib/validation/prerequisites';
import { capture } from '../support/cli';

const pod = (spec: Record<string, unknown>) => ({
  apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'm', namespace: 'ml' },
  spec: { template: { spec: { containers: [{ name: 'm', image: 'r/m:1.0.0', ...spec }] } } },
});

describe('missingReferences', () => {
  test('finds env, envFrom, volume, projected and pull-Secret references; what the output creates is not listed', () => {
    const objects = [
      pod({
        env: [{ name: 'A', valueFrom: { secretKeyRef: { name: 's1', key: 'k1' } } }, { name: 'B', valueFrom: { configMapKeyRef: { name: 'c1', key: 'k2' } } }],
        envFrom: [{ secretRef: { name: 's2' } }, { configMapRef: { name: 'c2' } }],
      }),
      { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'ml' }, spec: {
        imagePullSecrets: [{ name: 'pull' }], containers: [],
        volumes: [{ name: 'v', secret: { secretName: 's3', items: [{ key: 'a', path: 'a' }] } }, { name: 'w', configMap: { name: 'c3' } },
          { name: 'x', projected: { sources: [{ secret: { name: 's4' } }] } }, { name: 'y', secret: { secretName: 'created' } }],
      } },
      { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'created', namespace: 'ml' } },
    ];
    const got = missingReferences(objects).map((m) => `${m.kind} ${m.namespace}/${m.name} [${m.keys.join(',')}]${m.pull ? ' pull' : ''}`);
    expect(got).toEqual(['ConfigMap ml/c1 [k2]', 'ConfigMap ml/c2 []', 'ConfigMap ml/c3 []',
      'Secret ml/pull [] pull', 'Secret ml/s1 [k1]', 'Secret ml/s2 []', 'Secret ml/s3 [a]', 'Secret ml/s4 []']);
  });

  test('the demo: the registry\'s two Secrets (one registry-credentials line), the updater\'s webhook Secret, the receivers\' Secrets', async () => {
    const objects = (await synthesize(build)).flatMap((c) => c.objects);
    const missing = missingReferences(objects);
    expect(missing.map((m) => `${m.name} ${m.keys.join(',')}`)).toEqual([
      'model-registry-htpasswd htpasswd', 'model-registry-pull .dockerconfigjson', 'modelpilot-updater-webhook hmac,token', 'pagerduty routing-key', 'slack-webhook url',
    ]);
    const md = prerequisitesMarkdown(missing, defaultUpdaterImageUsers(objects));
    expect(md).toContain('npx modelpilot registry-credentials --namespace ml --out creds.yaml && kubectl apply -f creds.yaml   # model-registry-htpasswd and model-registry-pull together');
    expect(md).toContain('kubectl create secret generic modelpilot-updater-webhook -n ml --from-file=hmac=./hmac --from-file=token=./token');
    expect(md).toContain('Read by AlertmanagerConfig ml/recsys; keys: `url`.');
    expect(md).toContain('Deployment ml/modelpilot-updater runs `ghcr.io/modelpilot/modelpilot-updater:0.1.0`, the published image');
  });

  test('the GPU example: the Hub token and the pull Secret (kubectl create secret docker-registry)', async () => {
    const objects = (await synthesize(buildLlm)).flatMap((c) => c.objects);
    const md = prerequisitesMarkdown(missingReferences(objects), defaultUpdaterImageUsers(objects));
    expect(md).toContain('kubectl create secret generic hf-token -n llm --from-file=token=./token');
    expect(md).toContain('kubectl create secret docker-registry registry-example-com -n llm');
    expect(md).not.toContain('The updater image'); // no updater in this stack
  });
});

describe('modelpilot synth (Kubernetes)', () => {
  let out: string;
  beforeEach(() => { out = fs.mkdtempSync(path.join(os.tmpdir(), 'modelpilot-prereq-')); });
  afterEach(() => fs.rmSync(out, { recursive: true, force: true }));

  test('writes SECRETS.md beside the manifests and says what to create first; a second synth replaces its own file', async () => {
    for (let i = 0; i < 2; i++) {
      const r = await capture(() => run(['--out', out]));
      expect(r.err).toBe('');
      expect(r.code).toBe(0);
      expect(r.out).toContain('create first: Secret ml/model-registry-htpasswd, Secret ml/model-registry-pull, Secret ml/modelpilot-updater-webhook, '
        + `Secret ml/pagerduty, Secret ml/slack-webhook (how: ${path.join(out, 'SECRETS.md')})`);
      expect(r.out).toContain('note: the updater runs the published image ghcr.io/modelpilot/modelpilot-updater:0.1.0');
    }
    expect(fs.readdirSync(out).sort()).toEqual(['SECRETS.md', 'recommendation-model.yaml']);
  });

  test('a SECRETS.md of the user\'s in --out is never overwritten: nothing written', async () => {
    fs.writeFileSync(path.join(out, 'SECRETS.md'), '# our runbook\n');
    const r = await capture(() => run(['--out', out]));
    expect(r.code).toBe(2);
    expect(r.err).toContain('nothing written');
    expect(fs.readFileSync(path.join(out, 'SECRETS.md'), 'utf8')).toBe('# our runbook\n');
    expect(fs.existsSync(path.join(out, 'recommendation-model.yaml'))).toBe(false);
  });
});
