import { retryOn } from '../retry';
import type { Clock, Logger, RegistryClient, RepositoryName } from '../types';

/** How long a just-listed tag gets to resolve: three short retries. */
export const LISTED_TAG_RETRY_MS = [250, 500, 1000] as const;

/**
 * Resolves the digest of a tag the registry has just listed. A push can be listed (and announced by the registry's
 * push notification) a moment before its tag resolves — the distribution registry sends the notification when the
 * manifest is stored and links the tag after — so a 404 here is retried briefly (250 ms, 500 ms, 1 s) before it
 * counts as a failure; the next poll tries again in any case.
 */
export async function resolveListedTag(registry: RegistryClient, repo: RepositoryName, tag: string,
  deps: { readonly clock: Clock; readonly logger: Logger }, signal?: AbortSignal): Promise<string> {
  return retryOn(() => registry.resolveDigest(repo, tag, signal), (e) => (e as { status?: unknown }).status === 404, LISTED_TAG_RETRY_MS, deps.clock,
    (_e, delayMs) => deps.logger.info('listed tag does not resolve yet; retrying', { repository: `${repo.registry}/${repo.repository}`, tag, delayMs }), signal);
}
