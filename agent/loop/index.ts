// The reconcile loop: plan → apply → verify → promote | rollback (see reconciler.ts).
export { Reconciler } from './reconciler';
export type { ReconcilerOptions } from './context';
export { DEFAULT_ROLLBACK } from './settings';
export type { CycleReport, ImageSettings, RollbackSettings, UpdateOutcome } from './settings';
export { planFromRecord } from './records';
