// The Pulumi program (stacks/index.ts) per environment, against pulumi.runtime.setMocks: each Pulumi.<env>.yaml is
// read and fed as the stack's config, the program is imported in an isolated module registry, and every registered
// resource is recorded with its inputs, provider and dependencies.
import { generateKeyPairSync } from 'crypto';
import * as bcrypt from 'bcryptjs';
import * as YAML from 'yaml';
import { ImageRef } from '../../lib/core/image-ref';
import { htpasswdLine, pinnedReference } from '../../lib/pulumi/model-environment';
import { validateManifests } from '../../lib/validation/validate';
import { isSecretValue, mockDigest, plainStrings, ProgramRun, RecordedResource, runProgram, stackFileConfig, TEST_SECRETS, unwrapSecret } from './harness';

const SECRET_KEYS = Object.keys(TEST_SECRETS);

type Obj = Record<string, unknown>;
const at = (o: unknown, ...keys: Array<string | number>): unknown => keys.reduce<unknown>((v, k) => (v as Obj | undefined)?.[k as string], o);

describe.each(['dev', 'staging', 'prod'])('stack %s', (env) => {
  const file = stackFileConfig(env);
  const registry = JSON.parse(file['modelpilot:registry']) as { host: string; repository: string; username?: string };
  const version = file['modelpilot:version'];
  const namespace = file['modelpilot:namespace'];
  const model = file['modelpilot:model'];
  let run: ProgramRun;
  let deployment: RecordedResource;

  beforeAll(async () => {
    // GIVEN the environment's stack file plus its secrets, set as `--secret` values
    // WHEN the program runs
    run = await runProgram(env, { ...file, ...TEST_SECRETS }, SECRET_KEYS);
    deployment = run.byName(`${model}-model-deployment-${model}`);
  }, 120_000);

  test('registers one Kubernetes provider bound to the environment\'s context and namespace, used by every Kubernetes object', () => {
    const providers = run.ofType('pulumi:providers:kubernetes');
    expect(providers).toHaveLength(1);
    expect(providers[0].name).toBe(`${model}-provider`);
    expect(providers[0].inputs).toMatchObject({ context: file['modelpilot:kubeContext'], namespace });
    const kube = run.resources.filter((r) => r.type.startsWith('kubernetes:'));
    expect(kube.length).toBeGreaterThanOrEqual(4);
    for (const r of kube) {
      expect({ name: r.name, provider: r.provider?.split('::')[3] }).toEqual({ name: r.name, provider: `${model}-provider` });
    }
  });

  test('groups everything under one ModelEnvironment component named after the model (type token kept: modelpilot:index:ModelStack)', () => {
    const [component] = run.ofType('modelpilot:index:ModelStack');
    expect(component.name).toBe(model);
    const children = run.resources.filter((r) => r !== component);
    expect(children.filter((r) => r.parent !== model).map((r) => r.name)).toEqual([]);
    expect(children.every((r) => r.name.startsWith(`${model}-`))).toBe(true);
  });

  test('builds the model server image with a semver tag and OCI build args, and pushes it with the registry credentials', () => {
    const image = run.byName(`${model}-image`);
    expect(run.ofType('docker:index/image:Image').map((r) => r.name).sort()).toEqual([`${model}-image`, `${model}-updater-image`]);
    expect(image.inputs.imageName).toBe(`${registry.host}/${registry.repository}:${version}`);
    expect(image.inputs.build).toEqual({
      context: 'examples/model-server',
      dockerfile: 'examples/model-server/Dockerfile',
      args: { MODEL_NAME: model, VERSION: version, SOURCE: file['modelpilot:gitRepository'] },
    });
    // The SDK marks the whole registry block secret because it holds the password.
    expect(isSecretValue(image.inputs.registry)).toBe(registry.username !== undefined);
    const creds = image.inputs.registry === undefined ? undefined : unwrapSecret(image.inputs.registry);
    expect(creds).toEqual(registry.username === undefined ? undefined : {
      server: registry.host, username: registry.username, password: TEST_SECRETS['modelpilot:registryPassword'],
    });
  });

  test('builds the updater image from agent/Dockerfile beside the model, and runs the updater on its digest, after the push', () => {
    const image = run.byName(`${model}-updater-image`);
    const parent = registry.repository.split('/').slice(0, -1).join('/');
    const name = `${registry.host}/${parent ? `${parent}/` : ''}modelpilot-updater:0.1.0`;
    expect(image.inputs.imageName).toBe(name);
    expect(image.inputs.build).toEqual({ context: '.', dockerfile: 'agent/Dockerfile', args: { VERSION: '0.1.0' } });
    const agent = run.byName(`${model}-updater-deployment-modelpilot-updater`);
    const containers = at(agent.inputs, 'spec', 'template', 'spec', 'containers') as Obj[];
    expect(containers[0].image).toBe(`${name}@${mockDigest(name)}`);
    expect(agent.dependsOn).toContain(`${model}-updater-image`);
  });

  test('runs the model Deployment on the pushed image\'s digest-pinned reference, after the push', () => {
    const containers = at(deployment.inputs, 'spec', 'template', 'spec', 'containers') as Obj[];
    const ref = ImageRef.parse(String(containers[0].image));
    expect(ref.name).toBe(`${registry.host}/${registry.repository}`);
    expect(ref.tag).toBe(version);
    expect(ref.digest).toBe(mockDigest(`${registry.host}/${registry.repository}:${version}`));
    expect(run.outputs.imageRef).toBe(containers[0].image);
    expect(deployment.dependsOn).toContain(`${model}-image`);
  });

  test('takes replicas, namespace and delivery strategy from the stack file', () => {
    expect(at(deployment.inputs, 'spec', 'replicas')).toBe(Number(file['modelpilot:replicas']));
    expect(at(deployment.inputs, 'spec', 'strategy', 'type')).toBe(file['modelpilot:deliveryStrategy'] === 'recreate' ? 'Recreate' : 'RollingUpdate');
    for (const r of run.resources.filter((x) => x.type.startsWith('kubernetes:') && x.type !== 'kubernetes:core/v1:Namespace')) {
      expect({ name: r.name, namespace: at(r.inputs, 'metadata', 'namespace') }).toEqual({ name: r.name, namespace });
    }
  });

  test('creates the namespace only when modelpilot:createNamespace is true, before everything else', () => {
    const namespaces = run.ofType('kubernetes:core/v1:Namespace');
    const create = file['modelpilot:createNamespace'] !== 'false';
    expect(namespaces.map((n) => at(n.inputs, 'metadata', 'name'))).toEqual(create ? [namespace] : []);
    expect(deployment.dependsOn.includes(`${model}-namespace`)).toBe(create);
  });

  test('turns config secrets into Kubernetes Secrets whose data is secret, and the Deployment only names them', () => {
    const webhook = run.byName(`${model}-updater-webhook`);
    expect(at(webhook.inputs, 'metadata', 'name')).toBe('modelpilot-updater-webhook');
    expect(unwrapSecret(at(webhook.inputs, 'stringData'))).toEqual({
      hmac: TEST_SECRETS['modelpilot:webhookHmacKey'], token: TEST_SECRETS['modelpilot:webhookToken'],
    });
    const slack = run.byName(`${model}-alerting-slack`);
    expect(unwrapSecret(at(slack.inputs, 'stringData'))).toEqual({ url: TEST_SECRETS['modelpilot:slackWebhookUrl'] });
    const pullSecrets = at(deployment.inputs, 'spec', 'template', 'spec', 'imagePullSecrets') as Obj[] | undefined;
    const creds = run.resources.find((r) => r.name === `${model}-registry-credentials`);
    const auth = creds && JSON.parse(String((unwrapSecret(at(creds.inputs, 'stringData')) as Obj)['.dockerconfigjson'])).auths[registry.host];
    const withCreds = registry.username !== undefined;
    expect({ type: creds?.inputs.type, username: auth?.username, password: auth?.password, pullSecrets }).toEqual(withCreds
      ? {
        type: 'kubernetes.io/dockerconfigjson', username: registry.username, password: TEST_SECRETS['modelpilot:registryPassword'],
        pullSecrets: [{ name: `${model}-registry-credentials` }],
      }
      : { type: undefined, username: undefined, password: undefined, pullSecrets: undefined });
    const fromConfig = [webhook, slack, ...(creds ? [creds] : [])].map((r) => r.name);
    expect(deployment.dependsOn).toEqual(expect.arrayContaining(fromConfig));
  });

  test('routes alerts to the configured receivers, reading the Slack URL from its Secret by reference', () => {
    const amc = run.byName(`${model}-alerting-alertmanagerconfig-${model}`);
    expect(amc.type).toBe('kubernetes:monitoring.coreos.com/v1alpha1:AlertmanagerConfig');
    const receivers = at(amc.inputs, 'spec', 'receivers') as Obj[];
    const slack = receivers.find((r) => r.name === 'slack-0') as Obj;
    const slackConfig = (slack.slackConfigs as Obj[])[0];
    expect(slackConfig.apiURL).toEqual({ name: `${model}-alerting-slack`, key: 'url' });
    const receiversInFile = JSON.parse(file['modelpilot:alertReceivers']) as Array<{ type: string; channel?: string }>;
    expect(slackConfig.channel).toBe(receiversInFile[0].channel);
    expect(receivers.map((r) => r.name).sort()).toEqual([...receiversInFile.map((r, i) => `${r.type}-${i}`), 'modelpilot-updater'].sort());
    // The heal path: rollback-worthy alerts reach the updater with the token from the Secret this program made.
    const updater = (receivers.find((r) => r.name === 'modelpilot-updater') as Obj).webhookConfigs as Obj[];
    expect(updater[0].url).toBe(`http://modelpilot-updater.${namespace}.svc:8080/webhooks/alertmanager`);
    expect(JSON.stringify(updater[0])).toContain('modelpilot-updater-webhook');
  });

  test('runs the updater agent after the model, with the webhook Secret this program made', () => {
    const agent = run.byName(`${model}-updater-deployment-modelpilot-updater`);
    expect(agent.dependsOn).toEqual(expect.arrayContaining([`${model}-model-deployment-${model}`, `${model}-updater-webhook`]));
    const volumes = JSON.stringify(at(agent.inputs, 'spec', 'template', 'spec', 'volumes'));
    expect(volumes).toContain('modelpilot-updater-webhook');
  });

  test('scrapes the model and alerts on its SLO through prometheus-operator custom resources', () => {
    expect(run.byName(`${model}-monitoring-servicemonitor-${model}`).type).toBe('kubernetes:monitoring.coreos.com/v1:ServiceMonitor');
    const rule = run.byName(`${model}-monitoring-prometheusrule-${model}-alerts`);
    const alerts = (at(rule.inputs, 'spec', 'groups') as Array<{ rules: Array<{ alert?: string }> }>).flatMap((g) => g.rules.map((r) => r.alert));
    expect(alerts).toEqual(expect.arrayContaining(['ModelHighErrorRate', 'ModelHighLatencyP99', 'ModelTargetDown']));
  });

  test('never puts a secret value into a plain (unencrypted) input of any resource', () => {
    const values = Object.values(TEST_SECRETS);
    const base64 = values.map((v) => Buffer.from(v).toString('base64'));
    const leaks = run.resources.flatMap((r) => plainStrings(r.inputs)
      .filter((s) => [...values, ...base64].some((v) => s.includes(v)))
      .map((s) => `${r.name}: ${s.slice(0, 40)}`));
    expect(leaks).toEqual([]);
    // The check would catch a leak: the secrets do reach the inputs, wrapped.
    expect(run.resources.some((r) => JSON.stringify(r.inputs).includes(TEST_SECRETS['modelpilot:webhookHmacKey']))).toBe(true);
  });

  test('exports the service endpoint, the model version and the updater webhook URL', () => {
    expect(run.outputs.serviceEndpoint).toBe(`http://${model}.${namespace}.svc.cluster.local:80`);
    expect(run.outputs.modelVersion).toBe(version);
    expect(run.outputs.updaterWebhookUrl).toBe(`http://modelpilot-updater.${namespace}.svc:8080/webhooks/model`);
  });

  test('applies only schema-valid Kubernetes objects, exactly as they will reach the cluster', () => {
    const applied = run.resources
      .filter((r) => r.type.startsWith('kubernetes:'))
      .map((r) => JSON.parse(JSON.stringify(r.inputs, (_k, v) => (isSecretValue(v) ? unwrapSecret(v) : v))));
    expect(applied.length).toBeGreaterThan(10);
    const result = validateManifests(applied);
    expect(result.issues).toEqual([]);
    expect(result.checked).toBe(applied.length);
  });

  test('registers the same resource graph as last time (snapshot)', () => {
    const graph = run.resources
      .map((r) => `${r.type} ${r.name} <- [${[...r.dependsOn].sort().join(', ')}]`)
      .sort();
    expect(graph).toMatchSnapshot();
  });
});

