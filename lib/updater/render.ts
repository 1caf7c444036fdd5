/**
 * Pure renderers of the updater's objects (internal: not exported from the package): plain data in, plain JSON out, no construct tree. The
 * `ModelUpdater` constructor checks its props, calls these and assembles the ApiObjects; tests call them directly.
 */
import { AgentConfigInput, ImageMlflowInput } from '../core/contract/agent-config';
import { KUBERNETES_TARGET_RBAC, KubernetesTargetPermission } from '../core/contract/kubernetes-rbac';
import { InconclusiveMode } from '../core/contract/names';
import { AGENT_PATHS } from '../core/contract/paths';
import type { SecretKeySelector } from '../core/contract/secrets';
import { Duration, toPromDuration } from '../core/duration';
import type { ImageRef } from '../core/image-ref';
import { Slo } from '../core/slo';
import type { UpdatePolicy } from '../core/update-policy';
import { checkHttpUrl } from '../core/url';
import type { UpdaterPeer } from '../network/peers';

/** What the renderers need to know of one model the updater keeps up to date. */
export interface RenderedModel {
  readonly deploymentName: string;
  readonly containerName: string;
  readonly modelName: string;
  readonly image: ImageRef;
  readonly updatePolicy: UpdatePolicy;
  readonly slo?: Slo;
  /** How the model's image follows MLflow (`images[].mlflow`, in the agent's input format). */
  readonly mlflow?: ImageMlflowInput;
}

/** Inputs of {@link renderAgentConfig}. */
export interface AgentConfigSpec {
  readonly namespace: string;
  readonly models: readonly RenderedModel[];
  /** Label selector of label discovery; undefined: by name. */
  readonly labelSelector?: string;
  readonly pollInterval: Duration;
  readonly minImageAge?: Duration;
  readonly readinessTimeout: Duration;
  readonly bakeWindow: Duration;
  readonly prometheusUrl: string;
  readonly inconclusive: Exclude<InconclusiveMode, 'probe'>;
  readonly maxAttempts: number;
  readonly port: number;
  /** Registry host reached over plain HTTP (an in-cluster registry). */
  readonly insecureRegistry?: string;
  /** Images say `from` (what the nodes pull), the agent talks to `to` (the in-cluster Service). */
  readonly registryMirror?: { readonly from: string; readonly to: string };
  /** Registry credentials are mounted. */
  readonly registryCredentials: boolean;
  /** A cosign public key is mounted: only signed versions go. */
  readonly requireSignature?: boolean;
  /** Environments whose proof a version needs (their public keys are mounted as `<environment>.pub`). */
  readonly requireVerifiedIn?: readonly string[];
  /** This agent's environment, when it writes proof of its promotions (its private key is mounted). */
  readonly attestEnvironment?: string;
  /** The MLflow tracking server (its token mounted when `token`). */
  readonly mlflow?: { readonly url: string; readonly token: boolean; readonly tagPrefix?: string };
}

/** The agent.yaml of an in-cluster updater (Kubernetes target), in the agent's own input format. */
export function renderAgentConfig(spec: AgentConfigSpec): AgentConfigInput {
  const containers = new Set(spec.models.map((m) => m.containerName));
  return {
    targets: {
      kubernetes: {
        namespace: spec.namespace,
        ...(spec.labelSelector ? { labelSelector: spec.labelSelector } : { deployments: spec.models.map((m) => m.deploymentName) }),
        ...(containers.size === 1 ? { container: [...containers][0] } : {}),
      },
    },
    images: spec.models.map((m) => ({
      repository: m.image.name,
      model: m.modelName,
      policy: m.updatePolicy.toString(),
      slo: (m.slo ?? Slo.DEFAULT).toJSON(),
      ...(m.mlflow ? { mlflow: { ...m.mlflow } } : {}),
    })),
    pollInterval: toPromDuration(spec.pollInterval),
    ...(spec.minImageAge ? { minImageAge: toPromDuration(spec.minImageAge) } : {}),
    ...(spec.requireSignature ? { requireSignature: { publicKeyFiles: [`${AGENT_PATHS.signing}/cosign.pub`] } } : {}),
    ...(spec.requireVerifiedIn?.length ? {
      requireVerifiedIn: [...spec.requireVerifiedIn],
      trustedEnvironments: Object.fromEntries(spec.requireVerifiedIn.map((env) => [env, { publicKeyFiles: [`${AGENT_PATHS.trust}/${env}.pub`] }])),
    } : {}),
    ...(spec.mlflow ? { mlflow: {
      url: spec.mlflow.url, ...(spec.mlflow.token ? { tokenFile: `${AGENT_PATHS.mlflow}/token` } : {}),
      ...(spec.mlflow.tagPrefix ? { tagPrefix: spec.mlflow.tagPrefix } : {}),
    } } : {}),
    ...(spec.attestEnvironment ? { attest: { environment: spec.attestEnvironment, privateKeyFile: `${AGENT_PATHS.attest}/attest.key` } } : {}),
    registries: {
      insecure: spec.insecureRegistry ? [spec.insecureRegistry] : [],
      ...(spec.registryMirror ? { mirrors: { [spec.registryMirror.from]: spec.registryMirror.to } } : {}),
      ...(spec.registryCredentials ? { dockerConfig: `${AGENT_PATHS.registry}/config.json` } : {}),
    },
    health: {
      readinessTimeout: toPromDuration(spec.readinessTimeout),
      bakeWindow: toPromDuration(spec.bakeWindow),
      prometheus: { url: spec.prometheusUrl },
      inconclusive: spec.inconclusive,
    },
    rollback: {
      maxAttempts: spec.maxAttempts,
      attemptTimeout: toPromDuration(Duration.seconds(spec.readinessTimeout.toSeconds() + 30)),
    },
    webhooks: {
      listen: `0.0.0.0:${spec.port}`,
      bearerTokenFile: `${AGENT_PATHS.webhook}/token`,
      hmacSecretFile: `${AGENT_PATHS.webhook}/hmac`,
    },
    stateDir: AGENT_PATHS.state,
  };
}

