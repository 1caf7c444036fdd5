/**
 * Network peers and NetworkPolicies, one home for every construct: the registry's, the model's and the updater's
 * policies admit their peers through these (#29: they lived in lib/updater, so lib/model and lib/registry imported
 * upwards).
 */
import { DNS_LABEL_RE } from '../core/checks';

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

/**
 * @internal The spec of an ingress-only NetworkPolicy: the pods `selector` matches admit `from` on one TCP port
 * (the registry's and the model's policies).
 */
export function ingressPolicySpec(
  selector: Readonly<Record<string, string>>, from: ReadonlyArray<Record<string, unknown>>, port: number | readonly number[],
): Record<string, unknown> {
  return {
    podSelector: { matchLabels: { ...selector } },
    policyTypes: ['Ingress'],
    ingress: [{ from: from.map((f) => ({ ...f })), ports: (typeof port === 'number' ? [port] : port).map((p) => ({ protocol: 'TCP', port: p })) }],
  };
}
