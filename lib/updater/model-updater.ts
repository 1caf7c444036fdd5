import { createHash } from 'crypto';
import { ApiObject, Chart } from 'cdk8s';
import { Construct } from 'constructs';
import * as YAML from 'yaml';
import { checkDnsName, checkProps, DNS_LABEL_RE } from '../core/checks';
import { AgentConfigInput, ConfigError, parseConfig } from '../core/contract/agent-config';
import { CONFIG_HASH_ANNOTATION, DEFAULT_UPDATER_IMAGE, DEPLOYMENT_ANNOTATIONS, InconclusiveMode, K8S_LABELS, MANAGED_LABEL } from '../core/contract/names';
import { AGENT_PATHS } from '../core/contract/paths';
import { checkSecretKeySelector, DEFAULT_UPDATER_NAME, SecretKeySelector, WEBHOOK_SECRET_KEYS, webhookSecretName } from '../core/contract/secrets';
import { Duration } from '../core/duration';
import { ImageRef } from '../core/image-ref';
import { recommendedLabels } from '../core/labels';
import { UpdatePolicy } from '../core/update-policy';
import type { MonitoredModel } from '../monitoring/monitored-model';
import { UpdaterPeer } from '../network/peers';
import { IModelRegistry, ModelRegistry } from '../registry/model-registry';
import { addWarning } from '../validation/warnings';
import { UpdaterDiscovery } from './peers';
import {
  AgentConfigSpec, agentProbe, PolicyRule, renderAgentConfig, renderAgentVolumes, renderNetworkPolicySpec, renderRoleRules, urlPort,
} from './render';
import { UpdaterState } from './updater-state';

export { UpdaterDiscovery, UpdaterState };

/**
 * What the updater needs to know of a model it keeps up to date: what monitoring needs ({@link MonitoredModel})
 * plus the image and its update policy. A `ModelDeployment` satisfies it as it is.
 */
export interface UpdatedModel extends MonitoredModel {
  /** The image that should run now (its repository is watched). */
  readonly image: ImageRef;
  /** Which versions the updater may move to. */
  readonly updatePolicy: UpdatePolicy;
  /**
   * Seconds a new pod may take to start (the default readiness timeout is the slowest model's budget + 2 minutes).
   * @default 0
   */
  readonly startupBudgetSeconds?: number;
  /**
   * The model's Deployment object, when it is in this chart: the updater marks it (`modelpilot.dev/managed`,
   * `modelpilot.dev/policy`; metadata only, no rollout).
   * @default - not marked (label discovery then needs the label set some other way)
   */
  readonly deployment?: { readonly metadata: { addLabel(key: string, value: string): void; addAnnotation(key: string, value: string): void } };
}

