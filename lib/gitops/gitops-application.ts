import { ApiObject, Chart } from 'cdk8s';
import { Construct, IConstruct } from 'constructs';
import { checkDnsName, checkProps } from '../core/checks';
import { closestName } from '../core/closest-name';
import { K8S_LABELS, UPDATER_FIELD_MANAGER } from '../core/contract/names';
import { Duration, toPromDuration } from '../core/duration';
import { checkHttpUrl } from '../core/url';

/** Where Argo CD deploys the stack. */
export interface GitOpsDestination {
  /**
   * The cluster's API server URL. Give this or `name`.
   * @default 'https://kubernetes.default.svc' (the cluster Argo CD runs in)
   */
  readonly server?: string;
  /**
   * The cluster's name in Argo CD, instead of `server`.
   * @default - use `server`
   */
  readonly name?: string;
}

/** Retry of a failed sync, with exponential backoff. */
export interface GitOpsRetry {
  /** Attempts. @default 5 */
  readonly limit?: number;
  /** First wait. @default Duration.seconds(5) */
  readonly duration?: Duration;
  /** Growth of the wait per attempt. @default 2 */
  readonly factor?: number;
  /** Longest wait. @default Duration.minutes(3) */
  readonly maxDuration?: Duration;
}

/** Properties of {@link GitOpsApplication}. */
export interface GitOpsApplicationProps {
  /**
   * The Application's name.
   * @default - the model's name
   */
  readonly name?: string;
  /** The Git repository that holds the synthesized YAML, e.g. `https://github.com/acme/ml-platform.git`. */
  readonly repoURL: string;
  /** The folder of the synthesized YAML in the repository, e.g. `dist/prod`. */
  readonly path: string;
  /** Branch, tag or commit. @default 'HEAD' */
  readonly targetRevision?: string;
  /** The namespace the stack runs in (its objects carry it too). */
  readonly namespace: string;
  /** Where Argo CD itself runs (the Application lives there). @default 'argocd' */
  readonly argoCdNamespace?: string;
  /** @default - the cluster Argo CD runs in */
  readonly destination?: GitOpsDestination;
  /**
   * Create an AppProject scoped to this repository and the stack's namespace, and put the Application in it.
   * @default false: the Application is in the `project` given (or `default`)
   */
  readonly createProject?: boolean;
  /** The AppProject, when `createProject` is false. @default 'default' */
  readonly project?: string;
  /** Delete objects that left Git. @default true */
  readonly prune?: boolean;
  /** Undo changes made on the cluster outside Git (the updater's image excepted, see below). @default true */
  readonly selfHeal?: boolean;
  /** @default - 5 attempts, 5s doubling up to 3m */
  readonly retry?: GitOpsRetry;
  /** Sync options added to `CreateNamespace=true`, `ServerSideApply=true` and `RespectIgnoreDifferences=true`. @default - none */
  readonly syncOptions?: string[];
  /**
   * The model Deployments whose image the updater owns (set by `SelfHealingModelStack` when it has an updater):
   * their container image, `MODEL_VERSION` and version label are ignored by diff and by sync, so self-heal does not
   * put the previous version back after every promotion.
   * @default - none
   */
  readonly updaterOwned?: ReadonlyArray<{ readonly deploymentName: string; readonly containerName: string }>;
  /**
   * Services whose selector Argo Rollouts rewrites (a blue-green's active and preview Services get the pod-template
   * hash): that selector key is ignored by diff and sync, so self-heal does not undo a switch (set by
   * `SelfHealingModelStack` with `Delivery.blueGreen()`).
   * @default - none
   */
  readonly rolloutServices?: readonly string[];
}

/** The sync waves of a stack's objects: what the model needs syncs first, the updater last. */
export const SYNC_WAVE_ANNOTATION = 'argocd.argoproj.io/sync-wave';

/**
 * An Argo CD Application (and optionally its AppProject) that syncs a stack's synthesized YAML from Git: automated
 * sync with prune and self-heal, retry with backoff, server-side apply, and — when the updater runs — the model
 * image left to the updater (`ignoreDifferences` with `RespectIgnoreDifferences=true`). Put it in its own chart
 * (`SelfHealingModelStack`'s `gitops` section does): Argo CD reads it from its own namespace, not from the path
 * it syncs.
 */
export class GitOpsApplication extends Construct {
  /** The Application's name. */
  public readonly name: string;
  /** The Application object. */
  public readonly application: ApiObject;
  /** The AppProject, when `createProject` is true. */
  public readonly appProject?: ApiObject;

