import type { KeyObject } from 'node:crypto';
/**
 * Wiring only: validated config → registry client, targets, health gate, quarantine store, audit log, metrics,
 * HTTP server (webhooks, /healthz, /metrics) and the reconcile loop. `startAgent` returns a handle whose `stop()`
 * aborts the loop, waits for the current step to finish safely and closes the server.
 */
import { ms } from '../lib/core/duration';
import { GoldenSet, tooFewSamples } from '../lib/core/quality';
import { systemClock } from './clock';
import { AgentConfig } from './config';
import { readInputFile } from './files';
import { HealthGate } from './health/gate';
import { SyntheticProbe } from './health/probe';
import { PrometheusSloCheck } from './health/prometheus';
import { ModelQuality, QualityCheck } from './health/quality';
import { AgentHttpServer } from './http';
import { jsonLogger } from './log';
import { CycleReport, Reconciler, VerifiedInRequirement } from './loop';
import { AgentMetrics, Heartbeat } from './metrics';
import { MlflowClient } from './mlflow/client';
import { AlertmanagerNotifier } from './notify/alertmanager';
import { TargetEventRecorder } from './notify/target-events';
import { OperatorApi } from './operator-api';
import { DistributionClient, loadDockerConfig } from './registry';
import { loadPrivateKey } from './registry/attestation';
import { loadPublicKeys } from './registry/cosign';
import { AuditEntry, AuditLog } from './state/audit';
import { OverrideStore } from './state/overrides';
import { QuarantineStore } from './state/quarantine';
import { buildTargets } from './targets';
import { PollTrigger } from './triggers/poll';
import { ScheduleTrigger } from './triggers/schedule';
import type { Clock, Logger, RegistryClient, Target, Trigger } from './types';

/** Seams `startAgent` lets a test replace (everything else comes from the config). */
export interface StartOptions {
  readonly logger?: Logger;
  readonly clock?: Clock;
  readonly registry?: RegistryClient;
  readonly targets?: Target[];
}

export interface AgentHandle {
  /** The port the HTTP server listens on. */
  readonly port: number;
  readonly metrics: AgentMetrics;
  readonly reconciler: Reconciler;
  /** Resolves when the loop has stopped. */
  readonly done: Promise<void>;
  /** With `runOnce`: the report of the one cycle (then `done` resolves too). */
  readonly once?: Promise<CycleReport>;
  /** Aborts the loop, waits for the current step to finish safely, closes the server. */
  stop(): Promise<void>;
}

/**
 * Builds every part from the config and starts the loop and the HTTP server: the registry client, the targets, the
 * health gate, the state stores, the notifiers, the loop, the server — each made by a function of its own below.
 */
export async function startAgent(config: AgentConfig, options: StartOptions = {}): Promise<AgentHandle> {
  const logger = options.logger ?? jsonLogger(config.log.level);
  const clock = options.clock ?? systemClock;
  const registry = options.registry ?? registryClient(config, logger);
  const targets = options.targets ?? buildTargets(config, { logger, clock });
  const metrics = new AgentMetrics({ defaultMetrics: true });
  const heartbeat = new Heartbeat(staleAfterMs(config));
  const gate = healthGate(config, { logger, clock, metrics, heartbeat });
  const quarantine = new QuarantineStore(config.stateDir, () => clock.now());
  const overrides = new OverrideStore(config.stateDir);
  const audit = new AuditLog(config.auditLog, () => clock.now());
  metrics.quarantined.set(quarantine.list().length);
  const notify = notifiers(config, targets, { logger, metrics, clock });
  const reconciler = new Reconciler({
    targets, registry, gate, quarantine, overrides, audit, metrics, clock, logger, heartbeat,
    ...(notify.onAudit ? { onAudit: notify.onAudit } : {}),
    ...loopSettings(config),
  });
  const operatorApi = new OperatorApi(overrides, quarantine, audit, clock);
  const server = agentServer(config, { logger, clock, metrics, heartbeat, reconciler, targets, operatorApi });
  await server.listen();
  // Watchtower's schedule replaces the poll interval's ticks
  const triggers: Trigger[] = [config.schedule ? new ScheduleTrigger(config.schedule, clock) : new PollTrigger(reconciler.tickMs, clock)];
  if (config.webhooks.enabled) triggers.push(server.trigger());

  const ctl = new AbortController();
  const prom = config.health.prometheus;
  logger.info('agent starting', {
    targets: targets.map((t) => t.kind), images: config.images.length, port: server.port, webhooks: config.webhooks.enabled,
    inconclusive: config.health.inconclusive, prometheus: prom?.url ?? null,
  });
  if (!prom && config.health.inconclusive === 'hold') {
    logger.warn("no 'health.prometheus' and 'health.inconclusive: hold': every update will be applied and held unpromoted; "
      + "configure Prometheus, or choose 'inconclusive: probe' with a 'health.probe'");
  }
  // runOnce: one cycle over everything, then the caller stops the agent
  const once = config.runOnce ? reconciler.runCycle([{ source: 'startup' }], ctl.signal) : undefined;
  const done = (once ? once.then(() => undefined) : reconciler.run(triggers, ctl.signal)).catch((e: unknown) => {
    logger.error('agent loop crashed', { error: (e as Error).message });
  });
  return {
    port: server.port, metrics, reconciler, done, ...(once ? { once } : {}),
    async stop(): Promise<void> {
      ctl.abort();
      await done;
      // what the last steps said still reaches people (each send is bounded by its own timeout)
      await notify.flush();
      await server.close();
      logger.info('agent stopped');
    },
  };
}

