/**
 * The agent's configuration schema (`agent.yaml`): the contract between the `ModelUpdater` construct, which renders
 * and validates the config it writes, and the agent, which validates it again when it starts — the same rules in
 * both places. No file I/O here: `agent/config.ts` reads the file.
 *
 * Durations are strings (`30s`, `5m`, `1h30m`) read with {@link parseDuration}; policies are the text form of
 * {@link UpdatePolicy.parse}; the SLO fields are those of {@link Slo}. Every error names the key path, the value and
 * the fix.
 */
import * as path from 'path';
import { z } from 'zod';
import { closestName } from '../closest-name';
import { parseDuration } from '../duration';
import { ImageRef, normalizeRegistryHost } from '../image-ref';
import { formatKeyPath, valueAt } from '../key-path';
import { ModelServer, ModelServerProps } from '../model-server';
import { QUALITY_METRICS, QualitySettings, thresholdProblem } from '../quality';
import { scheduleProblem } from '../schedule';
import { Slo } from '../slo';
import { UpdatePolicy } from '../update-policy';
import {
  duration, environmentName, hostPort, httpUrl, MAX_TIMER_MS, MLFLOW_FIELDS, nonEmpty, positiveInt, size, timeout,
} from './fields';
import { INCONCLUSIVE_MODES, MANAGED_SELECTOR } from './names';
import { AUDIT_LOG_FILE, DEFAULT_STATE_DIR } from './paths';

export { MAX_TIMER_MS };

// ---------------------------------------------------------------------------------------------------------------
// Sections
// ---------------------------------------------------------------------------------------------------------------

const dockerTargetSchema = z.strictObject({
  /** Unix socket of the Docker Engine API (Docker or Podman's compatible service). */
  socket: nonEmpty("a unix socket path such as '/var/run/docker.sock'").default('/var/run/docker.sock'),
  /** Only containers labelled `modelpilot.scope=<scope>` are watched; omit to watch every `modelpilot.enable=true` one. */
  scope: nonEmpty('a scope name such as \'prod\'').optional(),
  /** Also update containers that are restarting. */
  includeRestarting: z.boolean({ error: 'must be true or false' }).default(false),
  /** Watchtower's `cleanup`: remove the replaced image once the new version is promoted (never one still in use). */
  cleanup: z.boolean({ error: 'must be true or false' }).default(false),
  /** How long a container gets to stop before it is killed. */
  stopTimeout: duration().default(parseDuration('10s')),
  /**
   * Zero-downtime blue/green for containers labelled `modelpilot.proxy.backend` and `modelpilot.proxy.ports`: the
   * new version starts on the other port beside the old one and traffic moves through HAProxy's runtime API.
   */
  proxy: z.strictObject({
    /** HAProxy's runtime API: `host:port` or a unix socket path (`stats socket … level admin` in haproxy.cfg). */
    haproxy: nonEmpty("the runtime API address such as '127.0.0.1:9999' or '/run/haproxy/admin.sock'").refine(
      (a) => a.startsWith('/') || /^\[?[^\]\s]+\]?:\d{1,5}$/.test(a),
      { error: "must be host:port such as '127.0.0.1:9999' or an absolute unix socket path such as '/run/haproxy/admin.sock'" },
    ),
    /** Longest wait for the requests in progress on the old version after it leaves rotation (then it is stopped). */
    drainTimeout: duration().default(parseDuration('30s')),
    /**
     * HAProxy's `server-state-file` (haproxy.cfg `load-server-state-from-file global`, a path both can reach): the
     * agent writes the rotation it decided there after every change, so an HAProxy restarted mid-update comes back
     * with it (a rejected version stays out of rotation) instead of the config's defaults.
     */
    stateFile: nonEmpty("an absolute path such as '/var/lib/modelpilot/haproxy/server-state'").refine((p) => p.startsWith('/'),
      { error: "must be an absolute path such as '/var/lib/modelpilot/haproxy/server-state'" }).optional(),
  }, { error: "must be a map such as { haproxy: '127.0.0.1:9999' }" }).optional(),
});

