/**
 * The bad-input corpus, round 2 (#27), by class: construct inputs a real controller refuses or that can never
 * work (Argo Rollouts, Argo CD, KEDA, Prometheus URLs, Secret keys, registry ports), the compose bundle as a whole,
 * `registries.mirrors`, the key files `--check` loads, and the versions operators type. Each case has the outcome a
 * user must get — refused with this exact message, or accepted and correct (a check of what is rendered) — and is
 * asserted by test/bad-input/round2.test.ts. bench/bad-input-corpus.ts classifies the same cases without the
 * messages (refused / warning / accepted and correct / accepted and wrong) to count them before and after a change.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { App, Chart, Testing } from 'cdk8s';
import { checkRuntimePaths } from '../../agent/config';
import { run as quarantine } from '../../bin/commands/quarantine';
import {
  Autoscaling, Delivery, GitOpsApplication, KedaMetric, ModelRegistry, ModelUpdater, Receiver, SelfHealingModelStack, SelfHealingModelStackProps,
  singleHostBundle, warningsOf,
} from '../../lib';
import { parseConfig } from '../../lib/core/contract/agent-config';

/** What one case must give. */
export type Expected =
  | { readonly refused: string }
  | { readonly accepted: (result: unknown) => boolean; readonly what: string };

export interface Case {
  readonly kind: string;
  readonly name: string;
  /** Throws when refused; returns what was made (an app, a config, an exit code) otherwise. */
  readonly run: () => unknown | Promise<unknown>;
  readonly expected: Expected;
}

const IMAGE = 'registry.example.com/models/recsys:1.4.0';
const model = { name: 'recsys', image: IMAGE };

/** A stack on a fresh app; returns the app. */
function stack(props: Partial<SelfHealingModelStackProps>): App {
  const app = Testing.app();
  new SelfHealingModelStack(app, 'recsys', { namespace: 'ml', model, ...props } as SelfHealingModelStackProps);
  return app;
}

/** The objects of every chart of an app. */
function objects(app: unknown): Array<Record<string, any>> { // eslint-disable-line @typescript-eslint/no-explicit-any
  return (app as App).charts.flatMap((c) => c.toJson() as Array<Record<string, unknown>>);
}

function gitops(p: Record<string, unknown>): Chart {
  const chart = Testing.chart();
  new GitOpsApplication(chart, 'G', { repoURL: 'https://github.com/acme/ml.git', path: 'dist', namespace: 'ml', ...p });
  return chart;
}

function updater(p: Record<string, unknown>): Chart {
  const app = Testing.app();
  const s = new SelfHealingModelStack(app, 'recsys', { namespace: 'ml', model });
  new ModelUpdater(s, 'U2', { models: [s.model], ...p });
  return s;
}

function bundle(singleHost: Record<string, unknown>): Record<string, string> {
  const app = Testing.app();
  const s = new SelfHealingModelStack(app, 'recsys', {
    namespace: 'ml', model: { name: 'recsys', image: 'localhost:30500/models/recsys:1.4.0' }, registry: ModelRegistry.inCluster({ nodePort: 30500 }),
    monitoring: {}, updater: {},
  });
  return singleHostBundle(s, singleHost);
}

const config = (c: Record<string, unknown>) => parseConfig({ targets: { docker: {} }, ...c }, 'agent.yaml');

/** A directory with one file of `content`; returns its path. */
function fileWith(name: string, content: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelpilot-round2-'));
  const f = path.join(dir, name);
  fs.writeFileSync(f, content);
  return f;
}

/** The problems `agent --check` finds in a config naming these files. */
function checked(c: Record<string, unknown>): void {
  const problems = checkRuntimePaths(config({ stateDir: fs.mkdtempSync(path.join(os.tmpdir(), 'modelpilot-round2-state-')), ...c }));
  if (problems.length) throw new Error(problems.join('\n'));
}

