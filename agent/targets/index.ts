/**
 * The agent's targets, in one table: what `targets.<key>` in agent.yaml builds, and what `--check --connect` asks
 * of it. `main.ts` and `connect-check.ts` consult this table only; a target's own code lives in its folder
 * (`agent/targets/<key>/`). How to add one: docs/extending.md (a test keeps that page and this table in step).
 */
import type { AgentConfig } from '../../lib/core/contract/agent-config';
import type { Clock, Logger, Target } from '../types';
import { dockerTargetPlugin } from './docker/plugin';
import { kubernetesTargetPlugin } from './kubernetes/plugin';

/** The keys of agent.yaml's `targets` section: one per target. */
export type TargetKey = keyof AgentConfig['targets'];

/** What `--check --connect` is given to report with: one line per check. */
export interface ConnectContext {
  readonly timeoutMs: number;
  /** The registry hosts of the configured images. */
  readonly registryHosts: readonly string[];
  say(good: boolean, text: string): void;
  note(text: string): void;
}

/** One kind of target the agent can update. */
export interface TargetPlugin<K extends TargetKey = TargetKey> {
  /** Its section under `targets` in agent.yaml, and the `kind` of the Target it builds. */
  readonly key: K;
  /** What it updates, for docs and messages. */
  readonly updates: string;
  /** Builds the target from its section (the rest of the config for what it shares: health, registries). */
  build(section: NonNullable<AgentConfig['targets'][K]>, config: AgentConfig, deps: { logger: Logger; clock: Clock }): Target;
  /** `--check --connect`: reach what the target needs, as the agent will. */
  connect(section: NonNullable<AgentConfig['targets'][K]>, config: AgentConfig, ctx: ConnectContext): Promise<void>;
}

/** Every target, in the order the agent builds and checks them. */
export const TARGETS: readonly TargetPlugin[] = [dockerTargetPlugin as TargetPlugin, kubernetesTargetPlugin as TargetPlugin];

/** The configured targets of `config`, each with its section. */
export function configuredTargets(config: AgentConfig): Array<{ plugin: TargetPlugin; section: NonNullable<AgentConfig['targets'][TargetKey]> }> {
  return TARGETS.flatMap((plugin) => {
    const section = config.targets[plugin.key];
    return section ? [{ plugin, section }] : [];
  });
}

/** Builds every configured target. */
export function buildTargets(config: AgentConfig, deps: { logger: Logger; clock: Clock }): Target[] {
  return configuredTargets(config).map(({ plugin, section }) => plugin.build(section, config, deps));
}
