/**
 * A key of a Kubernetes Secret in the namespace of the objects that use it (Kubernetes' `SecretKeySelector`
 * shape). Secret values are never rendered. Used by receivers, the updater and the Pulumi component alike.
 */
import { DNS_SUBDOMAIN_RE } from '../checks';
export interface SecretKeySelector {
  /** Name of the Secret. */
  readonly name: string;
  /** Key inside the Secret. */
  readonly key: string;
}

/** The default name of the updater (`ModelUpdater`'s `name`). */
export const DEFAULT_UPDATER_NAME = 'modelpilot-updater';

/** The Secret holding the updater's webhook credentials, for an updater called `updaterName`. */
export function webhookSecretName(updaterName: string = DEFAULT_UPDATER_NAME): string {
  return `${updaterName}-webhook`;
}

/** The keys of the webhook Secret. */
export const WEBHOOK_SECRET_KEYS = { bearerToken: 'token', hmac: 'hmac' } as const;

/** The default webhook Secret of the default updater: `modelpilot-updater-webhook`. */
export const UPDATER_WEBHOOK_SECRET = webhookSecretName();

/**
 * Why `ref` is not a Secret key a Kubernetes Secret can have (the API server's IsConfigMapKey and DNS subdomain
 * rules): the name a DNS subdomain of at most 253 characters; the key at most 253 of letters, digits, '-', '_' and
 * '.', neither '.' nor '..' nor starting with '..'. Undefined when it is one.
 */
export function secretKeySelectorProblem(ref: unknown): string | undefined {
  const example = "give { name: '<secret>', key: '<key>' } (the value itself never goes into the config)";
  if (!ref || typeof ref !== 'object') return `is not a Secret reference; ${example}`;
  const { name, key } = ref as Partial<SecretKeySelector>;
  if (typeof name !== 'string' || name.length > 253 || !DNS_SUBDOMAIN_RE.test(name)) {
    return `has the Secret name ${JSON.stringify(name)}, which no Secret can have; use at most 253 lowercase letters, digits, '-' and '.', e.g. 'model-alerts'`;
  }
  if (typeof key !== 'string' || key.length === 0 || key.length > 253 || !/^[-._a-zA-Z0-9]+$/.test(key) || key === '.' || key.startsWith('..')) {
    return `has the key ${JSON.stringify(key)}, which no Secret can have; use at most 253 letters, digits, '-', '_' and '.' (not '.' or '..'), e.g. 'token'`;
  }
  return undefined;
}

/** Throws `'<field>' value {…} <problem>` when {@link secretKeySelectorProblem} finds one. */
export function checkSecretKeySelector(field: string, ref: unknown): void {
  const problem = secretKeySelectorProblem(ref);
  if (problem) throw new Error(`'${field}' value ${JSON.stringify(ref)} ${problem}`);
}