/** Properties of a {@link ModelUpdater}. */
export interface ModelUpdaterProps {
  /**
   * The models to keep up to date; all in the updater's namespace. A `ModelDeployment` satisfies
   * {@link UpdatedModel}; a plain object describes a model deployed some other way.
   */
  readonly models: readonly UpdatedModel[];
  /**
   * Name of the Deployment, ServiceAccount, Role, Service, ConfigMap, NetworkPolicy and PodMonitor.
   * @default 'modelpilot-updater'
   */
  readonly name?: string;
  /**
   * Namespace.
   * @default - the models' namespace
   */
  readonly namespace?: string;
  /**
   * The agent image (built from agent/Dockerfile); a semver tag or a digest.
   * @default 'ghcr.io/modelpilot/modelpilot-updater:0.1.0' — what .github/workflows/release.yml publishes for this
   * version (DEFAULT_UPDATER_IMAGE); give your own build (`podman build -f agent/Dockerfile .`) from your registry
   */
  readonly image?: string | ImageRef;
  /**
   * How the agent finds the Deployments.
   * @default UpdaterDiscovery.byName()
   */
  readonly discovery?: UpdaterDiscovery;
  /**
   * The registry the model images come from (an in-cluster one is reached over plain HTTP, and its pods are let
   * through the NetworkPolicy both ways).
   * @default - an external registry over HTTPS
   */
  readonly registry?: IModelRegistry;
  /**
   * A `kubernetes.io/dockerconfigjson` Secret with credentials for the registry.
   * @default - the registry's pull Secret, if it has one; else anonymous
   */
  readonly registryCredentials?: string;
  /**
   * Secret key holding the HMAC-SHA256 webhook secret (`X-Modelpilot-Signature`).
   * @default - key 'hmac' of Secret '<name>-webhook'
   */
  readonly webhookHmacSecret?: SecretKeySelector;
  /**
   * Secret key holding the webhook bearer token (`Authorization: Bearer`; Alertmanager and `/v1/update` use it).
   * @default - key 'token' of Secret '<name>-webhook'
   */
  readonly webhookBearerToken?: SecretKeySelector;
  /**
   * Prometheus base URL for the SLO bake window.
   * @default 'http://prometheus-operated.monitoring.svc:9090'
   */
  readonly prometheusUrl?: string;
  /**
   * Prometheus pods (egress for queries, ingress for scraping /metrics).
   * @default UpdaterPeer.pods({ 'app.kubernetes.io/name': 'prometheus' }, 'monitoring')
   */
  readonly prometheusPeer?: UpdaterPeer;
  /**
   * Alertmanager pods (ingress to `/webhooks/alertmanager`).
   * @default UpdaterPeer.pods({ 'app.kubernetes.io/name': 'alertmanager' }, 'monitoring')
   */
  readonly alertmanagerPeer?: UpdaterPeer;
  /**
   * Further peers allowed to call the webhooks (CI, MLflow), e.g. `UpdaterPeer.cidr('10.0.0.0/8')`.
   * @default - none
   */
  readonly allowWebhooksFrom?: readonly UpdaterPeer[];
  /**
   * The Kubernetes API server (egress on 443 and 6443). Narrow it to its address when you know it.
   * @default UpdaterPeer.cidr('0.0.0.0/0')
   */
  readonly apiServerPeer?: UpdaterPeer;
  /**
   * How often the registry is polled (webhooks make it faster).
   * @default Duration.minutes(5)
   */
  readonly pollInterval?: Duration;
  /**
   * A version younger than this is not rolled out yet (its image config's `created`, else when the agent first saw
   * it): a freshly pushed, possibly compromised image waits, and the audit log and
   * `modelpilot_updater_waiting_versions` say until when. An older version the policy also accepts goes meanwhile.
   * @default - no minimum: a version is rolled out as soon as it is seen
   */
  readonly minImageAge?: Duration;
  /**
   * Roll out only versions whose digest carries a valid cosign signature (key-based, stored in the registry as
   * cosign pushes it) by this public key: the Secret key holding the PEM `cosign.pub`. Unsigned or badly signed
   * versions are refused, audited, counted and alerted, never applied.
   * @default - no signature check
   */
  readonly requireSignature?: { readonly publicKey: SecretKeySelector };
  /**
   * Roll out only digests that these environments' agents promoted: the registry must hold an attestation next to
   * the digest, signed by that environment's key (its `attest` private key's public half, from a Secret), naming
   * the environment. A production updater: `[{ environment: 'staging', publicKey: { name: 'staging-attest', key: 'attest.pub' } }]`.
   * A version staging never promoted (or rolled back) is refused, audited, counted and alerted.
   * @default - no proof required
   */
  readonly requireVerifiedIn?: ReadonlyArray<{ readonly environment: string; readonly publicKey: SecretKeySelector }>;
  /**
   * After each promotion, write signed proof of it to the registry (environment, version, the gate's SLO values),
   * for the environments after this one (`requireVerifiedIn`). The private key (PEM, EC P-256, Ed25519 or RSA,
   * unencrypted) comes from a Secret; the registry credentials need push on the model repositories.
   * @default - no proof written
   */
  readonly attest?: { readonly environment: string; readonly privateKey: SecretKeySelector };
  /**
   * Models whose version MLflow's Model Registry decides: per model name, the registered model and the alias to
   * follow (`champion`; without it the latest version), the image tag template (`{version}`) and optionally the
   * model-version tag holding the image digest. The outcome is written back as model-version tags. The
   * NetworkPolicy lets the agent reach `url` (on `peer`).
   * @default - no model follows MLflow
   */
  readonly mlflow?: UpdaterMlflowOptions;
  /**
   * How long a new version may take to roll out.
   * @default - the slowest model's startup budget plus 2 minutes
   */
  readonly readinessTimeout?: Duration;
  /**
   * How long the SLO is watched after the rollout before the version is promoted.
   * @default Duration.minutes(5)
   */
  readonly bakeWindow?: Duration;
  /**
   * What to do when the SLO check cannot decide (no traffic, Prometheus down).
   * @default 'hold'
   */
  readonly inconclusive?: Exclude<InconclusiveMode, 'probe'>;
  /**
   * Attempts per version before it is quarantined.
   * @default 3
   */
  readonly maxAttempts?: number;
  /**
   * Where the quarantine store, audit log and failure budgets live. `UpdaterState.emptyDir()` is an explicit
   * choice: a rescheduled pod then starts with no history and no failure budgets (quarantines still hold: they are
   * annotations on the Deployments).
   * @default UpdaterState.persistentVolumeClaim() - a 1Gi ReadWriteOnce claim named `<name>-state`
   */
  readonly state?: UpdaterState;
  /**
   * An existing PersistentVolumeClaim for the state; the same as `state: UpdaterState.existingClaim(name)`.
   * @default - see `state`
   */
  readonly stateClaimName?: string;
  /**
   * Port of the webhooks, /healthz and /metrics.
   * @default 8080
   */
  readonly port?: number;
}