/** Runs `modelpilot quarantine` in-process with its output swallowed; throws its stderr when it exits non-zero. */
async function quarantineCli(argv: string[]): Promise<number> {
  const state = fs.mkdtempSync(path.join(os.tmpdir(), 'modelpilot-round2-q-'));
  let err = '';
  const w = process.stderr.write.bind(process.stderr);
  const o = process.stdout.write.bind(process.stdout);
  process.stderr.write = ((s: string) => { err += s; return true; }) as typeof process.stderr.write;
  process.stdout.write = (() => true) as typeof process.stdout.write;
  try {
    const code = await quarantine([...argv, '--state-dir', state]);
    if (code !== 0) throw new Error(err.split('\n')[0]);
    return code;
  } finally {
    process.stderr.write = w;
    process.stdout.write = o;
  }
}

const PEM_NOTE = 'not a PEM key\n';
const ok = (what: string, accepted: (r: unknown) => boolean): Expected => ({ accepted, what });
const refused = (message: string): Expected => ({ refused: message });

export const CASES: readonly Case[] = [
  // --- Argo Rollouts (pkg/apis/rollouts/validation: invalidMaxSurgeMaxUnavailable) and what can never work
  { kind: 'Argo Rollouts', name: 'canary maxSurge 0 and maxUnavailable 0', run: () => Delivery.canary({ maxSurge: 0, maxUnavailable: 0 }),
    expected: refused("'delivery.maxSurge' value 0 and 'delivery.maxUnavailable' value 0 are both zero, so no pod could ever be replaced (Argo Rollouts marks such a Rollout InvalidSpec); give maxSurge at least 1 or '25%' (the default)") },
  { kind: 'Argo Rollouts', name: "canary maxSurge '0%' and maxUnavailable '0%'", run: () => Delivery.canary({ maxSurge: '0%', maxUnavailable: '0%' }),
    expected: refused("'delivery.maxSurge' value \"0%\" and 'delivery.maxUnavailable' value \"0%\" are both zero") },
  { kind: 'Argo Rollouts', name: 'canary without the stack\'s monitoring', run: () => stack({ delivery: Delivery.canary() }),
    expected: refused("'delivery' Delivery.canary() has no 'monitoring' section: its analysis counts the new version's requests by the label rollouts-pod-template-hash, which only the stack's monitor puts on the series, so every analysis would find no requests and abort; add 'monitoring: {}' (a ServiceMonitor/PodMonitor and the alerts) or use Delivery.rollingUpdate()") },
  { kind: 'Argo Rollouts', name: 'blue/green without the stack\'s monitoring', run: () => stack({ delivery: Delivery.blueGreen() }),
    expected: refused("'delivery' Delivery.blueGreen() has no 'monitoring' section") },
  { kind: 'Argo Rollouts', name: 'canary with monitoring and maxUnavailable 1, maxSurge 0', run: () => stack({ delivery: Delivery.canary({ maxSurge: 0, maxUnavailable: 1 }), monitoring: {} }),
    expected: ok('the Rollout keeps maxSurge 0 / maxUnavailable 1', (a) => objects(a).some((o) => o.kind === 'Rollout' && o.spec.strategy.canary.maxSurge === 0 && o.spec.strategy.canary.maxUnavailable === 1)) },
  { kind: 'Argo Rollouts', name: 'analysis Prometheus URL with a user and password',
    run: () => stack({ delivery: Delivery.canary({ analysis: { prometheusUrl: 'http://admin:pw@prom.monitoring.svc:9090' } }), monitoring: {} }),
    expected: refused("'delivery.analysis.prometheusUrl' value 'http://prom.monitoring.svc:9090' carries a user and password, which would be rendered in plain text; reach Prometheus without credentials (Argo Rollouts renders the address in the AnalysisTemplate), e.g. through an in-cluster Service") },
  { kind: 'Argo Rollouts', name: 'analysis Prometheus URL with a token parameter',
    run: () => stack({ delivery: Delivery.canary({ analysis: { prometheusUrl: 'https://prom.example.com/api?token=abc' } }), monitoring: {} }),
    expected: refused("'delivery.analysis.prometheusUrl' value 'https://prom.example.com/api' carries the credential parameter 'token', which would be rendered in plain text") },
  // --- Argo CD (an unknown sync option is ignored by the controller without a word)
  { kind: 'Argo CD', name: 'repoURL with a space', run: () => gitops({ repoURL: 'https://github.com/acme/ml platform.git' }),
    expected: refused("'gitops.repoURL' value 'https://github.com/acme/ml platform.git' holds white space, which no Git server's URL has; give e.g. 'https://github.com/acme/ml-platform.git'") },
  { kind: 'Argo CD', name: 'destination server that is not a URL', run: () => gitops({ destination: { server: 'kubernetes.default.svc' } }),
    expected: refused("'gitops.destination.server' value 'kubernetes.default.svc' is not an http(s) URL; use an http:// or https:// URL such as 'https://kubernetes.default.svc'") },
  { kind: 'Argo CD', name: 'destination server with credentials', run: () => gitops({ destination: { server: 'https://admin:pw@k8s.example.com' } }),
    expected: refused("'gitops.destination.server' value 'https://k8s.example.com' carries a user and password") },
  { kind: 'Argo CD', name: 'misspelled sync option', run: () => gitops({ syncOptions: ['ServerSideAply=true'] }),
    expected: refused("'gitops.syncOptions[0]' value \"ServerSideAply=true\" names no sync option Argo CD knows (it would be ignored); did you mean 'ServerSideApply=true'?") },
  { kind: 'Argo CD', name: 'sync option in the wrong case', run: () => gitops({ syncOptions: ['prunelast=true'] }),
    expected: refused("'gitops.syncOptions[0]' value \"prunelast=true\" names no sync option Argo CD knows (it would be ignored); did you mean 'PruneLast=true'?") },
  { kind: 'Argo CD', name: 'sync option without a value', run: () => gitops({ syncOptions: ['Validate'] }),
    expected: refused("'gitops.syncOptions[0]' value \"Validate\" is not a sync option; write it as Key=value, e.g. 'PruneLast=true'") },
  { kind: 'Argo CD', name: 'sync option value Argo CD does not act on', run: () => gitops({ syncOptions: ['Replace=yes'] }),
    expected: refused("'gitops.syncOptions[0]' value \"Replace=yes\" gives Replace a value Argo CD does not act on; give 'Replace=true' or 'Replace=false'") },
  { kind: 'Argo CD', name: 'contradictory sync options', run: () => gitops({ syncOptions: ['Validate=false', 'Validate=true'] }),
    expected: refused("'gitops.syncOptions[1]' value \"Validate=true\" contradicts 'Validate=false', given earlier; remove one of them") },
  { kind: 'Argo CD', name: "sync option against modelpilot's CreateNamespace", run: () => gitops({ syncOptions: ['CreateNamespace=false'] }),
    expected: refused("'gitops.syncOptions[0]' value \"CreateNamespace=false\" contradicts 'CreateNamespace=true', which modelpilot sets for this stack") },
  { kind: 'Argo CD', name: 'known sync options', run: () => gitops({ syncOptions: ['PruneLast=true', 'PrunePropagationPolicy=foreground'] }),
    expected: ok('rendered after modelpilot\'s own, once each', (c) => JSON.stringify((c as Chart).toJson()[0].spec.syncPolicy.syncOptions)
      === JSON.stringify(['CreateNamespace=true', 'ServerSideApply=true', 'PruneLast=true', 'PrunePropagationPolicy=foreground'])) },
  // --- KEDA and the other rendered URLs
  { kind: 'KEDA', name: 'Prometheus serverAddress with a user and password',
    run: () => stack({ model: { ...model, autoscaling: Autoscaling.keda({ maxReplicas: 4, metric: KedaMetric.requestsPerSecond(10), prometheusUrl: 'http://u:p@prom:9090' }) } }),
    expected: refused("'autoscaling.prometheusUrl' value 'http://prom:9090' carries a user and password, which would be rendered in plain text; remove them; KEDA's prometheus scaler takes credentials from a TriggerAuthentication, not from serverAddress") },
  { kind: 'KEDA', name: 'Prometheus serverAddress with an api_key parameter',
    run: () => stack({ model: { ...model, autoscaling: Autoscaling.keda({ maxReplicas: 4, metric: KedaMetric.requestsPerSecond(10), prometheusUrl: 'https://prom.example.com?api_key=x' }) } }),
    expected: refused("'autoscaling.prometheusUrl' value 'https://prom.example.com' carries the credential parameter 'api_key'") },
  { kind: 'KEDA', name: 'a model name whose HPA name KEDA refuses (keda-hpa-<name> over 63)',
    run: () => stack({ model: { name: 'm'.repeat(55), image: IMAGE, autoscaling: Autoscaling.keda({ maxReplicas: 4, metric: KedaMetric.requestsPerSecond(10) }) } }),
    expected: refused(`'model.name' value '${'m'.repeat(55)}' is 55 characters; with Autoscaling.keda() KEDA names its HPA 'keda-hpa-${'m'.repeat(55)}', longer than the 63 characters a label value may have, and refuses the ScaledObject; give a name of at most 54 characters`) },
  { kind: 'KEDA', name: 'a model name of 54 characters',
    run: () => stack({ model: { name: 'm'.repeat(54), image: IMAGE, autoscaling: Autoscaling.keda({ maxReplicas: 4, metric: KedaMetric.requestsPerSecond(10) }) } }),
    expected: ok('the ScaledObject is rendered', (a) => objects(a).some((o) => o.kind === 'ScaledObject' && o.metadata.name === 'm'.repeat(54))) },
  { kind: 'updater', name: 'updater Prometheus URL with credentials', run: () => stack({ updater: { prometheusUrl: 'http://admin:pw@prom:9090' } }),
    expected: refused("'prometheusUrl' value 'http://prom:9090' carries a user and password, which would be rendered in plain text; remove them (the URL is rendered into agent.yaml in plain text)") },
  { kind: 'registry', name: 'notification URL with credentials',
    run: () => stack({ registry: ModelRegistry.inCluster({ notifications: { url: 'http://bot:pw@updater.ml.svc:8080/webhooks/registry' } }) }),
    expected: refused("'registry.notifications.url' value 'http://updater.ml.svc:8080/webhooks/registry' carries a user and password, which would be rendered in plain text; remove them from the URL and give the token as 'bearerToken' (a Secret key)") },
  // --- Secret keys (the API server's IsConfigMapKey)
  { kind: 'Secret key', name: "receiver bearerToken key '..'", run: () => Receiver.webhook({ name: 'ops', url: 'https://hooks.example.com/a', bearerToken: { name: 'ops', key: '..' } }),
    expected: refused("receiver 'ops': 'bearerToken' value {\"name\":\"ops\",\"key\":\"..\"} has the key \"..\", which no Secret can have; use at most 253 letters, digits, '-', '_' and '.' (not '.' or '..'), e.g. 'token'") },
  { kind: 'Secret key', name: 'updater webhookHmacSecret key with a slash', run: () => updater({ name: 'u2', webhookHmacSecret: { name: 'hooks', key: 'hmac/key' } }),
    expected: refused("'webhookHmacSecret' value {\"name\":\"hooks\",\"key\":\"hmac/key\"} has the key \"hmac/key\", which no Secret can have") },
  { kind: 'Secret key', name: 'updater signing key with an empty key', run: () => updater({ name: 'u2', requireSignature: { publicKey: { name: 'cosign', key: '' } } }),
    expected: refused("'requireSignature.publicKey' value {\"name\":\"cosign\",\"key\":\"\"} has the key \"\", which no Secret can have") },
  { kind: 'Secret key', name: 'updater attest key in a Secret named in capitals', run: () => updater({ name: 'u2', attest: { environment: 'prod', privateKey: { name: 'Attest', key: 'key' } } }),
    expected: refused("'attest.privateKey' value {\"name\":\"Attest\",\"key\":\"key\"} has the Secret name \"Attest\", which no Secret can have") },
  { kind: 'Secret key', name: 'a key of 253 letters', run: () => Receiver.webhook({ name: 'ops', url: 'https://hooks.example.com/a', bearerToken: { name: 'ops', key: 'k'.repeat(253) } }),
    expected: ok('accepted (the longest key a Secret can have)', (r) => r instanceof Receiver) },
  // --- ports
  { kind: 'ports', name: 'image registry port 99999', run: () => stack({ model: { name: 'recsys', image: 'registry.example.com:99999/models/recsys:1.4.0' } }),
    expected: refused("'model.image' registry 'registry.example.com:99999' in 'registry.example.com:99999/models/recsys:1.4.0' has port 99999, which no registry can listen on; give a port from 1 to 65535, e.g. 'registry.example.com:5000'") },
  { kind: 'ports', name: 'image registry port 0', run: () => stack({ model: { name: 'recsys', image: 'localhost:0/models/recsys:1.4.0' } }),
    expected: refused("'model.image' registry 'localhost:0' in 'localhost:0/models/recsys:1.4.0' has port 0, which no registry can listen on") },
  { kind: 'ports', name: 'external registry host port 70000', run: () => ModelRegistry.external({ host: 'registry.example.com:70000' }),
    expected: refused("'registry.host' value 'registry.example.com:70000' has port 70000, which no registry can listen on; give a port from 1 to 65535, e.g. 'registry.example.com:5000'") },
  // --- the compose bundle as a whole
  { kind: 'compose', name: 'listen with a scheme', run: () => bundle({ listen: 'http://0.0.0.0:8080' }),
    expected: refused("'singleHost.listen' value 'http://0.0.0.0:8080' is not an address HAProxy can bind; write it as host:port without scheme, e.g. '0.0.0.0:8080'") },
  { kind: 'compose', name: 'listen on port 70000', run: () => bundle({ listen: '0.0.0.0:70000' }),
    expected: refused("'singleHost.listen' value '0.0.0.0:70000' has port 70000; give a port between 1 and 65535") },
  { kind: 'compose', name: 'runtime API on every address', run: () => bundle({ proxyAdmin: ':9999' }),
    expected: refused("'singleHost.proxyAdmin' value ':9999' listens on every address") },
  { kind: 'compose', name: 'relative Docker socket', run: () => bundle({ dockerSocket: './docker.sock' }),
    expected: refused("'singleHost.dockerSocket' value './docker.sock' is not an absolute path") },
  { kind: 'compose', name: 'agent and Alertmanager on one port', run: () => bundle({ agentPort: 9093 }),
    expected: refused("'singleHost.agentPort' and 'singleHost.alertmanagerPort' both use port 9093 of the host; every service of the bundle runs on the host network, so the second could not start: give each its own port") },
  { kind: 'compose', name: 'Prometheus on the registry port', run: () => bundle({ prometheusPort: 30500 }),
    expected: refused("'singleHost.registry port (from its host)' and 'singleHost.prometheusPort' both use port 30500 of the host") },
  { kind: 'compose', name: 'listen on IPv6 any', run: () => bundle({ listen: '[::]:8080' }),
    expected: ok("haproxy.cfg binds '[::]:8080'", (f) => (f as Record<string, string>)['haproxy.cfg'].includes('bind [::]:8080')) },
  // --- registries.mirrors and insecure
  { kind: 'mirrors', name: 'a mirror key with a scheme, capitals and a path', run: () => config({ registries: { mirrors: { 'HTTP://LocalHost:30500/v2/': 'model-registry.ml.svc:5000' } } }),
    expected: ok("keyed 'localhost:30500', as image hosts are", (c) => JSON.stringify((c as ReturnType<typeof config>).registries.mirrors) === JSON.stringify({ 'localhost:30500': 'model-registry.ml.svc:5000' })) },
  { kind: 'mirrors', name: 'two mirror keys for one host', run: () => config({ registries: { mirrors: { 'localhost:30500': 'a.svc:5000', 'https://LOCALHOST:30500': 'b.svc:5000' } } }),
    expected: refused("'registries.mirrors.https://LOCALHOST:30500' value 'b.svc:5000' names the same image host as 'localhost:30500' ('localhost:30500'); keep one of them") },
  { kind: 'mirrors', name: 'a mirror on port 70000', run: () => config({ registries: { mirrors: { 'localhost:30500': 'model-registry.ml.svc:70000' } } }),
    expected: refused("'registries.mirrors.localhost:30500' value 'model-registry.ml.svc:70000' has a port out of range; give a port between 1 and 65535") },
  { kind: 'mirrors', name: 'an insecure entry with a scheme', run: () => config({ registries: { insecure: ['http://Registry.Internal:5000'] } }),
    expected: ok("normalised to 'registry.internal:5000'", (c) => (c as ReturnType<typeof config>).registries.insecure[0] === 'registry.internal:5000') },
  // --- the files --check loads as the agent will
  { kind: 'key files', name: 'a signature key that is not PEM', run: () => checked({ requireSignature: { publicKeyFiles: [fileWith('cosign.pub', PEM_NOTE)] } }),
    expected: refused("'requireSignature.publicKeyFiles[0]': '") },
  { kind: 'key files', name: 'an attest private key that is not PEM', run: () => checked({ attest: { environment: 'prod', privateKeyFile: fileWith('attest.key', PEM_NOTE) } }),
    expected: refused("'attest.privateKeyFile': '") },
  { kind: 'key files', name: 'a docker config that is not JSON', run: () => checked({ registries: { dockerConfig: fileWith('config.json', 'auths: {}\n') } }),
    expected: refused("'registries.dockerConfig': docker config '") },
  { kind: 'key files', name: 'a bearer token "file" that is a device', run: () => checked({ webhooks: { bearerTokenFile: '/dev/zero' } }),
    expected: refused("'webhooks.bearerTokenFile' value '/dev/zero' is a character device, not a file; point it at a file holding the bearer token (mount the Secret there)") },
  // --- versions operators type
  { kind: 'versions', name: "quarantine add 'notaversion'", run: () => quarantineCli(['add', 'recsys', 'notaversion', '--reason', 'bad']),
    expected: refused("modelpilot quarantine: version 'notaversion' is not a version the agent applies; give a semantic version tag such as '1.3.0' (or '<tag>@sha256:<digest>' for a model under the digest policy)") },
  { kind: 'versions', name: "quarantine add '1.3'", run: () => quarantineCli(['add', 'recsys', '1.3', '--reason', 'bad']),
    expected: refused("modelpilot quarantine: version '1.3' is a partial version; the agent reads only full semantic versions: give '1.3.0'") },
  { kind: 'versions', name: "quarantine add '1.3.0 ' (trailing space)", run: () => quarantineCli(['add', 'recsys', '1.3.0 ', '--reason', 'bad']),
    expected: refused("modelpilot quarantine: version '1.3.0 ' has leading or trailing spaces, so it never matches a tag") },
  { kind: 'versions', name: 'quarantine add a digest-policy key', run: () => quarantineCli(['add', 'recsys', `stable@sha256:${'ab'.repeat(32)}`, '--reason', 'bad']),
    expected: ok('added (exit 0)', (code) => code === 0) },
];

/** The outcome of a case without its message: what a user got. */
export type Outcome = 'refused' | 'warning' | 'accepted and correct' | 'accepted and wrong';

/** Runs a case and classifies what happened (bench/bad-input-corpus.ts counts these before and after). */
export async function classify(c: Case): Promise<{ outcome: Outcome; message?: string }> {
  let result: unknown;
  try {
    result = await c.run();
  } catch (e) {
    return { outcome: 'refused', message: (e as Error).message };
  }
  const scope = result instanceof App ? result : result instanceof Chart ? result : undefined;
  const warnings = scope ? warningsOf(scope) : [];
  if (warnings.length) return { outcome: 'warning', message: warnings.map((w) => w.message).join('; ') };
  if ('accepted' in c.expected) return { outcome: c.expected.accepted(result) ? 'accepted and correct' : 'accepted and wrong' };
  return { outcome: 'accepted and wrong' };
}
