/** Options of the single-host bundle (`synth --target compose`), given as `SelfHealingModelStackProps.singleHost`. */

/** Where the single-host services listen; every field has a default. */
export interface SingleHostOptions {
  /**
   * Where users reach the model through HAProxy. The proxy image runs as a non-root user (haproxy:2.6: uid 99) on the
   * host network, where it cannot bind a port below 1024: such a port needs `proxyUser: '0'`.
   * @default '0.0.0.0:<model servicePort>', or '0.0.0.0:8080' when that port is below 1024
   */
  readonly listen?: string;
  /**
   * The user the proxy runs as (compose `user:`), e.g. '0' to bind a port below 1024 as root.
   * @default - the proxy image's user
   */
  readonly proxyUser?: string;
  /** The model's two ports on 127.0.0.1 (blue/green slots). @default [9001, 9002] */
  readonly modelPorts?: readonly [number, number];
  /** HAProxy's runtime API. @default '127.0.0.1:9999' */
  readonly proxyAdmin?: string;
  /** @default 9090 */
  readonly prometheusPort?: number;
  /** @default 9093 */
  readonly alertmanagerPort?: number;
  /** The agent's webhooks, operator API and /metrics. @default 8081 */
  readonly agentPort?: number;
  /** The Docker API socket on the host (mounted into the agent). @default '/var/run/docker.sock' */
  readonly dockerSocket?: string;
  /**
   * The group id that owns the Docker socket on the host (`stat -c %g /var/run/docker.sock`): the agent runs as its
   * image's non-root user (uid 10001) with this group added, so it can use the socket without being root. A number:
   * a group name would be looked up inside the agent image, which has no such group.
   * @default - read at `compose up` from the environment variable MODELPILOT_DOCKER_GID (compose refuses to start
   *   without it, naming the variable)
   */
  readonly dockerSocketGroup?: number;
  /** Images of the supporting services (pin them; air-gapped hosts point them at their own registry). */
  readonly images?: Partial<Record<SingleHostService, string>>;
}

/** The supporting services whose image can be replaced. */
export type SingleHostService = 'proxy' | 'prometheus' | 'alertmanager' | 'registry' | 'modelpilot';
