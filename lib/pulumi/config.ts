import * as pulumi from '@pulumi/pulumi';
import { z } from 'zod';
import { DNS_LABEL_RE } from '../core/checks';
import { duration, environmentName, MLFLOW_FIELDS } from '../core/contract/fields';
import { Duration } from '../core/duration';
import { ImageRef, parseVersionTag } from '../core/image-ref';
import { formatKeyPath, valueAt } from '../core/key-path';

/** The Pulumi config namespace of every key the program reads (the project name in Pulumi.yaml). */
export const CONFIG_NAMESPACE = 'modelpilot';

/** How a new model version replaces the running one. */
export type DeliveryStrategy = 'rolling' | 'recreate';

/** The registry the model image is pushed to and pulled from. */
export interface RegistryConfig {
  /** Registry host[:port] in image references, e.g. `registry.example.com`. */
  readonly host: string;
  /** Repository inside the registry, e.g. `models/recsys`. */
  readonly repository: string;
  /**
   * User name for pushes and pulls; when set, `modelpilot:registryPassword` (a secret) is required.
   * @default - anonymous
   */
  readonly username?: string;
  /**
   * Run the registry in the cluster (`ModelRegistry.inCluster`); `host` is then the in-cluster host.
   * @default false
   */
  readonly inCluster: boolean;
  /**
   * With `inCluster`: the NodePort (30000–32767) the nodes pull through; `host` is then `localhost:<nodePort>`
   * (docs/registry.md: each node's containerd needs a hosts.toml for it).
   */
  readonly nodePort?: number;
  /**
   * Host[:port] the image is pushed to when it differs from `host` (for example `localhost:5000` through a
   * port-forward to an in-cluster registry).
   * @default - `host`
   */
  readonly pushHost?: string;
}

/** One alert receiver. Slack webhook URLs are secrets: they come from `modelpilot:slackWebhookUrl`. */
export type AlertReceiverConfig =
  | { readonly type: 'slack'; readonly channel: string; readonly severity: 'critical' | 'warning' | 'info' }
  | { readonly type: 'webhook'; readonly url: string; readonly severity: 'critical' | 'warning' | 'info' };

/**
 * `modelpilot:promotion` — what the updater of this environment takes, and the proof it writes.
 * Public keys are PEM text in the stack file (they are not secrets); the attest private key is the secret
 * `modelpilot:attestPrivateKey`.
 */
export interface PromotionConfig {
  /** A version younger than this waits (`1h`, `30m`; the agent's `minImageAge`, parsed by the same rule). */
  readonly minImageAge?: Duration;
  /** Roll out only versions with a valid cosign signature by this PEM public key (`cosign.pub`). */
  readonly signaturePublicKey?: string;
  /** Per environment whose proof a version needs, its agent's PEM public key (`{ staging: '-----BEGIN PUBLIC KEY-----…' }`). */
  readonly requireVerifiedIn: Readonly<Record<string, string>>;
  /** This environment's name in the proof its updater writes after each promotion; needs `modelpilot:attestPrivateKey`. */
  readonly attestAs?: string;
}

/** `modelpilot:mlflow` — the model's version comes from MLflow's Model Registry (its alias, or the latest version). */
export interface MlflowConfig {
  readonly url: string;
  readonly registeredModel?: string;
  readonly alias?: string;
  readonly imageTag?: string;
  readonly digestTag?: string;
  /** Prefix of the tags written back, e.g. `modelpilot.prod`. */
  readonly tagPrefix?: string;
}

