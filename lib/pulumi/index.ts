// Public API of lib/pulumi/: re-exports only. Not re-exported from lib/index.ts, so that cdk8s-only users never load
// the Pulumi SDK; import it as `modelpilot/build/lib/pulumi` or from the program in stacks/.
export * from './apply-plan';
export * from './config';
export * from './model-stack';
