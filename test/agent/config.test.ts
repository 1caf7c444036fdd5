import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ConfigError, agentConfigSchema, loadConfig, parseConfig } from '../../agent/config';
import { tmpDir } from './fakes';

/** The problems of an invalid config, one string each. */
function problems(obj: unknown): readonly string[] {
  try {
    parseConfig(obj);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as ConfigError).problems;
  }
  throw new Error('expected the config to be invalid');
}

const minimal = { targets: { docker: {} } };

describe('agent config: defaults', () => {
  test('a minimal config gets the documented defaults', () => {
    const c = parseConfig(minimal);
    expect(c.targets.docker).toMatchObject({ socket: '/var/run/docker.sock', includeRestarting: false });
    expect(c.targets.docker!.stopTimeout.toMilliseconds()).toBe(10_000);
    expect(c.pollInterval.toMilliseconds()).toBe(300_000);
    expect(c.rollback.maxAttempts).toBe(3);
    expect(c.rollback.attemptTimeout.toMilliseconds()).toBe(30_000);
    expect(c.rollback.backoff.initial.toMilliseconds()).toBe(1000);
    expect(c.rollback.backoff.max.toMilliseconds()).toBe(60_000);
    expect(c.rollback.backoff.factor).toBe(2);
    expect(c.health.inconclusive).toBe('hold');
    expect(c.health.readinessTimeout.toMilliseconds()).toBe(120_000);
    expect(c.health.bakeWindow.toMilliseconds()).toBe(300_000);
    expect(c.health.slo.maxErrorRatio).toBe(0.05);
    expect(c.webhooks).toMatchObject({ enabled: false, listen: '0.0.0.0:8080', bodyLimit: 1024 * 1024 });
    expect(c.stateDir).toBe('/var/lib/modelpilot');
    expect(c.auditLog).toBe('/var/lib/modelpilot/audit.jsonl');
    expect(c.registries).toMatchObject({ insecure: [], rateLimit: 10 });
    expect(c.registries.tagsCacheTtl.toMilliseconds()).toBe(0);
  });

  test('Watchtower options: schedule (6 fields, seconds first), monitorOnly, runOnce, targets.docker.cleanup', () => {
    const c = parseConfig({ targets: { docker: { cleanup: true } }, schedule: '0 0 4 * * *', monitorOnly: true, runOnce: true });
    expect([c.schedule, c.monitorOnly, c.runOnce, c.targets.docker?.cleanup]).toEqual(['0 0 4 * * *', true, true, true]);
    expect(() => parseConfig({ ...minimal, schedule: '0 4 * * *' }))
      .toThrow("'schedule' value '0 4 * * *' has 5 field(s); write 6, seconds first, as Watchtower does: '0 0 4 * * *' is 04:00 every day");
    expect(() => parseConfig({ ...minimal, schedule: '0 0 25 * * *' })).toThrow("'schedule' value '0 0 25 * * *' is not a cron expression");
  });

  test('registries.tagsCacheTtl is a duration', () => {
    expect(parseConfig({ ...minimal, registries: { tagsCacheTtl: '30s' } }).registries.tagsCacheTtl.toMilliseconds()).toBe(30_000);
    expect(() => parseConfig({ ...minimal, registries: { tagsCacheTtl: 'soon' } })).toThrow("'registries.tagsCacheTtl' value 'soon' is not a duration");
  });

  test('a full config is read into typed values', () => {
    const c = parseConfig({
      targets: { docker: { socket: '/tmp/podman.sock', scope: 'prod', includeRestarting: true, stopTimeout: '3s' } },
      images: [{ repository: '127.0.0.1:5000/models/recsys', policy: 'semver:minor', pollInterval: '1s', prerelease: true, slo: { maxErrorRatio: 0.01, window: '2m' } }],
      registries: { insecure: ['127.0.0.1:5000'], rateLimit: 5 },
      health: {
        readinessTimeout: '20s', bakeWindow: '30s', queryInterval: '1s', prometheus: { url: 'http://127.0.0.1:9090' },
        inconclusive: 'probe', probe: { url: 'http://127.0.0.1:8080/v1/predict', method: 'POST', body: '{}', count: 5 },
      },
      rollback: { maxAttempts: 5, attemptTimeout: '10s', backoff: { initial: '500ms', max: '5s', factor: 3 } },
      webhooks: { listen: '127.0.0.1:0', bearerTokenFile: '/run/secrets/token', bodyLimit: '64KiB' },
      stateDir: '/tmp/state',
    });
    expect(c.images[0].model).toBe('recsys');
    expect(c.images[0].policy!.toString()).toBe('semver:minor+prerelease');
    expect(c.images[0].slo!.promWindow).toBe('2m');
    expect(c.images[0].pollInterval!.toMilliseconds()).toBe(1000);
    expect(c.health.probe).toMatchObject({ method: 'POST', count: 5, headers: {} });
    expect(c.rollback.backoff.initial.toMilliseconds()).toBe(500);
    expect(c.webhooks).toMatchObject({ enabled: true, bodyLimit: 65536 });
    expect(c.auditLog).toBe('/tmp/state/audit.jsonl');
  });

  test('kubernetes: a label selector by default, in-cluster unless a kubeconfig is given', () => {
    expect(parseConfig({ targets: { kubernetes: {} } }).targets.kubernetes).toMatchObject({
      namespace: 'default', labelSelector: 'modelpilot.dev/managed=true', inCluster: true,
    });
    expect(parseConfig({ targets: { kubernetes: { namespace: 'ml', deployments: ['recsys'], kubeconfig: '/k', container: 'model' } } }).targets.kubernetes)
      .toMatchObject({ namespace: 'ml', deployments: ['recsys'], labelSelector: undefined, inCluster: false, container: 'model' });
  });

  test('the schema is exported for the ModelUpdater construct to validate what it renders', () => {
    expect(agentConfigSchema.safeParse(minimal).success).toBe(true);
    expect(agentConfigSchema.safeParse({}).success).toBe(false);
  });
});