describe('stack with an in-cluster registry', () => {
  let run: ProgramRun;
  beforeAll(async () => {
    // GIVEN dev, but with the registry in the cluster on NodePort 30500 (what the nodes pull), pushed to through a
    // port-forward on localhost:5000
    const file = stackFileConfig('dev');
    const registry = { host: 'localhost:30500', nodePort: 30500, repository: 'models/recsys', inCluster: true, pushHost: 'localhost:5000', username: 'ci' };
    run = await runProgram('dev', { ...file, 'modelpilot:registry': JSON.stringify(registry), ...TEST_SECRETS }, SECRET_KEYS);
  }, 120_000);

  test('applies the registry before the image push and before the model', () => {
    const registryObjects = run.resources.filter((r) => r.name.startsWith('recsys-registry-') && r.type.startsWith('kubernetes:') && r.type !== 'kubernetes:core/v1:Secret');
    expect(registryObjects.map((r) => r.type)).toEqual(expect.arrayContaining(['kubernetes:apps/v1:Deployment', 'kubernetes:core/v1:Service']));
    const names = registryObjects.map((r) => r.name);
    expect(run.byName('recsys-image').dependsOn).toEqual(expect.arrayContaining(names));
    expect(run.byName('recsys-model-deployment-recsys').dependsOn).toEqual(expect.arrayContaining(names));
  });

  test('the registry requires credentials: an htpasswd Secret (bcrypt of the config password) and the pull Secret it names', () => {
    const htpasswd = run.byName('recsys-registry-htpasswd');
    expect(htpasswd.inputs.metadata).toMatchObject({ name: 'model-registry-htpasswd', namespace: 'ml-dev' });
    const line = String((unwrapSecret(at(htpasswd.inputs, 'stringData')) as Obj).htpasswd); // a secret: encrypted in state, masked in output
    expect(line).toMatch(/^ci:\$2b\$10\$.{53}\n$/);
    expect(bcrypt.compareSync(TEST_SECRETS['modelpilot:registryPassword'], line.trim().slice('ci:'.length))).toBe(true);
    expect(htpasswdLine('ci', TEST_SECRETS['modelpilot:registryPassword'])).toBe(line); // the same line at every up: no diff
    expect(htpasswdLine('ci', 'another-password')).not.toBe(line);
    const deployment = run.resources.find((r) => r.type === 'kubernetes:apps/v1:Deployment' && at(r.inputs, 'metadata', 'name') === 'model-registry')!;
    expect(at(deployment.inputs, 'spec', 'template', 'spec', 'volumes')).toContainEqual(
      { name: 'auth', secret: { secretName: 'model-registry-htpasswd', items: [{ key: 'htpasswd', path: 'htpasswd' }] } });
    expect(run.byName('recsys-registry-credentials').inputs.metadata).toMatchObject({ name: 'model-registry-pull' });
    const model = run.byName('recsys-model-deployment-recsys');
    expect(at(model.inputs, 'spec', 'template', 'spec', 'imagePullSecrets')).toEqual([{ name: 'model-registry-pull' }]);
  });

  test('pushes to the push host and pins the in-cluster reference to the pushed digest', () => {
    expect(run.byName('recsys-image').inputs.imageName).toBe('localhost:5000/models/recsys:1.4.0');
    expect(run.outputs.imageRef).toBe(`localhost:30500/models/recsys:1.4.0@${mockDigest('localhost:5000/models/recsys:1.4.0')}`);
  });
});