/** The agent's webhook routes (`POST /webhooks/<kind>`). */
export type WebhookKind = 'registry' | 'alertmanager' | 'model' | 'mlflow';

/**
 * Where an updater's webhooks are and the Secret key of their bearer token: what a registry needs to notify it
 * ({@link ModelRegistry.notify}). A `ModelUpdater` is one.
 */
export interface IWebhookReceiver {
  /** `http://<name>.<namespace>.svc:<port>/webhooks/<kind>` */
  webhookUrl(kind: WebhookKind): string;
  readonly webhookBearerToken: SecretKeySelector;
}

/** {@link ModelUpdaterProps.mlflow}. */
export interface UpdaterMlflowOptions {
  /** The tracking server, e.g. `http://mlflow.mlflow.svc:5000`. */
  readonly url: string;
  /** A bearer token from a Secret (`MLFLOW_TRACKING_TOKEN`). @default - anonymous */
  readonly token?: SecretKeySelector;
  /** Where the server is, for the NetworkPolicy. @default UpdaterPeer.cidr('0.0.0.0/0') */
  readonly peer?: UpdaterPeer;
  /** Prefix of the tags written back (one per environment, e.g. `modelpilot.prod`). @default 'modelpilot' */
  readonly tagPrefix?: string;
  /** Per model name (the ModelDeployment's `name`). */
  readonly models: Readonly<Record<string, {
    /** @default - the model name */
    readonly registeredModel?: string;
    /** @default - the latest version */
    readonly alias?: string;
    /** @default '{version}' */
    readonly imageTag?: string;
    /** @default - the registry's digest for the tag */
    readonly digestTag?: string;
  }>>;
}

/** The props of a {@link ModelUpdater} that a {@link SelfHealingModelStack}'s `updater` section takes (it supplies the rest). */
export type ModelUpdaterOptions = Omit<ModelUpdaterProps, 'models' | 'registry' | 'namespace'>;

/**
 * The updater agent in the cluster: a single-replica Deployment (non-root, read-only root filesystem, resources,
 * probes on `/healthz`) with its ServiceAccount and a namespaced Role that allows exactly the calls the
 * Kubernetes target makes, its config rendered from typed props and validated with the agent's own schema, a
 * Service for webhooks, a NetworkPolicy and a PodMonitor.
 */
export class ModelUpdater extends Construct implements IWebhookReceiver {
  public readonly name: string;
  public readonly namespace: string;
  public readonly image: ImageRef;
  public readonly port: number;
  /** The labels of every object (and the pod). */
  public readonly labels: Readonly<Record<string, string>>;
  /** The agent config (agent.yaml), as rendered into the ConfigMap. */
  public readonly config: AgentConfigInput;
  /** The Role rules. */
  public readonly rules: ReadonlyArray<PolicyRule>;
  /** Secret holding the webhook bearer token and HMAC secret (for Alertmanager's and the registry's config). */
  public readonly webhookBearerToken: SecretKeySelector;
  public readonly webhookHmacSecret: SecretKeySelector;
  public readonly deployment: ApiObject;
  public readonly serviceAccount: ApiObject;
  public readonly role: ApiObject;
  public readonly roleBinding: ApiObject;
  public readonly configMap: ApiObject;
  public readonly service: ApiObject;
  public readonly networkPolicy: ApiObject;
  public readonly podMonitor: ApiObject;
  /** Where the state directory lives. */
  public readonly state: UpdaterState;
  /** The labels its own series carry in Prometheus ({@link updaterMetricLabels}). */
  public get metricLabels(): { namespace: string; job: string } {
    return updaterMetricLabels(this, this.namespace);
  }
  /** The PersistentVolumeClaim created for the state (`UpdaterState.persistentVolumeClaim`), if any. */
  public readonly stateClaim?: ApiObject;

