// Public API of lib/updater/: re-exports only.
export * from './model-updater';
