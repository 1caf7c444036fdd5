// Public API of the `modelpilot/pulumi` entry point: the Pulumi component resources. Not re-exported from
// lib/index.ts, so that cdk8s-only users never load the Pulumi SDK (an optional peer dependency).
import { assertPeer } from '../core/peer';

for (const peer of ['@pulumi/pulumi', '@pulumi/kubernetes', '@pulumi/docker'] as const) assertPeer(peer, "the Pulumi component ('modelpilot/pulumi')");

export { planApply } from './apply-plan';
export type { KubeObject, PlannedObject, SectionedObject } from './apply-plan';
export * from './config';
export * from './model-environment';