describe('stacks with promotion settings (modelpilot:promotion)', () => {
  const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const pub = pair.publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const key = pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const agentYaml = (run: ProgramRun) => YAML.parse(String(at(run.byName('recsys-updater-configmap-modelpilot-updater').inputs, 'data', 'agent.yaml')));
  const volumes = (run: ProgramRun) => at(run.byName('recsys-updater-deployment-modelpilot-updater').inputs, 'spec', 'template', 'spec', 'volumes') as Obj[];

  test('staging attests: the private key (a config secret) becomes a Secret whose data stays secret, mounted for attest', async () => {
    const run = await runProgram('staging', {
      ...stackFileConfig('staging'), ...TEST_SECRETS, 'modelpilot:promotion': JSON.stringify({ attestAs: 'staging' }), 'modelpilot:attestPrivateKey': key,
    }, [...SECRET_KEYS, 'modelpilot:attestPrivateKey']);
    const secret = run.byName('recsys-attest-key');
    expect(at(secret.inputs, 'metadata', 'name')).toBe('recsys-attest-key');
    expect(isSecretValue(at(secret.inputs, 'stringData'))).toBe(true);
    expect(unwrapSecret(at(secret.inputs, 'stringData'))).toEqual({ 'attest.key': key });
    expect(agentYaml(run).attest).toEqual({ environment: 'staging', privateKeyFile: '/var/run/secrets/modelpilot/attest/attest.key' });
    expect(volumes(run)).toContainEqual(expect.objectContaining({ name: 'attest-key', secret: expect.objectContaining({ secretName: 'recsys-attest-key' }) }));
    expect(run.byName('recsys-updater-deployment-modelpilot-updater').dependsOn).toContain('recsys-attest-key');
    expect(plainStrings(run.resources.map((r) => r.inputs)).some((v) => v.includes('PRIVATE KEY'))).toBe(false);
  }, 120_000);

  test('prod requires staging\'s proof, a signature and a minimum age: the public keys in one Secret, agent.yaml pointing at them', async () => {
    const run = await runProgram('prod', {
      ...stackFileConfig('prod'), ...TEST_SECRETS,
      'modelpilot:promotion': JSON.stringify({ minImageAge: '1h', signaturePublicKey: pub, requireVerifiedIn: { staging: pub } }),
    }, SECRET_KEYS);
    expect(unwrapSecret(at(run.byName('recsys-promotion-keys').inputs, 'stringData'))).toEqual({ 'cosign.pub': pub, 'staging.pub': pub });
    expect(agentYaml(run)).toMatchObject({
      minImageAge: '1h',
      requireSignature: { publicKeyFiles: ['/var/run/secrets/modelpilot/signing/cosign.pub'] },
      requireVerifiedIn: ['staging'],
      trustedEnvironments: { staging: { publicKeyFiles: ['/var/run/secrets/modelpilot/trust/staging.pub'] } },
    });
    expect(agentYaml(run).attest).toBeUndefined();
    expect(volumes(run)).toContainEqual({ name: 'trusted-keys', projected: { sources: [
      { secret: { name: 'recsys-promotion-keys', items: [{ key: 'staging.pub', path: 'staging.pub' }] } },
    ] } });
  }, 120_000);
});

