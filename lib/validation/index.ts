// Public API of lib/validation/: re-exports only.
export * from './validate';
