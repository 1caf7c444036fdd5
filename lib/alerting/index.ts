// Public API of lib/alerting/: re-exports only.
export {};
