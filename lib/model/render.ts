/**
 * Pure renderers and prop checks of the model's pod (internal: not exported from the package). The
 * `ModelDeployment` constructor resolves its props through these and assembles the objects; tests call them directly.
 */
import { Size } from 'cdk8s';
import { checkPositive } from '../core/checks';
import { MODEL_SERVER_ENV } from '../core/contract/names';
import { Duration, toPromDuration } from '../core/duration';
import { sizeQuantity } from '../core/quantity';
import type { ModelCache } from './model-cache';
import type { ProbeOptions } from './probes';
import { ModelEnvVar, ModelResources } from './resources';

const RESERVED_ENV: readonly string[] = Object.values(MODEL_SERVER_ENV);

/** A probe with its defaults applied, in whole seconds. */
export interface ResolvedProbe {
  readonly path: string;
  readonly periodSeconds: number;
  readonly timeoutSeconds: number;
  readonly failureThreshold: number;
}

/** Checks and resolves one probe's options. */
export function probe(kind: string, options: ProbeOptions | undefined, path: string, period: Duration): ResolvedProbe {
  const periodMs = checkPositive(`${kind}.period`, options?.period ?? period);
  const timeoutMs = checkPositive(`${kind}.timeout`, options?.timeout ?? Duration.seconds(2));
  const periodSeconds = Math.ceil(periodMs / 1000);
  const timeoutSeconds = Math.ceil(timeoutMs / 1000);
  if (timeoutSeconds > periodSeconds) {
    throw new Error(`'${kind}.timeout' value '${timeoutSeconds}s' is longer than '${kind}.period' '${periodSeconds}s'; make the timeout at most the period`);
  }
  const failureThreshold = options?.failureThreshold ?? 3;
  if (!Number.isInteger(failureThreshold) || failureThreshold < 1) {
    throw new Error(`'${kind}.failureThreshold' value ${failureThreshold} must be a whole number of at least 1`);
  }
  return { path: checkPath(`${kind}.path`, options?.path ?? path, path), periodSeconds, timeoutSeconds, failureThreshold };
}

/** The Kubernetes httpGet probe of a resolved probe. */
export function httpProbe(p: ResolvedProbe, port: string, failureThreshold = p.failureThreshold): Record<string, unknown> {
  return { httpGet: { path: p.path, port }, periodSeconds: p.periodSeconds, timeoutSeconds: p.timeoutSeconds, failureThreshold };
}

export function checkPort(field: string, port: number, example = 8080): number {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`'${field}' value ${port} is out of range; use a whole number in 1..65535 such as ${example}`);
  }
  return port;
}

export function checkPath(field: string, path: string, example: string): string {
  if (typeof path !== 'string' || !path.startsWith('/') || /\s/.test(path)) {
    throw new Error(`'${field}' value '${path}' is not an HTTP path; start it with '/' and leave out spaces, e.g. '${example}'`);
  }
  return path;
}

/** The container resources: requests and limits, GPUs as whole devices. */
export function renderResources(r: ModelResources): Record<string, Record<string, string | number>> {
  const gpus = r.gpus ?? 0;
  if (!Number.isInteger(gpus) || gpus < 0) {
    throw new Error(`'resources.gpus' value ${gpus} is not a whole number; GPUs cannot be shared by fractions, use 0, 1, 2, …`);
  }
  const cpuReq = r.cpu?.request?.amount ?? '500m';
  const cpuLim = r.cpu?.limit?.amount ?? '2';
  const memReq = r.memory?.request ?? Size.gibibytes(1);
  const memLim = r.memory?.limit ?? Size.gibibytes(2);
  if (memReq.toMebibytes() > memLim.toMebibytes()) {
    throw new Error(`'resources.memory.request' value '${sizeQuantity(memReq)}' is above the limit '${sizeQuantity(memLim)}'; raise the limit or lower the request`);
  }
  if (cpuMillis(cpuReq) > cpuMillis(cpuLim)) {
    throw new Error(`'resources.cpu.request' value '${cpuReq}' is above the limit '${cpuLim}'; raise the limit or lower the request`);
  }
  const requests: Record<string, string | number> = { 'cpu': cpuReq, 'memory': sizeQuantity(memReq) };
  const limits: Record<string, string | number> = { 'cpu': cpuLim, 'memory': sizeQuantity(memLim) };
  if (gpus > 0) {
    requests['nvidia.com/gpu'] = String(gpus);
    limits['nvidia.com/gpu'] = String(gpus);
  }
  return { requests, limits };
}

