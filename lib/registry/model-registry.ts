import { ApiObject, Chart, Lazy, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import * as YAML from 'yaml';
import { checkDnsName } from '../core/checks';
import { K8S_LABELS } from '../core/contract/names';
import { checkSecretKeySelector, SecretKeySelector } from '../core/contract/secrets';
import { ImageRef, registryPortProblem } from '../core/image-ref';
import { recommendedLabels, versionLabel } from '../core/labels';
import { sizeQuantity } from '../core/quantity';
import { checkHttpUrl } from '../core/url';
import { ingressPolicySpec, UpdaterPeer } from '../network/peers';
import { addWarning } from '../validation/warnings';

const k8s = kplus.k8s;

/** What a model stack needs to know about the registry its images come from. */
export interface IModelRegistry {
  /** Registry host[:port] that image references start with, e.g. `registry.example.com` or `localhost:30500`. */
  readonly host: string;
  /**
   * Where pods in the cluster reach the registry's API when that differs from `host` (an in-cluster registry on a
   * NodePort: images say `localhost:30500`, the updater talks to `model-registry.ml.svc:5000`).
   */
  readonly serviceHost?: string;
  /** Secret (type kubernetes.io/dockerconfigjson) the kubelet uses to pull, if the registry needs credentials. */
  readonly pullSecretName?: string;
  /** True when modelpilot runs the registry in the cluster. */
  readonly inCluster: boolean;
  /**
   * Sends push notifications to `receiver`'s registry webhook with its bearer token (an in-cluster registry only;
   * an external one has nothing to configure here).
   */
  notify?(receiver: RegistryNotificationReceiver): void;
}

/** What {@link ModelRegistry.notify} needs of the receiver of push events (a `ModelUpdater` is one). */
export interface RegistryNotificationReceiver {
  webhookUrl(kind: 'registry'): string;
  readonly webhookBearerToken: SecretKeySelector;
}

/** Properties of {@link ModelRegistry.external}. */
export interface ExternalRegistryProps {
  /** Registry host[:port], e.g. `ghcr.io` or `registry.example.com:5000`. */
  readonly host: string;
  /**
   * Name of an existing image-pull Secret for this registry.
   * @default - anonymous pulls
   */
  readonly pullSecret?: string;
}

/** Where the in-cluster registry sends its notifications (push/pull events). */
export interface RegistryNotifications {
  /** Endpoint URL, typically the updater's `http://<updater>.<ns>.svc:8080/webhooks/registry`. */
  readonly url: string;
  /**
   * Extra HTTP headers sent with each event. They end up in a ConfigMap: do not put long-lived secrets here.
   * @default - none
   */
  readonly headers?: Record<string, string>;
  /**
   * Send `Authorization: Bearer <token>` with each event, the token read from this Secret key (for example the
   * updater's `webhookBearerToken`). The token never enters the ConfigMap: an init container (the registry image's own
   * shell) renders the config into a memory-backed volume at start. The token may hold only `A-Z a-z 0-9 . _ ~ + / = -`.
   * @default - no Authorization header
   */
  readonly bearerToken?: SecretKeySelector;
  /**
   * Endpoint name in the registry config.
   * @default 'modelpilot-updater'
   */
  readonly name?: string;
}

/** Placeholder in the config template that the init container replaces with the bearer token. */
export const NOTIFY_TOKEN_PLACEHOLDER = '__MODELPILOT_NOTIFY_TOKEN__';

/**
 * Shell script of the init container: checks the token's characters (so it cannot break the sed expression), then
 * writes the config with the token in place of the placeholder.
 */
export const RENDER_CONFIG_SCRIPT = [
  'set -eu',
  'case "$MODELPILOT_NOTIFY_TOKEN" in',
  '  \'\'|*[!A-Za-z0-9._~+/=-]*) echo "modelpilot: the notification token is empty or has characters outside A-Z a-z 0-9 . _ ~ + / = -" >&2; exit 1;;',
  'esac',
  `sed "s#${NOTIFY_TOKEN_PLACEHOLDER}#$MODELPILOT_NOTIFY_TOKEN#" /config-template/config.yml > /etc/docker/registry/config.yml`,
].join('\n');

/** Properties of an in-cluster {@link ModelRegistry}. */
export interface ModelRegistryProps {
  /**
   * Expose the registry on this NodePort (30000–32767) and reference images as `localhost:<nodePort>/…`: the pattern
   * of kind's local-registry guide. The kubelet pulls through the node's container runtime, which resolves names and
   * connects on the node — it can reach `localhost:<nodePort>` (kube-proxy forwards it to the registry) but neither
   * resolves `model-registry.<ns>.svc` nor pulls plain HTTP from an unknown host; containerd needs a `hosts.toml`
   * for `localhost:<nodePort>` (docs/registry.md). Without it the stack refuses to synthesize.
   * @default - a ClusterIP Service only (images could not be pulled by the nodes)
   */
  readonly nodePort?: number;
  /**
   * Name of the Deployment, Service, PVC and ConfigMap.
   * @default 'model-registry'
   */
  readonly name?: string;
  /**
   * Namespace.
   * @default - the chart's namespace, else 'default'
   */
  readonly namespace?: string;
  /**
   * The registry image (CNCF distribution).
   * @default 'docker.io/library/registry:2.8.3'
   */
  readonly image?: string;
  /**
   * Size of the PersistentVolumeClaim that stores the blobs.
   * @default Size.gibibytes(50)
   */
  readonly storage?: Size;
  /**
   * StorageClass of the PVC.
   * @default - the cluster default
   */
  readonly storageClassName?: string;
  /**
   * Secret holding an htpasswd file (bcrypt) under the key `htpasswd`: pushes and pulls need its credentials.
   * Create it and the pull Secret with `npx modelpilot registry-credentials` (docs/registry.md).
   * @default - `<name>-htpasswd`, unless `anonymousPush` is true
   */
  readonly htpasswdSecret?: string;
  /**
   * Turn authentication off: anyone who reaches the registry can push a model version, which the updater then rolls
   * out on the registry's own push notification. Synthesis warns. Prefer credentials.
   * @default false
   */
  readonly anonymousPush?: boolean;
  /**
   * Who may reach the registry to push, beside the updater (which only reads): e.g. the CI runners'
   * `UpdaterPeer.namespace('ci')`. The NetworkPolicy cannot tell a push from a pull, so credentials are what
   * restrict pushes; this narrows who may try.
   * @default - none
   */
  readonly pushFrom?: UpdaterPeer[];
  /**
   * Where pulls come from: the nodes' addresses, since the kubelet pulls. Narrow it to your node CIDR, e.g.
   * `[UpdaterPeer.cidr('10.0.0.0/16')]`.
   * @default [UpdaterPeer.cidr('0.0.0.0/0')]
   */
  readonly pullFrom?: UpdaterPeer[];
  /**
   * A NetworkPolicy on the registry's pods: ingress on its port only from the updater, `pushFrom` and `pullFrom`.
   * @default true
   */
  readonly networkPolicy?: boolean;
  /**
   * Notification endpoint (e.g. the updater's registry webhook).
   * @default - no notifications
   */
  readonly notifications?: RegistryNotifications;
  /**
   * Port of the Service and the container.
   * @default 5000
   */
  readonly port?: number;
  /**
   * Pull Secret (type `kubernetes.io/dockerconfigjson`) that the kubelet and the updater use for this registry.
   * @default - `<name>-pull`, unless `anonymousPush` is true
   */
  readonly pullSecret?: string;
}

/**
 * Chooses the registry of a {@link SelfHealingModelStack}: an in-cluster one the stack creates, or an existing
 * external one.
 */
export abstract class ModelRegistrySource {
  /** Binds the choice into `scope` and returns the registry. */
  public abstract bind(scope: Construct, id: string): IModelRegistry;
}

class ExternalRegistry extends ModelRegistrySource implements IModelRegistry {
  public readonly inCluster = false;
  constructor(public readonly host: string, public readonly pullSecretName: string | undefined) {
    super();
  }
  public bind(): IModelRegistry {
    return this;
  }
}

class InClusterRegistry extends ModelRegistrySource {
  constructor(private readonly props: ModelRegistryProps) {
    super();
  }
  public bind(scope: Construct, id: string): IModelRegistry {
    return new ModelRegistry(scope, id, this.props);
  }
}

/**
 * An in-cluster OCI registry (CNCF distribution, `registry:2`): Deployment, PersistentVolumeClaim, Service,
 * a ConfigMap with its config (optional htpasswd auth, optional notification endpoint).
 *
 * For an existing registry use {@link ModelRegistry.external}.
 */
export class ModelRegistry extends Construct implements IModelRegistry {
  /** An existing registry outside the stack. */
  public static external(props: ExternalRegistryProps): ModelRegistrySource & IModelRegistry {
    if (typeof props.host !== 'string' || !/^[a-z0-9.-]+(:\d{1,5})?$/i.test(props.host) || props.host.includes('/')) {
      throw new Error(`'registry.host' value '${props.host}' is not a host[:port]; give it without scheme or path, e.g. 'registry.example.com:5000'`);
    }
    const portProblem = registryPortProblem(props.host);
    if (portProblem) throw new Error(`'registry.host' value '${props.host}' ${portProblem}`);
    if (props.pullSecret !== undefined) checkDnsName('registry.pullSecret', props.pullSecret, 253);
    return new ExternalRegistry(props.host, props.pullSecret);
  }

  /** An in-cluster registry, created by the stack. */
  public static inCluster(props: ModelRegistryProps = {}): ModelRegistrySource {
    return new InClusterRegistry(props);
  }

  public readonly inCluster = true;
  /** What image references start with: `localhost:<nodePort>`, or `<name>.<namespace>.svc:<port>` without a NodePort. */
  public readonly host: string;
  /** `<name>.<namespace>.svc:<port>`: where pods reach the registry's API. */
  public readonly serviceHost: string;
  /** The NodePort the nodes pull through, if any. */
  public readonly nodePort?: number;
  public readonly pullSecretName?: string;
  /** Name of the Deployment, Service, PVC and ConfigMap. */
  public readonly name: string;
  /** Namespace. */
  public readonly namespace: string;
  /** Service port. */
  public readonly port: number;
  /** Labels on every object. */
  public readonly labels: Readonly<Record<string, string>>;
  /** The stable subset of labels that selects the registry's pods (no version). */
  public readonly selectorLabels: Readonly<Record<string, string>>;
  /** The htpasswd Secret (`undefined` with anonymousPush). */
  public readonly htpasswdSecretName?: string;
  private notificationsSpec?: RegistryNotifications;
  private readonly htpasswd: boolean;

  /**
   * The host image references of an in-cluster registry start with, without making one: `localhost:<nodePort>`, or
   * `<name>.<namespace>.svc:<port>` without a NodePort (the Pulumi component checks `modelpilot:registry.host` by it).
   */
  public static hostOf(props: { readonly name?: string; readonly namespace: string; readonly port?: number; readonly nodePort?: number }): string {
    return props.nodePort !== undefined ? `localhost:${props.nodePort}` : `${props.name ?? 'model-registry'}.${props.namespace}.svc:${props.port ?? 5000}`;
  }

  constructor(scope: Construct, id: string, props: ModelRegistryProps = {}) {
    super(scope, id);
    this.name = props.name ?? 'model-registry';
    checkDnsName('registry.name', this.name);
    this.namespace = props.namespace ?? Chart.of(this).namespace ?? 'default';
    checkDnsName('registry.namespace', this.namespace);
    this.port = props.port ?? 5000;
    if (!Number.isInteger(this.port) || this.port < 1 || this.port > 65535) {
      throw new Error(`'registry.port' value ${this.port} is out of range; use a whole number in 1..65535 such as 5000`);
    }
    this.serviceHost = `${this.name}.${this.namespace}.svc:${this.port}`;
    if (props.nodePort !== undefined && (!Number.isInteger(props.nodePort) || props.nodePort < 30000 || props.nodePort > 32767)) {
      throw new Error(`'registry.nodePort' value ${props.nodePort} is outside Kubernetes' NodePort range; use a whole number in 30000..32767 such as 30500`);
    }
    this.nodePort = props.nodePort;
    this.host = ModelRegistry.hostOf({ name: this.name, namespace: this.namespace, port: this.port, nodePort: this.nodePort });
    if (props.pullSecret !== undefined) checkDnsName('registry.pullSecret', props.pullSecret, 253);
    if (props.htpasswdSecret !== undefined) checkDnsName('registry.htpasswdSecret', props.htpasswdSecret, 253);
    if (props.anonymousPush === true && props.htpasswdSecret !== undefined) {
      throw new Error(`'registry.anonymousPush' is true but 'registry.htpasswdSecret' ('${props.htpasswdSecret}') turns authentication on; keep one of them`);
    }
    // Secure by default: credentials unless anonymous pushes are asked for.
    const htpasswdSecret = props.anonymousPush === true ? undefined : (props.htpasswdSecret ?? `${this.name}-htpasswd`);
    this.htpasswdSecretName = htpasswdSecret;
    this.pullSecretName = props.pullSecret ?? (htpasswdSecret ? `${this.name}-pull` : undefined);
    if (props.anonymousPush === true) {
      addWarning(this, `'registry.anonymousPush' is true: anyone who can reach ${this.name}.${this.namespace}.svc:${this.port} can push a model version, `
        + 'and the updater rolls it out on the push notification; drop anonymousPush and create the credentials with `npx modelpilot registry-credentials`');
    }
    const image = ImageRef.parse(props.image ?? 'docker.io/library/registry:2.8.3', { field: 'registry.image' });
    const version = versionLabel(image);
    const storageMi = (props.storage ?? Size.gibibytes(50)).toMebibytes();
    if (!(storageMi > 0)) {
      throw new Error(`'registry.storage' size ${storageMi}Mi must be positive; give for example Size.gibibytes(50)`);
    }
    this.htpasswd = htpasswdSecret !== undefined;

    const selector = { [K8S_LABELS.name]: 'registry', [K8S_LABELS.instance]: this.name };
    this.selectorLabels = selector;
    this.labels = recommendedLabels(selector, { version, component: 'model-registry', partOf: 'modelpilot' });
    const meta = () => ({ name: this.name, namespace: this.namespace, labels: { ...this.labels } });

    if (props.notifications) checkNotifications(props.notifications);
    this.notificationsSpec = props.notifications;

    new ApiObject(this, 'Config', {
      apiVersion: 'v1', kind: 'ConfigMap', metadata: meta(), data: Lazy.any({ produce: () => ({ 'config.yml': YAML.stringify(this.config) }) }),
    });

    new k8s.KubePersistentVolumeClaim(this, 'Storage', {
      metadata: meta(),
      spec: {
        accessModes: ['ReadWriteOnce'],
        storageClassName: props.storageClassName,
        resources: { requests: { storage: k8s.Quantity.fromString(sizeQuantity(props.storage ?? Size.gibibytes(50))) } },
      },
    });

    new ApiObject(this, 'Resource', {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: meta(),
      spec: {
        replicas: 1,
        // One writer on a ReadWriteOnce volume: the old pod must stop before the new one mounts it.
        strategy: { type: 'Recreate' },
        revisionHistoryLimit: 3,
        selector: { matchLabels: selector },
        template: {
          metadata: { labels: { ...this.labels } },
          spec: Lazy.any({
            produce: () => renderRegistryPodSpec({
              name: this.name, image, port: this.port, htpasswdSecret, bearerToken: this.notificationsSpec?.bearerToken,
            }),
          }),
        },
      },
    });

    new ApiObject(this, 'Service', {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: meta(),
      spec: this.nodePort !== undefined
        ? { type: 'NodePort', selector, ports: [{ name: 'http', port: this.port, targetPort: 'http', protocol: 'TCP', nodePort: this.nodePort }] }
        : { type: 'ClusterIP', selector, ports: [{ name: 'http', port: this.port, targetPort: 'http', protocol: 'TCP' }] },
    });

    if (props.networkPolicy !== false) {
      const from = [
        UpdaterPeer.pods({ [K8S_LABELS.name]: 'modelpilot-updater' }),
        ...(props.pushFrom ?? []),
        ...(props.pullFrom ?? [UpdaterPeer.cidr('0.0.0.0/0')]),
      ];
      new ApiObject(this, 'NetworkPolicy', {
        apiVersion: 'networking.k8s.io/v1',
        kind: 'NetworkPolicy',
        metadata: meta(),
        spec: ingressPolicySpec(selector, from.map((p) => p.peer), this.port),
      });
    }
  }

  /** Where push events go, if anywhere: the `notifications` prop, or what {@link notify} set. */
  public get notifications(): RegistryNotifications | undefined {
    return this.notificationsSpec;
  }

  /** The registry config (config.yml) as an object, as it will be rendered. */
  public get config(): Record<string, unknown> {
    return renderRegistryConfig(this.port, this.htpasswd, this.notificationsSpec);
  }

  /**
   * Sends push notifications to `receiver`'s registry webhook (`/webhooks/registry`) with its bearer token. Rendered
   * at synthesis, so it may be called after the registry is created (the stack calls it once its updater exists).
   * @throws if the registry already has notifications (its `notifications` prop or an earlier `notify`)
   */
  public notify(receiver: RegistryNotificationReceiver): void {
    if (this.notificationsSpec) {
      throw new Error(`registry '${this.name}' already sends notifications to '${this.notificationsSpec.url}'; a registry has one endpoint: drop its 'notifications' prop or the second notify()`);
    }
    const n = { url: receiver.webhookUrl('registry'), bearerToken: receiver.webhookBearerToken };
    checkNotifications(n);
    this.notificationsSpec = n;
  }
}

/** Throws if the notification endpoint is unusable. */
function checkNotifications(n: RegistryNotifications): void {
  checkHttpUrl('registry.notifications.url', n.url, 'http://modelpilot-updater.ml.svc:8080/webhooks/registry',
    "remove them from the URL and give the token as 'bearerToken' (a Secret key)");
  if (n.bearerToken) {
    checkSecretKeySelector('registry.notifications.bearerToken', n.bearerToken);
    if (Object.keys(n.headers ?? {}).some((h) => h.toLowerCase() === 'authorization')) {
      throw new Error('\'registry.notifications.headers\' sets Authorization and \'bearerToken\' is given too; keep only \'bearerToken\'');
    }
  }
}

/** @internal The distribution registry's config.yml as an object. */
export function renderRegistryConfig(port: number, htpasswd: boolean, n: RegistryNotifications | undefined): Record<string, unknown> {
  const config: Record<string, unknown> = {
    version: 0.1,
    log: { fields: { service: 'registry' } },
    storage: { filesystem: { rootdirectory: '/var/lib/registry' }, delete: { enabled: true } },
    http: { addr: `:${port}`, headers: { 'X-Content-Type-Options': ['nosniff'] } },
    health: { storagedriver: { enabled: true, interval: '10s', threshold: 3 } },
  };
  if (htpasswd) {
    config.auth = { htpasswd: { realm: 'modelpilot', path: '/auth/htpasswd' } };
  }
  if (n) {
    const headers: Record<string, string[]> = Object.fromEntries(Object.entries(n.headers ?? {}).map(([k, v]) => [k, [v]]));
    if (n.bearerToken) headers.Authorization = [`Bearer ${NOTIFY_TOKEN_PLACEHOLDER}`];
    config.notifications = {
      events: { includereferences: true },
      endpoints: [{
        name: n.name ?? 'modelpilot-updater',
        url: n.url,
        headers,
        timeout: '2s',
        threshold: 5,
        backoff: '5s',
        ignoredmediatypes: ['application/octet-stream'],
        ignore: { actions: ['pull'] },
      }],
    };
  }
  return config;
}

/** Inputs of {@link renderRegistryPodSpec}. */
interface RegistryPodSpecInput {
  readonly name: string;
  readonly image: ImageRef;
  readonly port: number;
  readonly htpasswdSecret?: string;
  /** The notification token's Secret key: the config is then a template rendered by an init container. */
  readonly bearerToken?: SecretKeySelector;
}

/** @internal The registry pod's spec: the registry container, its volumes and (with a token) the render-config init container. */
export function renderRegistryPodSpec(p: RegistryPodSpecInput): Record<string, unknown> {
  const tokenRef = p.bearerToken;
  const volumes: Array<Record<string, unknown>> = [
    { name: 'data', persistentVolumeClaim: { claimName: p.name } },
    // With a bearer token the ConfigMap is a template, rendered at start into a memory-backed volume.
    tokenRef ? { name: 'config', emptyDir: { medium: 'Memory', sizeLimit: '1Mi' } } : { name: 'config', configMap: { name: p.name } },
    { name: 'tmp', emptyDir: { sizeLimit: '64Mi' } },
  ];
  if (tokenRef) volumes.push({ name: 'config-template', configMap: { name: p.name } });
  const containerSecurity = {
    allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, privileged: false,
    capabilities: { drop: ['ALL'] },
  };
  const initContainers = tokenRef ? [{
    name: 'render-config',
    image: p.image.toString(),
    imagePullPolicy: 'IfNotPresent',
    command: ['/bin/sh', '-c', RENDER_CONFIG_SCRIPT],
    env: [{ name: 'MODELPILOT_NOTIFY_TOKEN', valueFrom: { secretKeyRef: { name: tokenRef.name, key: tokenRef.key } } }],
    resources: { requests: { cpu: '10m', memory: '16Mi' }, limits: { cpu: '100m', memory: '32Mi' } },
    securityContext: containerSecurity,
    volumeMounts: [
      { name: 'config-template', mountPath: '/config-template', readOnly: true },
      { name: 'config', mountPath: '/etc/docker/registry' },
    ],
  }] : undefined;
  const mounts: Array<Record<string, unknown>> = [
    { name: 'data', mountPath: '/var/lib/registry' },
    { name: 'config', mountPath: '/etc/docker/registry', readOnly: true },
    { name: 'tmp', mountPath: '/tmp' },
  ];
  if (p.htpasswdSecret) {
    volumes.push({ name: 'auth', secret: { secretName: p.htpasswdSecret, items: [{ key: 'htpasswd', path: 'htpasswd' }] } });
    mounts.push({ name: 'auth', mountPath: '/auth', readOnly: true });
  }
  return {
    automountServiceAccountToken: false,
    enableServiceLinks: false,
    securityContext: { runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, fsGroup: 1000, seccompProfile: { type: 'RuntimeDefault' } },
    initContainers,
    containers: [{
      name: 'registry',
      image: p.image.toString(),
      imagePullPolicy: 'IfNotPresent',
      ports: [{ name: 'http', containerPort: p.port, protocol: 'TCP' }],
      readinessProbe: { httpGet: { path: '/', port: 'http' }, periodSeconds: 5 },
      livenessProbe: { httpGet: { path: '/', port: 'http' }, periodSeconds: 10, failureThreshold: 3 },
      resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '1', memory: '512Mi' } },
      securityContext: containerSecurity,
      volumeMounts: mounts,
    }],
    volumes,
  };
}
