// Public API of lib/model/: re-exports only.
export {};
