// The public API of modelpilot: re-exports only.
export * from './core';
export * from './model';
export * from './registry';
export * from './monitoring';
export * from './alerting';
export * from './updater';
export * from './validation';
export * from './stack';