describe('modelpilot:updaterImage', () => {
  test('runs the given updater image and builds none', async () => {
    const run = await runProgram('prod', {
      ...stackFileConfig('prod'), ...TEST_SECRETS, 'modelpilot:updaterImage': 'registry.example.com/platform/modelpilot-updater:0.1.0',
    }, SECRET_KEYS);
    expect(run.ofType('docker:index/image:Image').map((r) => r.name)).toEqual(['recsys-image']);
    const containers = at(run.byName('recsys-updater-deployment-modelpilot-updater').inputs, 'spec', 'template', 'spec', 'containers') as Obj[];
    expect(containers[0].image).toBe('registry.example.com/platform/modelpilot-updater:0.1.0');
  }, 120_000);
});

describe('a stack whose model follows MLflow (modelpilot:mlflow)', () => {
  test('the updater follows the alias; the token (a config secret) becomes a Secret mounted for it', async () => {
    const run = await runProgram('prod', {
      ...stackFileConfig('prod'), ...TEST_SECRETS, 'modelpilot:mlflowToken': 'mlflow-token-6a2f',
      'modelpilot:mlflow': JSON.stringify({ url: 'http://mlflow.mlflow.svc:5000', alias: 'champion', imageTag: '{version}.0.0', tagPrefix: 'modelpilot.prod' }),
    }, [...SECRET_KEYS, 'modelpilot:mlflowToken']);
    const config = YAML.parse(String(at(run.byName('recsys-updater-configmap-modelpilot-updater').inputs, 'data', 'agent.yaml')));
    expect(config.mlflow).toEqual({ url: 'http://mlflow.mlflow.svc:5000', tokenFile: '/var/run/secrets/modelpilot/mlflow/token', tagPrefix: 'modelpilot.prod' });
    expect(config.images[0].mlflow).toEqual({ registeredModel: 'recsys', alias: 'champion', imageTag: '{version}.0.0' });
    expect(unwrapSecret(at(run.byName('recsys-mlflow-token').inputs, 'stringData'))).toEqual({ token: 'mlflow-token-6a2f' });
    expect(plainStrings(run.resources.map((r) => r.inputs)).some((v) => v.includes('mlflow-token-6a2f'))).toBe(false);
  }, 120_000);
});

