/** The loop's settings and results: what agent.yaml configures, what a cycle reports. */
import type { KeyObject } from 'node:crypto';
import type { ImageConfig } from '../../lib/core/contract/agent-config';
import type { Duration } from '../../lib/core/duration';
import type { UpdatePolicy } from '../../lib/core/update-policy';
import type { BackoffSettings } from '../retry';

/** Per-repository settings from `images:` in agent.yaml. */
export interface ImageSettings {
  /** `registry/repository`, e.g. `127.0.0.1:5000/models/recsys`. */
  readonly repository: string;
  /** Overrides the workload's own policy (label/annotation). */
  readonly policy?: UpdatePolicy;
  /** Overrides the default poll interval. */
  readonly pollIntervalMs?: number;
  /** Overrides the default minimum image age (`minImageAge` of the loop). */
  readonly minImageAge?: Duration;
  /** Overrides the default signature keys: a version goes only with a valid cosign signature by one of them. */
  readonly signatureKeys?: readonly KeyObject[];
  /** Overrides the default `verifiedIn`: environments whose signed proof of promotion a version needs. */
  readonly verifiedIn?: readonly VerifiedInRequirement[];
  /** Follow this model in MLflow (its alias or latest version) instead of the newest tag. */
  readonly mlflow?: ImageMlflowSettings;
}

/** How an image follows a model in MLflow's Model Registry: agent.yaml's `images[].mlflow`, as parsed. */
export type ImageMlflowSettings = NonNullable<ImageConfig['mlflow']>;

/** An environment whose agent must have promoted a digest (its attestation, signed by one of `keys`). */
export interface VerifiedInRequirement {
  readonly environment: string;
  readonly keys: readonly KeyObject[];
}

/** This agent's proof of promotion: the environment it names and the key it signs with. */
export interface AttestSettings {
  readonly environment: string;
  readonly key: KeyObject;
}

/** Rollback policy: bounded attempts, each with a timeout, exponential backoff between them. */
export interface RollbackSettings {
  /** @default 3 */
  readonly maxAttempts: number;
  /** @default 30000 */
  readonly attemptTimeoutMs: number;
  /** @default { initialMs: 1000, maxMs: 60000, factor: 2 } */
  readonly backoff: BackoffSettings;
  /**
   * Cycles in which every apply attempt of one version may fail (a pull that always fails) before the version is
   * quarantined; between those cycles the version waits `backoff` (doubling per failed cycle).
   * @default 3
   */
  readonly failureBudget?: number;
  /**
   * Restarts of a crashed current version the loop makes (bounded, with `backoff` between them) before it treats
   * the version as failing: rolled back to the version it replaced when the audit log knows it, and quarantined.
   * @default 3
   */
  readonly maxRestarts?: number;
  /**
   * How long after its promotion a version's restarts are read every cycle (`maxRestarts` of them, or an OOM kill,
   * roll it back and quarantine it); 0: not watched.
   * @default 900000
   */
  readonly watchAfterPromotionMs?: number;
}

export const DEFAULT_ROLLBACK: RollbackSettings = {
  maxAttempts: 3, attemptTimeoutMs: 30_000, backoff: { initialMs: 1000, maxMs: 60_000, factor: 2 }, failureBudget: 3, maxRestarts: 3,
  watchAfterPromotionMs: 900_000,
};

/**
 * Cycles in a row in which a target could not be listed (its engine or API unreachable) before the agent reports
 * itself degraded (`/healthz` 503, `modelpilot_updater_degraded` 1): it can neither update nor roll back there.
 */
export const UNREACHABLE_CYCLES = 3;

/** What one cycle did. */
export interface CycleReport {
  readonly sources: string[];
  workloads: number;
  /** Workloads whose registry was asked this cycle. */
  checked: number;
  readonly updates: Array<{ readonly workload: string; readonly plan: string; readonly result: UpdateOutcome }>;
  readonly failures: string[];
}

/** How an update ended. `held`: inconclusive, kept unpromoted; `aborted`: reversed because the agent stopped. */
export type UpdateOutcome = 'promoted' | 'rolled_back' | 'failed' | 'held' | 'aborted' | 'rollback_failed' | 'restarted'
  /** monitorOnly: a newer version is there; nothing was changed. */
  | 'available';

/** Records one failure of the cycle. */
export type Fail = (what: string, e: unknown) => void;
