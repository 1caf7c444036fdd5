/**
 * MLflow-driven promotion end to end, with the real distribution registry: the MLflow stand-in (MLflow's server
 * cannot run here; test/support/mlflow-standin.ts follows its REST API reference) delivers MLflow-signed webhooks to
 * the agent's real HTTP server; the events drive the loop, which reads MLflow, resolves the tag in the real registry,
 * checks the digest MLflow recorded, rolls out the alias's version and writes the outcome back. The same run
 * without the mlflow section takes the newest tag instead.
 */
import { AgentHttpServer } from '../../agent/http';
import { MlflowClient } from '../../agent/mlflow/client';
import { TriggerEvent } from '../../agent/types';
import { UpdatePolicy } from '../../lib/core/update-policy';
import { MlflowStandIn } from '../support/mlflow-standin';
import { pushEmptyImage, startRegistry, TestRegistry } from '../support/registry';
import { harness, realRegistry } from './fakes';

const SECRET = 'mlflow-webhook-secret-0123456789';
let reg: TestRegistry;
let server: AgentHttpServer;
let mlflow: MlflowStandIn;
const events: TriggerEvent[] = [];
const abort = new AbortController();
const digests: Record<string, string> = {};

beforeAll(async () => {
  reg = await startRegistry();
  for (const v of ['1.0.0', '2.0.0', '3.0.0']) digests[v] = await pushEmptyImage(reg, 'models/fraud', v);
  server = new AgentHttpServer({
    port: 0, host: '127.0.0.1', auth: { hmacSecret: SECRET }, maxBodyBytes: 1024 * 1024, requestsPerSecond: 100,
    metrics: async () => ({ contentType: 'text/plain', body: '' }), healthz: () => ({ healthy: true, detail: {} }),
  });
  const port = await server.listen();
  await server.trigger().start((e) => events.push(e), abort.signal);
  mlflow = new MlflowStandIn({ webhook: { url: `http://127.0.0.1:${port}/webhooks/mlflow`, secret: SECRET } });
  await mlflow.start();
}, 120_000);
afterAll(async () => {
  abort.abort();
  await server?.close();
  await mlflow?.stop();
  await reg?.stop();
});

const post = async (path: string, body: unknown) => {
  const r = await fetch(`${mlflow.url}/api/2.0/mlflow/${path}`, { method: 'POST', body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } });
  if (!r.ok) throw new Error(`${path}: ${r.status} ${await r.text()}`);
};

function agent(followMlflow: boolean) {
  const registry = realRegistry();
  const repository = `${reg.host}/models/fraud`;
  const h = harness({
    registry, mlflow: { client: new MlflowClient({ url: mlflow.url }), tagPrefix: 'modelpilot.prod' },
    images: [{
      repository, policy: UpdatePolicy.parse('semver:major'),
      ...(followMlflow ? { mlflow: { registeredModel: 'fraud', alias: 'champion', imageTag: '{version}.0.0', digestTag: 'image_digest' } } : {}),
    }],
  });
  h.target.add('fraud', `${repository}:1.0.0@${digests['1.0.0']}`, { model: 'fraud' });
  return h;
}

test('an MLflow alias event rolls out the alias\'s version (digest-checked) and the outcome lands on the model version; without the mlflow section the newest tag goes', async () => {
  await post('registered-models/create', { name: 'fraud' });
  for (const v of ['1.0.0', '2.0.0', '3.0.0']) {
    await post('model-versions/create', { name: 'fraud', source: `runs:/r${v}/model`, tags: [{ key: 'image_digest', value: digests[v] }] });
  }
  events.length = 0;
  await post('registered-models/alias', { name: 'fraud', alias: 'champion', version: '2' });
  expect(mlflow.deliveries.slice(-1)).toEqual([{ event: 'model_version_alias.created', status: 202 }]);
  expect(events.slice(-1)).toEqual([{ source: 'webhook:mlflow', models: ['fraud'], mlflow: { registeredModel: 'fraud', version: '2', alias: 'champion' } }]);

  const followed = agent(true);
  const report = await followed.reconciler.runCycle(events.slice(-1));
  expect(report.failures).toEqual([]);
  expect(report.updates.map((u) => `${u.plan}: ${u.result}`)).toEqual(['fraud 1.0.0 -> 2.0.0: promoted']);
  expect(followed.target.get('fraud').image).toBe(`${reg.host}/models/fraud:2.0.0@${digests['2.0.0']}`);
  expect(mlflow.tagsOf('fraud', '2')).toMatchObject({
    'modelpilot.prod.status': 'deployed', 'modelpilot.prod.image': `${reg.host}/models/fraud:2.0.0@${digests['2.0.0']}`, 'image_digest': digests['2.0.0'],
  });

  const unguarded = agent(false);
  expect((await unguarded.reconciler.runCycle(events.slice(-1))).updates.map((u) => u.plan)).toEqual(['fraud 1.0.0 -> 3.0.0']);
});

test('a version whose recorded digest is not what the registry serves for its tag is refused and MLflow hears why', async () => {
  await post('model-versions/create', { name: 'fraud', source: 'runs:/r4/model', tags: [{ key: 'image_digest', value: digests['1.0.0'] }] }); // version 4
  digests['4.0.0'] = await pushEmptyImage(reg, 'models/fraud', '4.0.0');
  await post('registered-models/alias', { name: 'fraud', alias: 'champion', version: '4' });
  const followed = agent(true);
  expect((await followed.reconciler.runCycle(events.slice(-1))).updates).toEqual([]);
  expect(followed.target.get('fraud').image).toBe(`${reg.host}/models/fraud:1.0.0@${digests['1.0.0']}`);
  expect(mlflow.tagsOf('fraud', '4')).toMatchObject({
    'modelpilot.prod.status': 'refused', 'modelpilot.prod.reason': `fraud version 4 (alias champion): the registry's 4.0.0 is ${digests['4.0.0']}, `
      + `but MLflow's 'image_digest' says ${digests['1.0.0']}; the tag moved or the version points at another image`,
  });
});