/** The validated configuration of one stack (environment). */
export interface StackConfig {
  /** `modelpilot:model` — the model's name (DNS label). */
  readonly model: string;
  /** `modelpilot:version` — the semantic version to build, tag and deploy. */
  readonly version: string;
  /**
   * `modelpilot:imageDigest` — deploy the image of `version` that is already in the registry, by this digest,
   * instead of building and pushing it (CI built it; or no Docker engine where `pulumi up` runs).
   */
  readonly imageDigest?: string;
  /** `modelpilot:replicas` — model server replicas. */
  readonly replicas: number;
  /** `modelpilot:namespace` — the Kubernetes namespace of everything. */
  readonly namespace: string;
  /** `modelpilot:kubeContext` — the kubeconfig context; `undefined` = the kubeconfig's current context. */
  readonly kubeContext?: string;
  /** `modelpilot:createNamespace` — create the namespace (default true). */
  readonly createNamespace: boolean;
  /** `modelpilot:deliveryStrategy` — `rolling` (default) or `recreate`. */
  readonly deliveryStrategy: DeliveryStrategy;
  /** `modelpilot:gitRepository` — the source repository (OCI label `org.opencontainers.image.source`). */
  readonly gitRepository?: string;
  /** `modelpilot:registry`. */
  readonly registry: RegistryConfig;
  /** `modelpilot:alertReceivers` (default none). */
  readonly alertReceivers: readonly AlertReceiverConfig[];
  /** `modelpilot:monitoring` — create the ServiceMonitor and PrometheusRule (needs prometheus-operator's CRDs; default true). */
  readonly monitoring: boolean;
  /** `modelpilot:updater` — run the updater agent next to the model (default true). */
  readonly updater: boolean;
  /** `modelpilot:promotion` (default: no minimum age, no signature, no proof). */
  readonly promotion: PromotionConfig;
  /** `modelpilot:mlflow` (default: the update policy decides, not MLflow). */
  readonly mlflow?: MlflowConfig;
  /**
   * `modelpilot:updaterImage` — the updater image to run (your registry's copy). Unset: built from agent/Dockerfile
   * and pushed beside the model when the program builds images, else the published default.
   */
  readonly updaterImage?: string;
}

/** Secret config values, each an Output marked secret. */
export interface StackSecrets {
  /** `modelpilot:registryPassword`, present when the registry has a username. */
  readonly registryPassword?: pulumi.Output<string>;
  /** `modelpilot:slackWebhookUrl`, present when a Slack receiver is configured. */
  readonly slackWebhookUrl?: pulumi.Output<string>;
  /** `modelpilot:webhookHmacKey`: the key the updater's webhooks verify `X-Modelpilot-Signature` with. */
  readonly webhookHmacKey: pulumi.Output<string>;
  /** `modelpilot:webhookToken`: the bearer token of the updater's webhooks (Alertmanager and `/v1/update` send it). */
  readonly webhookToken: pulumi.Output<string>;
  /** `modelpilot:attestPrivateKey`, present when `modelpilot:promotion.attestAs` is set: the PEM key the updater signs its proof with. */
  readonly attestPrivateKey?: pulumi.Output<string>;
  /** `modelpilot:mlflowToken`, optional: the bearer token the updater reads MLflow with. */
  readonly mlflowToken?: pulumi.Output<string>;
}

const DNS_LABEL = DNS_LABEL_RE;
const HOST = /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:\d{1,5})?$/i;
const REPOSITORY = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
const PEM_PUBLIC_KEY = /^-----BEGIN PUBLIC KEY-----\r?\n[A-Za-z0-9+/=\r\n]+-----END PUBLIC KEY-----\s*$/;
const publicKey = z.string({ error: 'is not PEM text' }).regex(PEM_PUBLIC_KEY, {
  error: "is not a PEM public key; paste the whole '-----BEGIN PUBLIC KEY-----' … '-----END PUBLIC KEY-----' text",
});
const SEVERITY = z.enum(['critical', 'warning', 'info'], { error: "is not a severity; use 'critical', 'warning' or 'info'" });

const dnsLabel = (what: string) => z.string({ error: `is not a string; give ${what}` })
  .max(63, { error: 'is longer than 63 characters' })
  .regex(DNS_LABEL, { error: `is not a DNS label (lowercase letters, digits and '-'); give ${what}` });

/** A boolean key, stored as the text 'true' or 'false'; unset means true. */
const onByDefault = () => z.enum(['true', 'false'], { error: "is not 'true' or 'false'" }).default('true').transform((v) => v === 'true');

/**
 * One entry per key: the zod schema, how the value is stored (plain text or JSON for objects and lists) and an
 * example `pulumi config set` command that fixes it. Keys not listed here are not read.
 */
