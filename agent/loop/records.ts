import { versionOfRef } from '../../lib/core/image-ref';
import { InFlightRecord, UpdatePlan, Workload } from '../types';

/** The plan an in-flight record describes. */
export function planFromRecord(w: Workload, rec: InFlightRecord): UpdatePlan {
  return new UpdatePlan(w, rec.from, rec.to, versionOfRef(rec.from, w.policy.kind), versionOfRef(rec.to, w.policy.kind), rec.trigger, rec.attempt);
}