/** The registry client of `registries`. */
function registryClient(config: AgentConfig, logger: Logger): RegistryClient {
  return new DistributionClient({
    credentials: config.registries.dockerConfig ? loadDockerConfig(config.registries.dockerConfig) : undefined,
    insecureRegistries: config.registries.insecure,
    mirrors: config.registries.mirrors,
    rateLimit: { requestsPerSecond: config.registries.rateLimit, burst: Math.max(1, Math.ceil(config.registries.rateLimit * 2)) },
    requestTimeoutMs: ms(config.registries.requestTimeout),
    tagsCacheTtlMs: ms(config.registries.tagsCacheTtl),
    logger,
  });
}

/** How long without a heartbeat before /healthz says the loop is stuck: the longest step a healthy loop takes, plus a minute. */
function staleAfterMs(config: AgentConfig): number {
  return Math.max(
    ms(config.health.readinessTimeout) + Math.max(ms(config.health.bakeWindow), ms(config.health.runningGrace))
      + 4 * ms(config.rollback.attemptTimeout),
    3 * ms(config.pollInterval),
  ) + 60_000;
}

/** The gate of `health`: readiness, then the Prometheus SLO check and/or the synthetic probe. */
function healthGate(config: AgentConfig, d: { logger: Logger; clock: Clock; metrics: AgentMetrics; heartbeat: Heartbeat }): HealthGate {
  const { logger, clock, metrics, heartbeat } = d;
  const sloFor = (model: string) => config.images.find((i) => i.model === model)?.slo ?? config.health.slo;
  const prom = config.health.prometheus;
  const probe = config.health.probe;
  return new HealthGate({
    readinessTimeoutMs: ms(config.health.readinessTimeout),
    inconclusive: config.health.inconclusive,
    logger,
    clock,
    runningGraceMs: ms(config.health.runningGrace),
    watchIntervalMs: ms(config.health.watchInterval),
    slo: prom && new PrometheusSloCheck({
      url: prom.url, sloFor, bakeWindowMs: ms(config.health.bakeWindow), queryIntervalMs: ms(config.health.queryInterval),
      timeoutMs: ms(prom.timeout), extraLabels: prom.labels, scopeToWorkload: prom.scopeToWorkload,
      confidence: config.health.confidence, clock, onSample: () => heartbeat.beat(),
      onOutage: (o) => {
        metrics.switchOutage.inc({ result: 'error' }, o.errors);
        metrics.switchOutage.inc({ result: 'ok' }, Math.max(0, o.requests - o.errors));
      },
    }),
    quality: qualityCheck(config, logger),
    probe: probe && new SyntheticProbe({
      url: probe.url, method: probe.method, body: probe.body, headers: probe.headers,
      count: probe.count, intervalMs: ms(probe.interval), timeoutMs: ms(probe.timeout),
      maxFailureRatio: probe.maxFailureRatio ?? config.health.slo.maxErrorRatio, clock,
    }),
  });
}

