import { Size } from 'cdk8s';
import { checkDnsName } from '../core/checks';
import { sizeQuantity } from '../core/quantity';

/** Options of {@link ModelCache}. */
export interface ModelCacheOptions {
  /**
   * Where the cache is mounted in the model container.
   * @default '/models'
   */
  readonly mountPath?: string;
}

/** A writable volume where the server keeps downloaded model weights. */
export class ModelCache {
  /** A pod-local emptyDir capped at `sizeLimit`; lost when the pod goes. */
  public static emptyDir(sizeLimit: Size, options: ModelCacheOptions = {}): ModelCache {
    const mib = sizeLimit.toMebibytes();
    if (!(mib > 0)) {
      throw new Error(`'modelCache' size ${mib}Mi must be positive; give a limit such as Size.gibibytes(10)`);
    }
    return new ModelCache(mountPath(options), { emptyDir: { sizeLimit: sizeQuantity(sizeLimit) } });
  }

  /** An existing PersistentVolumeClaim, shared by every replica (it must allow ReadWriteMany or ReadOnlyMany). */
  public static fromClaim(claimName: string, options: ModelCacheOptions & { readonly readOnly?: boolean } = {}): ModelCache {
    checkDnsName('modelCache.claimName', claimName, 253);
    return new ModelCache(mountPath(options), { persistentVolumeClaim: { claimName, readOnly: options.readOnly ?? false } });
  }

  private constructor(
    /** Where it is mounted. */
    public readonly mountPath: string,
    /** The Volume source as JSON. */
    public readonly source: Record<string, unknown>,
  ) {}
}

function mountPath(options: ModelCacheOptions): string {
  const p = options.mountPath ?? '/models';
  if (!p.startsWith('/') || p === '/' || p === '/tmp') {
    throw new Error(`'modelCache.mountPath' value '${p}' is not usable; give an absolute path other than '/' and '/tmp', such as '/models'`);
  }
  return p;
}
