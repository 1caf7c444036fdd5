// Public API of lib/monitoring/: re-exports only.
export {};