describe('pulumi preview', () => {
  test('plans every resource without building: the image reference stays unknown until the push', async () => {
    // GIVEN prod WHEN previewed (the docker provider returns no digest on preview)
    const run = await runProgram('prod', { ...stackFileConfig('prod'), ...TEST_SECRETS }, SECRET_KEYS, { preview: true });
    // THEN the Deployment is planned, its image is not a tag-only reference, and the outputs say unknown
    const containers = at(run.byName('recsys-model-deployment-recsys').inputs, 'spec', 'template', 'spec', 'containers') as Obj[];
    expect(typeof containers[0].image).not.toBe('string');
    expect(run.outputs.imageRef).toBe('unknown');
    expect(run.outputs.modelVersion).toBe('1.3.2');
  }, 120_000);
});

describe('pinnedReference', () => {
  const deployImage = ImageRef.parse('registry.example.com/models/recsys:1.4.0');
  const digest = `sha256:${'ab'.repeat(32)}`;

  test('pins the deployed reference to the digest the push returned, keeping the tag', () => {
    expect(pinnedReference(deployImage, `localhost:5000/models/recsys@${digest}`)).toBe(`registry.example.com/models/recsys:1.4.0@${digest}`);
  });

  test.each([
    ['no digest at all', undefined],
    ['a local image ID instead of a pushed digest', digest],
    ['a malformed digest', 'registry.example.com/models/recsys@sha256:1234'],
  ])('throws if the push returned %s', (_case, repoDigest) => {
    expect(() => pinnedReference(deployImage, repoDigest)).toThrow(
      `the image push returned '${repoDigest ?? ''}' instead of a 'repository@sha256:<digest>' reference; `
      + "check that the push to 'registry.example.com/models/recsys' succeeded (the model is only ever deployed by digest)",
    );
  });
});

