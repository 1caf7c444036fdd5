// Public API of lib/monitoring/: re-exports only.
export * from './monitored-model';
export * from './model-monitoring';
export * from './model-alerts';
export * from './rule-tests';
