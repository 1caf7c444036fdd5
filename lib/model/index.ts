// Public API of lib/model/: re-exports only.
export * from './options';
export * from './model-deployment';