  constructor(scope: Construct, id: string, props: GitOpsApplicationProps) {
    super(scope, id);
    checkProps('GitOpsApplication', props, "{ repoURL: 'https://github.com/acme/ml-platform.git', path: 'dist/prod', namespace: 'ml' }");
    let url: URL | undefined;
    try {
      url = new URL(props.repoURL);
    } catch {
      url = undefined;
    }
    const scp = /^[\w.-]+@[\w.-]+:[\w./-]+$/.test(props.repoURL ?? '');
    if (typeof props.repoURL === 'string' && /\s/.test(props.repoURL)) {
      throw new Error(`'gitops.repoURL' value '${props.repoURL}' holds white space, which no Git server's URL has; give e.g. 'https://github.com/acme/ml-platform.git'`);
    }
    if (!scp && (!url || !['https:', 'http:', 'ssh:', 'git:'].includes(url.protocol))) {
      throw new Error(`'gitops.repoURL' value '${props.repoURL}' is not a Git URL; give e.g. 'https://github.com/acme/ml-platform.git' or 'git@github.com:acme/ml-platform.git'`);
    }
    if (url && (url.password || url.username && url.protocol.startsWith('http'))) {
      throw new Error('\'gitops.repoURL\' carries credentials; give the URL without them and register the repository\'s credentials in Argo CD (a repository Secret)');
    }
    if (typeof props.path !== 'string' || props.path === '' || props.path.startsWith('/') || props.path.split('/').includes('..')) {
      throw new Error(`'gitops.path' value '${props.path}' is not a folder inside the repository; give a relative path such as 'dist/prod'`);
    }
    this.name = props.name ?? 'model';
    checkDnsName('gitops.name', this.name, 253);
    checkDnsName('gitops.namespace', props.namespace);
    const argoNs = props.argoCdNamespace ?? 'argocd';
    checkDnsName('gitops.argoCdNamespace', argoNs);
    if (props.destination?.server !== undefined && props.destination?.name !== undefined) {
      throw new Error(`'gitops.destination' gives both server '${props.destination.server}' and name '${props.destination.name}'; give one of them`);
    }
    if (props.destination?.server !== undefined) {
      checkHttpUrl('gitops.destination.server', props.destination.server, 'https://kubernetes.default.svc',
        "register the cluster's credentials in Argo CD (a cluster Secret) and give its API server URL without them");
    }
    if (props.createProject && props.project !== undefined) {
      throw new Error(`'gitops.project' ('${props.project}') and 'gitops.createProject' are both given; keep one of them`);
    }
    const retry = props.retry ?? {};
    const limit = retry.limit ?? 5;
    if (!Number.isInteger(limit) || limit < 1) throw new Error(`'gitops.retry.limit' value ${limit} must be a whole number of at least 1; give for example 5`);
    const factor = retry.factor ?? 2;
    if (!Number.isInteger(factor) || factor < 1) throw new Error(`'gitops.retry.factor' value ${factor} must be a whole number of at least 1 (Argo CD takes an integer); give for example 2`);
    const first = retry.duration ?? Duration.seconds(5);
    const max = retry.maxDuration ?? Duration.minutes(3);
    if (max.toMilliseconds() < first.toMilliseconds()) {
      throw new Error(`'gitops.retry.maxDuration' value '${toPromDuration(max)}' is shorter than 'gitops.retry.duration' '${toPromDuration(first)}'; make it at least as long`);
    }

    const labels = { [K8S_LABELS.name]: this.name, [K8S_LABELS.managedBy]: 'modelpilot', [K8S_LABELS.component]: 'gitops' };
    const projectName = props.createProject ? `${this.name}-models` : (props.project ?? 'default');
    const destination = props.destination?.name !== undefined
      ? { name: props.destination.name, namespace: props.namespace }
      : { server: props.destination?.server ?? 'https://kubernetes.default.svc', namespace: props.namespace };

    if (props.createProject) {
      this.appProject = new ApiObject(this, 'Project', {
        apiVersion: 'argoproj.io/v1alpha1',
        kind: 'AppProject',
        metadata: { name: projectName, namespace: argoNs, labels },
        spec: {
          description: `modelpilot stack '${this.name}': ${props.repoURL} → namespace ${props.namespace}`,
          sourceRepos: [props.repoURL],
          destinations: [{ ...destination }],
          // namespaced objects only: the stack creates no cluster-scoped objects except its Namespace
          clusterResourceWhitelist: [{ group: '', kind: 'Namespace' }],
        },
      });
    }

    const owned = props.updaterOwned ?? [];
    const services = props.rolloutServices ?? [];
    const ignore = [
      // The updater's fields: what it patches (agent/targets/kubernetes/index.ts) under its field manager.
      ...owned.map((d) => ({
        group: 'apps', kind: 'Deployment', name: d.deploymentName, namespace: props.namespace,
        managedFieldsManagers: [UPDATER_FIELD_MANAGER],
        jqPathExpressions: [
          `.spec.template.spec.containers[] | select(.name == "${d.containerName}") | .image`,
          `.spec.template.spec.containers[] | select(.name == "${d.containerName}") | .env[]? | select(.name == "MODEL_VERSION") | .value`,
          '.spec.template.metadata.labels["app.kubernetes.io/version"]',
        ],
      })),
      ...services.map((name) => ({
        group: '', kind: 'Service', name, namespace: props.namespace, jqPathExpressions: ['.spec.selector["rollouts-pod-template-hash"]'],
      })),
    ];
    this.application = new ApiObject(this, 'Resource', {
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'Application',
      // cascading (foreground) deletion of what it synced; the path-qualified name, which the API server does not warn about
      metadata: { name: this.name, namespace: argoNs, labels, finalizers: ['resources-finalizer.argocd.argoproj.io/foreground'] },
      spec: {
        project: projectName,
        source: { repoURL: props.repoURL, path: props.path, targetRevision: props.targetRevision ?? 'HEAD' },
        destination,
        syncPolicy: {
          automated: { prune: props.prune ?? true, selfHeal: props.selfHeal ?? true },
          syncOptions: checkSyncOptions(['CreateNamespace=true', 'ServerSideApply=true', ...(ignore.length ? ['RespectIgnoreDifferences=true'] : [])], props.syncOptions ?? []),
          retry: { limit, backoff: { duration: toPromDuration(first), factor, maxDuration: toPromDuration(max) } },
        },
        ...(ignore.length ? { ignoreDifferences: ignore } : {}),
      },
    });
  }
}

