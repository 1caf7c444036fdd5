/** Options of the single-host bundle (`synth --target compose`), given as `SelfHealingModelStackProps.singleHost`. */

/** Where the single-host services listen; every field has a default. */
export interface SingleHostOptions {
  /** Where users reach the model through HAProxy. @default '0.0.0.0:<model servicePort>' */
  readonly listen?: string;
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
  /** Images of the supporting services (pin them; air-gapped hosts point them at their own registry). */
  readonly images?: Partial<Record<SingleHostService, string>>;
}

/** The supporting services whose image can be replaced. */
export type SingleHostService = 'proxy' | 'prometheus' | 'alertmanager' | 'registry' | 'modelpilot';
