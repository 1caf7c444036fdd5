// lib/pulumi/config.ts: every key of the stack config is read and validated in one place; a bad value stops the
// program with an error naming the key, the value and the `pulumi config set` command that fixes it.
import { generateKeyPairSync } from 'crypto';
import { parseConfig } from '../../lib/core/contract/agent-config';
import { readConfigError, stackFileConfig, TEST_SECRETS } from './harness';

const SECRET_KEYS = Object.keys(TEST_SECRETS);
const staging = (): Record<string, string> => ({ ...stackFileConfig('staging'), ...TEST_SECRETS });
const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const PUB = pair.publicKey.export({ type: 'spki', format: 'pem' }).toString();
const KEY = pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const promotion = (p: Record<string, unknown>) => ({ 'modelpilot:promotion': JSON.stringify(p) });
const registry = (patch: Record<string, unknown>) => JSON.stringify({ host: 'registry.example.com', repository: 'models/recsys', username: 'ci', ...patch });

describe('readStackConfig', () => {
  test.each(['dev', 'staging', 'prod'])('accepts the committed Pulumi.%s.yaml with its secrets', async (env) => {
    expect(await readConfigError({ ...stackFileConfig(env), ...TEST_SECRETS }, SECRET_KEYS)).toBe('ok');
  });

  test.each<[string, Record<string, string | undefined>, string]>([
    ['replicas is 0', { 'modelpilot:replicas': '0' },
      "'modelpilot:replicas' value '0' is below 1; set it with `pulumi config set modelpilot:replicas 2`"],
    ['replicas is not a number', { 'modelpilot:replicas': 'three' },
      "'modelpilot:replicas' value 'three' is not a number; set it with `pulumi config set modelpilot:replicas 2`"],
    ['replicas is fractional', { 'modelpilot:replicas': '1.5' },
      "'modelpilot:replicas' value '1.5' is not a whole number; set it with `pulumi config set modelpilot:replicas 2`"],
    ['version is a mutable tag', { 'modelpilot:version': 'latest' },
      "'modelpilot:version' value 'latest' is not a semantic version; use a version such as '1.4.0' or '1.5.0-rc.1'; set it with `pulumi config set modelpilot:version 1.4.0`"],
    ['version is partial', { 'modelpilot:version': '1.4' },
      "'modelpilot:version' value '1.4' is not a semantic version; use a version such as '1.4.0' or '1.5.0-rc.1'; set it with `pulumi config set modelpilot:version 1.4.0`"],
    ['model is missing', { 'modelpilot:model': undefined },
      "'modelpilot:model' is not set; set it with `pulumi config set modelpilot:model recsys`"],
    ['model is not a DNS label', { 'modelpilot:model': 'RecSys' },
      "'modelpilot:model' value 'RecSys' is not a DNS label (lowercase letters, digits and '-'); give a model name such as 'recsys'; set it with `pulumi config set modelpilot:model recsys`"],
    ['namespace has an underscore', { 'modelpilot:namespace': 'ml_prod' },
      "'modelpilot:namespace' value 'ml_prod' is not a DNS label (lowercase letters, digits and '-'); give a namespace such as 'ml-prod'; set it with `pulumi config set modelpilot:namespace ml-prod`"],
    ['delivery strategy is unknown', { 'modelpilot:deliveryStrategy': 'canary' },
      "'modelpilot:deliveryStrategy' value 'canary' is not a delivery strategy; use 'rolling' or 'recreate'; set it with `pulumi config set modelpilot:deliveryStrategy rolling`"],
    ['monitoring is not a boolean', { 'modelpilot:monitoring': 'on' },
      "'modelpilot:monitoring' value 'on' is not 'true' or 'false'; set it with `pulumi config set modelpilot:monitoring false`"],
    ['updater is not a boolean', { 'modelpilot:updater': 'enabled' },
      "'modelpilot:updater' value 'enabled' is not 'true' or 'false'; set it with `pulumi config set modelpilot:updater false`"],
    ['createNamespace is not a boolean', { 'modelpilot:createNamespace': 'yes' },
      "'modelpilot:createNamespace' value 'yes' is not 'true' or 'false'; set it with `pulumi config set modelpilot:createNamespace false`"],
    ['git repository is not a URL', { 'modelpilot:gitRepository': 'example/models' },
      "'modelpilot:gitRepository' value 'example/models' is not a git URL; give an https://, ssh:// or git@ URL; set it with `pulumi config set modelpilot:gitRepository https://github.com/example/models.git`"],
    ['registry is missing', { 'modelpilot:registry': undefined },
      "'modelpilot:registry' is not set; set it with `pulumi config set --path modelpilot:registry.host registry.example.com`"],
    ['registry is not JSON', { 'modelpilot:registry': 'registry.example.com' },
      "'modelpilot:registry' value 'registry.example.com' is not structured config; set it with `pulumi config set --path modelpilot:registry.host registry.example.com`"],
    ['registry host has a scheme', { 'modelpilot:registry': registry({ host: 'https://registry.example.com' }) },
      "'modelpilot:registry.host' value 'https://registry.example.com' is not a host[:port]; give it without scheme or path, e.g. 'registry.example.com:5000'; set it with `pulumi config set --path 'modelpilot:registry.host' <value>`"],
    ['registry repository is missing', { 'modelpilot:registry': JSON.stringify({ host: 'registry.example.com' }) },
      "'modelpilot:registry.repository' is not set; set it with `pulumi config set --path 'modelpilot:registry.repository' <value>`"],
    ['registry repository has upper case', { 'modelpilot:registry': registry({ repository: 'Models/RecSys' }) },
      "'modelpilot:registry.repository' value 'Models/RecSys' is not a repository path; use lowercase path components such as 'models/recsys'; set it with `pulumi config set --path 'modelpilot:registry.repository' <value>`"],
    ['registry has an unknown key (its value is not shown)', { 'modelpilot:registry': registry({ password: 'hunter2' }) },
      "'modelpilot:registry' has an unknown key 'password'; remove it with `pulumi config rm --path 'modelpilot:registry.password'`"],
    ['receiver type is unknown', { 'modelpilot:alertReceivers': JSON.stringify([{ type: 'teams', channel: 'x' }]) },
      "'modelpilot:alertReceivers[0].type' value 'teams' has an unknown receiver 'type'; use 'slack' or 'webhook'; set it with `pulumi config set --path 'modelpilot:alertReceivers[0].type' <value>`"],
    ['slack channel has no #', { 'modelpilot:alertReceivers': JSON.stringify([{ type: 'slack', channel: 'ml-alerts' }]) },
      "'modelpilot:alertReceivers[0].channel' value 'ml-alerts' is not a Slack channel such as '#ml-alerts'; set it with `pulumi config set --path 'modelpilot:alertReceivers[0].channel' <value>`"],
    ['receiver severity is unknown', { 'modelpilot:alertReceivers': JSON.stringify([{ type: 'webhook', url: 'https://x.example.com', severity: 'page' }]) },
      "'modelpilot:alertReceivers[0].severity' value 'page' is not a severity; use 'critical', 'warning' or 'info'; set it with `pulumi config set --path 'modelpilot:alertReceivers[0].severity' <value>`"],
  ])('throws if %s', async (_case, patch, message) => {
    // GIVEN the staging config with one key changed (undefined = removed)
    const config = staging();
    for (const [k, v] of Object.entries(patch)) {
      if (v === undefined) delete config[k];
      else config[k] = v;
    }
    // WHEN it is read THEN the error names the key, the value and the fix
    expect(await readConfigError(config, SECRET_KEYS)).toBe(message);
  });

  describe('modelpilot:promotion', () => {
    test('accepts a minimum age, a signature key, the environments to require and the attest private key', async () => {
      const config = { ...staging(), ...promotion({ minImageAge: '1h', signaturePublicKey: PUB, requireVerifiedIn: { qa: PUB }, attestAs: 'staging' }),
        'modelpilot:attestPrivateKey': KEY };
      expect(await readConfigError(config, [...SECRET_KEYS, 'modelpilot:attestPrivateKey'])).toBe('ok');
    });

    test.each<[string, Record<string, unknown>, string]>([
      ['a minimum age that is not a duration', { minImageAge: 'an hour' },
        "'modelpilot:promotion.minImageAge' value 'an hour' is not a duration; write it like '30s', '5m', '1h30m' or '250ms'; set it with `pulumi config set --path 'modelpilot:promotion.minImageAge' <value>`"],
      ['a signature key that is not PEM', { signaturePublicKey: 'cosign.pub' },
        "'modelpilot:promotion.signaturePublicKey' value 'cosign.pub' is not a PEM public key; paste the whole '-----BEGIN PUBLIC KEY-----' … '-----END PUBLIC KEY-----' text; "
        + "set it with `pulumi config set --path 'modelpilot:promotion.signaturePublicKey' <value>`"],
      ['an environment name with capitals', { requireVerifiedIn: { Staging: PUB } },
        "'modelpilot:promotion.requireVerifiedIn.Staging' value 'Staging' is not an environment name; use lower-case letters, digits, '.', '_' and '-', such as 'staging'; "
        + "set it with `pulumi config set --path 'modelpilot:promotion.requireVerifiedIn.Staging' <value>`"],
      ['an unknown key', { requireSignature: true },
        "'modelpilot:promotion' has an unknown key 'requireSignature'; remove it with `pulumi config rm --path 'modelpilot:promotion.requireSignature'`"],
    ])('throws if %s', async (_n, p, message) => {
      expect(await readConfigError({ ...staging(), ...promotion(p) }, SECRET_KEYS)).toBe(message);
    });

    test('throws if an environment requires its own proof', async () => {
      const config = { ...staging(), ...promotion({ requireVerifiedIn: { staging: PUB }, attestAs: 'staging' }), 'modelpilot:attestPrivateKey': KEY };
      expect(await readConfigError(config, [...SECRET_KEYS, 'modelpilot:attestPrivateKey'])).toBe(
        "'modelpilot:promotion.attestAs' value 'staging' is also in promotion.requireVerifiedIn: an environment cannot require its own proof; "
        + "set attestAs to this environment and requireVerifiedIn to the ones before it, e.g. `pulumi config rm --path 'modelpilot:promotion.requireVerifiedIn.staging'`");
    });

    test('throws if attestAs is set without the private key secret', async () => {
      expect(await readConfigError({ ...staging(), ...promotion({ attestAs: 'staging' }) }, SECRET_KEYS)).toBe(
        "'modelpilot:attestPrivateKey' is not set but 'modelpilot:promotion.attestAs' is 'staging' and the updater signs its proof with it; "
        + 'set it with `pulumi config set --secret modelpilot:attestPrivateKey <value>`');
    });

    test('throws if the attest key is encrypted or not a private key, without showing it', async () => {
      const message = await readConfigError({ ...staging(), ...promotion({ attestAs: 'staging' }), 'modelpilot:attestPrivateKey': PUB },
        [...SECRET_KEYS, 'modelpilot:attestPrivateKey']);
      expect(message).toBe("'modelpilot:attestPrivateKey' (secret) is not an unencrypted PEM private key (make one with 'openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256'); "
        + 'set it with `pulumi config set --secret modelpilot:attestPrivateKey <value>`');
      expect(message).not.toContain('BEGIN PUBLIC KEY');
    });
  });

  test.each<[string, Record<string, unknown>, string]>([
    ['an MLflow URL without scheme', { url: 'mlflow:5000' },
      "'modelpilot:mlflow.url' value 'mlflow:5000' is not an http(s) URL; add the scheme: 'http://mlflow:5000'; set it with `pulumi config set --path 'modelpilot:mlflow.url' <value>`"],
    ['an MLflow tag template without {version}', { url: 'http://mlflow:5000', imageTag: 'stable' },
      "'modelpilot:mlflow.imageTag' value 'stable' has no '{version}'; every model version needs its own tag, e.g. '{version}' or 'v{version}'; set it with `pulumi config set --path 'modelpilot:mlflow.imageTag' <value>`"],
  ])('modelpilot:mlflow: throws if %s', async (_n, m, message) => {
    expect(await readConfigError({ ...staging(), 'modelpilot:mlflow': JSON.stringify(m) }, SECRET_KEYS)).toBe(message);
  });

  // Declared once (#29): the stack config's MLflow and promotion fields are agent.yaml's, so a value one refuses the
  // other refuses with the same reason — the stack never writes an agent.yaml its agent would refuse at start.
  test.each<[string, 'mlflow' | 'image-mlflow' | 'promotion', string, unknown]>([
    ['url', 'mlflow', 'url', 'ftp://mlflow:5000'],
    ['alias', 'image-mlflow', 'alias', 'my champion'],
    ['imageTag', 'image-mlflow', 'imageTag', 'v{version}:x'],
    ['tagPrefix', 'mlflow', 'tagPrefix', 'model pilot'],
    ['minImageAge', 'promotion', 'minImageAge', '30 days'],
  ])('a bad %s is refused by agent.yaml and by the stack config with the same reason', async (_n, where, key, value) => {
    const agentYaml = where === 'mlflow' ? { mlflow: { url: 'http://mlflow:5000', [key]: value } }
      : where === 'image-mlflow' ? { mlflow: { url: 'http://mlflow:5000' }, images: [{ repository: '127.0.0.1:5000/models/a', mlflow: { registeredModel: 'a', [key]: value } }] }
        : { [key]: value };
    let agentReason = '';
    try {
      parseConfig({ targets: { docker: {} }, ...agentYaml });
    } catch (e) {
      agentReason = /value '[^']*' (.*)$/m.exec((e as Error).message)![1];
    }
    expect(agentReason).not.toBe('');
    const stack = where === 'promotion' ? promotion({ [key]: value }) : { 'modelpilot:mlflow': JSON.stringify({ url: 'http://mlflow:5000', [key]: value }) };
    const stackReason = /value '[^']*' (.*); set it with/.exec(await readConfigError({ ...staging(), ...stack }, SECRET_KEYS))![1];
    expect(stackReason).toBe(agentReason);
  });

  test('throws if modelpilot:updaterImage is a moving tag', async () => {
    expect(await readConfigError({ ...staging(), 'modelpilot:updaterImage': 'ghcr.io/modelpilot/modelpilot-updater:latest' }, SECRET_KEYS)).toBe(
      "'modelpilot:updaterImage' value 'ghcr.io/modelpilot/modelpilot-updater:latest' is not a pinned image reference; give 'registry/repository:1.2.3' or '…@sha256:<digest>' (not 'latest'); "
      + 'set it with `pulumi config set modelpilot:updaterImage registry.example.com/platform/modelpilot-updater:0.1.0`');
  });

  describe('secrets', () => {
    test('throws if the HMAC key is missing', async () => {
      const config = staging();
      delete config['modelpilot:webhookHmacKey'];
      expect(await readConfigError(config, SECRET_KEYS)).toBe(
        "'modelpilot:webhookHmacKey' is not set but the updater's webhooks verify signed callers with it; "
        + 'set it with `pulumi config set --secret modelpilot:webhookHmacKey <value>`');
    });

    test('throws if a secret is stored in plain text, without showing it', async () => {
      const message = await readConfigError(staging(), SECRET_KEYS.filter((k) => k !== 'modelpilot:slackWebhookUrl'));
      expect(message).toBe("'modelpilot:slackWebhookUrl' is stored in plain text in the stack file; make it a secret with "
        + '`pulumi config set --secret modelpilot:slackWebhookUrl <value>`');
      expect(message).not.toContain(TEST_SECRETS['modelpilot:slackWebhookUrl']);
    });

    test('throws if the webhook token is missing', async () => {
      const config = staging();
      delete config['modelpilot:webhookToken'];
      expect(await readConfigError(config, SECRET_KEYS)).toBe(
        "'modelpilot:webhookToken' is not set but the updater's webhooks verify Alertmanager's bearer token with it; "
        + 'set it with `pulumi config set --secret modelpilot:webhookToken <value>`');
    });

    test('throws if the HMAC key is too short, without showing it', async () => {
      const message = await readConfigError({ ...staging(), 'modelpilot:webhookHmacKey': 'short-key' }, SECRET_KEYS);
      expect(message).toBe("'modelpilot:webhookHmacKey' (secret) has 9 characters; use at least 32 (for example `openssl rand -hex 32`); "
        + 'set it with `pulumi config set --secret modelpilot:webhookHmacKey <value>`');
      expect(message).not.toContain('short-key');
    });

    test('throws if the Slack URL is not https, without showing it', async () => {
      const message = await readConfigError({ ...staging(), 'modelpilot:slackWebhookUrl': 'http://hooks.example.com/x' }, SECRET_KEYS);
      expect(message).toBe("'modelpilot:slackWebhookUrl' (secret) is not an https URL; set it with `pulumi config set --secret modelpilot:slackWebhookUrl <value>`");
    });

    test('throws if a Slack receiver is configured without the Slack URL', async () => {
      const config = staging();
      delete config['modelpilot:slackWebhookUrl'];
      expect(await readConfigError(config, SECRET_KEYS)).toBe(
        "'modelpilot:slackWebhookUrl' is not set but 'modelpilot:alertReceivers' has a slack receiver; "
        + 'set it with `pulumi config set --secret modelpilot:slackWebhookUrl <value>`');
    });

    test('throws if the registry has a username but no password', async () => {
      const config = staging();
      delete config['modelpilot:registryPassword'];
      expect(await readConfigError(config, SECRET_KEYS)).toBe(
        "'modelpilot:registryPassword' is not set but 'modelpilot:registry.username' is 'ci-staging'; "
        + 'set it with `pulumi config set --secret modelpilot:registryPassword <value>`');
    });

    test('needs neither the registry password nor the Slack URL when nothing uses them', async () => {
      const config: Record<string, string> = { ...staging(), 'modelpilot:registry': JSON.stringify({ host: 'registry.example.com', repository: 'models/recsys' }), 'modelpilot:alertReceivers': '[]' };
      delete config['modelpilot:registryPassword'];
      delete config['modelpilot:slackWebhookUrl'];
      expect(await readConfigError(config, SECRET_KEYS)).toBe('ok');
    });
  });
});
