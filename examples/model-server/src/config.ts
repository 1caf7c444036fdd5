/**
 * Server settings, read once from the environment and checked: a bad value stops the server with a message naming
 * the variable, the value and the fix. Fault modes are all off by default.
 */
import * as path from 'path';

export interface FaultModes {
  /** Share of `/predict` requests answered with a 500, 0..1. Env `MODEL_FAULT_ERROR_RATIO`. @default 0 */
  readonly errorRatio: number;
  /** Added to every `/predict` response. Env `MODEL_FAULT_EXTRA_LATENCY_MS`. @default 0 */
  readonly extraLatencyMs: number;
  /** `/health/ready` never succeeds. Env `MODEL_FAULT_NEVER_READY=true`. @default false */
  readonly neverReady: boolean;
  /** The process exits with code 1 right after start. Env `MODEL_FAULT_CRASH_ON_START=true`. @default false */
  readonly crashOnStart: boolean;
  /**
   * The process exits with code 137 (the shape of an OOM kill under load) this long after the model is
   * ready, serving normally until then. Env `MODEL_FAULT_CRASH_AFTER_MS`. @default 0 (never)
   */
  readonly crashAfterMs: number;
  /**
   * The process exits with code 137 as soon as this file exists (checked every 200 ms from the moment the model is
   * ready), serving normally until then; at a start with the file present it exits once ready. Lets a test crash a
   * version at a moment it chooses (e.g. after its promotion) instead of at a time that a loaded machine may not
   * keep. Env `MODEL_FAULT_CRASH_WHEN_FILE` (an absolute path). @default - never
   */
  readonly crashWhenFile?: string;
}

export interface ServerConfig {
  /** Env `PORT`; 0 picks a free port (logged). @default 8080 */
  readonly port: number;
  /** Env `HOST`. @default '0.0.0.0' */
  readonly host: string;
  /** Env `MODEL_NAME`. @default - the name in the model file */
  readonly modelName?: string;
  /** Env `MODEL_VERSION`. @default - the version in the model file */
  readonly modelVersion?: string;
  /** Env `MODEL_PATH`. @default '<server dir>/../model/model.json' */
  readonly modelPath: string;
  /** Time the model load takes on top of reading the file, to emulate large models. Env `MODEL_LOAD_DELAY_MS`. @default 0 */
  readonly loadDelayMs: number;
  /**
   * The port opens only once the model is loaded, as servers that load before they serve do (vLLM, Triton): during
   * the load nothing answers, liveness included. Env `MODEL_LISTEN_AFTER_LOAD=true`. @default false (liveness
   * answers at once, readiness after the load)
   */
  readonly listenAfterLoad: boolean;
  /** Longest wait for in-flight requests after SIGTERM before giving up (exit 1). Env `DRAIN_TIMEOUT_MS`. @default 10000 */
  readonly drainTimeoutMs: number;
  readonly faults: FaultModes;
}

export const DEFAULT_MODEL_PATH = path.join(__dirname, '..', 'model', 'model.json');

/** Environment variables this server reads (documented in docs/model-server.md). */
export const ENV_VARS = [
  'PORT',
  'HOST',
  'MODEL_NAME',
  'MODEL_VERSION',
  'MODEL_PATH',
  'MODEL_LOAD_DELAY_MS',
  'MODEL_LISTEN_AFTER_LOAD',
  'DRAIN_TIMEOUT_MS',
  'MODEL_FAULT_ERROR_RATIO',
  'MODEL_FAULT_EXTRA_LATENCY_MS',
  'MODEL_FAULT_NEVER_READY',
  'MODEL_FAULT_CRASH_ON_START',
  'MODEL_FAULT_CRASH_AFTER_MS',
  'MODEL_FAULT_CRASH_WHEN_FILE',
] as const;

export function readConfig(env: NodeJS.ProcessEnv = process.env): ServerConfig {
  return {
    port: intVar(env, 'PORT', 8080, 0, 65535),
    host: strVar(env, 'HOST') ?? '0.0.0.0',
    modelName: nameVar(env, 'MODEL_NAME'),
    modelVersion: strVar(env, 'MODEL_VERSION'),
    modelPath: strVar(env, 'MODEL_PATH') ?? DEFAULT_MODEL_PATH,
    loadDelayMs: intVar(env, 'MODEL_LOAD_DELAY_MS', 0, 0, 3_600_000),
    listenAfterLoad: boolVar(env, 'MODEL_LISTEN_AFTER_LOAD'),
    drainTimeoutMs: intVar(env, 'DRAIN_TIMEOUT_MS', 10_000, 0, 3_600_000),
    faults: {
      errorRatio: ratioVar(env, 'MODEL_FAULT_ERROR_RATIO'),
      extraLatencyMs: intVar(env, 'MODEL_FAULT_EXTRA_LATENCY_MS', 0, 0, 600_000),
      neverReady: boolVar(env, 'MODEL_FAULT_NEVER_READY'),
      crashOnStart: boolVar(env, 'MODEL_FAULT_CRASH_ON_START'),
      crashAfterMs: intVar(env, 'MODEL_FAULT_CRASH_AFTER_MS', 0, 0, 3_600_000),
      crashWhenFile: absolutePathVar(env, 'MODEL_FAULT_CRASH_WHEN_FILE'),
    },
  };
}

function strVar(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

function nameVar(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const v = strVar(env, name);
  if (v !== undefined && !/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(v)) {
    throw new Error(`env ${name} value '${v}' is not a valid model name; use letters, digits, '.', '_' or '-' (at most 63 characters)`);
  }
  return v;
}

function intVar(env: NodeJS.ProcessEnv, name: string, def: number, min: number, max: number): number {
  const v = strVar(env, name);
  if (v === undefined) return def;
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) {
    throw new Error(`env ${name} value '${v}' is not an integer from ${min} to ${max}; set it like ${name}=${def}`);
  }
  return Number(v);
}

function ratioVar(env: NodeJS.ProcessEnv, name: string): number {
  const v = strVar(env, name);
  if (v === undefined) return 0;
  const n = Number(v);
  if (!/^\d*\.?\d+$/.test(v) || !(n >= 0 && n <= 1)) {
    throw new Error(`env ${name} value '${v}' is not a ratio from 0 to 1; set it like ${name}=0.25 (25% of requests fail)`);
  }
  return n;
}

function boolVar(env: NodeJS.ProcessEnv, name: string): boolean {
  const v = strVar(env, name);
  if (v === undefined) return false;
  const lower = v.toLowerCase();
  if (['true', '1', 'yes'].includes(lower)) return true;
  if (['false', '0', 'no'].includes(lower)) return false;
  throw new Error(`env ${name} value '${v}' is not a boolean; set it to 'true' or 'false'`);
}

function absolutePathVar(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const v = strVar(env, name);
  if (v === undefined) return undefined;
  if (!path.isAbsolute(v)) throw new Error(`env ${name} value '${v}' is not an absolute path; set it like ${name}=/faults/crash`);
  return v;
}
