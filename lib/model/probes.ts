import { Duration } from '../core/duration';

/** Settings of one HTTP probe. */
export interface ProbeOptions {
  /**
   * HTTP path the kubelet requests.
   * @default - `/health/live` for liveness, `/health/ready` for readiness and startup
   */
  readonly path?: string;
  /**
   * Time between two probes.
   * @default - Duration.seconds(10) for liveness and startup, Duration.seconds(5) for readiness
   */
  readonly period?: Duration;
  /**
   * Time after which one probe counts as failed.
   * @default Duration.seconds(2)
   */
  readonly timeout?: Duration;
  /**
   * Consecutive failures after which the probe fails (liveness: restart; readiness: out of the Service).
   * Not used by the startup probe, whose budget comes from `modelLoadTimeout`.
   * @default 3
   */
  readonly failureThreshold?: number;
}

/**
 * The preStop hook that delays SIGTERM by the drain time, so endpoints and load balancers stop sending traffic
 * before the server starts shutting down.
 */
export class DrainHook {
  /**
   * The kubelet's own sleep action (`lifecycle.preStop.sleep`, Kubernetes 1.30 and later). Needs nothing in the
   * image, so it suits distroless and single-binary images.
   */
  public static sleepAction(): DrainHook {
    return new DrainHook('sleep', undefined);
  }

  /**
   * Runs a command in the container; by default `sleep <drain seconds>`, which needs a `sleep` binary in the image.
   * For clusters older than 1.30.
   */
  public static exec(command?: string[]): DrainHook {
    if (command !== undefined && (command.length === 0 || command.some((c) => typeof c !== 'string' || c === ''))) {
      throw new Error(`'drainHook' command ${JSON.stringify(command)} is empty or has an empty word; give e.g. ['sleep', '10'] or leave it out`);
    }
    return new DrainHook('exec', command);
  }

  /** Calls an HTTP endpoint of the server (on the serving port) that drains and returns when done. */
  public static httpGet(path: string): DrainHook {
    if (typeof path !== 'string' || !path.startsWith('/') || /\s/.test(path)) {
      throw new Error(`'drainHook' path '${path}' is not an HTTP path; start it with '/', e.g. '/drain'`);
    }
    return new DrainHook('httpGet', [path]);
  }

  private constructor(
    /** Which handler. */
    public readonly type: 'sleep' | 'exec' | 'httpGet',
    private readonly args: string[] | undefined,
  ) {}

  /** @internal The LifecycleHandler JSON for a drain of `seconds` on the port named `portName`. */
  public _render(seconds: number, portName: string): Record<string, unknown> {
    switch (this.type) {
      case 'sleep':
        return { sleep: { seconds } };
      case 'exec':
        return { exec: { command: this.args ?? ['sleep', String(seconds)] } };
      default:
        return { httpGet: { path: (this.args as string[])[0], port: portName } };
    }
  }
}