const kubernetesTargetSchema = z.strictObject({
  /** Namespace of the Deployments. */
  namespace: nonEmpty("a namespace such as 'ml'").default('default'),
  /** Label selector of the Deployments to own (`modelpilot.dev/managed=true` by default). */
  labelSelector: nonEmpty("a label selector such as 'modelpilot.dev/managed=true'").optional(),
  /** Explicit Deployment names instead of a selector. */
  deployments: z.array(nonEmpty('a Deployment name'), { error: 'must be a list of Deployment names' }).min(1, { error: 'must not be empty; list at least one Deployment or use labelSelector' }).optional(),
  /** Path of a kubeconfig file; omit to use the in-cluster service account. */
  kubeconfig: nonEmpty('a kubeconfig path').optional(),
  /** Use the in-cluster service account (the default when no kubeconfig is given). */
  inCluster: z.boolean({ error: 'must be true or false' }).optional(),
  /** Name of the model container in each Pod; omit when the Pods have a single container. */
  container: nonEmpty("a container name such as 'model'").optional(),
}).superRefine((k, ctx) => {
  if (k.labelSelector !== undefined && k.deployments !== undefined) {
    ctx.issues.push({ code: 'custom', input: k.deployments, path: ['deployments'], message: 'cannot be combined with labelSelector; give one of them' });
  }
  if (k.inCluster === true && k.kubeconfig !== undefined) {
    ctx.issues.push({ code: 'custom', input: k.kubeconfig, path: ['kubeconfig'], message: 'cannot be combined with inCluster: true; remove one of them' });
  }
}).transform((k) => ({
  ...k,
  labelSelector: k.deployments === undefined ? (k.labelSelector ?? MANAGED_SELECTOR) : undefined,
  inCluster: k.inCluster ?? k.kubeconfig === undefined,
}));

const targetsSchema = z.strictObject({
  docker: dockerTargetSchema.optional(),
  kubernetes: kubernetesTargetSchema.optional(),
}, { error: 'must be a map with a docker and/or kubernetes section' }).refine((t) => t.docker !== undefined || t.kubernetes !== undefined, {
  error: "names no target; add 'docker: {}' or 'kubernetes: {}'",
});

