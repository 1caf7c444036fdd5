/**
 * The public API of `modelpilot` (the constructs entry point): named exports only. Anything not listed here is
 * internal, and the API report (api/modelpilot.api.md, checked by test/api.test.ts) makes any change visible.
 * The Pulumi component is `modelpilot/pulumi`, the updater runtime `modelpilot/agent`.
 */

// Value types shared with the agent (lib/core)
export { Duration, parseDuration } from './core/duration';
export type { TimeConversionOptions } from './core/duration';
export { ImageRef } from './core/image-ref';
export type { ImageRefParseOptions } from './core/image-ref';
export { UpdatePolicy } from './core/update-policy';
export type { Candidate, Current, SemverLevel, SemverPolicyOptions } from './core/update-policy';
export { Slo } from './core/slo';
export type { LlmObjective, RelativeSlo, SloMetrics, SloProps, SloSelector } from './core/slo';
export { LLM_OBJECTIVES, ModelServer } from './core/model-server';
export type { ExampleSeries, LatencyShape, LlmMetrics, ModelServerProps, SeriesSelector } from './core/model-server';
export { QualityGate, QUALITY_METRICS } from './core/quality';
export { GoldenSet } from './model/golden-set';
export type { QualityGateProps, QualityMetric } from './core/quality';
export { ACTION_LABEL, ROLLBACK_ACTION } from './core/contract/names';
export type { SecretKeySelector } from './core/contract/secrets';

// The model
export { ModelDeployment } from './model/model-deployment';
export type { ModelDeploymentProps } from './model/model-deployment';
export { DrainHook } from './model/probes';
export type { ProbeOptions } from './model/probes';
export { ModelUpdateStrategy, RolloutStrategy } from './model/rollout-strategy';
export type { RollingUpdateOptions } from './model/rollout-strategy';
export { DisruptionBudget } from './model/disruption-budget';
export { Autoscaling, KedaMetric } from './model/autoscaling';
export type { AutoscalingBounds, CpuAutoscalingOptions, KedaAutoscalingOptions, KedaSettings, PodsMetricAutoscalingOptions } from './model/autoscaling';
export { ModelCache } from './model/model-cache';
export type { ModelCacheOptions } from './model/model-cache';
export type { ModelEnvVar, ModelResources } from './model/resources';

// Progressive delivery (Argo Rollouts)
export { CanaryStep, Delivery } from './delivery/delivery';
export type { AnalysisOptions, BlueGreenOptions, CanaryOptions, ResolvedAnalysis } from './delivery/delivery';
export { ProgressiveDelivery, ROLLOUT_HASH_LABEL } from './delivery/progressive-delivery';
export type { DeliveredModel, ProgressiveDeliveryProps } from './delivery/progressive-delivery';

// Release pipelines (`modelpilot pipeline github|gitlab`)
export { githubReleaseWorkflow, gitlabReleasePipeline } from './pipeline/release-pipeline';
export type { ReleasePipelineOptions } from './pipeline/release-pipeline';

// The registry
export { ModelRegistry, ModelRegistrySource } from './registry/model-registry';
export type {
  ExternalRegistryProps, IModelRegistry, ModelRegistryProps, RegistryNotificationReceiver, RegistryNotifications,
} from './registry/model-registry';

// Monitoring and alerts
export { ModelMonitoring, ScrapeTarget } from './monitoring/model-monitoring';
export type { ModelMonitoringOptions, ModelMonitoringProps } from './monitoring/model-monitoring';
export type { MonitoredModel } from './monitoring/monitored-model';
export { ALERT_NAMES, LLM_ALERT_NAMES, ModelAlerts, Severity } from './monitoring/model-alerts';
export type { AlertingRule, AlertName, ModelAlertDefinition, ModelAlertsOptions, ModelAlertsProps, RuleGroup } from './monitoring/model-alerts';

// Alert routing
export { ALERTMANAGER_CONFIG_KEY, AlertRouting, UPDATER_RECEIVER } from './alerting/alert-routing';
export type { AlertRoutingProps, RouteOptions, RouteTiming, UpdaterRouteOptions } from './alerting/alert-routing';
export { Receiver } from './alerting/receiver';
export type {
  EmailReceiverOptions, PagerDutyReceiverOptions, ReceiverOptions, SlackReceiverOptions, WebhookReceiverOptions,
} from './alerting/receiver';

// The updater
export { UpdaterPeer } from './network/peers';
export { ModelUpdater, UpdaterDiscovery, UpdaterState } from './updater/model-updater';
export type { UpdaterStateClaimOptions } from './updater/updater-state';
export type { IWebhookReceiver, ModelUpdaterOptions, ModelUpdaterProps, UpdatedModel, WebhookKind } from './updater/model-updater';

// GitOps (Argo CD)
export { GitOpsApplication, SYNC_WAVE_ANNOTATION } from './gitops/gitops-application';
export type { GitOpsApplicationProps, GitOpsDestination, GitOpsRetry } from './gitops/gitops-application';

// Validation
export { assertValidManifests, formatIssue, ManifestValidationError, validateManifest, validateManifests } from './validation/validate';
export type { ValidateOptions, ValidationIssue, ValidationResult } from './validation/validate';
export { WARNING_METADATA_TYPE, warningsOf } from './validation/warnings';
export type { SynthWarning } from './validation/warnings';

// The stack
export { SelfHealingModelStack } from './stack';
export type { SelfHealingModelStackProps } from './stack';

// One Docker host: the compose bundle
export { SINGLE_HOST_IMAGES, singleHostBundle } from './compose/single-host';
export type { SingleHostOptions, SingleHostService } from './compose/single-host';
