// A platform repo's own Pulumi program: it installs modelpilot from npm and imports the component from the package
// entry point `modelpilot/pulumi` (not from modelpilot's own stacks/). One stack per environment, as in modelpilot's
// repo: `modelpilot:*` keys are read and validated by readStackConfig(); the team's own keys live in their own
// namespace (`platform:*`) beside them. Run by the Pulumi tier against the packed package
// (test/pulumi-engine/program.pulumi.test.ts).
import * as pulumi from '@pulumi/pulumi';
import { Size } from 'cdk8s';
import { Cpu } from 'cdk8s-plus-28';
import { ModelEnvironment, readStackConfig } from 'modelpilot/pulumi';

const { config, secrets } = readStackConfig();
const platform = new pulumi.Config('platform');

const recsys = new ModelEnvironment(config.model, {
  config,
  secrets,
  // the team's model server image, built from this repo when `modelpilot:imageDigest` is not set
  build: { context: 'model', dockerfile: 'model/Dockerfile' },
  // what the team decides beyond the stack config: sizing, settings, grouping
  model: {
    partOf: platform.require('product'),
    resources: {
      cpu: { request: Cpu.millis(platform.getNumber('cpuMillis') ?? 500), limit: Cpu.units(2) },
      memory: { request: Size.gibibytes(1), limit: Size.gibibytes(2) },
    },
    env: [{ name: 'LOG_LEVEL', value: platform.get('logLevel') ?? 'info' }],
  },
});

export const serviceEndpoint = recsys.serviceEndpoint;
export const modelVersion = recsys.modelVersion;
export const imageRef = recsys.imageRef;
export const updaterWebhookUrl = recsys.updaterWebhookUrl;