/** One RBAC PolicyRule as JSON. */
export interface PolicyRule {
  readonly apiGroups: string[];
  readonly resources: string[];
  readonly verbs: string[];
  readonly resourceNames?: string[];
}

/**
 * The Role rules: exactly the calls of the Kubernetes target, limited to the Deployments by name unless discovery
 * is by label (a labelled `list` cannot be limited by `resourceNames`).
 */
export function renderRoleRules(deploymentNames: readonly string[], labelSelector: string | undefined,
  permissions: readonly KubernetesTargetPermission[] = KUBERNETES_TARGET_RBAC): PolicyRule[] {
  return permissions.map((r) => {
    const byName = r.byName && !labelSelector;
    const verbs = labelSelector ? [...r.verbs, ...(r.labelDiscoveryVerbs ?? [])] : [...r.verbs];
    return {
      apiGroups: [r.apiGroup],
      resources: [r.resource],
      verbs: [...new Set(verbs)].sort(),
      ...(byName ? { resourceNames: [...deploymentNames].sort() } : {}),
    };
  });
}

/** Inputs of {@link renderNetworkPolicySpec}. */
export interface NetworkPolicySpecInput {
  readonly selector: Readonly<Record<string, string>>;
  readonly port: number;
  readonly prometheus: UpdaterPeer;
  readonly prometheusPort: number;
  readonly alertmanager: UpdaterPeer;
  /** The in-cluster registry's pods, when there is one. */
  readonly registry?: UpdaterPeer;
  readonly registryPort: number;
  readonly allowWebhooksFrom: readonly UpdaterPeer[];
  readonly apiServer: UpdaterPeer;
  /** Where everything else (an external registry) is: `0.0.0.0/0`. */
  readonly anywhere: UpdaterPeer;
  /** The MLflow tracking server, when images follow it. */
  readonly mlflow?: { readonly peer: UpdaterPeer; readonly port: number };
}

/**
 * The NetworkPolicy spec: webhooks in from Alertmanager, Prometheus (scrapes), the registry and what is allowed;
 * out to the API server, the registry, Prometheus and cluster DNS.
 */
export function renderNetworkPolicySpec(n: NetworkPolicySpecInput): Record<string, unknown> {
  const tcp = (port: number) => ({ protocol: 'TCP', port });
  const ingressFrom = [n.alertmanager, n.prometheus, ...(n.registry ? [n.registry] : []), ...n.allowWebhooksFrom];
  return {
    podSelector: { matchLabels: { ...n.selector } },
    policyTypes: ['Ingress', 'Egress'],
    ingress: [{ from: ingressFrom.map((p) => ({ ...p.peer })), ports: [tcp(n.port)] }],
    egress: [
      { to: [{ ...n.apiServer.peer }], ports: [tcp(443), tcp(6443)] },
      { to: [{ ...(n.registry ?? n.anywhere).peer }], ports: [tcp(n.registryPort)] },
      { to: [{ ...n.prometheus.peer }], ports: [tcp(n.prometheusPort)] },
      ...(n.mlflow ? [{ to: [{ ...n.mlflow.peer.peer }], ports: [tcp(n.mlflow.port)] }] : []),
      {
        to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } }, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } }],
        ports: [{ protocol: 'UDP', port: 53 }, tcp(53)],
      },
    ],
  };
}