function cpuMillis(q: string): number {
  return q.endsWith('m') ? Number(q.slice(0, -1)) : Number(q) * 1000;
}

/** The three probes and the startup budget: enough startup probes, `period` apart, to cover `modelLoadTimeout`. */
export function resolveProbes(props: {
  readonly liveness?: ProbeOptions; readonly readiness?: ProbeOptions; readonly startup?: ProbeOptions; readonly modelLoadTimeout?: Duration;
}, paths: { readonly livenessPath: string; readonly readinessPath: string } = { livenessPath: '/health/live', readinessPath: '/health/ready' }) {
  const liveness = probe('liveness', props.liveness, paths.livenessPath, Duration.seconds(10));
  const readiness = probe('readiness', props.readiness, paths.readinessPath, Duration.seconds(5));
  const startup = probe('startup', props.startup, paths.readinessPath, Duration.seconds(10));
  const loadMs = checkPositive('modelLoadTimeout', props.modelLoadTimeout ?? Duration.minutes(2));
  const startupFailures = Math.max(1, Math.ceil(loadMs / 1000 / startup.periodSeconds));
  return { liveness, readiness, startup, startupFailures, startupBudgetSeconds: startupFailures * startup.periodSeconds };
}

/** The drain (preStop delay) and the termination grace period in seconds; the grace must outlast the drain. */
export function resolveDrain(drainProp: Duration | undefined, grace: Duration | undefined): { drainS: number; graceS: number } {
  const drain = drainProp ?? Duration.seconds(10);
  const drainS = Math.ceil(drain.toMilliseconds() / 1000);
  const graceS = grace !== undefined ? Math.ceil(grace.toMilliseconds() / 1000) : drainS + 30;
  if (graceS <= drainS) {
    throw new Error(`'drain' value '${toPromDuration(drain)}' is not shorter than 'terminationGracePeriod' '${graceS}s', so the server would be killed `
      + `before it stops; make terminationGracePeriod longer than the drain (e.g. ${drainS + 30}s)`);
  }
  return { drainS, graceS };
}

/** The container env: modelpilot's own variables first, then the user's, each checked. */
export function renderEnv(user: readonly ModelEnvVar[], builtins: ReadonlyArray<{ name: string; value: string }>): Array<Record<string, unknown>> {
  const env: Array<Record<string, unknown>> = builtins.map((e) => ({ ...e }));
  const seen = new Set<string>();
  for (const e of user) {
    if (!/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(e.name ?? '')) {
      throw new Error(`'env' name '${e.name}' is not a valid variable name; use letters, digits and '_', not starting with a digit`);
    }
    if (RESERVED_ENV.includes(e.name)) {
      throw new Error(`'env' name '${e.name}' is set by modelpilot from the props; remove it (use 'port' for PORT, the image tag for MODEL_VERSION)`);
    }
    if (seen.has(e.name)) {
      throw new Error(`'env' name '${e.name}' is given twice; each variable may appear once`);
    }
    seen.add(e.name);
    if ((e.value === undefined) === (e.secretKeyRef === undefined)) {
      throw new Error(`'env' variable '${e.name}' needs exactly one of 'value' or 'secretKeyRef'`);
    }
    env.push(e.value !== undefined ? { name: e.name, value: e.value }
      : { name: e.name, valueFrom: { secretKeyRef: { name: e.secretKeyRef!.name, key: e.secretKeyRef!.key } } });
  }
  return env;
}

/** Volumes: a writable /tmp always, the model cache when asked. */
export function renderVolumes(cache: ModelCache | undefined): { volumes: Array<Record<string, unknown>>; mounts: Array<Record<string, unknown>> } {
  const volumes: Array<Record<string, unknown>> = [{ name: 'tmp', emptyDir: { sizeLimit: '256Mi' } }];
  const mounts: Array<Record<string, unknown>> = [{ name: 'tmp', mountPath: '/tmp' }];
  if (cache) {
    volumes.push({ name: 'model-cache', ...cache.source });
    mounts.push({ name: 'model-cache', mountPath: cache.mountPath });
  }
  return { volumes, mounts };
}