/** Who hears of each audit entry (`notify`): Alertmanager and Kubernetes Events; `flush` waits for what is on its way. */
function notifiers(config: AgentConfig, targets: readonly Target[], d: { logger: Logger; metrics: AgentMetrics; clock: Clock }): {
  onAudit?: (e: AuditEntry) => void; flush(): Promise<unknown>;
} {
  const { logger, metrics, clock } = d;
  const am = config.notify.alertmanager;
  const notifier = am && new AlertmanagerNotifier({
    url: am.url, timeoutMs: ms(am.timeout), resolveAfterMs: ms(am.resolveAfter), logger, now: () => clock.now(),
    onResult: (result) => metrics.notifications.inc({ result }),
  });
  const events = config.notify.kubernetesEvents
    ? new TargetEventRecorder({ targets: [...targets], logger, onResult: (result) => metrics.events.inc({ result }) })
    : undefined;
  const listeners = [...(notifier ? [(e: AuditEntry) => notifier.notify(e)] : []), ...(events?.active ? [(e: AuditEntry) => events.record(e)] : [])];
  return {
    ...(listeners.length ? { onAudit: (e: AuditEntry) => listeners.forEach((l) => l(e)) } : {}),
    flush: () => Promise.all([notifier?.flush(), events?.flush()]),
  };
}

/** The loop's settings from the config: per-image settings, promotion guards, MLflow, rollback (keys read from their files). */
function loopSettings(config: AgentConfig) {
  return {
    pollIntervalMs: ms(config.pollInterval),
    images: config.images.map((i) => ({
      repository: i.repository, policy: i.policy, pollIntervalMs: i.pollInterval && ms(i.pollInterval),
      minImageAge: i.minImageAge,
      signatureKeys: i.requireSignature && keysOf(i.requireSignature.publicKeyFiles),
      verifiedIn: i.requireVerifiedIn && verifiedIn(config, i.requireVerifiedIn),
      mlflow: i.mlflow,
    })),
    mlflow: config.mlflow && {
      client: new MlflowClient({
        url: config.mlflow.url, timeoutMs: ms(config.mlflow.timeout),
        ...(config.mlflow.tokenFile ? { token: readSecret(config.mlflow.tokenFile, 'mlflow.tokenFile') } : {}),
      }),
      tagPrefix: config.mlflow.tagPrefix,
    },
    minImageAge: config.minImageAge,
    monitorOnly: config.monitorOnly,
    signatureKeys: config.requireSignature && keysOf(config.requireSignature.publicKeyFiles),
    verifiedIn: config.requireVerifiedIn && verifiedIn(config, config.requireVerifiedIn),
    attest: config.attest && {
      environment: config.attest.environment,
      key: loadPrivateKey(config.attest.privateKeyFile,
        readInputFile(config.attest.privateKeyFile, { field: 'attest.privateKeyFile', fix: 'give a PEM private key file', maxBytes: 1024 * 1024 })),
    },
    rollback: {
      maxAttempts: config.rollback.maxAttempts, attemptTimeoutMs: ms(config.rollback.attemptTimeout),
      backoff: { initialMs: ms(config.rollback.backoff.initial), maxMs: ms(config.rollback.backoff.max), factor: config.rollback.backoff.factor },
      failureBudget: config.rollback.failureBudget, maxRestarts: config.rollback.maxRestarts,
      watchAfterPromotionMs: ms(config.rollback.watchAfterPromotion),
    },
  };
}

