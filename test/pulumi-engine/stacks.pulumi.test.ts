/**
 * `pulumi up` for real (the Pulumi tier): each stack's program (what stacks/index.ts does, with Pulumi.<env>.yaml's
 * values and the kube context pointed at the test cluster) on the real Pulumi engine and Kubernetes provider,
 * applied to one fresh real control plane, one namespace per environment. Pods are kwok's: Ready is kwok's stage,
 * no container runs and no image is pulled; the model image is given by digest (`modelpilot:imageDigest`), so
 * nothing is built.
 */
import * as fs from 'fs';
import * as path from 'path';
import { ModelEnvironment, readStackConfig } from '../../lib/pulumi';
import { stackFileConfig, TEST_SECRETS } from '../pulumi/harness';
import { startCluster, TestCluster } from '../support/cluster';
import { installCrds } from '../support/crds';
import { configMap, testStack, TestStack } from './engine';

jest.setTimeout(900_000);

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- Kubernetes JSON

const ENVS = ['dev', 'staging', 'prod'];
const DIGEST = `sha256:${'4'.repeat(64)}`;
const UPDATED = `sha256:${'5'.repeat(64)}`;
let cluster: TestCluster;

async function program(): Promise<Record<string, unknown>> {
  const { config, secrets } = readStackConfig();
  const env = new ModelEnvironment(config.model, { config, secrets, build: { context: 'examples/model-server', dockerfile: 'examples/model-server/Dockerfile' } });
  return { serviceEndpoint: env.serviceEndpoint, modelVersion: env.modelVersion, imageRef: env.imageRef, updaterWebhookUrl: env.updaterWebhookUrl };
}

const changes = (summary: { resourceChanges?: Record<string, number> }): Record<string, number> =>
  Object.fromEntries(Object.entries(summary.resourceChanges ?? {}).filter(([k]) => k !== 'same'));

beforeAll(async () => {
  cluster = await startCluster({ nodes: 2 });
  installCrds(cluster.kubectl);
  // no provisioner here: a volume per environment for the updater's state claim (1Gi, no StorageClass) to bind to
  for (const env of ENVS) {
    cluster.kubectl(['apply', '-f', '-'], JSON.stringify({
      apiVersion: 'v1', kind: 'PersistentVolume', metadata: { name: `updater-state-${env}` },
      spec: { capacity: { storage: '1Gi' }, accessModes: ['ReadWriteOnce'], storageClassName: '', hostPath: { path: path.join(cluster.dir, `pv-${env}`) } },
    }));
  }
});

afterAll(async () => {
  await cluster?.stop();
});

