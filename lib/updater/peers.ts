import { MANAGED_SELECTOR } from '../core/contract/names';

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
