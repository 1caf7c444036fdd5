// Public API of lib/registry/: re-exports only.
export * from './model-registry';