  constructor(scope: Construct, id: string, props: ModelUpdaterProps) {
    super(scope, id);
    checkProps('ModelUpdater', props, '{ models: [model] } (ModelDeployments)');
    const p = resolveProps(props);
    this.name = p.name;
    this.namespace = p.namespace;
    this.image = p.image;
    this.port = p.port;
    this.state = p.state;
    this.webhookBearerToken = p.webhookBearerToken;
    this.webhookHmacSecret = p.webhookHmacSecret;
    const names = props.models.map((m) => m.deploymentName);
    const selector = { [K8S_LABELS.name]: 'modelpilot-updater', [K8S_LABELS.instance]: this.name };
    this.labels = recommendedLabels(selector, { version: this.image.tag ?? 'digest', component: 'updater', partOf: 'modelpilot' });
    const meta = () => ({ name: this.name, namespace: this.namespace, labels: { ...this.labels } });

    markModels(this, props.models);

    // The config, validated with the schema the agent itself applies at start.
    this.config = validatedConfig(agentConfigSpec(props, p, this.namespace, this.port), this.node.path);
    const configText = YAML.stringify(this.config);

    // RBAC: exactly what the Kubernetes target calls, nothing cluster-wide.
    this.rules = renderRoleRules(names, p.discovery.labelSelector);
    this.serviceAccount = new ApiObject(this, 'ServiceAccount', {
      apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta(),
      // The token is mounted by the pod spec only (this pod needs the API); other pods using the SA get none.
      automountServiceAccountToken: false,
    });
    this.role = new ApiObject(this, 'Role', {
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: meta(), rules: this.rules.map((r) => ({ ...r })),
    });
    this.roleBinding = new ApiObject(this, 'RoleBinding', {
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: meta(),
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: this.name },
      subjects: [{ kind: 'ServiceAccount', name: this.name, namespace: this.namespace }],
    });
    this.configMap = new ApiObject(this, 'Config', {
      apiVersion: 'v1', kind: 'ConfigMap', metadata: meta(), data: { 'agent.yaml': configText },
    });

    this.deployment = new ApiObject(this, 'Resource', {
      apiVersion: 'apps/v1', kind: 'Deployment', metadata: meta(), spec: this.deploymentSpec(props, p, selector, configText),
    });

    this.service = new ApiObject(this, 'Service', {
      apiVersion: 'v1', kind: 'Service', metadata: meta(),
      spec: { type: 'ClusterIP', selector: { ...selector }, ports: [{ name: 'http', port: this.port, targetPort: 'http', protocol: 'TCP' }] },
    });

    this.networkPolicy = new ApiObject(this, 'NetworkPolicy', {
      apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: meta(),
      spec: renderNetworkPolicySpec({ selector, port: this.port, ...networkPeers(props, p.prometheusUrl) }),
    });

    this.podMonitor = new ApiObject(this, 'PodMonitor', {
      apiVersion: 'monitoring.coreos.com/v1', kind: 'PodMonitor', metadata: meta(),
      spec: {
        selector: { matchLabels: { ...selector } },
        // job set explicitly (not left to the operator's default), so the updater alerts can select this updater
        podMetricsEndpoints: [{ port: 'http', path: '/metrics', interval: '30s', relabelings: [{ targetLabel: 'job', replacement: this.metricLabels.job }] }],
      },
    });