describe('agent config: errors name the key path, the value and the fix', () => {
  test.each<[string, unknown, string]>([
    ['no targets', {}, "'targets' is missing; it must be a map with a docker and/or kubernetes section"],
    ['an empty targets map', { targets: {} }, "'targets' value {} names no target; add 'docker: {}' or 'kubernetes: {}'"],
    ['a bad duration', { targets: { docker: { stopTimeout: '10 sec' } } },
      "'targets.docker.stopTimeout' value '10 sec' is not a duration; write it like '30s', '5m', '1h30m' or '250ms'"],
    ['a number for a duration', { ...minimal, pollInterval: 60 }, "'pollInterval' value 60 must be a duration string such as '30s', '5m' or '1h30m'"],
    ['a poll interval under 1s', { ...minimal, pollInterval: '100ms' }, "'pollInterval' value '100ms' is shorter than 1s; give at least '1s'"],
    ['an unknown policy', { ...minimal, images: [{ repository: '127.0.0.1:5000/models/recsys', policy: 'semver:minr' }] },
      "'images[0].policy' value 'semver:minr' is not a policy; use 'semver:patch', 'semver:minor', 'semver:major' (optionally '+prerelease'), 'pinned' or 'digest'"],
    ['a repository with a tag', { ...minimal, images: [{ repository: '127.0.0.1:5000/models/recsys:1.0.0' }] },
      "'images[0].repository' value '127.0.0.1:5000/models/recsys:1.0.0' is not a repository; write 'registry/repository' without tag or digest, e.g. '127.0.0.1:5000/models/recsys'"],
    ['a repository listed twice', { ...minimal, images: [{ repository: '127.0.0.1:5000/models/a' }, { repository: '127.0.0.1:5000/models/a' }] },
      "'images[1].repository' value '127.0.0.1:5000/models/a' is listed twice; keep one entry per repository"],
    ['an unknown inconclusive mode', { ...minimal, health: { inconclusive: 'maybe' } },
      "'health.inconclusive' value 'maybe' must be one of 'hold', 'probe', 'rollback'"],
    ['probe mode without a probe', { ...minimal, health: { inconclusive: 'probe' } },
      "'health.inconclusive' value 'probe' needs a 'health.probe' section with at least a url; add one or choose 'hold' or 'rollback'"],
    ['an SLO ratio out of range', { ...minimal, health: { slo: { maxErrorRatio: 5 } } },
      "'health.slo.maxErrorRatio' value 5 is outside (0, 1); give a ratio such as 0.05 for 5 %"],
    ['zero attempts', { ...minimal, rollback: { maxAttempts: 0 } }, "'rollback.maxAttempts' value 0 must be at least 1; give a number of attempts such as 3"],
    ['a backoff ceiling below its start', { ...minimal, rollback: { backoff: { initial: '10s', max: '1s' } } },
      "'rollback.backoff.max' value '1s' is shorter than backoff.initial; make max at least as long as initial"],
    ['webhooks without authentication', { ...minimal, webhooks: { listen: ':8080' } },
      "'webhooks.bearerTokenFile' is missing: every webhook must be authenticated; give bearerTokenFile and/or hmacSecretFile, or set enabled: false"],
    ['a bad listen address', { ...minimal, webhooks: { listen: 'localhost', hmacSecretFile: '/s' } },
      "'webhooks.listen' value 'localhost' is not a listen address; write it like '0.0.0.0:8080', '127.0.0.1:9090' or ':8080'"],
    ['a bad body limit', { ...minimal, webhooks: { bodyLimit: 'huge', hmacSecretFile: '/s' } },
      "'webhooks.bodyLimit' value 'huge' is not a size; write it like '1MiB', '64KiB', '512kb' or a number of bytes"],
    ['a body limit of 10 GB', { ...minimal, webhooks: { bodyLimit: 10_000_000_000, hmacSecretFile: '/s' } },
      "'webhooks.bodyLimit' value 10000000000 is above the maximum of 16MiB; webhook payloads are a few KiB, so keep the default 1MiB"],
    ['a listen port above 65535', { ...minimal, webhooks: { listen: ':99999', hmacSecretFile: '/s' } },
      "'webhooks.listen' value ':99999' has a port above 65535; give a port from 0 to 65535"],
    ['a selector and a list', { targets: { kubernetes: { labelSelector: 'a=b', deployments: ['x'] } } },
      "'targets.kubernetes.deployments' value [\"x\"] cannot be combined with labelSelector; give one of them"],
    ['a misspelt key', { ...minimal, helth: {} },
      "'helth' is not a known key; did you mean 'health'? (known keys: targets, images, pollInterval, schedule, monitorOnly, runOnce, minImageAge, requireSignature, requireVerifiedIn, trustedEnvironments, attest, mlflow, registries, health, rollback, webhooks, notify, auditLog, stateDir, log)"],
    ['a misspelt nested key', { targets: { docker: { socktet: '/x' } } },
      "'targets.docker.socktet' is not a known key; did you mean 'socket'? (known keys: socket, scope, includeRestarting, cleanup, stopTimeout, proxy)"],
    ['not a map', 'hello', "the config value 'hello' must be a map of settings (see docs/agent.md)"],
    ['requireVerifiedIn naming an environment without keys', { ...minimal, requireVerifiedIn: ['staging'] },
      "'requireVerifiedIn[0]' value 'staging' has no keys; add trustedEnvironments.staging.publicKeyFiles with the public key of the staging agent's attest.privateKeyFile"],
    ['an image requiring an environment without keys', { ...minimal, images: [{ repository: '127.0.0.1:5000/models/a', requireVerifiedIn: ['qa'] }] },
      "'images[0].requireVerifiedIn[0]' value 'qa' has no keys; add trustedEnvironments.qa.publicKeyFiles with the public key of the qa agent's attest.privateKeyFile"],
    ['an image following MLflow without the mlflow server', { ...minimal, images: [{ repository: '127.0.0.1:5000/models/a', mlflow: { registeredModel: 'a' } }] },
      "'images[0].mlflow' value {\"registeredModel\":\"a\"} needs the top-level 'mlflow' section; add mlflow: { url: 'http://mlflow:5000' }"],
    ['an MLflow alias with a space', { ...minimal, mlflow: { url: 'http://mlflow:5000' }, images: [{ repository: '127.0.0.1:5000/models/a', mlflow: { registeredModel: 'a', alias: 'my champion' } }] },
      "'images[0].mlflow.alias' value 'my champion' is not an MLflow alias; use letters, digits, '_' and '-', such as 'champion'"],
    ['an empty requireVerifiedIn', { ...minimal, requireVerifiedIn: [] },
      "'requireVerifiedIn' value [] names no environment; give one such as ['staging'], or remove it"],
    ['an environment name with capitals', { ...minimal, attest: { environment: 'Staging', privateKeyFile: '/k' } },
      "'attest.environment' value 'Staging' is not an environment name; use lower-case letters, digits, '.', '_' and '-', such as 'staging'"],
    ['an agent requiring its own proof', {
      ...minimal, attest: { environment: 'prod', privateKeyFile: '/k' }, requireVerifiedIn: ['prod'], trustedEnvironments: { prod: { publicKeyFiles: ['/p'] } },
    }, "'attest.environment' value 'prod' is also in requireVerifiedIn: an environment cannot require its own proof (nothing would ever be promoted); "
      + 'name the environment this agent serves here and the ones before it in requireVerifiedIn'],
  ])('throws if %s', (_name, obj, message) => {
    expect(problems(obj)).toEqual([message]);
  });

  test('reports every problem at once, each on its own line', () => {
    expect(() => parseConfig({ targets: { docker: { stopTimeout: 'x' } }, rollback: { maxAttempts: -1 } }, 'agent.yaml')).toThrow(
      "agent.yaml is invalid:\n  - 'targets.docker.stopTimeout' value 'x' is not a duration; write it like '30s', '5m', '1h30m' or '250ms'\n"
      + "  - 'rollback.maxAttempts' value -1 must be at least 1; give a number of attempts such as 3",
    );
  });
});

