// Public API of the `modelpilot/pulumi` entry point: the Pulumi component and its config reader, named exports
// only. Not re-exported from lib/index.ts, so that cdk8s-only users never load the Pulumi SDK (an optional peer).
import { assertPeer } from '../core/peer';

for (const peer of ['@pulumi/pulumi', '@pulumi/kubernetes', '@pulumi/docker'] as const) assertPeer(peer, "the Pulumi component ('modelpilot/pulumi')");

export { ModelEnvironment, ModelStack, UPDATER_WEBHOOK_SECRET } from './model-environment';
export type { ImageBuildArgs, ModelEnvironmentArgs, ModelEnvironmentSections, ModelStackArgs, SecretRefs } from './model-environment';
export type { KubeObject, PlannedObject, SectionedObject } from './apply-plan';
export { CONFIG_NAMESPACE, readStackConfig, SECRET_KEYS } from './config';
export type { AlertReceiverConfig, DeliveryStrategy, RegistryConfig, StackConfig, StackSecrets } from './config';
