/**
 * Warnings for settings that are legal but unsafe (a PDB that blocks every eviction, an image the updater can never
 * move, alerts that can never fire). Constructs attach them to themselves as construct metadata; `modelpilot synth`
 * prints them with the construct path, and `--strict` turns them into errors. Tests read them with
 * {@link warningsOf}.
 */
import { IConstruct } from 'constructs';

/** The metadata type of a modelpilot warning. */
export const WARNING_METADATA_TYPE = 'modelpilot:warning';

/** One warning: the construct it is about and what to change. */
export interface SynthWarning {
  /** The construct path, e.g. `recsys/Model`. */
  readonly path: string;
  /** What is unsafe and the fix. */
  readonly message: string;
}

/** @internal Attaches a warning to a construct. */
export function addWarning(scope: IConstruct, message: string): void {
  scope.node.addMetadata(WARNING_METADATA_TYPE, message, { stackTrace: false });
}

/** Every warning attached to `scope` and the constructs under it, in tree order. */
export function warningsOf(scope: IConstruct): SynthWarning[] {
  return scope.node.findAll().flatMap((c) => c.node.metadata
    .filter((m) => m.type === WARNING_METADATA_TYPE)
    .map((m) => ({ path: c.node.path, message: String(m.data) })));
}