    if (this.state.kind === 'claim') {
      this.stateClaim = new ApiObject(this, 'State', {
        apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { ...meta(), name: `${this.name}-state` },
        spec: {
          accessModes: ['ReadWriteOnce'],
          resources: { requests: { storage: this.state.storage } },
          ...(this.state.storageClassName ? { storageClassName: this.state.storageClassName } : {}),
        },
      });
    }
  }

  /** The agent's Deployment spec: one replica (two would race), Recreate, the locked-down pod with its config, secrets and state. */
  private deploymentSpec(props: ModelUpdaterProps, p: ReturnType<typeof resolveProps>, selector: Record<string, string>,
    configText: string): Record<string, unknown> {
    const { volumes, mounts } = renderAgentVolumes({
      name: this.name, webhookBearerToken: this.webhookBearerToken, webhookHmacSecret: this.webhookHmacSecret,
      stateClaimName: this.state.kind === 'emptyDir' ? undefined : this.state.claimName ?? `${this.name}-state`,
      registryCredentials: p.registryCredentials, signingKey: props.requireSignature?.publicKey,
      attestKey: props.attest?.privateKey, trustedKeys: props.requireVerifiedIn, mlflowToken: props.mlflow?.token,
    });
    return {
      // One agent per namespace: two would race on the same Deployments. Recreate keeps it at most one.
      replicas: 1,
      strategy: { type: 'Recreate' },
      revisionHistoryLimit: 3,
      selector: { matchLabels: { ...selector } },
      template: {
        metadata: {
          labels: { ...this.labels },
          annotations: { [CONFIG_HASH_ANNOTATION]: createHash('sha256').update(configText).digest('hex') },
        },
        spec: {
          serviceAccountName: this.name,
          automountServiceAccountToken: true,
          enableServiceLinks: false,
          securityContext: { runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, fsGroup: 10001, seccompProfile: { type: 'RuntimeDefault' } },
          containers: [{
            name: 'agent',
            image: this.image.toString(),
            imagePullPolicy: 'IfNotPresent',
            args: ['agent', '--config', `${AGENT_PATHS.config}/agent.yaml`],
            ports: [{ name: 'http', containerPort: this.port, protocol: 'TCP' }],
            // The same node flags as agent/Dockerfile, so the young generation stays small from any image
            // (measured RSS: bench/results/kubernetes.json, docs/updater.md).
            env: [{ name: 'NODE_OPTIONS', value: '--max-old-space-size=128 --max-semi-space-size=2' }],
            resources: { requests: { cpu: '50m', memory: '128Mi' }, limits: { cpu: '500m', memory: '256Mi' } },
            startupProbe: agentProbe(2, 30),
            livenessProbe: agentProbe(10, 3),
            readinessProbe: agentProbe(5, 2),
            securityContext: {
              allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, privileged: false, capabilities: { drop: ['ALL'] },
            },
            volumeMounts: mounts,
          }],
          volumes,
        },
      },
    };
  }

  /** In-cluster URL of a webhook: `webhookUrl('alertmanager')` is `http://modelpilot-updater.ml.svc:8080/webhooks/alertmanager`. */
  public webhookUrl(kind: WebhookKind): string {
    return `http://${this.name}.${this.namespace}.svc:${this.port}/webhooks/${kind}`;
  }

  /** The chart this updater belongs to. */
  public get chart(): Chart {
    return Chart.of(this);
  }
}

/**
 * The labels that tell one updater's own series (`modelpilot_updater_*`) from another's in a shared Prometheus:
 * the namespace it runs in and a `job` its PodMonitor sets explicitly to `<namespace>/<name>` (the single-host
 * bundle's scrape job uses the same two). The stack scopes the updater alerts with them, so two stacks never alert
 * for each other's updater and a stalled one fires even while another is healthy.
 */
export function updaterMetricLabels(u: { readonly name?: string; readonly namespace?: string },
  modelNamespace: string): { namespace: string; job: string } {
  const namespace = u.namespace ?? modelNamespace;
  return { namespace, job: `${namespace}/${u.name ?? DEFAULT_UPDATER_NAME}` };
}

