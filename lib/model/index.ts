// Public API of lib/model/: re-exports only.
export * from './probes';
export * from './rollout-strategy';
export * from './disruption-budget';
export * from './autoscaling';
export * from './model-cache';
export * from './resources';
export * from './model-deployment';
