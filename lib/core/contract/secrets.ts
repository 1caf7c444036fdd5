/**
 * A key of a Kubernetes Secret in the namespace of the objects that use it (Kubernetes' `SecretKeySelector`
 * shape). Secret values are never rendered. Used by receivers, the updater and the Pulumi component alike.
 */
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
