import { Size, SizeRoundingBehavior } from 'cdk8s';
import { checkDnsName } from '../core/checks';
import { sizeQuantity } from '../core/quantity';

/** Options of {@link UpdaterState.persistentVolumeClaim}. */
export interface UpdaterStateClaimOptions {
  /**
   * Storage requested. The audit log is bounded by its rotation; the quarantine store holds one line per version.
   * @default Size.gibibytes(1)
   */
  readonly size?: Size;
  /**
   * StorageClass of the claim.
   * @default - the cluster's default StorageClass
   */
  readonly storageClassName?: string;
}

/**
 * Where the updater keeps its state directory: the quarantine store, the audit log (rollout history, the
 * previous version of each workload) and the failure budgets of versions whose apply keeps failing.
 *
 * Quarantines and in-flight updates are also written on each Deployment (annotations), so even without durable
 * state a rescheduled agent never re-applies a quarantined version; what an emptyDir loses on rescheduling is the
 * audit history (`modelpilot history`, the version a crashing current version goes back to) and the failure
 * budgets, which then start again from zero.
 */
export class UpdaterState {
  /** A PersistentVolumeClaim created beside the updater (ReadWriteOnce; the updater runs one replica, Recreate). */
  public static persistentVolumeClaim(options: UpdaterStateClaimOptions = {}): UpdaterState {
    const size = options.size ?? Size.gibibytes(1);
    const mib = size.toMebibytes({ rounding: SizeRoundingBehavior.NONE });
    if (!(mib >= 1) || !Number.isInteger(mib)) {
      throw new Error(`UpdaterState.persistentVolumeClaim 'size' is ${mib}Mi; give a whole number of mebibytes, at least 1, e.g. Size.gibibytes(1)`);
    }
    if (options.storageClassName !== undefined) checkDnsName('UpdaterState.persistentVolumeClaim storageClassName', options.storageClassName, 253);
    return new UpdaterState('claim', undefined, sizeQuantity(size), options.storageClassName);
  }

  /** A PersistentVolumeClaim you provide, by name. */
  public static existingClaim(claimName: string): UpdaterState {
    checkDnsName('UpdaterState.existingClaim claimName', claimName, 253);
    return new UpdaterState('existing', claimName);
  }

  /**
   * An emptyDir: survives container restarts, not rescheduling. Its cost: on a new pod the audit history and the
   * failure budgets start empty (quarantines still hold: they are annotations on the Deployments).
   */
  public static emptyDir(): UpdaterState {
    return new UpdaterState('emptyDir');
  }

  private constructor(
    /** @internal */ public readonly kind: 'claim' | 'existing' | 'emptyDir',
    /** @internal */ public readonly claimName?: string,
    /** @internal */ public readonly storage?: string,
    /** @internal */ public readonly storageClassName?: string,
  ) {}

  /** Whether the state outlives the pod. */
  public get durable(): boolean {
    return this.kind !== 'emptyDir';
  }
}
