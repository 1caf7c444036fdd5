/**
 * The public API of `modelpilot/agent`, the updater runtime: start it from a validated config, or assemble the
 * loop from its seams (registry client, targets, health gate, state). Named exports only. The Kubernetes target
 * loads `@kubernetes/client-node` and the Docker target `dockerode` (optional peer dependencies) only when used.
 */
import { assertPeer } from '../lib/core/peer';
import type { KubernetesTarget, KubernetesTargetOptions } from './targets/kubernetes';

export { loadConfig, parseConfig, ConfigError, agentConfigSchema } from './config';
export type { AgentConfig, AgentConfigInput, HealthConfig, ImageConfig, ProbeConfig, RollbackConfig } from './config';
export { startAgent } from './main';
export type { AgentHandle, StartOptions } from './main';
export { Reconciler, DEFAULT_ROLLBACK } from './loop';
export type { CycleReport, ImageSettings, ReconcilerOptions, RollbackSettings, UpdateOutcome } from './loop';
export { DistributionClient, RegistryError } from './registry/client';
export type { DistributionClientOptions, RegistryStats } from './registry/client';
export { loadDockerConfig, parseDockerConfig } from './registry/credentials';
export type { CredentialStore, RegistryCredential } from './registry/credentials';
export { DockerTarget, DOCKER_LABELS } from './targets/docker';
export type { DockerTargetOptions } from './targets/docker';
export { DEPLOYMENT_ANNOTATIONS as K8S_ANNOTATIONS, MANAGED_LABEL } from '../lib/core/contract/names';
export type { KubernetesTargetOptions, KubernetesDeploymentRef } from './targets/kubernetes';
export { HealthGate } from './health/gate';
export type { Decision, HealthGateOptions, Verdict } from './health/gate';
export { PrometheusSloCheck } from './health/prometheus';
export type { PrometheusSloCheckOptions, SloSample } from './health/prometheus';
export { SyntheticProbe } from './health/probe';
export type { SyntheticProbeOptions } from './health/probe';
export { AgentHttpServer } from './http';
export type { AgentHttpServerOptions } from './http';
export { PollTrigger } from './triggers/poll';
export { AgentMetrics, Heartbeat } from './metrics';
export { QuarantineStore } from './state/quarantine';
export type { QuarantineEntry } from './state/quarantine';
export { AuditLog, readAudit, formatTimeline } from './state/audit';
export type { AuditEntry, AuditEvent, AuditInput, TimelineOptions } from './state/audit';
export { jsonLogger } from './log';
export type { LogLevel } from './log';
export { systemClock } from './clock';
export { UpdatePlan, nullLogger, ok, fail } from './types';
export type {
  Clock, HealthCheck, HealthResult, HealthStatus, InFlightRecord, Logger, Outcome, RegistryClient, RepositoryName, Target, Trigger, TriggerEvent,
  Workload,
} from './types';

/** A Kubernetes target (loads `@kubernetes/client-node` on the first call; throws, naming it, when it is not installed). */
export function kubernetesTarget(options: KubernetesTargetOptions): KubernetesTarget {
  assertPeer('@kubernetes/client-node', 'the Kubernetes target');
  const { KubernetesTarget: Target } = require('./targets/kubernetes') as typeof import('./targets/kubernetes');
  return new Target(options);
}