/** The props checked, defaults applied: every prop check of the updater in one place. */
function resolveProps(props: ModelUpdaterProps) {
  if (!props || !props.models || props.models.length === 0) {
    throw new Error("'models' is empty; give the ModelDeployments the updater keeps up to date, e.g. { models: [stack.model] }");
  }
  const name = props.name ?? DEFAULT_UPDATER_NAME;
  if (!DNS_LABEL_RE.test(name) || name.length > 63) {
    throw new Error(`'name' value '${name}' is not a DNS label; use at most 63 lowercase letters, digits and '-'`);
  }
  const namespace = props.namespace ?? props.models[0].namespace;
  for (const m of props.models) {
    if (m.namespace !== namespace) {
      throw new Error(`'models' model '${m.modelName}' is in namespace '${m.namespace}', not the updater's '${namespace}'; `
        + 'the Role is namespaced: run one ModelUpdater per namespace');
    }
  }
  const names = props.models.map((m) => m.deploymentName);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup) throw new Error(`'models' lists Deployment '${dup}' twice; give each model once`);
  const image = typeof props.image === 'string' || props.image === undefined
    ? ImageRef.parse(props.image ?? DEFAULT_UPDATER_IMAGE, { field: 'image' })
    : props.image;
  const port = props.port ?? 8080;
  if (!Number.isInteger(port) || port < 1024 || port > 65535) {
    throw new Error(`'port' value ${port} is out of range; use a whole number in 1024..65535 (the agent runs as non-root) such as 8080`);
  }
  const maxAttempts = props.maxAttempts ?? 3;
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1) {
    throw new Error(`'maxAttempts' value ${maxAttempts} must be a whole number of at least 1`);
  }
  if (props.stateClaimName !== undefined) checkDnsName('stateClaimName', props.stateClaimName, 253);
  if (props.stateClaimName !== undefined && props.state !== undefined) {
    throw new Error(`both 'state' and 'stateClaimName' ('${props.stateClaimName}') are given; keep one, `
      + `e.g. state: UpdaterState.existingClaim('${props.stateClaimName}')`);
  }
  for (const name of Object.keys(props.mlflow?.models ?? {})) {
    if (!props.models.some((m) => m.modelName === name)) {
      throw new Error(`'mlflow.models' names model '${name}', which this updater does not keep up to date; `
        + `use one of ${props.models.map((m) => `'${m.modelName}'`).join(', ')}`);
    }
  }
  const envs = (props.requireVerifiedIn ?? []).map((r) => r.environment);
  const dupEnv = envs.find((e, i) => envs.indexOf(e) !== i);
  if (dupEnv) throw new Error(`'requireVerifiedIn' lists environment '${dupEnv}' twice; give each environment once, with its agent's public key`);
  if (props.attest && envs.includes(props.attest.environment)) {
    throw new Error(`'attest.environment' value '${props.attest.environment}' is also in 'requireVerifiedIn': an environment cannot require its own proof; `
      + 'name the environment this updater serves in attest and the ones before it in requireVerifiedIn');
  }
  // every Secret key the updater mounts must be one a Secret can have, or the pod never starts (#27)
  const refs: Array<[string, unknown]> = [
    ['webhookBearerToken', props.webhookBearerToken], ['webhookHmacSecret', props.webhookHmacSecret],
    ['requireSignature.publicKey', props.requireSignature?.publicKey], ['attest.privateKey', props.attest?.privateKey],
    ['mlflow.token', props.mlflow?.token],
    ...(props.requireVerifiedIn ?? []).map((r, i): [string, unknown] => [`requireVerifiedIn[${i}].publicKey`, r.publicKey]),
  ];
  for (const [field, ref] of refs) if (ref !== undefined) checkSecretKeySelector(field, ref);
  if (props.prometheusUrl !== undefined) urlPort(props.prometheusUrl, 'prometheusUrl');
  if (props.mlflow?.url !== undefined) urlPort(props.mlflow.url, 'mlflow.url');
  const state = props.state
    ?? (props.stateClaimName !== undefined ? UpdaterState.existingClaim(props.stateClaimName) : UpdaterState.persistentVolumeClaim());
  return {
    name, namespace, image, port, maxAttempts, state,
    discovery: props.discovery ?? UpdaterDiscovery.byName(),
    webhookBearerToken: props.webhookBearerToken ?? { name: webhookSecretName(name), key: WEBHOOK_SECRET_KEYS.bearerToken },
    webhookHmacSecret: props.webhookHmacSecret ?? { name: webhookSecretName(name), key: WEBHOOK_SECRET_KEYS.hmac },
    registryCredentials: props.registryCredentials ?? props.registry?.pullSecretName,
    prometheusUrl: props.prometheusUrl ?? 'http://prometheus-operated.monitoring.svc:9090',
    readinessTimeout: props.readinessTimeout ?? Duration.seconds(Math.max(...props.models.map((m) => m.startupBudgetSeconds ?? 0)) + 120),
  };
}

