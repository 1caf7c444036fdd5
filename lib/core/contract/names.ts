/**
 * The names that the constructs render and the agent reads: one definition each, so the compiler catches drift.
 * No cdk8s, no file I/O: the agent loads this module too.
 */

/** Label that marks a Deployment as owned by the updater (label-selector discovery). */
export const MANAGED_LABEL = 'modelpilot.dev/managed';
/** The default label selector of the updater's Kubernetes discovery. */
export const MANAGED_SELECTOR = `${MANAGED_LABEL}=true`;

/** Annotations on a model Deployment that the constructs write and the Kubernetes target reads or writes. */
export const DEPLOYMENT_ANNOTATIONS = {
  /** The full image reference that ran before the update in flight (or the last one). */
  previousImage: 'modelpilot.dev/previous-image',
  /** JSON in-flight record of the update in flight; absent when none is. */
  inFlight: 'modelpilot.dev/inflight',
  /** 1-based attempt number of the update in flight. */
  attempt: 'modelpilot.dev/attempt',
  /** JSON of the whole pod template that ran before the update in flight: what rollback restores. */
  previousTemplate: 'modelpilot.dev/previous-template',
  /** JSON list of versions quarantined for this Deployment ({version, reason, since, source}); survives the agent's state. */
  quarantine: 'modelpilot.dev/quarantine',
  /** Why the Deployment changed, copied by Kubernetes to the ReplicaSet (`kubectl rollout history`). */
  changeCause: 'kubernetes.io/change-cause',
  /** Optional per-Deployment update policy, e.g. `semver:minor` (rendered by `ModelUpdater`). */
  policy: 'modelpilot.dev/policy',
  /** Optional name of the model container when the pod has several. */
  container: 'modelpilot.dev/container',
  /**
   * Name of the Argo Rollouts Rollout that runs this Deployment's pods (`workloadRef`; set by the stack's canary or
   * blue-green delivery): the Kubernetes target waits for the Rollout's verdict instead of the Deployment's status.
   */
  rollout: 'modelpilot.dev/rollout',
  /**
   * An operator's hold (`kubectl annotate deploy/<name> modelpilot.dev/hold=…`): no automatic update while it is
   * set. The value is an ISO-8601 end time, or anything else (e.g. `true`, a reason) for a hold until removed.
   */
  hold: 'modelpilot.dev/hold',
  /** An operator's pin (`kubectl annotate deploy/<name> modelpilot.dev/pin=1.3.0`): the model runs exactly this version. */
  pin: 'modelpilot.dev/pin',
  /** Kubernetes' own revision counter on Deployments and ReplicaSets. */
  revision: 'deployment.kubernetes.io/revision',
} as const;

/** Pod-template annotation holding the hash of the updater's config (a config change rolls the updater). */
export const CONFIG_HASH_ANNOTATION = 'modelpilot.dev/config-sha256';

/** The recommended label of the version, on the pod template and every object. */
export const VERSION_LABEL = 'app.kubernetes.io/version';
/** Kubernetes' recommended labels (`app.kubernetes.io/*`), spelled once: constructs, the agent and the CLI use these. */
export const K8S_LABELS = {
  name: 'app.kubernetes.io/name',
  instance: 'app.kubernetes.io/instance',
  version: VERSION_LABEL,
  component: 'app.kubernetes.io/component',
  partOf: 'app.kubernetes.io/part-of',
  managedBy: 'app.kubernetes.io/managed-by',
} as const;
/** The value of `app.kubernetes.io/managed-by` on everything modelpilot makes. */
export const MANAGED_BY = 'modelpilot';

/** The server-side-apply field manager of every patch the updater makes (the model image, MODEL_VERSION, the version label). */
export const UPDATER_FIELD_MANAGER = 'modelpilot';

/** Labels of a container on the Docker target (the Docker equivalent of the annotations above). */
export const DOCKER_LABELS = {
  enable: 'modelpilot.enable',
  scope: 'modelpilot.scope',
  model: 'modelpilot.model',
  policy: 'modelpilot.policy',
  readyUrl: 'modelpilot.ready.url',
  inFlight: 'modelpilot.inflight',
  /** PromQL matchers that select this container's series, e.g. `instance="127.0.0.1:8080"` (the gate's scope). */
  metricsSelector: 'modelpilot.metrics.selector',
  /**
   * Blue/green behind HAProxy: the haproxy.cfg backend that serves this model. With it, an update starts the new
   * version on the other port of {@link DOCKER_LABELS.proxyPorts} beside the old one and switches traffic through
   * HAProxy's runtime API (agent.yaml `targets.docker.proxy.haproxy`).
   */
  proxyBackend: 'modelpilot.proxy.backend',
  /** The model's two ports, e.g. `9001,9002` (one HAProxy server each); versions alternate between them. */
  proxyPorts: 'modelpilot.proxy.ports',
} as const;

/** The alert label that asks the updater to roll a version back, and its value. */
export const ACTION_LABEL = 'modelpilot_action';
/** Value of {@link ACTION_LABEL} on rollback-worthy alerts. */
export const ROLLBACK_ACTION = 'rollback';

/** Env vars the model server reads; `MODEL_VERSION` is the `version` label of its metrics, which the gate queries. */
export const MODEL_SERVER_ENV = {
  port: 'PORT',
  name: 'MODEL_NAME',
  version: 'MODEL_VERSION',
} as const;

/** The model server's contract metrics (the `Slo` defaults). */
export const MODEL_METRICS = {
  requestTotal: 'model_request_total',
  inferenceSeconds: 'model_inference_seconds',
} as const;

/** What the gate does when the SLO check cannot decide. One list for the agent's schema and the construct. */
export const INCONCLUSIVE_MODES = ['hold', 'probe', 'rollback'] as const;
/** One of {@link INCONCLUSIVE_MODES}. */
export type InconclusiveMode = typeof INCONCLUSIVE_MODES[number];

/** This package's version (equal to package.json's; test/updater/release-workflow.test.ts checks it). */
export const MODELPILOT_VERSION = '0.1.0';
/** Where .github/workflows/release.yml publishes the updater image for the modelpilot org. */
export const UPDATER_IMAGE_REPOSITORY = 'ghcr.io/modelpilot/modelpilot-updater';
/** ModelUpdater's default image: what the release workflow publishes for this version. */
export const DEFAULT_UPDATER_IMAGE = `${UPDATER_IMAGE_REPOSITORY}:${MODELPILOT_VERSION}`;