describe('bad config stops the program', () => {
  const inCluster = (registry: Record<string, unknown>) => ({
    ...stackFileConfig('dev'), ...TEST_SECRETS,
    'modelpilot:registry': JSON.stringify({ repository: 'models/recsys', inCluster: true, ...registry }),
  });

  test('modelpilot:imageDigest deploys the image already pushed, by that digest: nothing is built', async () => {
    const digest = `sha256:${'ab'.repeat(32)}`;
    const run = await runProgram('dev', { ...stackFileConfig('dev'), ...TEST_SECRETS, 'modelpilot:imageDigest': digest }, SECRET_KEYS);
    expect(run.ofType('docker:index/image:Image')).toEqual([]);
    const d = run.byName('recsys-model-deployment-recsys');
    const image = String((at(d.inputs, 'spec', 'template', 'spec', 'containers') as Obj[])[0].image);
    expect(image).toBe(`localhost:5000/models/recsys:1.4.0@${digest}`);
    expect(run.outputs.imageRef).toBe(image);
  }, 120_000);

  test('throws if modelpilot:imageDigest is not a digest, naming the key and the fix', async () => {
    await expect(runProgram('dev', { ...stackFileConfig('dev'), ...TEST_SECRETS, 'modelpilot:imageDigest': '1.4.0' }, SECRET_KEYS)).rejects.toThrow(
      "'modelpilot:imageDigest' value '1.4.0' is not a manifest digest; give 'sha256:' and 64 lowercase hex characters; "
      + 'set it with `pulumi config set modelpilot:imageDigest sha256:');
  }, 120_000);

  test('throws if an in-cluster registry host is not the registry the stack runs', async () => {
    // GIVEN the Service's name instead of the host the nodes pull (localhost:<nodePort>)
    await expect(runProgram('dev', inCluster({ host: 'model-registry.ml-dev.svc:5000', nodePort: 30500, username: 'ci' }), SECRET_KEYS)).rejects.toThrow(
      "'modelpilot:registry.host' value 'model-registry.ml-dev.svc:5000' is not the in-cluster registry's host 'localhost:30500'; "
      + 'set it with `pulumi config set --path modelpilot:registry.host localhost:30500`',
    );
  }, 120_000);

  test('throws if an in-cluster registry has no NodePort (the nodes could not pull from it)', async () => {
    await expect(runProgram('dev', inCluster({ host: 'localhost:30500', username: 'ci' }), SECRET_KEYS)).rejects.toThrow(
      "'modelpilot:registry.nodePort' is not set but the nodes pull the model from the in-cluster registry through a NodePort; "
      + 'set it with `pulumi config set --path modelpilot:registry.nodePort 30500`',
    );
  }, 120_000);

  test('throws if an in-cluster registry has no username (it requires credentials)', async () => {
    await expect(runProgram('dev', inCluster({ host: 'localhost:30500', nodePort: 30500 }), SECRET_KEYS)).rejects.toThrow(
      "'modelpilot:registry.username' is not set but the in-cluster registry requires credentials for pushes and pulls; "
      + 'set it with `pulumi config set --path modelpilot:registry.username ci` and the password with `pulumi config set --secret modelpilot:registryPassword <password>`',
    );
  }, 120_000);

  test('throws if modelpilot:replicas is 0, naming the key, the value and the fix', async () => {
    const file = { ...stackFileConfig('staging'), ...TEST_SECRETS, 'modelpilot:replicas': '0' };
    await expect(runProgram('staging', file, SECRET_KEYS)).rejects.toThrow(
      "'modelpilot:replicas' value '0' is below 1; set it with `pulumi config set modelpilot:replicas 2`",
    );
  }, 120_000);
});
