// Public API of lib/alerting/: re-exports only.
export * from './receiver';
export * from './alert-routing';
