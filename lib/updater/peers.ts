import { DNS_LABEL_RE } from '../core/checks';
import { MANAGED_SELECTOR } from '../core/contract/names';

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
    if (!DNS_LABEL_RE.test(name)) throw new Error(`'UpdaterPeer.namespace' value '${name}' is not a namespace name; use lowercase letters, digits and '-'`);
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
  public static byLabel(selector: string = MANAGED_SELECTOR): UpdaterDiscovery {
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

/**
 * @internal The spec of an ingress-only NetworkPolicy: the pods `selector` matches admit `from` on one TCP port
 * (the registry's and the model's policies).
 */
export function ingressPolicySpec(
  selector: Readonly<Record<string, string>>, from: ReadonlyArray<Record<string, unknown>>, port: number,
): Record<string, unknown> {
  return {
    podSelector: { matchLabels: { ...selector } },
    policyTypes: ['Ingress'],
    ingress: [{ from: from.map((f) => ({ ...f })), ports: [{ protocol: 'TCP', port }] }],
  };
}