/** The HTTP server: /healthz, /metrics, the webhooks (authenticated), the operator API, the Docker target's /sd/targets. */
function agentServer(config: AgentConfig, d: {
  logger: Logger; clock: Clock; metrics: AgentMetrics; heartbeat: Heartbeat; reconciler: Reconciler; targets: readonly Target[];
  operatorApi: OperatorApi;
}): AgentHttpServer {
  const { logger, metrics, heartbeat, reconciler, operatorApi } = d;
  const [host, portText] = splitListen(config.webhooks.listen);
  const discovery = d.targets.filter((t) => t.scrapeTargets);
  const healthz = (): { healthy: boolean; detail: Record<string, unknown> } => {
    const s = heartbeat.status();
    const degraded = Object.fromEntries(reconciler.degraded);
    // Degraded (a decision could not be persisted) is unhealthy: the workloads concerned are held meanwhile.
    return {
      healthy: s.ok && reconciler.degraded.size === 0,
      detail: { lastBeat: s.lastBeat, ageSeconds: s.ageSeconds, ...(reconciler.degraded.size ? { degraded } : {}) },
    };
  };
  const metricsBody = async (): Promise<{ contentType: string; body: string }> => ({ contentType: metrics.contentType, body: await metrics.text() });
  return new AgentHttpServer({
    host, port: Number(portText), maxBodyBytes: config.webhooks.bodyLimit, logger, metrics: metricsBody, healthz, now: () => d.clock.now().getTime(),
    knownModel: (model) => reconciler.knowsModel(model),
    // Prometheus service discovery from the targets that offer it (Docker: no Kubernetes discovery there)
    ...(discovery.length ? { scrapeTargets: async () => (await Promise.all(discovery.map((t) => t.scrapeTargets!()))).flat() } : {}),
    operator: (method, path, query, body) => operatorApi.handle(method, path, query, body),
    auth: config.webhooks.enabled ? {
      bearerToken: config.webhooks.bearerTokenFile ? readSecret(config.webhooks.bearerTokenFile, 'webhooks.bearerTokenFile') : undefined,
      hmacSecret: config.webhooks.hmacSecretFile ? readSecret(config.webhooks.hmacSecretFile, 'webhooks.hmacSecretFile') : undefined,
    } : undefined,
  });
}

/**
 * The quality gates of `images[].quality`, their golden sets read and checked now (a missing or malformed file, or
 * fewer samples than minSamples, stops the agent at start with the field, the value and the fix).
 */
function qualityCheck(config: AgentConfig, logger: Logger): QualityCheck | undefined {
  const byRepository = new Map<string, ModelQuality>();
  config.images.forEach((image, i) => {
    const settings = image.quality;
    if (!settings) return;
    const field = `images[${i}].quality.goldenSet`;
    if (config.targets.kubernetes) {
      throw new Error(`'${field}': the quality gate runs on the docker target only for now (it replays the golden set before the new `
        + 'version joins the rotation); on Kubernetes use an Argo Rollouts analysis, or remove images[].quality');
    }
    const text = readInputFile(settings.goldenSet, { field, fix: 'point it at the golden set (JSON lines) the agent can read', maxBytes: 64 * 1024 * 1024 });
    const set = GoldenSet.parse(text, settings.goldenSet.split('/').pop()!);
    const few = tooFewSamples(set, settings.metric, settings.minSamples, `images[${i}].quality.minSamples`);
    if (few) throw new Error(`'${field}' value '${settings.goldenSet}' ${few}`);
    byRepository.set(image.repository, { settings, set });
  });
  return byRepository.size > 0
    ? new QualityCheck({ qualityFor: (repository) => byRepository.get(repository), confidence: config.health.confidence, logger }) : undefined;
}

function readSecret(file: string, key: string): string {
  try {
    return readInputFile(file, { field: key, fix: 'point it at a file holding the secret', maxBytes: 1024 * 1024 }).trim();
  } catch (e) {
    throw new Error((e as Error).message);
  }
}

function splitListen(listen: string): [string, string] {
  const i = listen.lastIndexOf(':');
  const host = listen.slice(0, i).replace(/^\[|\]$/g, '');
  return [host === '' ? '0.0.0.0' : host, listen.slice(i + 1)];
}

/** Each environment of `requireVerifiedIn` with the keys `trustedEnvironments` gives it (the schema checked both). */
function verifiedIn(config: AgentConfig, envs: readonly string[]): VerifiedInRequirement[] {
  return envs.map((environment) => ({ environment, keys: keysOf(config.trustedEnvironments[environment].publicKeyFiles) }));
}

/** The PEM public keys of `requireSignature` (checked readable and non-empty at start). */
function keysOf(files: readonly string[]): KeyObject[] {
  return loadPublicKeys(files.map((f) => ({ name: f, pem: readInputFile(f, { field: f, fix: 'give a PEM public key file', maxBytes: 1024 * 1024 }) })));
}
