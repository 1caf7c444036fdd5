import { createHash } from 'crypto';
import { ApiObject, Chart } from 'cdk8s';
import { Construct } from 'constructs';
import * as YAML from 'yaml';
import type { SecretKeySelector } from '../alerting/receiver';
import { AgentConfigInput, ConfigError, parseConfig } from '../core/contract/agent-config';
import { KUBERNETES_TARGET_RBAC } from '../core/contract/kubernetes-rbac';
import { Duration, toPromDuration } from '../core/duration';
import { ImageRef } from '../core/image-ref';
import { recommendedLabels } from '../core/labels';
import { Slo } from '../core/slo';
import type { ModelDeployment } from '../model/model-deployment';
import { IModelRegistry, ModelRegistry } from '../registry/model-registry';

/** Where the agent's config file, secrets and state live in its container. */
const PATHS = {
  config: '/etc/modelpilot',
  webhook: '/var/run/secrets/modelpilot/webhook',
  registry: '/var/run/secrets/modelpilot/registry',
  state: '/var/lib/modelpilot',
} as const;

const DNS_NAME_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/**
 * A network peer of the updater (NetworkPolicy `from` / `to`): pods by label (optionally in another namespace), a
 * whole namespace, or a CIDR block.
 */
export class UpdaterPeer {
  /** Pods with `labels`, in `namespace` (the updater's own when omitted). */
  public static pods(labels: Record<string, string>, namespace?: string): UpdaterPeer {
    if (Object.keys(labels).length === 0) {
      throw new Error("'UpdaterPeer.pods' labels are empty, which would match every pod; give labels such as { 'app.kubernetes.io/name': 'alertmanager' }");
    }
    return new UpdaterPeer({
      podSelector: { matchLabels: { ...labels } },
      ...(namespace ? { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': namespace } } } : {}),
    }, `pods ${JSON.stringify(labels)}${namespace ? ` in '${namespace}'` : ''}`);
  }

  /** Every pod of a namespace. */
  public static namespace(name: string): UpdaterPeer {
    if (!DNS_NAME_RE.test(name)) throw new Error(`'UpdaterPeer.namespace' value '${name}' is not a namespace name; use lowercase letters, digits and '-'`);
    return new UpdaterPeer({ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': name } } }, `namespace '${name}'`);
  }

  /** An IP block, e.g. `10.0.0.0/8` or the API server's `172.20.0.1/32`. */
  public static cidr(cidr: string): UpdaterPeer {
    const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr);
    if (!m || m.slice(1, 5).some((o) => Number(o) > 255) || Number(m[5]) > 32) {
      throw new Error(`'UpdaterPeer.cidr' value '${cidr}' is not an IPv4 CIDR block; write it like '10.0.0.0/8'`);
    }
    return new UpdaterPeer({ ipBlock: { cidr } }, `cidr '${cidr}'`);
  }

  private constructor(
    /** The NetworkPolicyPeer JSON. */
    public readonly peer: Record<string, unknown>,
    /** For messages. */
    public readonly description: string,
  ) {}
}

/** How the agent finds the model Deployments, and so how much the Role must allow. */
export class UpdaterDiscovery {
  /**
   * By name (least privilege, the default): every call names a Deployment, so the Role lists them in
   * `resourceNames` and the agent can touch nothing else.
   */
  public static byName(): UpdaterDiscovery {
    return new UpdaterDiscovery(undefined);
  }

  /**
   * By label selector: finds Deployments added later without a redeploy, at the price of namespace-wide `list` on
   * deployments (Kubernetes cannot limit a labelled `list` by `resourceNames`) and unrestricted `get`/`watch`/`patch`
   * on the namespace's Deployments.
   */
  public static byLabel(selector = 'modelpilot.dev/managed=true'): UpdaterDiscovery {
    if (!/^[A-Za-z0-9./_-]+(=[A-Za-z0-9._-]*)?(,[A-Za-z0-9./_-]+(=[A-Za-z0-9._-]*)?)*$/.test(selector)) {
      throw new Error(`'discovery' label selector '${selector}' is malformed; write it like 'modelpilot.dev/managed=true'`);
    }
    return new UpdaterDiscovery(selector);
  }

  private constructor(
    /** The selector, or undefined for by-name. */
    public readonly labelSelector: string | undefined,
  ) {}
}

/** Properties of a {@link ModelUpdater}. */
export interface ModelUpdaterProps {
  /** The model Deployments to keep up to date; all in the updater's namespace. */
  readonly models: readonly ModelDeployment[];
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
   * @default 'ghcr.io/modelpilot/modelpilot-updater:0.1.0'
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
  readonly inconclusive?: 'hold' | 'rollback';
  /**
   * Attempts per version before it is quarantined.
   * @default 3
   */
  readonly maxAttempts?: number;
  /**
   * PersistentVolumeClaim for the quarantine store and audit log, so they survive the pod.
   * @default - an emptyDir: survives container restarts, not rescheduling
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

/** Where an updater's webhooks are and the Secret key of their bearer token. */
export interface UpdaterWebhookEndpoint {
  /** `http://<name>.<namespace>.svc:<port>/webhooks/<kind>` */
  url(kind: WebhookKind): string;
  readonly bearerToken: SecretKeySelector;
}

/** The props of a {@link ModelUpdater} that a {@link SelfHealingModelStack}'s `updater` section takes (it supplies the rest). */
export type ModelUpdaterOptions = Omit<ModelUpdaterProps, 'models' | 'registry' | 'namespace'>;

/**
 * The updater agent in the cluster: a single-replica Deployment (non-root, read-only root filesystem, resources,
 * probes on `/healthz`) with its ServiceAccount and a namespaced Role that allows exactly the calls the
 * Kubernetes target makes, its config rendered from typed props and validated with the agent's own schema, a
 * Service for webhooks, a NetworkPolicy and a PodMonitor.
 */
export class ModelUpdater extends Construct {
  public readonly name: string;
  public readonly namespace: string;
  public readonly image: ImageRef;
  public readonly port: number;
  /** The labels of every object (and the pod). */
  public readonly labels: Readonly<Record<string, string>>;
  /** The agent config (agent.yaml), as rendered into the ConfigMap. */
  public readonly config: AgentConfigInput;
  /** The Role rules. */
  public readonly rules: ReadonlyArray<Record<string, unknown>>;
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

  /**
   * Where an updater with these options listens and which token Secret it reads, known before it is created (the
   * stack points the registry's notifications at it, and the registry is created first).
   */
  public static webhookEndpoint(namespace: string, options: ModelUpdaterOptions = {}): UpdaterWebhookEndpoint {
    const name = options.name ?? 'modelpilot-updater';
    const port = options.port ?? 8080;
    return {
      url: (kind) => `http://${name}.${namespace}.svc:${port}/webhooks/${kind}`,
      bearerToken: options.webhookBearerToken ?? { name: `${name}-webhook`, key: 'token' },
    };
  }

  constructor(scope: Construct, id: string, props: ModelUpdaterProps) {
    super(scope, id);
    if (!props || !props.models || props.models.length === 0) {
      throw new Error("'models' is empty; give the ModelDeployments the updater keeps up to date, e.g. { models: [stack.model] }");
    }
    this.name = props.name ?? 'modelpilot-updater';
    if (!DNS_NAME_RE.test(this.name) || this.name.length > 63) {
      throw new Error(`'name' value '${this.name}' is not a DNS label; use at most 63 lowercase letters, digits and '-'`);
    }
    this.namespace = props.namespace ?? props.models[0].namespace;
    for (const m of props.models) {
      if (m.namespace !== this.namespace) {
        throw new Error(`'models' model '${m.modelName}' is in namespace '${m.namespace}', not the updater's '${this.namespace}'; `
          + 'the Role is namespaced: run one ModelUpdater per namespace');
      }
    }
    const names = props.models.map((m) => m.deploymentName);
    const dup = names.find((n, i) => names.indexOf(n) !== i);
    if (dup) throw new Error(`'models' lists Deployment '${dup}' twice; give each model once`);
    this.image = typeof props.image === 'string' || props.image === undefined
      ? ImageRef.parse(props.image ?? 'ghcr.io/modelpilot/modelpilot-updater:0.1.0', { field: 'image' })
      : props.image;
    this.port = props.port ?? 8080;
    if (!Number.isInteger(this.port) || this.port < 1024 || this.port > 65535) {
      throw new Error(`'port' value ${this.port} is out of range; use a whole number in 1024..65535 (the agent runs as non-root) such as 8080`);
    }
    const maxAttempts = props.maxAttempts ?? 3;
    if (!Number.isInteger(maxAttempts) || maxAttempts < 1) {
      throw new Error(`'maxAttempts' value ${maxAttempts} must be a whole number of at least 1`);
    }
    const discovery = props.discovery ?? UpdaterDiscovery.byName();
    this.webhookBearerToken = ModelUpdater.webhookEndpoint(this.namespace, props).bearerToken;
    this.webhookHmacSecret = props.webhookHmacSecret ?? { name: `${this.name}-webhook`, key: 'hmac' };
    const registryCredentials = props.registryCredentials ?? props.registry?.pullSecretName;
    const prometheusUrl = props.prometheusUrl ?? 'http://prometheus-operated.monitoring.svc:9090';
    const readinessTimeout = props.readinessTimeout
      ?? Duration.seconds(Math.max(...props.models.map((m) => m.startupBudgetSeconds)) + 120);

    const selector = { 'app.kubernetes.io/name': 'modelpilot-updater', 'app.kubernetes.io/instance': this.name };
    this.labels = recommendedLabels(selector, { version: this.image.tag ?? 'digest', component: 'updater', partOf: 'modelpilot' });
    const meta = () => ({ name: this.name, namespace: this.namespace, labels: { ...this.labels } });

    // Mark the model Deployments (metadata only: no rollout) so that label discovery and humans can tell.
    for (const m of props.models) {
      m.deployment.metadata.addLabel('modelpilot.dev/managed', 'true');
      m.deployment.metadata.addAnnotation('modelpilot.dev/policy', m.updatePolicy.toString());
    }

    // ---- config, validated with the schema the agent itself applies at start ----
    const containers = new Set(props.models.map((m) => m.containerName));
    this.config = {
      targets: {
        kubernetes: {
          namespace: this.namespace,
          ...(discovery.labelSelector ? { labelSelector: discovery.labelSelector } : { deployments: names }),
          ...(containers.size === 1 ? { container: [...containers][0] } : {}),
        },
      },
      images: props.models.map((m) => ({
        repository: m.image.name,
        model: m.modelName,
        policy: m.updatePolicy.toString(),
        slo: renderSlo(m.slo),
      })),
      pollInterval: toPromDuration(props.pollInterval ?? Duration.minutes(5)),
      registries: {
        insecure: props.registry?.inCluster ? [props.registry.host] : [],
        ...(registryCredentials ? { dockerConfig: `${PATHS.registry}/config.json` } : {}),
      },
      health: {
        readinessTimeout: toPromDuration(readinessTimeout),
        bakeWindow: toPromDuration(props.bakeWindow ?? Duration.minutes(5)),
        prometheus: { url: prometheusUrl },
        inconclusive: props.inconclusive ?? 'hold',
      },
      rollback: {
        maxAttempts,
        attemptTimeout: toPromDuration(Duration.seconds(readinessTimeout.toSeconds() + 30)),
      },
      webhooks: {
        listen: `0.0.0.0:${this.port}`,
        bearerTokenFile: `${PATHS.webhook}/token`,
        hmacSecretFile: `${PATHS.webhook}/hmac`,
      },
      stateDir: PATHS.state,
    };
    try {
      parseConfig(this.config, `ModelUpdater '${this.node.path}' config`);
    } catch (e) {
      if (e instanceof ConfigError) throw new Error(`the agent config rendered from the props is invalid (${e.problems.join('; ')}); fix the matching prop`);
      throw e;
    }
    const configText = YAML.stringify(this.config);

    // ---- RBAC: exactly what the Kubernetes target calls, nothing cluster-wide ----
    this.rules = KUBERNETES_TARGET_RBAC.map((r) => {
      const byName = r.byName && !discovery.labelSelector;
      const verbs = discovery.labelSelector ? [...r.verbs, ...(r.labelDiscoveryVerbs ?? [])] : [...r.verbs];
      return {
        apiGroups: [r.apiGroup],
        resources: [r.resource],
        verbs: [...new Set(verbs)].sort(),
        ...(byName ? { resourceNames: [...names].sort() } : {}),
      };
    });

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

    // ---- the agent ----
    const webhookItems = (ref: SecretKeySelector, path: string) => ({ secret: { secretName: ref.name, items: [{ key: ref.key, path }] } });
    const volumes: Array<Record<string, unknown>> = [
      { name: 'config', configMap: { name: this.name } },
      { name: 'webhook-token', ...webhookItems(this.webhookBearerToken, 'token') },
      { name: 'webhook-hmac', ...webhookItems(this.webhookHmacSecret, 'hmac') },
      { name: 'state', ...(props.stateClaimName ? { persistentVolumeClaim: { claimName: props.stateClaimName } } : { emptyDir: {} }) },
      { name: 'tmp', emptyDir: { sizeLimit: '64Mi' } },
    ];
    const mounts: Array<Record<string, unknown>> = [
      { name: 'config', mountPath: PATHS.config, readOnly: true },
      { name: 'webhook-token', mountPath: `${PATHS.webhook}/token`, subPath: 'token', readOnly: true },
      { name: 'webhook-hmac', mountPath: `${PATHS.webhook}/hmac`, subPath: 'hmac', readOnly: true },
      { name: 'state', mountPath: PATHS.state },
      { name: 'tmp', mountPath: '/tmp' },
    ];
    if (registryCredentials) {
      volumes.push({ name: 'registry-credentials', secret: { secretName: registryCredentials, items: [{ key: '.dockerconfigjson', path: 'config.json' }] } });
      mounts.push({ name: 'registry-credentials', mountPath: PATHS.registry, readOnly: true });
    }
    const probe = (periodSeconds: number, failureThreshold: number) => ({
      httpGet: { path: '/healthz', port: 'http' }, periodSeconds, timeoutSeconds: 2, failureThreshold,
    });
    this.deployment = new ApiObject(this, 'Resource', {
      apiVersion: 'apps/v1', kind: 'Deployment', metadata: meta(),
      spec: {
        // One agent per namespace: two would race on the same Deployments. Recreate keeps it at most one.
        replicas: 1,
        strategy: { type: 'Recreate' },
        revisionHistoryLimit: 3,
        selector: { matchLabels: { ...selector } },
        template: {
          metadata: {
            labels: { ...this.labels },
            annotations: { 'modelpilot.dev/config-sha256': createHash('sha256').update(configText).digest('hex') },
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
              args: ['agent', '--config', `${PATHS.config}/agent.yaml`],
              ports: [{ name: 'http', containerPort: this.port, protocol: 'TCP' }],
              env: [{ name: 'NODE_OPTIONS', value: '--max-old-space-size=128 --max-semi-space-size=2' }],
              // --max-semi-space-size=2 keeps the young generation small even when the agent runs from another image. Measured:
              // ~81 MB RSS idle (Kubernetes target, webhooks on; bench/results/kubernetes.json), ~75 MB peak with 100 watched images.
              resources: { requests: { cpu: '50m', memory: '128Mi' }, limits: { cpu: '500m', memory: '256Mi' } },
              startupProbe: probe(2, 30),
              livenessProbe: probe(10, 3),
              readinessProbe: probe(5, 2),
              securityContext: {
                allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, privileged: false, capabilities: { drop: ['ALL'] },
              },
              volumeMounts: mounts,
            }],
            volumes,
          },
        },
      },
    });

    this.service = new ApiObject(this, 'Service', {
      apiVersion: 'v1', kind: 'Service', metadata: meta(),
      spec: { type: 'ClusterIP', selector: { ...selector }, ports: [{ name: 'http', port: this.port, targetPort: 'http', protocol: 'TCP' }] },
    });

    // ---- network: webhooks in from Alertmanager, the registry and what is allowed; out to API, registry, Prometheus, DNS ----
    const prometheus = props.prometheusPeer ?? UpdaterPeer.pods({ 'app.kubernetes.io/name': 'prometheus' }, 'monitoring');
    const alertmanager = props.alertmanagerPeer ?? UpdaterPeer.pods({ 'app.kubernetes.io/name': 'alertmanager' }, 'monitoring');
    const registryPeer = props.registry instanceof ModelRegistry
      ? UpdaterPeer.pods(props.registry.selectorLabels, props.registry.namespace) : undefined;
    const promPort = portOf(prometheusUrl, 'prometheusUrl');
    const registryPort = props.registry ? Number(/:(\d+)$/.exec(props.registry.host)?.[1] ?? (props.registry.inCluster ? 80 : 443)) : 443;
    const tcp = (port: number) => ({ protocol: 'TCP', port });
    const ingressFrom = [alertmanager, prometheus, ...(registryPeer ? [registryPeer] : []), ...(props.allowWebhooksFrom ?? [])];
    this.networkPolicy = new ApiObject(this, 'NetworkPolicy', {
      apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: meta(),
      spec: {
        podSelector: { matchLabels: { ...selector } },
        policyTypes: ['Ingress', 'Egress'],
        ingress: [{ from: ingressFrom.map((p) => ({ ...p.peer })), ports: [tcp(this.port)] }],
        egress: [
          { to: [{ ...(props.apiServerPeer ?? UpdaterPeer.cidr('0.0.0.0/0')).peer }], ports: [tcp(443), tcp(6443)] },
          { to: [{ ...(registryPeer ?? UpdaterPeer.cidr('0.0.0.0/0')).peer }], ports: [tcp(registryPort)] },
          { to: [{ ...prometheus.peer }], ports: [tcp(promPort)] },
          {
            to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } }, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } }],
            ports: [{ protocol: 'UDP', port: 53 }, tcp(53)],
          },
        ],
      },
    });

    this.podMonitor = new ApiObject(this, 'PodMonitor', {
      apiVersion: 'monitoring.coreos.com/v1', kind: 'PodMonitor', metadata: meta(),
      spec: {
        selector: { matchLabels: { ...selector } },
        podMetricsEndpoints: [{ port: 'http', path: '/metrics', interval: '30s' }],
      },
    });
  }

  /** In-cluster URL of a webhook: `webhookUrl('alertmanager')` is `http://modelpilot-updater.ml.svc:8080/webhooks/alertmanager`. */
  public webhookUrl(kind: WebhookKind): string {
    return ModelUpdater.webhookEndpoint(this.namespace, { name: this.name, port: this.port }).url(kind);
  }

  /** The chart this updater belongs to. */
  public get chart(): Chart {
    return Chart.of(this);
  }
}

/** The labels of a workload that survive its updates (no version). */
function renderSlo(slo: Slo): Record<string, unknown> {
  return {
    maxErrorRatio: slo.maxErrorRatio,
    window: toPromDuration(slo.window),
    maxP99Latency: toPromDuration(slo.maxP99Latency),
    maxFailedScrapes: slo.maxFailedScrapes,
    minRequestRate: slo.minRequestRate,
    metrics: { requestTotal: slo.requestTotalMetric, inferenceSeconds: slo.inferenceSecondsMetric },
  };
}

function portOf(url: string, field: string): number {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`'${field}' value '${url}' is not a URL; give e.g. 'http://prometheus-operated.monitoring.svc:9090'`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new Error(`'${field}' value '${url}' must use http or https; give e.g. 'http://prometheus-operated.monitoring.svc:9090'`);
  }
  return Number(u.port || (u.protocol === 'https:' ? 443 : 80));
}