/** Inputs of {@link renderAgentVolumes}. */
export interface AgentVolumesInput {
  /** The updater's name (its ConfigMap). */
  readonly name: string;
  readonly webhookBearerToken: SecretKeySelector;
  readonly webhookHmacSecret: SecretKeySelector;
  /** A PersistentVolumeClaim for the state; undefined: an emptyDir. */
  readonly stateClaimName?: string;
  /** A `kubernetes.io/dockerconfigjson` Secret for the registry. */
  readonly registryCredentials?: string;
  /** The cosign public key (`requireSignature`). */
  readonly signingKey?: SecretKeySelector;
  /** The private key of `attest`. */
  readonly attestKey?: SecretKeySelector;
  /** The MLflow token. */
  readonly mlflowToken?: SecretKeySelector;
  /** Per environment of `requireVerifiedIn`, its agent's public key. */
  readonly trustedKeys?: ReadonlyArray<{ readonly environment: string; readonly publicKey: SecretKeySelector }>;
}

/** The agent pod's volumes and the container's mounts: config, webhook credentials, state, /tmp, registry credentials. */
export function renderAgentVolumes(v: AgentVolumesInput): { volumes: Array<Record<string, unknown>>; mounts: Array<Record<string, unknown>> } {
  const secretItem = (ref: SecretKeySelector, path: string) => ({ secret: { secretName: ref.name, items: [{ key: ref.key, path }] } });
  const volumes: Array<Record<string, unknown>> = [
    { name: 'config', configMap: { name: v.name } },
    { name: 'webhook-token', ...secretItem(v.webhookBearerToken, 'token') },
    { name: 'webhook-hmac', ...secretItem(v.webhookHmacSecret, 'hmac') },
    { name: 'state', ...(v.stateClaimName ? { persistentVolumeClaim: { claimName: v.stateClaimName } } : { emptyDir: {} }) },
    { name: 'tmp', emptyDir: { sizeLimit: '64Mi' } },
  ];
  const mounts: Array<Record<string, unknown>> = [
    { name: 'config', mountPath: AGENT_PATHS.config, readOnly: true },
    { name: 'webhook-token', mountPath: `${AGENT_PATHS.webhook}/token`, subPath: 'token', readOnly: true },
    { name: 'webhook-hmac', mountPath: `${AGENT_PATHS.webhook}/hmac`, subPath: 'hmac', readOnly: true },
    { name: 'state', mountPath: AGENT_PATHS.state },
    { name: 'tmp', mountPath: '/tmp' },
  ];
  if (v.registryCredentials) {
    volumes.push({ name: 'registry-credentials', secret: { secretName: v.registryCredentials, items: [{ key: '.dockerconfigjson', path: 'config.json' }] } });
    mounts.push({ name: 'registry-credentials', mountPath: AGENT_PATHS.registry, readOnly: true });
  }
  if (v.signingKey) {
    volumes.push({ name: 'signing-key', ...secretItem(v.signingKey, 'cosign.pub') });
    mounts.push({ name: 'signing-key', mountPath: AGENT_PATHS.signing, readOnly: true });
  }
  if (v.mlflowToken) {
    volumes.push({ name: 'mlflow-token', ...secretItem(v.mlflowToken, 'token') });
    mounts.push({ name: 'mlflow-token', mountPath: AGENT_PATHS.mlflow, readOnly: true });
  }
  if (v.attestKey) {
    volumes.push({ name: 'attest-key', secret: { secretName: v.attestKey.name, items: [{ key: v.attestKey.key, path: 'attest.key' }], defaultMode: 0o400 } });
    mounts.push({ name: 'attest-key', mountPath: AGENT_PATHS.attest, readOnly: true });
  }
  if (v.trustedKeys?.length) {
    volumes.push({
      name: 'trusted-keys',
      projected: { sources: v.trustedKeys.map((t) => ({ secret: { name: t.publicKey.name, items: [{ key: t.publicKey.key, path: `${t.environment}.pub` }] } })) },
    });
    mounts.push({ name: 'trusted-keys', mountPath: AGENT_PATHS.trust, readOnly: true });
  }
  return { volumes, mounts };
}

/** An HTTP probe on the agent's `/healthz`. */
export function agentProbe(periodSeconds: number, failureThreshold: number): Record<string, unknown> {
  return { httpGet: { path: '/healthz', port: 'http' }, periodSeconds, timeoutSeconds: 2, failureThreshold };
}

/** The port of an http(s) URL, checked. */
export function urlPort(url: string, field: string): number {
  checkHttpUrl(field, url, 'http://prometheus-operated.monitoring.svc:9090', 'remove them (the URL is rendered into agent.yaml in plain text)');
  const u = new URL(url);
  return Number(u.port || (u.protocol === 'https:' ? 443 : 80));
}
