/**
 * The hardening corpus: bad input of every kind — agent.yaml, the files it names, constructs, synthesis, the CLI —
 * each case with the exact message a user sees (the field, the value, the fix). With test/bad-input.test.ts
 * (construct props), test/validation/api-server-rules.test.ts (manifests the API server refuses, also checked on
 * a real kube-apiserver by the cluster tier) and the webhook tests, it is the bad-input corpus of issue #12.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Size, Testing } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { checkRuntimePaths } from '../../agent/config';
import { run as history } from '../../bin/commands/history';
import { run as quarantine } from '../../bin/commands/quarantine';
import { run as registryCredentials } from '../../bin/commands/registry-credentials';
import { run as synth, synthesize } from '../../bin/commands/synth';
import {
  Autoscaling, DisruptionBudget, Duration, ModelDeployment, ModelMonitoring, ModelRegistry, ModelUpdater, Receiver, SelfHealingModelStack, Slo,
  warningsOf,
} from '../../lib';
import { ConfigError, parseConfig } from '../../lib/core/contract/agent-config';
import { capture } from '../support/cli';

const IMAGE = 'registry.example.com/models/recsys:1.4.0';

function problems(obj: Record<string, unknown>): string[] {
  try {
    parseConfig({ targets: { docker: {} }, ...obj }, 'agent.yaml');
  } catch (e) {
    if (e instanceof ConfigError) return [...e.problems];
    throw e;
  }
  return [];
}

describe('agent.yaml: every bad value names the key, the value and the fix', () => {
  const cases: Array<[string, Record<string, unknown>, string[]]> = [
  ['pollInterval 25d', {'pollInterval': '25d'},
    ["'pollInterval' value '25d' is longer than the longest timer Node.js can set (about 24.8 days, which would fire at once); give at most '24d'"]],
  ['pollInterval 0s', {'pollInterval': '0s'},
    ["'pollInterval' value '0s' is shorter than 1s; give at least '1s'"]],
  ['pollInterval not a duration', {'pollInterval': 'often'},
    ["'pollInterval' value 'often' is not a duration; write it like '30s', '5m', '1h30m' or '250ms'"]],
  ['pollInterval a number', {'pollInterval': 30},
    ["'pollInterval' value 30 must be a duration string such as '30s', '5m' or '1h30m'"]],
  ['image pollInterval 30d', {'images': [{'repository': '127.0.0.1:5000/models/recsys', 'pollInterval': '30d'}]},
    ["'images[0].pollInterval' value '30d' is longer than the longest timer Node.js can set (about 24.8 days, which would fire at once); give at most '24d'"]],
  ['prometheus url without scheme', {'health': {'prometheus': {'url': 'prometheus:9090'}}},
    ["'health.prometheus.url' value 'prometheus:9090' is not an http(s) URL; add the scheme: 'http://prometheus:9090'"]],
  ['prometheus url ftp', {'health': {'prometheus': {'url': 'ftp://prometheus:9090'}}},
    ["'health.prometheus.url' value 'ftp://prometheus:9090' is not an http(s) URL; use an http:// or https:// URL such as 'http://prometheus:9090'"]],
  ['prometheus url with credentials', {'health': {'prometheus': {'url': 'http://admin:secret@prometheus:9090'}}},
    ["'health.prometheus.url' value 'http://admin:***@prometheus:9090' carries a user and password, which would be logged; remove them from the URL"]],
  ['prometheus timeout 0s', {'health': {'prometheus': {'url': 'http://prometheus:9090', 'timeout': '0s'}}},
    ["'health.prometheus.timeout' value '0s' must be longer than 0; give for example '30s'"]],
  ['probe url file', {'health': {'inconclusive': 'probe', 'probe': {'url': 'file:///etc/passwd'}}},
    ["'health.probe.url' value 'file:///etc/passwd' is not an http(s) URL; use an http:// or https:// URL such as 'http://127.0.0.1:8080/v1/predict'"]],
  ['probe timeout 0s', {'health': {'inconclusive': 'probe', 'probe': {'url': 'http://127.0.0.1:8080/v1/predict', 'timeout': '0s'}}},
    ["'health.probe.timeout' value '0s' must be longer than 0; give for example '30s'"]],
  ['probe count 0', {'health': {'inconclusive': 'probe', 'probe': {'url': 'http://127.0.0.1:8080/', 'count': 0}}},
    ["'health.probe.count' value 0 must be at least 1; give a number of requests such as 20"]],
  ['probe method DELETE', {'health': {'inconclusive': 'probe', 'probe': {'url': 'http://127.0.0.1:8080/', 'method': 'DELETE'}}},
    ["'health.probe.method' value 'DELETE' must be one of 'GET', 'POST', 'PUT'"]],
  ['probe maxFailureRatio 1.5', {'health': {'inconclusive': 'probe', 'probe': {'url': 'http://127.0.0.1:8080/', 'maxFailureRatio': 1.5}}},
    ["'health.probe.maxFailureRatio' value 1.5 must be between 0 and 1"]],
  ['inconclusive probe without probe', {'health': {'inconclusive': 'probe'}},
    ["'health.inconclusive' value 'probe' needs a 'health.probe' section with at least a url; add one or choose 'hold' or 'rollback'"]],
  ['readinessTimeout 0s', {'health': {'readinessTimeout': '0s'}},
    ["'health.readinessTimeout' value '0s' must be longer than 0; give for example '30s'"]],
  ['bakeWindow 30d', {'health': {'bakeWindow': '30d'}},
    ["'health.bakeWindow' value '30d' is longer than the longest timer Node.js can set (about 24.8 days, which would fire at once); give at most '24d'"]],
  ['queryInterval 10ms', {'health': {'queryInterval': '10ms'}},
    ["'health.queryInterval' value '10ms' is shorter than 100ms; give at least '100ms'"]],
  ['confidence 0.2', {'health': {'confidence': 0.2}},
    ["'health.confidence' value 0.2 must be between 0.5 and 0.999"]],
  ['requestTimeout 0s', {'registries': {'requestTimeout': '0s'}},
    ["'registries.requestTimeout' value '0s' must be longer than 0; give for example '30s'"]],
  ['rateLimit 0', {'registries': {'rateLimit': 0}},
    ["'registries.rateLimit' value 0 must be more than 0 requests per second"]],
  ['insecure not a list', {'registries': {'insecure': '127.0.0.1:5000'}},
    ["'registries.insecure' value '127.0.0.1:5000' must be a list of registry hosts such as ['127.0.0.1:5000']"]],
  ['alertmanager url no scheme', {'notify': {'alertmanager': {'url': 'alertmanager:9093'}}},
    ["'notify.alertmanager.url' value 'alertmanager:9093' is not an http(s) URL; add the scheme: 'http://alertmanager:9093'"]],
  ['alertmanager timeout 0s', {'notify': {'alertmanager': {'url': 'http://alertmanager:9093', 'timeout': '0s'}}},
    ["'notify.alertmanager.timeout' value '0s' must be longer than 0; give for example '30s'"]],
  ['rollback maxAttempts 0', {'rollback': {'maxAttempts': 0}},
    ["'rollback.maxAttempts' value 0 must be at least 1; give a number of attempts such as 3"]],
  ['rollback maxAttempts 1.5', {'rollback': {'maxAttempts': 1.5}},
    ["'rollback.maxAttempts' value 1.5 must be a whole number; give a number of attempts such as 3"]],
  ['rollback attemptTimeout 100ms', {'rollback': {'attemptTimeout': '100ms'}},
    ["'rollback.attemptTimeout' value '100ms' is shorter than 1s; give at least '1s'"]],
  ['backoff max < initial', {'rollback': {'backoff': {'initial': '10s', 'max': '1s'}}},
    ["'rollback.backoff.max' value '1s' is shorter than backoff.initial; make max at least as long as initial"]],
  ['backoff factor 0.5', {'rollback': {'backoff': {'factor': 0.5}}},
    ["'rollback.backoff.factor' value 0.5 must be at least 1"]],
  ['webhooks listen port 99999', {'webhooks': {'enabled': false, 'listen': ':99999'}},
    ["'webhooks.listen' value ':99999' has a port above 65535; give a port from 0 to 65535"]],
  ['webhooks listen no port', {'webhooks': {'enabled': false, 'listen': '0.0.0.0'}},
    ["'webhooks.listen' value '0.0.0.0' is not a listen address; write it like '0.0.0.0:8080', '127.0.0.1:9090' or ':8080'"]],
  ['webhooks bodyLimit 10GB', {'webhooks': {'bearerTokenFile': '/t', 'bodyLimit': 10000000000}},
    ["'webhooks.bodyLimit' value 10000000000 is above the maximum of 16MiB; webhook payloads are a few KiB, so keep the default 1MiB"]],
  ['webhooks bodyLimit text', {'webhooks': {'bearerTokenFile': '/t', 'bodyLimit': 'lots'}},
    ["'webhooks.bodyLimit' value 'lots' is not a size; write it like '1MiB', '64KiB', '512kb' or a number of bytes"]],
  ['webhooks no auth', {'webhooks': {'enabled': true}},
    ["'webhooks.bearerTokenFile' is missing: every webhook must be authenticated; give bearerTokenFile and/or hmacSecretFile, or set enabled: false"]],
  ['stateDir empty', {'stateDir': ''},
    ["'stateDir' value '' must not be empty; give a directory such as '/var/lib/modelpilot'"]],
  ['log level trace', {'log': {'level': 'trace'}},
    ["'log.level' value 'trace' must be one of 'debug', 'info', 'warn', 'error'"]],
  ['typo key', {'pollIntreval': '1m'},
    ["'pollIntreval' is not a known key; did you mean 'pollInterval'? (known keys: targets, images, pollInterval, schedule, monitorOnly, runOnce, minImageAge, requireSignature, requireVerifiedIn, trustedEnvironments, attest, mlflow, registries, health, rollback, webhooks, notify, auditLog, stateDir, log)"]],
  ['image repository with tag', {'images': [{'repository': '127.0.0.1:5000/models/recsys:1.0.0'}]},
    ["'images[0].repository' value '127.0.0.1:5000/models/recsys:1.0.0' is not a repository; write 'registry/repository' without tag or digest, e.g. '127.0.0.1:5000/models/recsys'"]],
  ['image policy bad', {'images': [{'repository': '127.0.0.1:5000/models/recsys', 'policy': 'newest'}]},
    ["'images[0].policy' value 'newest' is not a policy; use 'semver:patch', 'semver:minor', 'semver:major' (optionally '+prerelease'), 'pinned' or 'digest'"]],
  ['image listed twice', {'images': [{'repository': '127.0.0.1:5000/models/recsys'}, {'repository': '127.0.0.1:5000/models/recsys'}]},
    ["'images[1].repository' value '127.0.0.1:5000/models/recsys' is listed twice; keep one entry per repository"]],
  ['slo maxErrorRatio 2', {'health': {'slo': {'maxErrorRatio': 2}}},
    ["'health.slo.maxErrorRatio' value 2 is outside (0, 1); give a ratio such as 0.05 for 5 %"]],
  ['kubernetes deployments + labelSelector', {'targets': {'kubernetes': {'deployments': ['a'], 'labelSelector': 'x=y'}}},
    ["'targets.kubernetes.deployments' value [\"a\"] cannot be combined with labelSelector; give one of them"]],
  ['kubernetes inCluster + kubeconfig', {'targets': {'kubernetes': {'inCluster': true, 'kubeconfig': '/k'}}},
    ["'targets.kubernetes.kubeconfig' value '/k' cannot be combined with inCluster: true; remove one of them"]],
  ['targets empty', {'targets': {}},
    ["'targets' value {} names no target; add 'docker: {}' or 'kubernetes: {}'"]],
  ['docker stopTimeout 30d', {'targets': {'docker': {'stopTimeout': '30d'}}},
    ["'targets.docker.stopTimeout' value '30d' is longer than the longest timer Node.js can set (about 24.8 days, which would fire at once); give at most '24d'"]],
  ];
  test.each(cases)('throws if %s', (_name, patch, expected) => {
    expect(problems(patch)).toEqual(expected);
  });

  test('the nearest-valid twins are accepted (the bounds are where the runtime is)', () => {
    expect(problems({ pollInterval: '24d', health: { prometheus: { url: 'https://prometheus:9090', timeout: '1ms' }, readinessTimeout: '1s' } })).toEqual([]);
    expect(problems({ webhooks: { enabled: false, listen: ':65535' }, registries: { requestTimeout: '1s' } })).toEqual([]);
  });
});

describe('agent --check: the files and directories the agent will use', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelpilot-corpus-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));
  const config = (obj: Record<string, unknown>) => parseConfig({ targets: { docker: {} }, stateDir: dir, ...obj }, 'agent.yaml');

  test('throws if the bearer token file is missing', () => {
    expect(checkRuntimePaths(config({ webhooks: { bearerTokenFile: `${dir}/token` } }))).toEqual([
      `'webhooks.bearerTokenFile' value '${dir}/token' does not exist; point it at a file holding the bearer token (mount the Secret there)`,
    ]);
  });
  test('throws if the HMAC secret file is empty', () => {
    fs.writeFileSync(`${dir}/hmac`, '\n');
    expect(checkRuntimePaths(config({ webhooks: { hmacSecretFile: `${dir}/hmac` } }))).toEqual([
      `'webhooks.hmacSecretFile' value '${dir}/hmac' is empty; point it at a file holding the HMAC secret (mount the Secret there)`,
    ]);
  });
  test('throws if the bearer token "file" is a directory', () => {
    fs.mkdirSync(`${dir}/token`);
    expect(checkRuntimePaths(config({ webhooks: { bearerTokenFile: `${dir}/token` } }))).toEqual([
      `'webhooks.bearerTokenFile' value '${dir}/token' is a directory, not a file; point it at a file holding the bearer token (mount the Secret there)`,
    ]);
  });
  test('throws if the audit log path is a directory', () => {
    fs.mkdirSync(`${dir}/audit.jsonl`);
    expect(checkRuntimePaths(config({}))).toEqual([
      `'auditLog' value '${dir}/audit.jsonl' is a directory, not a file; give a file path such as '${dir}/audit.jsonl'`,
    ]);
  });
  test('throws if the audit log is in a directory that does not exist (and is not the state dir)', () => {
    expect(checkRuntimePaths(config({ auditLog: `${dir}/logs/audit.jsonl` }))).toEqual([
      `'auditLog' value '${dir}/logs/audit.jsonl' is in '${dir}/logs', which is missing; create that directory or put the log under stateDir`,
    ]);
  });
  test('throws if the state dir is a file', () => {
    fs.writeFileSync(`${dir}/state`, '');
    expect(checkRuntimePaths(config({ stateDir: `${dir}/state`, auditLog: `${dir}/audit.jsonl` }))).toEqual([
      `'stateDir' value '${dir}/state' is a file, not a directory; give a directory (it is created when missing)`,
    ]);
  });
  test('throws if the kubeconfig is missing', () => {
    expect(checkRuntimePaths(parseConfig({ targets: { kubernetes: { kubeconfig: `${dir}/kubeconfig` } }, stateDir: dir }))).toEqual([
      `'targets.kubernetes.kubeconfig' value '${dir}/kubeconfig' does not exist; give the path of a kubeconfig file, or remove it to use the in-cluster service account`,
    ]);
  });
  test('throws if the docker config is missing', () => {
    expect(checkRuntimePaths(config({ registries: { dockerConfig: `${dir}/config.json` } }))).toEqual([
      `'registries.dockerConfig' value '${dir}/config.json' does not exist; point it at a docker config.json with an 'auths' map`,
    ]);
  });
  test('throws if the attest private key or a trusted environment key is missing or empty', () => {
    fs.writeFileSync(`${dir}/staging.pub`, '');
    expect(checkRuntimePaths(config({
      attest: { environment: 'prod', privateKeyFile: `${dir}/attest.key` },
      requireVerifiedIn: ['staging'], trustedEnvironments: { staging: { publicKeyFiles: [`${dir}/staging.pub`] } },
    }))).toEqual([
      `'trustedEnvironments.staging.publicKeyFiles[0]' value '${dir}/staging.pub' is empty; point it at the PEM public key of that environment's agent (the public half of its attest.privateKeyFile)`,
      `'attest.privateKeyFile' value '${dir}/attest.key' does not exist; point it at the PEM private key this agent signs its attestations with (mount the Secret there; 'openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256' makes one)`,
    ]);
  });
  test('a state dir that does not exist yet, with the audit log in it, is fine (the agent creates it)', () => {
    expect(checkRuntimePaths(config({ stateDir: `${dir}/new` }))).toEqual([]);
  });

  test('`modelpilot agent --check` prints them and exits 2', async () => {
    fs.writeFileSync(`${dir}/agent.yaml`, `targets: { docker: {} }\nstateDir: ${dir}\nwebhooks: { bearerTokenFile: ${dir}/missing }\n`);
    const { run } = await import('../../bin/commands/agent');
    const r = await capture(() => run(['--config', `${dir}/agent.yaml`, '--check']));
    expect(r.code).toBe(2);
    expect(r.err).toBe(`modelpilot agent: ${dir}/agent.yaml is invalid:\n  - 'webhooks.bearerTokenFile' value '${dir}/missing' does not exist; `
      + 'point it at a file holding the bearer token (mount the Secret there)\n');
    expect(r.out).toBe('');
  });
});

function updater(props: Record<string, unknown>): ModelUpdater {
  const c = Testing.chart();
  const m = new ModelDeployment(c, 'Model', { name: 'recsys', image: IMAGE, namespace: 'default' });
  return new ModelUpdater(c, 'U', { models: [m], ...props });
}

describe('constructs: credentials never in plain text, wrong blame fixed, missing props named', () => {
  const cases: Array<[string, () => unknown, string]> = [
    ['a receiver URL holds a user and password', () => Receiver.webhook({ name: 'ops', url: 'https://user:pass@hooks.example.com/alert' }),
      "receiver 'ops': 'url' value 'https://hooks.example.com/alert' carries a user and password, which would be rendered in plain text; "
      + "remove them from the URL and give the credential as 'bearerToken' (a Secret key)"],
    ['a receiver URL holds a user name', () => Receiver.webhook({ name: 'ops', url: 'https://bot@hooks.example.com/alert' }),
      "receiver 'ops': 'url' value 'https://hooks.example.com/alert' carries a user name, which would be rendered in plain text; "
      + "remove them from the URL and give the credential as 'bearerToken' (a Secret key)"],
    ['a receiver URL has ?token=', () => Receiver.webhook({ name: 'ops', url: 'https://hooks.example.com/alert?token=abc123' }),
      "receiver 'ops': 'url' value 'https://hooks.example.com/alert' carries the credential parameter 'token', which would be rendered in plain text; "
      + "remove it from the URL and give the credential as 'bearerToken' (a Secret key)"],
    ['a receiver URL has &api_key=', () => Receiver.webhook({ name: 'ops', url: 'https://hooks.example.com/alert?channel=ml&api_key=abc' }),
      "receiver 'ops': 'url' value 'https://hooks.example.com/alert' carries the credential parameter 'api_key', which would be rendered in plain text; "
      + "remove it from the URL and give the credential as 'bearerToken' (a Secret key)"],
    ['a receiver URL has ?sig=', () => Receiver.webhook({ name: 'ops', url: 'https://hooks.example.com/alert?sig=abc' }),
      "receiver 'ops': 'url' value 'https://hooks.example.com/alert' carries the credential parameter 'sig', which would be rendered in plain text; "
      + "remove it from the URL and give the credential as 'bearerToken' (a Secret key)"],
    ['ModelDeployment gets no props object', () => new ModelDeployment(Testing.chart(), 'Model', undefined as never),
      "ModelDeployment needs a props object, got undefined; give for example { name: 'recsys', image: 'registry.example.com/models/recsys:1.4.0' }"],
    ['ModelUpdater gets null props', () => new ModelUpdater(Testing.chart(), 'U', null as never),
      'ModelUpdater needs a props object, got null; give for example { models: [model] } (ModelDeployments)'],
    ['ModelMonitoring gets an array', () => new ModelMonitoring(Testing.chart(), 'M', [] as never),
      'ModelMonitoring needs a props object, got an array; give for example { model } (a ModelDeployment)'],
    ['maxReplicas is fractional (was blamed on minReplicas)', () => Autoscaling.cpu({ minReplicas: 1, maxReplicas: 2.5 }),
      "'autoscaling.maxReplicas' value 2.5 is not a whole number; give a number of pods such as 4"],
    ["the updater's readinessTimeout is 0s", () => updater({ readinessTimeout: Duration.seconds(0) }),
      "the agent config rendered from the props is invalid ('health.readinessTimeout' value '0s' must be longer than 0; give for example '30s'); fix the matching prop"],
    ["the updater's pollInterval is 30 days (a busy loop past Node's timer limit)", () => updater({ pollInterval: Duration.days(30) }),
      "the agent config rendered from the props is invalid ('pollInterval' value '30d' is longer than the longest timer Node.js can set "
      + "(about 24.8 days, which would fire at once); give at most '24d'); fix the matching prop"],
  ];
  test.each(cases)('throws if %s', (_name, fn, message) => {
    expect(fn).toThrow(new Error(message));
  });

  test('a receiver URL with ordinary query parameters is accepted', () => {
    expect(Receiver.webhook({ name: 'ops', url: 'https://hooks.example.com/alert?channel=ml' }).name).toBe('ops');
  });
});

describe('warnings: legal but unsafe settings are named with the construct path and the fix', () => {
  const W = (f: (c: Construct) => void): string[] => {
    const c = Testing.chart();
    f(c);
    return warningsOf(c).map((w) => `${w.path}: ${w.message}`);
  };
  const cases: Array<[string, (c: Construct) => void, string[]]> = [
    ["a PDB of minAvailable '50%' at 1 replica",
      (c) => new ModelDeployment(c, 'Model', { name: 'recsys', image: IMAGE, replicas: 1, disruptionBudget: DisruptionBudget.minAvailable('50%') }),
      ["test/Model: 'disruptionBudget.minAvailable' value '50%' of 1 replica(s) rounds up to 1, so no pod can ever be evicted and node drains hang; "
        + 'use DisruptionBudget.maxUnavailable(1) or run at least 2 replicas']],
    ["no warning for minAvailable '50%' at 3 replicas",
      (c) => new ModelDeployment(c, 'Model', { name: 'recsys', image: IMAGE, replicas: 3, disruptionBudget: DisruptionBudget.minAvailable('50%') }), []],
    ['custom tolerations that drop the GPU toleration', (c) => new ModelDeployment(c, 'Model', {
      name: 'llm', image: IMAGE, resources: { gpus: 1 }, tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'ml', effect: 'NoSchedule' }],
    }), ["test/Model: 'tolerations' replace the default 'nvidia.com/gpu' toleration and none of them tolerates that taint, so the pods cannot land on "
      + "tainted GPU nodes; add { key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' } to 'tolerations'"]],
    ['no warning when the custom tolerations keep the GPU one', (c) => new ModelDeployment(c, 'Model', {
      name: 'llm', image: IMAGE, resources: { gpus: 1 }, tolerations: [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }],
    }), []],
    ['a 0Gi memory limit (unlimited)',
      (c) => new ModelDeployment(c, 'Model', { name: 'recsys', image: IMAGE, resources: { memory: { request: Size.gibibytes(0), limit: Size.gibibytes(0) } } }),
      ["test/Model: 'resources.memory.limit' value '0' means no limit at all, so one model can take the node's whole memory; give a real limit such as Size.gibibytes(2)"]],
    ['a 0 CPU limit (unlimited)',
      (c) => new ModelDeployment(c, 'Model', { name: 'recsys', image: IMAGE, resources: { cpu: { request: kplus.Cpu.millis(0), limit: kplus.Cpu.millis(0) } } }),
      ["test/Model: 'resources.cpu.limit' value '0' means no limit at all; give a real limit such as Cpu.units(2)"]],
    ['a scrape interval leaving fewer than two samples per SLO window', (c) => {
      const m = new ModelDeployment(c, 'Model', { name: 'recsys', image: IMAGE, slo: new Slo({ window: Duration.minutes(1) }) });
      new ModelMonitoring(c, 'Mon', { model: m, scrapeInterval: Duration.seconds(45) });
    }, ["test/Mon/Alerts: 'scrapeInterval' '45s' leaves fewer than two samples in the SLO window '1m', so the error-ratio and latency alerts can never fire; "
      + "scrape at most every '30s' or widen slo.window"]],
    ['a digest-only image under the updater (never updated)', (c) => new SelfHealingModelStack(c, 'S', {
      namespace: 'ml', registry: ModelRegistry.external({ host: 'registry.example.com' }), updater: {},
      model: { name: 'recsys', image: `registry.example.com/models/recsys@sha256:${'a'.repeat(64)}` },
    }), [`test/S/Updater: model 'recsys' image 'registry.example.com/models/recsys@sha256:${'a'.repeat(64)}' is pinned by digest alone, so the updater `
      + "can never move it (it follows tags); give the tag too, e.g. 'repo/model:1.4.0@sha256:…', or leave this model out of the updater"]],
  ];
  test.each(cases)('%s', (_name, f, expected) => {
    expect(W(f)).toEqual(expected);
  });
});

describe('synth: collisions and --strict', () => {
  const stack = (app: Construct, id: string, namespace: string) => new SelfHealingModelStack(app, id, {
    namespace, registry: ModelRegistry.external({ host: 'registry.example.com' }), model: { name: 'recsys', image: IMAGE },
  });
  test('throws if two stacks emit the same Deployment ml/recsys, naming both construct paths', async () => {
    await expect(synthesize((app) => ['a', 'b'].forEach((id) => stack(app, id, 'ml')))).rejects.toThrow(new Error(
      "Deployment ml/recsys is defined twice, by 'a/Model/Resource' and by 'b/Model/Resource'; each object must be unique per group, kind, namespace and name: "
      + 'give the second one another name (the model, registry or updater name of its stack) or put that stack in another namespace'));
  });
  test('two stacks in different namespaces are fine', async () => {
    const charts = await synthesize((app) => ['ml', 'ml-canary'].forEach((ns) => stack(app, ns, ns)));
    expect(charts.map((c) => c.id)).toEqual(['ml', 'ml-canary']);
  });
  test('--strict turns a warning into an error and writes nothing; without it the warning is printed and the files written', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelpilot-strict-'));
    try {
      const app = path.join(dir, 'app.js');
      fs.writeFileSync(app, `const { ModelRegistry, SelfHealingModelStack, DisruptionBudget } = require(${JSON.stringify(path.resolve(__dirname, '../../lib'))});
exports.build = (app) => new SelfHealingModelStack(app, 'm', { namespace: 'ml', registry: ModelRegistry.external({ host: 'registry.example.com' }),
  model: { name: 'recsys', image: '${IMAGE}', replicas: 1, disruptionBudget: DisruptionBudget.minAvailable('50%') } });`);
      const warning = "m/Model: 'disruptionBudget.minAvailable' value '50%' of 1 replica(s) rounds up to 1, so no pod can ever be evicted and node drains hang; "
        + 'use DisruptionBudget.maxUnavailable(1) or run at least 2 replicas';
      const strict = await capture(() => synth([app, '--out', path.join(dir, 'strict'), '--strict']));
      expect(strict.code).toBe(1);
      expect(strict.err).toBe(`modelpilot synth: error: ${warning}\nmodelpilot synth: 1 warning(s) and --strict; nothing written (fix them, or drop --strict to write anyway)\n`);
      expect(fs.existsSync(path.join(dir, 'strict'))).toBe(false);
      const loose = await capture(() => synth([app, '--out', path.join(dir, 'loose')]));
      expect(loose.code).toBe(0);
      expect(loose.err).toBe(`modelpilot synth: warning: ${warning}\n`);
      expect(fs.readdirSync(path.join(dir, 'loose')).sort()).toEqual(['SECRETS.md', 'm.yaml']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('CLI: a missing or malformed file is an error, named with the fix', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelpilot-cli-corpus-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('history: a missing --file exits 1 (not "no entries")', async () => {
    const r = await capture(() => history(['--file', `${dir}/audit.jsonl`]));
    expect(r).toEqual({
      code: 1, out: '', err: `modelpilot history: ${dir}/audit.jsonl does not exist; give the agent's audit log with --file <audit.jsonl> or --config <agent.yaml>\n`,
    });
  });
  test('history: --file naming a directory exits 1', async () => {
    const r = await capture(() => history(['--file', dir]));
    expect(r.code).toBe(1);
    expect(r.err).toBe(`modelpilot history: ${dir} is a directory; give the audit log file in it, e.g. --file ${dir}/audit.jsonl\n`);
  });
  test('history: lines of the wrong shape are named with file and line, and skipped', async () => {
    const lines = ['{"a":1}', '[1,2]', 'null'];
    fs.writeFileSync(`${dir}/audit.jsonl`, lines.join('\n') + '\n');
    const r = await capture(() => history(['--file', `${dir}/audit.jsonl`]));
    expect(r.code).toBe(1);
    expect(r.err.split('\n').filter(Boolean)).toEqual(lines.map((l, i) => `modelpilot history: ${dir}/audit.jsonl line ${i + 1} is not an audit entry (torn or corrupted), skipped: ${l}`));
  });
  test('quarantine list: a mistyped --state-dir exits 1', async () => {
    const r = await capture(() => quarantine(['list', '--state-dir', `${dir}/nope`]));
    expect(r.code).toBe(1);
    expect(r.err).toBe(`modelpilot quarantine: state directory '${dir}/nope' does not exist; give the agent's stateDir with --state-dir <dir> or --config <agent.yaml>\n`);
  });
  test.each([
    ['{"entries": [1]}', "entries[0] is 1, not an entry with a 'model' and a 'version'; restore the file from a backup or fix that entry by hand"],
    ['{"entries": [{"model": "recsys"}]}', "entries[0] is {\"model\":\"recsys\"}, not an entry with a 'model' and a 'version'; restore the file from a backup or fix that entry by hand"],
    ['{"entries": 5}', "has no 'entries' list; restore it from a backup or fix it by hand"],
  ])('quarantine list: a store holding %s is named, not a TypeError', async (body, message) => {
    fs.writeFileSync(`${dir}/quarantine.json`, body);
    const r = await capture(() => quarantine(['list', '--state-dir', dir]));
    expect(r.code).toBe(1);
    expect(r.err).toBe(`modelpilot quarantine: quarantine store '${dir}/quarantine.json' ${message}\n`);
  });

  test.each([
    [[], "'--namespace' is missing; give the stack's namespace, e.g. '--namespace ml'"],
    [['--namespace', 'ML'], "'--namespace' value 'ML' is not a Kubernetes name; use lowercase letters, digits and '-'"],
    [['--namespace', 'ml', '--port', '99999'], "'--port' value '99999' is out of range; give 1..65535, e.g. 5000"],
    [['--namespace', 'ml', '--user', 'a:b'], "'--user' value 'a:b' is not a user name; use letters, digits, '.', '_' and '-'"],
    [['--namespace', 'ml', '--host', 'https://r.example.com'], "'--host' value 'https://r.example.com' is not a host[:port]; give it without scheme, e.g. 'localhost:30500'"],
  ])('registry-credentials %j exits 2 naming the flag', async (argv, message) => {
    const r = await capture(() => registryCredentials(argv));
    expect(r.code).toBe(2);
    expect(r.err.split('\n')[0]).toBe(`modelpilot registry-credentials: ${message}`);
    expect(r.out).toBe('');
  });
});
