/**
 * The chaos world for one test file (bench/chaos/harness.ts: registry behind a fault proxy, podman, every model
 * version built): started before its tests, stopped after them.
 */
import { ChaosEnv, startChaosEnv } from '../../bench/chaos/harness';
import type { ScenarioResult } from '../../bench/chaos/scenarios';

/** Registers the file's beforeAll/afterAll; `world.env` is set once beforeAll has run. */
export function useChaosEnv(): { readonly env: ChaosEnv } {
  const world = {} as { env: ChaosEnv };
  beforeAll(async () => {
    world.env = await startChaosEnv();
  }, 900_000);
  afterAll(async () => {
    await world.env?.stop();
  }, 180_000);
  return world;
}

/** What a scenario's assertion compares: whether its invariant held, and the violations if not. */
export const held = (r: ScenarioResult): { held: boolean; violations: string[] } => ({ held: r.held, violations: r.violations });