const KEYS = {
  model: {
    schema: dnsLabel("a model name such as 'recsys'"),
    fix: 'pulumi config set modelpilot:model recsys',
  },
  version: {
    schema: z.string().refine((v) => parseVersionTag(v) !== undefined, {
      error: "is not a semantic version; use a version such as '1.4.0' or '1.5.0-rc.1'",
    }),
    fix: 'pulumi config set modelpilot:version 1.4.0',
  },
  imageDigest: {
    schema: z.string().regex(/^sha256:[a-f0-9]{64}$/, { error: "is not a manifest digest; give 'sha256:' and 64 lowercase hex characters" }).optional(),
    fix: 'pulumi config set modelpilot:imageDigest sha256:<digest of registry/repository:version, from `crane digest` or the push>',
  },
  replicas: {
    schema: z.coerce.number({ error: 'is not a number' }).int({ error: 'is not a whole number' }).min(1, { error: 'is below 1' }).max(100, { error: 'is above 100' }),
    fix: 'pulumi config set modelpilot:replicas 2',
  },
  namespace: {
    schema: dnsLabel("a namespace such as 'ml-prod'"),
    fix: 'pulumi config set modelpilot:namespace ml-prod',
  },
  kubeContext: {
    schema: z.string().min(1, { error: 'is empty' }).optional(),
    fix: 'pulumi config set modelpilot:kubeContext <context from kubectl config get-contexts>',
  },
  createNamespace: {
    schema: onByDefault(),
    fix: 'pulumi config set modelpilot:createNamespace false',
  },
  monitoring: {
    schema: onByDefault(),
    fix: 'pulumi config set modelpilot:monitoring false',
  },
  updater: {
    schema: onByDefault(),
    fix: 'pulumi config set modelpilot:updater false',
  },
  deliveryStrategy: {
    schema: z.enum(['rolling', 'recreate'], { error: "is not a delivery strategy; use 'rolling' or 'recreate'" }).default('rolling'),
    fix: 'pulumi config set modelpilot:deliveryStrategy rolling',
  },
  gitRepository: {
    schema: z.string().regex(/^(https:\/\/|ssh:\/\/|git@)\S+$/, { error: 'is not a git URL; give an https://, ssh:// or git@ URL' }).optional(),
    fix: 'pulumi config set modelpilot:gitRepository https://github.com/example/models.git',
  },
  registry: {
    json: true,
    schema: z.object({
      host: z.string({ error: 'is missing' }).regex(HOST, { error: "is not a host[:port]; give it without scheme or path, e.g. 'registry.example.com:5000'" }),
      repository: z.string({ error: 'is missing' })
        .regex(REPOSITORY, { error: "is not a repository path; use lowercase path components such as 'models/recsys'" }),
      username: z.string().min(1, { error: 'is empty' }).optional(),
      inCluster: z.boolean({ error: 'is not true or false' }).default(false),
      nodePort: z.number({ error: 'is not a number' }).int({ error: 'is not a whole number' })
        .min(30000, { error: 'is below 30000, the NodePort range' }).max(32767, { error: 'is above 32767, the NodePort range' }).optional(),
      pushHost: z.string().regex(HOST, { error: "is not a host[:port], e.g. 'localhost:5000'" }).optional(),
    }, { error: 'is not an object' }).strict(),
    fix: 'pulumi config set --path modelpilot:registry.host registry.example.com',
  },
  promotion: {
    json: true,
    schema: z.object({
      minImageAge: duration().optional(),
      signaturePublicKey: publicKey.optional(),
      requireVerifiedIn: z.record(z.string(), publicKey, { error: 'is not a map of environment to public key' }).superRefine((m, ctx) => {
        for (const env of Object.keys(m).filter((e) => !environmentName('').safeParse(e).success)) {
          ctx.addIssue({
            code: 'custom', path: [env], input: env, params: { key: true },
            message: "is not an environment name; use lower-case letters, digits, '.', '_' and '-', such as 'staging'",
          });
        }
      }).default({}),
      attestAs: environmentName("this environment's name, such as 'staging'").optional(),
    }, { error: 'is not an object' }).strict().default({ requireVerifiedIn: {} }),
    fix: "pulumi config set --path 'modelpilot:promotion.minImageAge' 1h",
  },
  updaterImage: {
    schema: z.string().refine((v) => ImageRef.tryParse(v) !== undefined, {
      error: "is not a pinned image reference; give 'registry/repository:1.2.3' or '…@sha256:<digest>' (not 'latest')",
    }).optional(),
    fix: 'pulumi config set modelpilot:updaterImage registry.example.com/platform/modelpilot-updater:0.1.0',
  },
  mlflow: {
    json: true,
    // the agent's own MLflow fields (lib/core/contract/fields.ts): the same rules and messages as agent.yaml's
    schema: z.object({
      url: MLFLOW_FIELDS.url,
      registeredModel: MLFLOW_FIELDS.registeredModel.optional(),
      alias: MLFLOW_FIELDS.alias.optional(),
      imageTag: MLFLOW_FIELDS.imageTag.optional(),
      digestTag: MLFLOW_FIELDS.digestTag.optional(),
      tagPrefix: MLFLOW_FIELDS.tagPrefix.optional(),
    }, { error: 'is not an object' }).strict().optional() satisfies z.ZodType<MlflowConfig | undefined>,
    fix: "pulumi config set --path 'modelpilot:mlflow.url' http://mlflow.mlflow.svc:5000",
  },
  alertReceivers: {
    json: true,
    schema: z.array(z.discriminatedUnion('type', [
      z.object({ type: z.literal('slack'), channel: z.string().regex(/^[#@][\w.-]+$/, { error: "is not a Slack channel such as '#ml-alerts'" }), severity: SEVERITY.default('warning') }).strict(),
      z.object({ type: z.literal('webhook'), url: z.string().regex(/^https?:\/\/\S+$/, { error: 'is not an http(s) URL' }), severity: SEVERITY.default('warning') }).strict(),
    ], { error: "has an unknown receiver 'type'; use 'slack' or 'webhook'" }), { error: 'is not a list' }).default([]),
    fix: "pulumi config set --path 'modelpilot:alertReceivers[0].type' slack",
  },
} as const;

/** The secret keys: each must be set with `pulumi config set --secret`. */
export const SECRET_KEYS = ['registryPassword', 'slackWebhookUrl', 'webhookHmacKey', 'webhookToken', 'attestPrivateKey', 'mlflowToken'] as const;

type Key = keyof typeof KEYS;

/**
 * Reads and validates the whole stack configuration in one place. Every error names the key, shows the value and
 * gives the `pulumi config set` command that fixes it. Secret values are checked too but never shown.
 *
 * @param config the config bag (the `modelpilot` namespace)
 * @throws if any key is missing, malformed or a secret is stored in plain text
 */
export function readStackConfig(config: pulumi.Config = new pulumi.Config(CONFIG_NAMESPACE)): { config: StackConfig; secrets: StackSecrets } {
  const read = <K extends Key>(key: K): z.output<(typeof KEYS)[K]['schema']> => {
    const spec = KEYS[key];
    const fullKey = `${CONFIG_NAMESPACE}:${key}`;
    const raw = config.get(key);
    let value: unknown = raw;
    if (raw !== undefined && 'json' in spec && spec.json) {
      try {
        value = JSON.parse(raw);
      } catch {
        throw new pulumi.RunError(`'${fullKey}' value '${raw}' is not structured config; set it with \`${spec.fix}\``);
      }
    }
    const result = (spec.schema as z.ZodType).safeParse(value);
    if (result.success) return result.data as z.output<(typeof KEYS)[K]['schema']>;
    const issue = result.error.issues[0];
    const where = formatKeyPath(issue.path, fullKey);
    if (value === undefined) {
      throw new pulumi.RunError(`'${where}' is not set; set it with \`${spec.fix}\``);
    }
    if (issue.code === 'unrecognized_keys') {
      // Never echo the object: a misplaced key may hold a credential.
      const extra = issue.keys[0];
      throw new pulumi.RunError(`'${where}' has an unknown key '${extra}'; remove it with \`pulumi config rm --path '${where}.${extra}'\``);
    }
    // an issue about a map's key (an environment name) shows the key, not the value under it
    const aboutKey = issue.code === 'custom' && (issue.params as { key?: unknown } | undefined)?.key === true;
    const shown = aboutKey ? issue.path[issue.path.length - 1] : valueAt(value, issue.path);
    if (shown === undefined) {
      throw new pulumi.RunError(`'${where}' is not set; set it with \`pulumi config set --path '${where}' <value>\``);
    }
    const fix = issue.path.length === 0 ? spec.fix : `pulumi config set --path '${where}' <value>`;
    throw new pulumi.RunError(`'${where}' value ${show(shown)} ${issue.message}; set it with \`${fix}\``);
  };

  const registry = read('registry');
  const alertReceivers = read('alertReceivers') as readonly AlertReceiverConfig[];
  const stackConfig: StackConfig = {
    model: read('model'),
    version: read('version'),
    imageDigest: read('imageDigest'),
    replicas: read('replicas'),
    namespace: read('namespace'),
    kubeContext: read('kubeContext'),
    createNamespace: read('createNamespace'),
    deliveryStrategy: read('deliveryStrategy'),
    gitRepository: read('gitRepository'),
    registry,
    alertReceivers,
    monitoring: read('monitoring'),
    updater: read('updater'),
    promotion: read('promotion') as PromotionConfig,
    mlflow: read('mlflow'),
    updaterImage: read('updaterImage'),
  };
  const { attestAs, requireVerifiedIn } = stackConfig.promotion;
  if (attestAs !== undefined && attestAs in requireVerifiedIn) {
    throw new pulumi.RunError(`'${CONFIG_NAMESPACE}:promotion.attestAs' value '${attestAs}' is also in promotion.requireVerifiedIn: `
      + 'an environment cannot require its own proof; set attestAs to this environment and requireVerifiedIn to the ones before it, '
      + `e.g. \`pulumi config rm --path '${CONFIG_NAMESPACE}:promotion.requireVerifiedIn.${attestAs}'\``);
  }

  const secret = (key: (typeof SECRET_KEYS)[number], required: boolean, why: string, check?: (v: string) => string | undefined) => {
    const fullKey = `${CONFIG_NAMESPACE}:${key}`;
    const raw = pulumi.runtime.getConfig(fullKey);
    if (raw === undefined) {
      if (!required) return undefined;
      throw new pulumi.RunError(`'${fullKey}' is not set but ${why}; set it with \`pulumi config set --secret ${fullKey} <value>\``);
    }
    if (!isSecretKey(fullKey)) {
      throw new pulumi.RunError(`'${fullKey}' is stored in plain text in the stack file; make it a secret with \`pulumi config set --secret ${fullKey} <value>\``);
    }
    const problem = check?.(raw);
    if (problem) {
      // The value itself is never shown.
      throw new pulumi.RunError(`'${fullKey}' (secret) ${problem}; set it with \`pulumi config set --secret ${fullKey} <value>\``);
    }
    return config.requireSecret(key);
  };

  const secrets: StackSecrets = {
    registryPassword: secret('registryPassword', registry.username !== undefined, `'modelpilot:registry.username' is '${registry.username}'`),
    slackWebhookUrl: secret('slackWebhookUrl', alertReceivers.some((r) => r.type === 'slack'), "'modelpilot:alertReceivers' has a slack receiver",
      (v) => (/^https:\/\/\S+$/.test(v) ? undefined : 'is not an https URL')),
    webhookHmacKey: secret('webhookHmacKey', true, "the updater's webhooks verify signed callers with it", longEnough) as pulumi.Output<string>,
    webhookToken: secret('webhookToken', true, "the updater's webhooks verify Alertmanager's bearer token with it", longEnough) as pulumi.Output<string>,
    attestPrivateKey: secret('attestPrivateKey', attestAs !== undefined, `'${CONFIG_NAMESPACE}:promotion.attestAs' is '${attestAs}' and the updater signs its proof with it`,
      (v) => (/-----BEGIN (EC |RSA )?PRIVATE KEY-----/.test(v) && !v.includes('ENCRYPTED')
        ? undefined : "is not an unencrypted PEM private key (make one with 'openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256')")),
    mlflowToken: secret('mlflowToken', false, 'the updater reads MLflow with it'),
  };
  return { config: stackConfig, secrets };
}

function longEnough(v: string): string | undefined {
  return v.length >= 32 ? undefined : `has ${v.length} characters; use at least 32 (for example \`openssl rand -hex 32\`)`;
}

/** True when the engine passed `key` as a secret (set with `--secret`). */
function isSecretKey(fullKey: string): boolean {
  // `isConfigSecret` is exported by the SDK's runtime but not declared in its typings.
  const fn = (pulumi.runtime as unknown as { isConfigSecret?: (k: string) => boolean }).isConfigSecret;
  return fn === undefined ? true : fn(fullKey);
}

function show(v: unknown): string {
  return typeof v === 'string' ? `'${v}'` : `'${JSON.stringify(v)}'`;
}
