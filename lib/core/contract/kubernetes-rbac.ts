/**
 * The API calls of the Kubernetes target (agent/targets/kubernetes/index.ts), as RBAC rules. `ModelUpdater` renders its
 * Role from this list, and a test records every call the target makes against the fake API server and checks it
 * equals this list, so a new call cannot silently need more privilege. Kept apart from the target so that lib/
 * does not load the Kubernetes client.
 */
export interface KubernetesTargetPermission {
  /** API group (`''` for the core group). */
  readonly apiGroup: string;
  /** Resource (plural). */
  readonly resource: string;
  /** Verbs the target always needs. */
  readonly verbs: readonly string[];
  /** Extra verbs needed only when Deployments are discovered by label selector. */
  readonly labelDiscoveryVerbs?: readonly string[];
  /**
   * Every call names the object (GET/PATCH by name, watch with `fieldSelector=metadata.name=<name>`), so the rule
   * can be limited by `resourceNames` when the Deployments are listed by name.
   */
  readonly byName: boolean;
}

export const KUBERNETES_TARGET_RBAC: readonly KubernetesTargetPermission[] = [
  // discover (explicit list), apply/promote/rollback (GET then PATCH), waitReady (watch by name).
  { apiGroup: 'apps', resource: 'deployments', verbs: ['get', 'patch', 'watch'], labelDiscoveryVerbs: ['list'], byName: true },
  // rollback fallback: the newest ReplicaSet that ran the previous image (names are generated: no resourceNames).
  { apiGroup: 'apps', resource: 'replicasets', verbs: ['list'], byName: false },
  // waitReady: why new pods are not ready (image pull errors, crash loops).
  { apiGroup: '', resource: 'pods', verbs: ['list'], byName: false },
  // waitReady of a Deployment delivered by an Argo Rollout (same name as the Deployment): the Rollout's verdict.
  { apiGroup: 'argoproj.io', resource: 'rollouts', verbs: ['get'], byName: true },
  // ... and the outcome of the analysis run it names, for the audit log (names are generated: no resourceNames).
  { apiGroup: 'argoproj.io', resource: 'analysisruns', verbs: ['get'], byName: false },
  // an Event on the Deployment per audit entry (names are generated: no resourceNames).
  { apiGroup: '', resource: 'events', verbs: ['create'], byName: false },
];