describe('loadConfig', () => {
  test('reads YAML from a file', () => {
    const file = path.join(tmpDir(), 'agent.yaml');
    fs.writeFileSync(file, 'targets:\n  docker:\n    socket: /tmp/p.sock\npollInterval: 1s\n');
    const c = loadConfig(file);
    expect(c.targets.docker!.socket).toBe('/tmp/p.sock');
    expect(c.pollInterval.toMilliseconds()).toBe(1000);
  });

  test('throws if the file is missing, naming the path and the flag', () => {
    expect(() => loadConfig('/nonexistent/agent.yaml')).toThrow(
      "/nonexistent/agent.yaml is invalid:\n  - '--config' value '/nonexistent/agent.yaml' does not exist; give the agent.yaml (YAML or JSON), e.g. --config /etc/modelpilot/agent.yaml",
    );
  });

  test('throws if the YAML is malformed', () => {
    const file = path.join(tmpDir(), 'agent.yaml');
    fs.writeFileSync(file, 'targets:\n  docker: {\n');
    expect(() => loadConfig(file)).toThrow(/agent\.yaml is invalid:\n {2}- is not valid YAML: /);
  });
});

describe('relative paths in agent.yaml (#28)', () => {
  test('resolve against the directory of agent.yaml, whatever the working directory', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelpilot-relcfg-'));
    const cwd = process.cwd();
    try {
      fs.mkdirSync(path.join(dir, 'conf'));
      fs.writeFileSync(path.join(dir, 'conf', 'agent.yaml'), [
        'stateDir: state', 'targets:', '  docker:', '    socket: ../run/docker.sock',
        'registries:', '  dockerConfig: ./docker/config.json',
        'webhooks:', '  bearerTokenFile: secrets/token',
        'images:', '  - repository: 127.0.0.1:5000/models/recsys',
        '    requireSignature:', '      publicKeyFiles: [keys/cosign.pub, /etc/abs.pub]',
      ].join('\n') + '\n');
      process.chdir(os.tmpdir());
      const c = loadConfig(path.join(path.relative(os.tmpdir(), dir), 'conf', 'agent.yaml'));
      expect(c.stateDir).toBe(path.join(dir, 'conf', 'state'));
      expect(c.auditLog).toBe(path.join(dir, 'conf', 'state', 'audit.jsonl'));
      expect(c.targets.docker?.socket).toBe(path.join(dir, 'run', 'docker.sock'));
      expect(c.registries.dockerConfig).toBe(path.join(dir, 'conf', 'docker', 'config.json'));
      expect(c.webhooks.bearerTokenFile).toBe(path.join(dir, 'conf', 'secrets', 'token'));
      expect(c.images[0].requireSignature?.publicKeyFiles).toEqual([path.join(dir, 'conf', 'keys', 'cosign.pub'), '/etc/abs.pub']);
    } finally {
      process.chdir(cwd);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