/** @internal The sync wave of each object of a stack: registry -2, monitoring and alerting -1, model 0, updater 1. */
export function annotateSyncWaves(stack: Chart, waves: ReadonlyArray<{ readonly scope: IConstruct | undefined; readonly wave: number }>): void {
  for (const { scope, wave } of waves) {
    if (!scope) continue;
    for (const o of scope.node.findAll().filter((c): c is ApiObject => ApiObject.isApiObject(c))) {
      if (Chart.of(o) === stack) o.metadata.addAnnotation(SYNC_WAVE_ANNOTATION, String(wave));
    }
  }
}

/**
 * Argo CD's Application sync options and the values each takes (argo-cd controller/sync.go and gitops-engine's
 * sync/common: an option it does not know is ignored without a word, so a misspelling silently does nothing).
 */
const SYNC_OPTIONS: Record<string, readonly string[]> = {
  Validate: ['true', 'false'], SkipDryRunOnMissingResource: ['true', 'false'], PruneLast: ['true', 'false'], ApplyOutOfSyncOnly: ['true', 'false'],
  PrunePropagationPolicy: ['foreground', 'background', 'orphan'], Replace: ['true', 'false'], Force: ['true', 'false'],
  ServerSideApply: ['true', 'false'], ClientSideApplyMigration: ['true', 'false'], FailOnSharedResource: ['true', 'false'],
  RespectIgnoreDifferences: ['true', 'false'], CreateNamespace: ['true', 'false'], Prune: ['false', 'confirm'], Delete: ['false', 'confirm'],
};

/**
 * The Application's sync options: modelpilot's, then the user's. Each user option must be `Key=value` with a key and
 * value Argo CD acts on, and none may contradict another or modelpilot's own (#27).
 */
function checkSyncOptions(own: readonly string[], given: readonly unknown[]): string[] {
  if (!Array.isArray(given)) throw new Error("'gitops.syncOptions' is not a list; give e.g. ['PruneLast=true']");
  const byKey = new Map<string, string>(own.map((o) => [o.split('=')[0], o]));
  const out = [...own];
  for (const [i, o] of given.entries()) {
    const field = `'gitops.syncOptions[${i}]' value ${JSON.stringify(o)}`;
    const m = typeof o === 'string' ? /^([A-Za-z]+)=(\S+)$/.exec(o) : null;
    if (!m) throw new Error(`${field} is not a sync option; write it as Key=value, e.g. 'PruneLast=true'`);
    const [, key, value] = m;
    const values = SYNC_OPTIONS[key];
    if (!values) {
      const near = closestName(key, Object.keys(SYNC_OPTIONS), 3);
      throw new Error(`${field} names no sync option Argo CD knows (it would be ignored)${near ? `; did you mean '${near}=${value}'?` : `; one of ${Object.keys(SYNC_OPTIONS).join(', ')}`}`);
    }
    if (!values.includes(value)) throw new Error(`${field} gives ${key} a value Argo CD does not act on; give ${values.map((v) => `'${key}=${v}'`).join(' or ')}`);
    const before = byKey.get(key);
    if (before !== undefined && before !== o) {
      const whose = own.includes(before) ? 'which modelpilot sets for this stack (the namespace, server-side apply and the updater-owned image depend on it)' : 'given earlier';
      throw new Error(`${field} contradicts '${before}', ${whose}; remove one of them`);
    }
    if (before === undefined) out.push(o);
    byKey.set(key, o);
  }
  return out;
}