const sloSchema = z.strictObject({
  maxErrorRatio: z.number({ error: 'must be a ratio such as 0.05' }).optional(),
  window: duration().optional(),
  maxP99Latency: duration().optional(),
  maxFailedScrapes: z.number({ error: 'must be a whole number such as 3' }).optional(),
  minRequestRate: z.number({ error: 'must be requests per second, such as 0.1' }).optional(),
  metrics: z.strictObject({
    requestTotal: z.string().optional(),
    inferenceSeconds: z.string().optional(),
  }).optional(),
  /** The model server's metric shapes (ModelServer's JSON form; `modelpilot synth` writes it from the stack). */
  server: z.record(z.string(), z.unknown(), { error: "must be a model server profile, as 'modelpilot synth' writes it" }).optional(),
  /** LLM objectives (servers that export them). */
  maxP99TimeToFirstToken: duration().optional(),
  maxP99TimePerOutputToken: duration().optional(),
  maxP99QueueTime: duration().optional(),
  minTokensPerSecond: z.number({ error: 'must be tokens per second, such as 20' }).optional(),
  /** The relative gate: the new version against the one it replaces, in the same window (see Slo's RelativeSlo). */
  relative: z.strictObject({
    maxErrorRatioFactor: z.number({ error: 'must be a factor such as 1.5' }).optional(),
    maxP99Factor: z.number({ error: 'must be a factor such as 1.5' }).optional(),
  }).optional(),
}).transform((s, ctx) => {
  try {
    return new Slo({ ...s, server: s.server ? ModelServer.fromJSON(s.server as unknown as ModelServerProps) : undefined });
  } catch (e) {
    // Slo names its own field as `slo.<key>` (its server's as `server.<key>`); re-issue it at the right path with the value it quoted.
    const msg = (e as Error).message.replace(/^'server\./, "'slo.server.");
    const m = /^'slo\.([\w.]+)' value (.+?) ((?:is|must|names|renames) .*)$/.exec(msg);
    if (m) ctx.issues.push({ code: 'custom', input: valueAt(s, m[1].split('.')), path: m[1].split('.'), message: m[3] });
    else ctx.issues.push({ code: 'custom', input: s, message: msg });
    return z.NEVER;
  }
});

/** Signature verification of the versions to roll out (cosign, key-based). */
const signatureSchema = z.strictObject({
  /** PEM public keys (the `cosign.pub` of `cosign generate-key-pair`); a version goes only when one of them signed its digest. */
  publicKeyFiles: z.array(nonEmpty("a path such as '/etc/modelpilot/cosign.pub'"), { error: "must be a list of PEM public key files such as ['/etc/modelpilot/cosign.pub']" })
    .min(1, { error: "needs at least one public key file, e.g. ['/etc/modelpilot/cosign.pub']" }),
});

/** Environments whose signed proof of promotion a version needs before this agent takes it. */
const requireVerifiedInSchema = z.array(environmentName("an environment such as 'staging'"), {
  error: "must be a list of environments such as ['staging']",
}).min(1, { error: "names no environment; give one such as ['staging'], or remove it" });

/** This agent's proof of promotion: after each promotion it writes a signed attestation of it to the registry. */
const attestSchema = z.strictObject({
  /** The environment this agent serves, named in its attestations (what `requireVerifiedIn` asks for). */
  environment: environmentName("this agent's environment, such as 'staging'"),
  /** PEM private key (EC P-256, Ed25519 or RSA; unencrypted) the attestations are signed with. */
  privateKeyFile: nonEmpty("a path such as '/etc/modelpilot/attest/attest.key'"),
});

/** Per environment, the public keys of its agent's attestations. */
const trustedEnvironmentsSchema = z.record(environmentName("an environment such as 'staging'"), z.strictObject({
  /** PEM public keys of that environment's agent (`attest.privateKeyFile`'s public half). */
  publicKeyFiles: z.array(nonEmpty("a path such as '/etc/modelpilot/trust/staging.pub'"), {
    error: "must be a list of PEM public key files such as ['/etc/modelpilot/trust/staging.pub']",
  }).min(1, { error: "needs at least one public key file, e.g. ['/etc/modelpilot/trust/staging.pub']" }),
}), { error: "must map environments to their keys, e.g. { staging: { publicKeyFiles: ['/etc/modelpilot/trust/staging.pub'] } }" });

/** How an image follows a model in MLflow's Model Registry. */
const imageMlflowSchema = z.strictObject({
  registeredModel: MLFLOW_FIELDS.registeredModel,
  alias: MLFLOW_FIELDS.alias.optional(),
  imageTag: MLFLOW_FIELDS.imageTag.default('{version}'),
  digestTag: MLFLOW_FIELDS.digestTag.optional(),
});

/** The quality gate of an image: a golden set replayed against the new version before it takes traffic (lib/core/quality.ts). */
const qualitySchema = z.strictObject({
  /** The golden set (JSON lines) as the agent reads it: a file the agent's image or a volume ships. */
  goldenSet: nonEmpty("an absolute path such as '/etc/modelpilot/golden/churn.jsonl'").refine((p) => p.startsWith('/'),
    { error: "must be an absolute path such as '/etc/modelpilot/golden/churn.jsonl'" }),
  metric: z.enum(QUALITY_METRICS, { error: `must be one of ${QUALITY_METRICS.map((m) => `'${m}'`).join(', ')}` }).default('accuracy'),
  /** accuracy/agreement: the lowest acceptable ratio, e.g. 0.7; maxAbsoluteError: the largest acceptable error. */
  threshold: z.number({ error: 'must be a number such as 0.7 (accuracy) or 0.05 (maxAbsoluteError)' }),
  /** Where the answer is in the response body, a dotted path. */
  prediction: nonEmpty("a dotted path such as 'prediction.label'").default('prediction'),
  /** The request's path on the model server. */
  path: nonEmpty("a path such as '/predict'").refine((p) => p.startsWith('/'), { error: "must start with '/', such as '/predict'" }).default('/predict'),
  /** Fewest samples a verdict needs. */
  minSamples: positiveInt('a number of samples such as 100').default(30),
  /** Requests in flight at once. */
  concurrency: positiveInt('a number of requests such as 4').default(4),
  /** Longest one request may take. */
  timeout: timeout().default(parseDuration('5s')),
}).superRefine((q, ctx) => {
  const bad = thresholdProblem(q.metric, q.threshold);
  if (bad) ctx.issues.push({ code: 'custom', input: q.threshold, path: ['threshold'], message: bad });
}).transform((q): QualitySettings => ({
  goldenSet: q.goldenSet, metric: q.metric, threshold: q.threshold, prediction: q.prediction, path: q.path,
  minSamples: q.minSamples, concurrency: q.concurrency, timeoutMs: q.timeout.toMilliseconds(),
}));

const imageSchema = z.strictObject({
  /** `registry/repository`, without tag, e.g. `127.0.0.1:5000/models/recsys`. */
  repository: nonEmpty("a repository such as '127.0.0.1:5000/models/recsys'").transform((text, ctx) => {
    const ref = ImageRef.tryParse(text, { allowMutableTag: true });
    if (!ref || ref.tag !== undefined || ref.digest !== undefined) {
      ctx.issues.push({ code: 'custom', input: text, message: "is not a repository; write 'registry/repository' without tag or digest, e.g. '127.0.0.1:5000/models/recsys'" });
      return z.NEVER;
    }
    return ref.name;
  }),
  /** The model name (the `model` label of its metrics); default: the last path component of the repository. */
  model: nonEmpty("a model name such as 'recsys'").optional(),
  /** Update policy text (`semver:minor`, `pinned`, `digest`, …); default: what the workload's label/annotation says. */
  policy: z.string({ error: "must be a policy such as 'semver:minor'" }).transform((text, ctx) => {
    try {
      return UpdatePolicy.parse(text);
    } catch {
      ctx.issues.push({ code: 'custom', input: text, message: "is not a policy; use 'semver:patch', 'semver:minor', 'semver:major' (optionally '+prerelease'), 'pinned' or 'digest'" });
      return z.NEVER;
    }
  }).optional(),
  /** How often the registry is asked for new tags; default: the top-level `pollInterval`. */
  pollInterval: duration({ ms: 1000, text: '1s' }).optional(),
  /**
   * A version younger than this waits (from its image config's `created`, else the time the agent first saw it):
   * a freshly pushed — possibly compromised — image is not rolled out at once. Default: the top-level `minImageAge`.
   */
  minImageAge: duration().optional(),
  /** Roll out only versions signed by one of these keys; default: the top-level `requireSignature`. */
  requireSignature: signatureSchema.optional(),
  /** Roll out only digests these environments' agents promoted (signed proof); default: the top-level `requireVerifiedIn`. */
  requireVerifiedIn: requireVerifiedInSchema.optional(),
  /** Follow a model in MLflow's Model Registry (its alias or latest version) instead of the newest tag; needs the top-level `mlflow`. */
  mlflow: imageMlflowSchema.optional(),
  /** Consider pre-release versions (`1.3.0-rc.1`). */
  prerelease: z.boolean({ error: 'must be true or false' }).default(false),
  /** This model's SLO for the health gate; default: `health.slo`. */
  slo: sloSchema.optional(),
  /** The quality gate: a golden set replayed against each new version before it takes users' traffic. */
  quality: qualitySchema.optional(),
}).transform((i) => {
  let policy = i.policy;
  if (policy && i.prerelease && policy.kind === 'semver' && !policy.includePrerelease) {
    policy = UpdatePolicy.semver(policy.level!, { includePrerelease: true });
  }
  return { ...i, policy, model: i.model ?? i.repository.split('/').pop()! };
});

const registriesSchema = z.strictObject({
  /**
   * Registries reached over plain HTTP (`host:port`). An entry may name the image's host or the mirror the agent
   * contacts for it (`mirrors`): either makes the agent speak plain HTTP to that mirror.
   */
  insecure: z.array(nonEmpty("a registry host such as '127.0.0.1:5000'"), { error: "must be a list of registry hosts such as ['127.0.0.1:5000']" })
    .default([]).transform((l) => l.map(normalizeRegistryHost)),
  /** A docker `config.json` holding basic-auth credentials (`auths`). */
  dockerConfig: nonEmpty("a path such as '/root/.docker/config.json'").optional(),
  /**
   * Registry hosts the agent reaches at another address: images say `localhost:30500` (what the nodes pull through a
   * NodePort), the agent in its pod talks to `model-registry.ml.svc:5000`. Credentials stay keyed by the image's host.
   */
  mirrors: z.record(
    nonEmpty("a registry host such as 'localhost:30500'"),
    z.string({ error: "must be a registry host such as 'model-registry.ml.svc:5000'" }).regex(/^[a-z0-9.-]+(:\d{1,5})?$/i, {
      error: "is not a host[:port]; give it without scheme or path, such as 'model-registry.ml.svc:5000'",
    }).refine((h) => !/:\d+$/.test(h) || (Number(h.split(':')[1]) >= 1 && Number(h.split(':')[1]) <= 65535), {
      error: 'has a port out of range; give a port between 1 and 65535',
    }),
    { error: "must map image hosts to the hosts the agent reaches, e.g. { 'localhost:30500': 'model-registry.ml.svc:5000' }" },
  ).default({}).superRefine((m, ctx) => {
    // keys are image hosts, normalised as image references are (case, scheme, path): two that normalise alike conflict
    const seen = new Map<string, string>();
    for (const k of Object.keys(m)) {
      const n = normalizeRegistryHost(k);
      const other = seen.get(n);
      if (other !== undefined) {
        ctx.addIssue({ code: 'custom', path: [k], message: `names the same image host as '${other}' ('${n}'); keep one of them` });
      }
      seen.set(n, k);
    }
  }).transform((m) => Object.fromEntries(Object.entries(m).map(([k, v]) => [normalizeRegistryHost(k), v.toLowerCase()]))),
  /** Most requests per second sent to any one registry. */
  rateLimit: z.number({ error: 'must be requests per second, such as 10' }).positive({ error: 'must be more than 0 requests per second' }).default(10),
  /** Longest a request may take. */
  requestTimeout: timeout().default(parseDuration('30s')),
  /**
   * How long a repository's tag list is reused without asking the registry (0: ask every poll, conditionally with
   * `If-None-Match` where the registry sends an ETag). A webhook-triggered check always asks the registry, so a
   * push announced by a webhook is seen at once; only polls reuse the list.
   */
  tagsCacheTtl: duration().default(parseDuration('0s')),
});

const probeSchema = z.strictObject({
  /** URL of the synthetic request (on 127.0.0.1 or the service), e.g. `http://127.0.0.1:8080/v1/predict`. */
  url: httpUrl('http://127.0.0.1:8080/v1/predict'),
  method: z.enum(['GET', 'POST', 'PUT'], { error: "must be one of 'GET', 'POST', 'PUT'" }).default('GET'),
  body: z.string({ error: 'must be a string (JSON text for a JSON API)' }).optional(),
  headers: z.record(z.string(), z.string(), { error: 'must be a map of header names to strings' }).default({}),
  /** Requests to send. */
  count: positiveInt('a number of requests such as 20').default(20),
  /** Pause between requests. */
  interval: duration().default(parseDuration('250ms')),
  /** Most tolerated ratio of failed (non-2xx or timed-out) requests; default: the SLO's error ratio. */
  maxFailureRatio: z.number({ error: 'must be a ratio such as 0.05' }).min(0, { error: 'must be between 0 and 1' }).max(1, { error: 'must be between 0 and 1' }).optional(),
  /** Per-request timeout. */
  timeout: timeout().default(parseDuration('5s')),
});

const healthSchema = z.strictObject({
  /** How long the new version may take to become ready (container health / rollout status). */
  readinessTimeout: timeout().default(parseDuration('2m')),
  /** How long the SLO is watched after readiness before a verdict. `0s` skips the bake (readiness only). */
  bakeWindow: duration().default(parseDuration('5m')),
  /** How often Prometheus is asked during the bake window. */
  queryInterval: duration({ ms: 100, text: '100ms' }).default(parseDuration('15s')),
  /**
   * The shortest time the new version must keep running after readiness (no exit, no restart, no OOM kill) before
   * it may be promoted; the target's own state is watched for the longer of this and the bake window.
   */
  runningGrace: duration().default(parseDuration('10s')),
  /** How often the target's state (containers, pods) is read during the bake window. */
  watchInterval: duration({ ms: 100, text: '100ms' }).default(parseDuration('1s')),
  /**
   * Confidence of the error-ratio verdict: with k errors in n requests the version is judged broken only when the
   * Wilson lower bound exceeds the ceiling, healthy only when the upper bound is below it; otherwise sampling goes on.
   */
  confidence: z.number({ error: 'must be a probability such as 0.95' }).min(0.5, { error: 'must be between 0.5 and 0.999' }).max(0.999, { error: 'must be between 0.5 and 0.999' }).default(0.95),
  /** Prometheus base URL; without it the SLO check is Inconclusive and `inconclusive` decides. */
  prometheus: z.strictObject({
    url: httpUrl('http://prometheus:9090'),
    timeout: timeout().default(parseDuration('10s')),
    /** Extra label matchers for the SLO queries, e.g. `{ namespace: 'ml' }`. */
    labels: z.record(z.string(), z.string(), { error: 'must be a map of label names to values' }).default({}),
    /**
     * Scope the SLO queries to the workload being judged with the labels the target knows (Kubernetes: namespace and
     * pod; Docker: the `modelpilot.metrics.selector` label, else the scrape instance's port). Turn off only when
     * your Prometheus has none of those labels.
     */
    scopeToWorkload: z.boolean({ error: 'must be true or false' }).default(true),
  }).optional(),
  /** The default SLO (per-image `slo` overrides it). */
  slo: sloSchema.default(Slo.DEFAULT),
  /** What to do when the SLO check cannot decide (no traffic, Prometheus unreachable). Never promotes silently. */
  inconclusive: z.enum(INCONCLUSIVE_MODES, { error: `must be one of ${INCONCLUSIVE_MODES.map((m) => `'${m}'`).join(', ')}` }).default('hold'),
  /** The synthetic requests sent when `inconclusive: probe`. */
  probe: probeSchema.optional(),
}).superRefine((h, ctx) => {
  if (h.inconclusive === 'probe' && h.probe === undefined) {
    ctx.issues.push({ code: 'custom', input: h.inconclusive, path: ['inconclusive'], message: "needs a 'health.probe' section with at least a url; add one or choose 'hold' or 'rollback'" });
  }
});

const rollbackSchema = z.strictObject({
  /** Attempts to roll out one version (and to restore the previous one) before giving up. */
  maxAttempts: positiveInt('a number of attempts such as 3').default(3),
  /**
   * Cycles in which every apply of one version may fail (e.g. its pull always fails) before the version is
   * quarantined; between those cycles it waits `backoff`, doubling per failed cycle.
   */
  failureBudget: positiveInt('a number of cycles such as 3').default(3),
  /**
   * Restarts of a dead current version (Docker) before it is treated as failing: rolled back to the version it
   * replaced, when the audit log knows it, and quarantined.
   */
  maxRestarts: positiveInt('a number of restarts such as 3').default(3),
  /**
   * How long after its promotion a version is watched: its restarts (by the engine's restart policy or the
   * kubelet), exits and OOM kills are read every cycle, and `maxRestarts` of them (or one OOM kill) roll it back to
   * the version it replaced and quarantine it. '0s' turns the watch off.
   */
  watchAfterPromotion: duration().default(parseDuration('15m')),
  /** Longest one attempt (apply + readiness) may take. */
  attemptTimeout: duration({ ms: 1000, text: '1s' }).default(parseDuration('30s')),
  backoff: z.strictObject({
    initial: duration().default(parseDuration('1s')),
    max: duration().default(parseDuration('1m')),
    factor: z.number({ error: 'must be a number such as 2' }).min(1, { error: 'must be at least 1' }).default(2),
  }).default({ initial: parseDuration('1s'), max: parseDuration('1m'), factor: 2 }),
}).superRefine((r, ctx) => {
  if (r.backoff.max.toMilliseconds() < r.backoff.initial.toMilliseconds()) {
    ctx.issues.push({ code: 'custom', input: undefined, path: ['backoff', 'max'], message: 'is shorter than backoff.initial; make max at least as long as initial' });
  }
});

const webhooksSchema = z.strictObject({
  /** Where the one HTTP server listens (webhooks, /healthz, /metrics). */
  listen: hostPort.default('0.0.0.0:8080'),
  /** File holding the bearer token (`Authorization: Bearer <token>`). */
  bearerTokenFile: nonEmpty('a file path').optional(),
  /** File holding the HMAC-SHA256 secret (`X-Modelpilot-Signature: sha256=<hex of "<X-Modelpilot-Timestamp>.<body>">`). */
  hmacSecretFile: nonEmpty('a file path').optional(),
  /** Largest accepted request body. */
  bodyLimit: size.refine((v) => v <= 16 * 1024 * 1024, { error: 'is above the maximum of 16MiB; webhook payloads are a few KiB, so keep the default 1MiB' }).default(1024 * 1024),
  /** Turn the webhook endpoints off (the server still serves /healthz and /metrics). */
  enabled: z.boolean({ error: 'must be true or false' }).default(true),
}).superRefine((w, ctx) => {
  if (w.enabled && w.bearerTokenFile === undefined && w.hmacSecretFile === undefined) {
    ctx.issues.push({ code: 'custom', input: undefined, path: ['bearerTokenFile'], message: 'is missing: every webhook must be authenticated; give bearerTokenFile and/or hmacSecretFile, or set enabled: false' });
  }
});

/** The schema of `agent.yaml`. */
export const agentConfigSchema = z.strictObject({
  targets: targetsSchema,
  images: z.array(imageSchema, { error: 'must be a list of images' }).default([]),
  /** Default poll interval of every image. */
  pollInterval: duration({ ms: 1000, text: '1s' }).default(parseDuration('5m')),
  /**
   * Watchtower's `schedule`: a 6-field cron expression (seconds first) at which every image is checked, instead of
   * the poll interval's ticks (webhooks still act at once).
   */
  schedule: z.string({ error: "must be a cron expression such as '0 0 4 * * *'" }).superRefine((expr, ctx) => {
    const problem = scheduleProblem(expr);
    if (problem) ctx.issues.push({ code: 'custom', input: expr, message: problem });
  }).optional(),
  /** Watchtower's `monitorOnly`: find newer versions, audit and alert them, change nothing. */
  monitorOnly: z.boolean({ error: 'must be true or false' }).default(false),
  /** Watchtower's `runOnce`: one cycle, then exit (0 when it had no failures); also `modelpilot agent --run-once`. */
  runOnce: z.boolean({ error: 'must be true or false' }).default(false),
  /** Default minimum image age of every image (0: a version is taken as soon as it is seen). */
  minImageAge: duration().default(parseDuration('0s')),
  /** Every image: roll out only versions with a valid cosign signature by one of these keys (unsigned: refused, audited, alerted). */
  requireSignature: signatureSchema.optional(),
  /**
   * Every image: roll out only digests that these environments' agents promoted — an attestation in the registry
   * signed by a key of `trustedEnvironments.<environment>` (a production agent: `['staging']`).
   */
  requireVerifiedIn: requireVerifiedInSchema.optional(),
  /** The keys of each environment whose proof `requireVerifiedIn` asks for. */
  trustedEnvironments: trustedEnvironmentsSchema.default({}),
  /** After each promotion, write signed proof of it (environment, version, the gate's SLO values) to the registry. */
  attest: attestSchema.optional(),
  /** The MLflow tracking server the images with an `mlflow` section follow; outcomes are written back as model-version tags. */
  mlflow: z.strictObject({
    url: MLFLOW_FIELDS.url,
    /** File holding a bearer token (`MLFLOW_TRACKING_TOKEN`). */
    tokenFile: nonEmpty('a file path').optional(),
    timeout: timeout().default(parseDuration('10s')),
    tagPrefix: MLFLOW_FIELDS.tagPrefix.default('modelpilot'),
  }).optional(),
  registries: registriesSchema.default(registriesSchema.parse({})),
  health: healthSchema.default(healthSchema.parse({})),
  rollback: rollbackSchema.default(rollbackSchema.parse({})),
  webhooks: webhooksSchema.default(webhooksSchema.parse({ enabled: false })),
  /** Where the agent tells people about its decisions (rollbacks, quarantines, failed updates, restarts). */
  notify: z.strictObject({
    /** Alertmanager's base URL: each decision is posted to its v2 API, so AlertRouting's routes deliver it. */
    alertmanager: z.strictObject({
      url: httpUrl('http://alertmanager:9093'),
      timeout: timeout().default(parseDuration('5s')),
      /** How long each event alert stays firing before it resolves. */
      resolveAfter: duration().default(parseDuration('15m')),
    }).optional(),
    /** Kubernetes target: an Event on the Deployment for each audit entry (needs `create` on events; ModelUpdater grants it). */
    kubernetesEvents: z.boolean({ error: 'must be true or false' }).default(true),
  }).default({ kubernetesEvents: true }),
  /** Append-only JSONL audit log. */
  auditLog: nonEmpty("a file path such as '/var/lib/modelpilot/audit.jsonl'").optional(),
  /** Directory for persistent state (the quarantine store); also the default home of the audit log. */
  stateDir: nonEmpty("a directory such as '/var/lib/modelpilot'").default(DEFAULT_STATE_DIR),
  log: z.strictObject({
    level: z.enum(['debug', 'info', 'warn', 'error'], { error: "must be one of 'debug', 'info', 'warn', 'error'" }).default('info'),
  }).default({ level: 'info' }),
}, { error: 'must be a map of settings (see docs/agent.md)' }).superRefine((c, ctx) => {
  const seen = new Set<string>();
  c.images.forEach((img, i) => {
    if (seen.has(img.repository)) {
      ctx.issues.push({ code: 'custom', input: img.repository, path: ['images', i, 'repository'], message: 'is listed twice; keep one entry per repository' });
    }
    seen.add(img.repository);
  });
  const needKeys = (envs: readonly string[] | undefined, at: Array<string | number>) => envs?.forEach((env, i) => {
    if (!(env in c.trustedEnvironments)) {
      ctx.issues.push({
        code: 'custom', input: env, path: [...at, i],
        message: `has no keys; add trustedEnvironments.${env}.publicKeyFiles with the public key of the ${env} agent's attest.privateKeyFile`,
      });
    }
  });
  needKeys(c.requireVerifiedIn, ['requireVerifiedIn']);
  c.images.forEach((img, n) => {
    if (img.mlflow && !c.mlflow) {
      ctx.issues.push({ code: 'custom', input: img.mlflow, path: ['images', n, 'mlflow'], message: "needs the top-level 'mlflow' section; add mlflow: { url: 'http://mlflow:5000' }" });
    }
  });
  c.images.forEach((img, n) => needKeys(img.requireVerifiedIn, ['images', n, 'requireVerifiedIn']));
  if (c.attest && (c.requireVerifiedIn ?? []).includes(c.attest.environment)) {
    ctx.issues.push({
      code: 'custom', input: c.attest.environment, path: ['attest', 'environment'],
      message: 'is also in requireVerifiedIn: an environment cannot require its own proof (nothing would ever be promoted); '
        + 'name the environment this agent serves here and the ones before it in requireVerifiedIn',
    });
  }
}).transform((c) => ({ ...c, auditLog: c.auditLog ?? path.posix.join(c.stateDir, AUDIT_LOG_FILE) }));

/** The agent.yaml as written (what the `ModelUpdater` construct renders). */
export type AgentConfigInput = z.input<typeof agentConfigSchema>;
/** The validated config, defaults applied, durations/policies/SLOs parsed. */
export type AgentConfig = z.output<typeof agentConfigSchema>;
export type ImageConfig = AgentConfig['images'][number];
/** `images[].mlflow` as written in agent.yaml (the renderers' output). */
export type ImageMlflowInput = z.input<typeof imageMlflowSchema>;
export type HealthConfig = AgentConfig['health'];
export type RollbackConfig = AgentConfig['rollback'];
export type ProbeConfig = NonNullable<HealthConfig['probe']>;

/** A config that failed validation; `problems` holds one line per problem. */
export class ConfigError extends Error {
  constructor(public readonly source: string, public readonly problems: readonly string[]) {
    super(`${source} is invalid:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/**
 * Validates an already-parsed config object.
 * @param source names the config in errors (a file path)
 * @throws ConfigError naming every bad key path, its value and the fix
 */
export function parseConfig(obj: unknown, source = 'agent config'): AgentConfig {
  const r = agentConfigSchema.safeParse(obj);
  if (r.success) return r.data;
  throw new ConfigError(source, r.error.issues.map((i) => describeIssue(i, obj)));
}

/**
 * Validates quality-gate settings on their own (`modelpilot eval`'s flags), with agent.yaml's rules and messages.
 * Key paths in the messages are the settings' own keys (`'threshold' value 70 …`).
 * @throws ConfigError
 */
export function parseQualitySettings(obj: unknown, source: string): QualitySettings {
  const r = qualitySchema.safeParse(obj);
  if (r.success) return r.data;
  throw new ConfigError(source, r.error.issues.map((i) => describeIssue(i, obj)));
}

// ---------------------------------------------------------------------------------------------------------------
// Error messages: `'<key.path>' value <value> <what is wrong>; <fix>`
// ---------------------------------------------------------------------------------------------------------------

type Issue = z.core.$ZodIssue;

function describeIssue(issue: Issue, root: unknown): string {
  const where = issue.path.length === 0 ? 'the config' : `'${formatKeyPath(issue.path)}'`;
  if (issue.code === 'unrecognized_keys') {
    const known = knownKeys(issue.path);
    return issue.keys.map((k) => {
      const full = formatKeyPath([...issue.path, k]);
      const guess = known ? closestName(k, known, (o) => Math.max(2, Math.floor(o.length / 3))) : undefined;
      return `'${full}' is not a known key; ${guess ? `did you mean '${guess}'?` : 'remove it'}${known ? ` (known keys: ${known.join(', ')})` : ''}`;
    }).join('\n  - ');
  }
  const present = valueAt(root, issue.path);
  if (present === undefined && issue.code === 'invalid_type') {
    return `${where} is missing; ${/^Invalid/.test(issue.message) ? 'it is required' : `it ${issue.message}`}`;
  }
  const value = present === undefined ? '' : ` value ${formatValue(present)}`;
  return `${where}${value} ${friendly(issue)}`;
}

function friendly(issue: Issue): string {
  const m = issue.message;
  if (/^Invalid input|^Invalid option|^Too (small|big)|^Invalid/.test(m)) {
    if (issue.code === 'invalid_value') return `must be one of ${issue.values.map((v) => formatValue(v)).join(', ')}`;
    return `is invalid: ${m}`;
  }
  return m;
}

function formatValue(v: unknown): string {
  // a password typed into a URL is not echoed back into logs
  if (typeof v === 'string') return `'${v.replace(/(\/\/[^/:@\s]*:)[^@/\s]*@/, '$1***@')}'`;
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 80 ? s.slice(0, 77) + '...' : s;
}

/** The keys the schema knows at a path (for "did you mean"). */
function knownKeys(p: readonly PropertyKey[]): string[] | undefined {
  let s: unknown = agentConfigSchema;
  const unwrap = (x: unknown): unknown => {
    for (let i = 0; i < 10; i++) {
      const def = (x as { _zod?: { def?: Record<string, unknown> } })._zod?.def;
      if (!def) return x;
      if (def.type === 'object') return x;
      x = def.innerType ?? def.in ?? (def.type === 'array' ? x : undefined);
      if (def.type === 'array') return x;
      if (x === undefined) return undefined;
    }
    return x;
  };
  for (const k of p) {
    s = unwrap(s);
    const def = (s as { _zod?: { def?: Record<string, unknown> } })?._zod?.def;
    if (!def) return undefined;
    if (typeof k === 'number' && def.type === 'array') s = def.element;
    else if (def.type === 'object') s = (def.shape as Record<string, unknown>)[String(k)];
    else return undefined;
  }
  s = unwrap(s);
  const def = (s as { _zod?: { def?: Record<string, unknown> } })?._zod?.def;
  return def?.type === 'object' ? Object.keys(def.shape as object) : undefined;
}