/** Marks the model Deployments (metadata only: no rollout) so that label discovery and humans can tell. */
function markModels(scope: Construct, models: ModelUpdaterProps['models']): void {
  for (const m of models) {
    if (m.image.tag === undefined) {
      addWarning(scope, `model '${m.modelName}' image '${m.image.toString()}' is pinned by digest alone, so the updater can never move it `
        + "(it follows tags); give the tag too, e.g. 'repo/model:1.4.0@sha256:…', or leave this model out of the updater");
    }
    m.deployment?.metadata.addLabel(MANAGED_LABEL, 'true');
    m.deployment?.metadata.addAnnotation(DEPLOYMENT_ANNOTATIONS.policy, m.updatePolicy.toString());
  }
}

/** What {@link renderAgentConfig} needs, from the props (defaults applied). */
function agentConfigSpec(props: ModelUpdaterProps, p: ReturnType<typeof resolveProps>, namespace: string, port: number): AgentConfigSpec {
  return {
    namespace, labelSelector: p.discovery.labelSelector,
    models: props.models.map((m) => {
      const follow = props.mlflow?.models[m.modelName];
      return {
        deploymentName: m.deploymentName, containerName: m.containerName, modelName: m.modelName,
        image: m.image, updatePolicy: m.updatePolicy, slo: m.slo,
        ...(follow ? { mlflow: { registeredModel: follow.registeredModel ?? m.modelName, ...follow } } : {}),
      };
    }),
    pollInterval: props.pollInterval ?? Duration.minutes(5), minImageAge: props.minImageAge, readinessTimeout: p.readinessTimeout,
    bakeWindow: props.bakeWindow ?? Duration.minutes(5), prometheusUrl: p.prometheusUrl, inconclusive: props.inconclusive ?? 'hold',
    maxAttempts: p.maxAttempts, port,
    insecureRegistry: props.registry?.inCluster ? props.registry.serviceHost ?? props.registry.host : undefined,
    registryMirror: props.registry?.serviceHost && props.registry.serviceHost !== props.registry.host
      ? { from: props.registry.host, to: props.registry.serviceHost } : undefined,
    registryCredentials: p.registryCredentials !== undefined,
    requireSignature: props.requireSignature !== undefined,
    requireVerifiedIn: props.requireVerifiedIn?.map((r) => r.environment), attestEnvironment: props.attest?.environment,
    ...(props.mlflow ? { mlflow: { url: props.mlflow.url, token: props.mlflow.token !== undefined, tagPrefix: props.mlflow.tagPrefix } } : {}),
  };
}

/** The rendered agent.yaml, validated with the schema the agent itself applies at start. */
function validatedConfig(spec: AgentConfigSpec, path: string): AgentConfigInput {
  const config = renderAgentConfig(spec);
  try {
    parseConfig(config, `ModelUpdater '${path}' config`);
  } catch (e) {
    if (e instanceof ConfigError) throw new Error(`the agent config rendered from the props is invalid (${e.problems.join('; ')}); fix the matching prop`);
    throw e;
  }
  return config;
}

/** Whom the updater talks to and who may talk to it, for its NetworkPolicy (defaults: the monitoring namespace's pods). */
function networkPeers(props: ModelUpdaterProps, prometheusUrl: string) {
  return {
    prometheus: props.prometheusPeer ?? UpdaterPeer.pods({ [K8S_LABELS.name]: 'prometheus' }, 'monitoring'),
    prometheusPort: urlPort(prometheusUrl, 'prometheusUrl'),
    alertmanager: props.alertmanagerPeer ?? UpdaterPeer.pods({ [K8S_LABELS.name]: 'alertmanager' }, 'monitoring'),
    registry: props.registry instanceof ModelRegistry ? UpdaterPeer.pods(props.registry.selectorLabels, props.registry.namespace) : undefined,
    registryPort: props.registry
      ? Number(/:(\d+)$/.exec(props.registry.serviceHost ?? props.registry.host)?.[1] ?? (props.registry.inCluster ? 80 : 443)) : 443,
    allowWebhooksFrom: props.allowWebhooksFrom ?? [],
    apiServer: props.apiServerPeer ?? UpdaterPeer.cidr('0.0.0.0/0'),
    anywhere: UpdaterPeer.cidr('0.0.0.0/0'),
    ...(props.mlflow ? { mlflow: { peer: props.mlflow.peer ?? UpdaterPeer.cidr('0.0.0.0/0'), port: urlPort(props.mlflow.url, 'mlflow.url') } } : {}),
  };
}
