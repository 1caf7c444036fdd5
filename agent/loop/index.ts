// The reconcile loop: plan → apply → verify → promote | rollback (see reconciler.ts).
export { Reconciler } from './reconciler';
export type { ReconcilerOptions } from './context';
export { DEFAULT_ROLLBACK } from './settings';
export type { AttestSettings, CycleReport, ImageSettings, RollbackSettings, UpdateOutcome, VerifiedInRequirement } from './settings';
export { planFromRecord } from './records';
