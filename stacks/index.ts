// The Pulumi program: one ModelEnvironment per stack (environment). Every per-environment value lives in Pulumi.<env>.yaml
// and is read and validated once by readStackConfig(); nothing here depends on the stack's name.
import { ModelEnvironment, readStackConfig } from '../lib/pulumi';

const { config, secrets } = readStackConfig();

const stack = new ModelEnvironment(config.model, {
  config,
  secrets,
  build: { context: 'examples/model-server', dockerfile: 'examples/model-server/Dockerfile' },
  // the updater image too, from this checkout (unless modelpilot:updaterImage or modelpilot:imageDigest is set)
  updaterBuild: { context: '.', dockerfile: 'agent/Dockerfile' },
});

/** Where the model serves inside the cluster. */
export const serviceEndpoint = stack.serviceEndpoint;
/** The version that was built, pushed and deployed. */
export const modelVersion = stack.modelVersion;
/** The digest-pinned image reference the model Deployment runs. */
export const imageRef = stack.imageRef;
/** The updater's in-cluster `/webhooks/model` URL (undefined with `modelpilot:updater: false`). */
export const updaterWebhookUrl = stack.updaterWebhookUrl;
