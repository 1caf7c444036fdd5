import { Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';

/** CPU, memory and GPUs of the model container. */
export interface ModelResources {
  /**
   * CPU request and limit.
   * @default - request 500m, limit 2
   */
  readonly cpu?: { readonly request?: kplus.Cpu; readonly limit?: kplus.Cpu };
  /**
   * Memory request and limit.
   * @default - request 1Gi, limit 2Gi
   */
  readonly memory?: { readonly request?: Size; readonly limit?: Size };
  /**
   * Whole NVIDIA GPUs (`nvidia.com/gpu`), set as request and limit.
   * @default 0
   */
  readonly gpus?: number;
}

/** One environment variable of the model container. */
export interface ModelEnvVar {
  /** Variable name. */
  readonly name: string;
  /** Literal value (give this or `secretKeyRef`). */
  readonly value?: string;
  /** Take the value from a key of a Secret in the same namespace. */
  readonly secretKeyRef?: { readonly name: string; readonly key: string };
}