describe.each(ENVS)('pulumi up for real: the %s stack on a real API server', (envName) => {
  const file = stackFileConfig(envName);
  const ns = file['modelpilot:namespace'];
  const registryHost = JSON.parse(file['modelpilot:registry']).host as string;
  const get = (kind: string, name: string): Obj => JSON.parse(cluster.kubectl(['get', kind, name, '-n', ns, '-o', 'json']));
  const modelImage = (): string => get('deployment', 'recsys').spec.template.spec.containers[0].image;
  let t: TestStack;
  let firstUpMs = 0;

  beforeAll(async () => {
    // a stack that does not create its namespace (prod) gets it from the platform team: here, the test
    if (file['modelpilot:createNamespace'] === 'false') cluster.kubectl(['create', 'namespace', ns]);
    t = await testStack(envName, program, { KUBECONFIG: cluster.kubeconfig });
    await t.stack.setAllConfig(configMap({
      ...file, ...TEST_SECRETS, 'modelpilot:kubeContext': 'test', 'modelpilot:imageDigest': DIGEST,
    }, Object.keys(TEST_SECRETS)));
  });

  afterAll(() => t?.remove());

  test('preview shows the creates; up creates every object with the stack\'s values; Deployments Available', async () => {
    const preview = await t.stack.preview();
    expect(preview.changeSummary.create).toBeGreaterThan(10);
    const t0 = Date.now();
    const up = await t.stack.up();
    firstUpMs = Date.now() - t0;
    expect(up.summary.result).toBe('succeeded');
    expect(up.summary.resourceChanges?.create).toBe(preview.changeSummary.create);
    expect(modelImage()).toBe(`${registryHost}/models/recsys:${file['modelpilot:version']}@${DIGEST}`);
    const d = get('deployment', 'recsys');
    expect(d.spec.replicas).toBe(Number(file['modelpilot:replicas']));
    expect(d.status.conditions.find((c: Obj) => c.type === 'Available').status).toBe('True');
    expect(get('deployment', 'modelpilot-updater').status.availableReplicas).toBe(1);
    expect(get('pvc', 'modelpilot-updater-state').status.phase).toBe('Bound');
    expect(up.outputs.imageRef.value).toBe(modelImage());
    console.log(`${envName}: first pulumi up ${firstUpMs} ms, ${up.summary.resourceChanges?.create} creates`);
  });

  test('a second up is a no-op', async () => {
    const t0 = Date.now();
    const up = await t.stack.up();
    expect(changes(up.summary)).toEqual({});
    console.log(`${envName}: no-op pulumi up ${Date.now() - t0} ms`);
  });

  test('a config change (replicas) gives exactly the expected updates and replaces nothing', async () => {
    const replicas = Number(file['modelpilot:replicas']) + 1;
    await t.stack.setConfig('modelpilot:replicas', { value: String(replicas) });
    const preview = await t.stack.preview();
    expect(preview.changeSummary.replace ?? 0).toBe(0);
    expect(preview.changeSummary.create ?? 0).toBe(0);
    expect(preview.changeSummary.delete ?? 0).toBe(0);
    expect(preview.changeSummary.update).toBeGreaterThanOrEqual(1);
    const claim = get('pvc', 'modelpilot-updater-state').metadata.uid;
    const up = await t.stack.up();
    expect(changes(up.summary)).toEqual({ update: preview.changeSummary.update });
    expect(get('deployment', 'recsys').spec.replicas).toBe(replicas);
    expect(get('pvc', 'modelpilot-updater-state').metadata.uid).toBe(claim); // the stateful claim kept, not replaced
  });

  test('secrets never appear in plain text in the state or the stack export', async () => {
    const exported = JSON.stringify((await t.stack.exportStack()).deployment);
    const state = fs.readdirSync(t.stateDir, { recursive: true }).map((f) => path.join(t.stateDir, String(f)))
      .filter((f) => fs.statSync(f).isFile()).map((f) => fs.readFileSync(f, 'utf8')).join('\n');
    for (const v of Object.values(TEST_SECRETS)) {
      expect(exported).not.toContain(v);
      expect(state).not.toContain(v);
    }
    // and the Secret holds it
    expect(Buffer.from(get('secret', 'modelpilot-updater-webhook').data.hmac, 'base64').toString()).toBe(TEST_SECRETS['modelpilot:webhookHmacKey']);
    // no other object on the API server carries a secret value, plain or base64 (every listable namespaced kind)
    const kinds = cluster.kubectl(['api-resources', '--namespaced', '--verbs=list', '-o', 'name']).split('\n').map((k) => k.trim())
      .filter((k) => k && k !== 'secrets' && k !== 'events' && k !== 'events.events.k8s.io');
    const items = (JSON.parse(cluster.kubectl(['get', kinds.join(','), '-n', ns, '-o', 'json'])) as { items: Obj[] }).items;
    expect(items.map((o) => o.kind)).toEqual(expect.arrayContaining(['Deployment', 'ConfigMap', 'AlertmanagerConfig']));
    for (const o of items) {
      const text = JSON.stringify(o);
      for (const v of Object.values(TEST_SECRETS)) {
        expect({ object: `${o.kind}/${o.metadata.name}`, plain: text.includes(v), base64: text.includes(Buffer.from(v).toString('base64')) })
          .toEqual({ object: `${o.kind}/${o.metadata.name}`, plain: false, base64: false });
      }
    }
  });

  test('the updater moves the image; pulumi up and up --refresh keep it', async () => {
    const moved = `${registryHost}/models/recsys:1.5.0@${UPDATED}`;
    // what the updater does (agent/targets/kubernetes/index.ts templatePatch): a strategic-merge patch of the model container's
    // image, its MODEL_VERSION and the pod template's version label, as field manager 'modelpilot'
    cluster.kubectl(['patch', 'deployment', 'recsys', '-n', ns, '--field-manager=modelpilot', '--type=strategic', '-p', JSON.stringify({
      spec: { template: {
        metadata: { labels: { 'app.kubernetes.io/version': '1.5.0' } },
        spec: { containers: [{ name: 'model', image: moved, env: [{ name: 'MODEL_VERSION', value: '1.5.0' }] }] },
      } },
    })]);
    expect(modelImage()).toBe(moved);
    const up = await t.stack.up();
    const afterUp = modelImage();
    const refreshed = await t.stack.up({ refresh: true });
    const afterRefresh = modelImage();
    console.log(`${envName}: updater-moved image: after up ${afterUp === moved ? 'kept' : `reverted to ${afterUp}`} (${JSON.stringify(changes(up.summary))}); `
      + `after up --refresh ${afterRefresh === moved ? 'kept' : `reverted to ${afterRefresh}`} (${JSON.stringify(changes(refreshed.summary))})`);
    expect(afterUp).toBe(moved);
    expect(afterRefresh).toBe(moved);
    expect(changes(up.summary)).toEqual({});
    const env = get('deployment', 'recsys').spec.template.spec.containers[0].env;
    expect(env).toContainEqual({ name: 'MODEL_VERSION', value: '1.5.0' });
  });

  test('after the updater moved the image, a version and replicas change applies without a conflict and keeps the updater\'s version', async () => {
    // GIVEN the updater's 1.5.0 is running (previous test); WHEN the stack's own version and replicas change
    const replicas = Number(file['modelpilot:replicas']) + 2;
    await t.stack.setConfig('modelpilot:replicas', { value: String(replicas) });
    await t.stack.setConfig('modelpilot:version', { value: '1.6.0' });
    const preview = await t.stack.preview();
    expect(preview.changeSummary.replace ?? 0).toBe(0);
    expect(preview.changeSummary.create ?? 0).toBe(0);
    expect(preview.changeSummary.delete ?? 0).toBe(0);
    // the preview says who moves the version
    expect(preview.stdout).toContain("the model's image, MODEL_VERSION and version label belong to the updater once it runs");
    const claim = get('pvc', 'modelpilot-updater-state').metadata.uid;
    const up = await t.stack.up();
    // THEN up succeeds (no server-side-apply conflict with the updater's fields) and changes only what it previewed
    expect(up.summary.result).toBe('succeeded');
    expect(changes(up.summary)).toEqual({ update: preview.changeSummary.update });
    console.log(`${envName}: version 1.6.0 + replicas ${replicas} after the updater's move: ${JSON.stringify(changes(up.summary))}`);
    const d = get('deployment', 'recsys');
    expect(d.spec.replicas).toBe(replicas);
    // AND the running version stays the updater's: 1.6.0 reaches the cluster through the registry and the gate
    expect(modelImage()).toBe(`${registryHost}/models/recsys:1.5.0@${UPDATED}`);
    expect(d.spec.template.metadata.labels['app.kubernetes.io/version']).toBe('1.5.0');
    expect(d.spec.template.spec.containers[0].env).toContainEqual({ name: 'MODEL_VERSION', value: '1.5.0' });
    expect(up.outputs.modelVersion.value).toBe('1.6.0');
    expect(get('pvc', 'modelpilot-updater-state').metadata.uid).toBe(claim);
  });

  test('destroy removes everything it created, and nothing else', async () => {
    const res = await t.stack.destroy();
    expect(res.summary.result).toBe('succeeded');
    // a namespace the stack did not create (prod) stays, empty of what the stack made; its own goes with it
    const ownsNamespace = file['modelpilot:createNamespace'] !== 'false';
    expect(cluster.kubectlResult(['get', 'namespace', ns]).status === 0).toBe(!ownsNamespace);
    const left = cluster.kubectlResult(['get', 'deployments,services,secrets,configmaps,pvc', '-n', ns, '-o', 'name',
      '-l', 'app.kubernetes.io/managed-by=modelpilot']);
    expect(left.stdout.trim()).toBe('');
  });
});
