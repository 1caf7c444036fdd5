import { createHash } from 'node:crypto';
import { normalizeRegistryHost } from '../../lib/core/image-ref';
import { sleep } from '../clock';
import { HttpRequester, HttpResponse, httpRequest } from '../http-client';
import { Logger, nullLogger, RegistryClient, RepositoryName } from '../types';
import { CredentialStore, RegistryCredential } from './credentials';
import { TokenBucket } from './rate-limit';

/** Every manifest media type the client accepts: OCI index + manifest, Docker v2 manifest list + manifest. */
export const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;

/** What a request needs from a token service: reads, or reads and writes (attestations). */
type Access = 'pull' | 'pull,push';

/** Redirects followed per request (registries send blobs and manifests to storage or a CDN). */
const MAX_REDIRECTS = 5;

function parseJsonOr(text: string, fallback: unknown): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return fallback;
  }
}

/** Options of {@link DistributionClient}. Every dependency is injectable so tests control time and the network. */
export interface DistributionClientOptions {
  /** Credentials by registry host (see `loadDockerConfig`). @default - anonymous */
  readonly credentials?: CredentialStore;
  /**
   * Registries spoken to over plain HTTP. `127.0.0.1`, `localhost` and `[::1]` (any port) always are.
   * @default []
   */
  readonly insecureRegistries?: readonly string[];
  /** Image registry host → the host actually spoken to (`registries.mirrors`). @default - none */
  readonly mirrors?: Readonly<Record<string, string>>;
  /** Retries after a 429, a 5xx or a network error, before giving up. @default 4 */
  readonly maxRetries?: number;
  /** First backoff delay; doubles each retry. @default 500 */
  readonly initialBackoffMs?: number;
  /** Ceiling of one backoff delay, also of an honoured `Retry-After`. @default 30000 */
  readonly maxBackoffMs?: number;
  /** Per-registry rate limit (token bucket). @default { requestsPerSecond: 10, burst: 20 } */
  readonly rateLimit?: { readonly requestsPerSecond: number; readonly burst: number };
  /** Page size asked for when listing tags (`n`). @default 1000 */
  readonly pageSize?: number;
  /**
   * How long a tag list is reused without asking the registry again. 0 = ask on every call (a conditional
   * request with `If-None-Match` when the registry gave an ETag).
   * @default 0
   */
  readonly tagsCacheTtlMs?: number;
  /** Per-request timeout. @default 10000 */
  readonly requestTimeoutMs?: number;
  /** The HTTP request function (node:http; see agent/http-client.ts). @default httpRequest */
  readonly request?: HttpRequester;
  readonly now?: () => number;
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  readonly logger?: Logger;
}

/** A failure talking to a registry; `status` is the HTTP status, 0 for a network error. */
export class RegistryError extends Error {
  constructor(message: string, public readonly registry: string, public readonly status: number) {
    super(message);
    this.name = 'RegistryError';
  }
}

/** Request counts, for benchmarks and the "one request per image per quiet poll" budget. */
export interface RegistryStats {
  /** Requests sent to each registry (retries and token fetches included). */
  readonly requests: Record<string, number>;
  readonly retries: number;
  readonly tokenFetches: number;
  readonly notModified: number;
  readonly cacheHits: number;
}

interface CachedTags {
  readonly tags: string[];
  readonly etag?: string;
  readonly at: number;
}

interface CachedToken {
  readonly token: string;
  readonly expiresAt: number;
}

/** Parses `Retry-After` (delta seconds or an HTTP date) into milliseconds from `now`. */
export function parseRetryAfter(value: string | null, now: number): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  const v = value.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000);
  const date = Date.parse(v);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

/** Parses a `WWW-Authenticate` challenge: `Bearer realm="…",service="…",scope="…"`. */
export function parseChallenge(header: string): { scheme: string; params: Record<string, string> } | undefined {
  const m = /^\s*([A-Za-z]+)\s*(.*)$/.exec(header);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  const re = /([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g;
  let p: RegExpExecArray | null;
  while ((p = re.exec(m[2])) !== null) params[p[1].toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3];
  return { scheme: m[1].toLowerCase(), params };
}

/** Reads the `next` target of an RFC 5988 `Link` header, as the distribution registry sends for tag pages. */
export function parseNextLink(header: string | null): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(',')) {
    const m = /<([^>]*)>\s*;(.*)$/.exec(part.trim());
    if (m && /rel\s*=\s*"?next"?/i.test(m[2])) return m[1];
  }
  return undefined;
}

/**
 * An OCI Distribution API v2 client (`/v2/<name>/tags/list`, `HEAD /v2/<name>/manifests/<tag>`).
 *
 * - Auth: anonymous first; on a 401 it answers the `WWW-Authenticate` challenge — a bearer token from the realm
 *   (with basic credentials when the config has them), cached per scope until it expires, or basic auth.
 *   After the first challenge, the right header is sent up front, so a steady poll costs no extra round trips.
 * - Backoff: a 429, a 5xx or a network error is retried up to `maxRetries` times, waiting `Retry-After` when
 *   given, else `initialBackoffMs * 2^n`, capped at `maxBackoffMs`. Then it throws a {@link RegistryError}.
 * - Cost: one tag list = one request (pages of 1000 tags; `Link` pagination beyond). The ETag of the list is
 *   kept and sent as `If-None-Match`, so a registry that supports it answers 304; `tagsCacheTtlMs` skips even that.
 *   A digest lookup is one HEAD.
 * - A per-registry token bucket bounds the request rate.
 */
export class DistributionClient implements RegistryClient {
  private readonly send: HttpRequester;
  private readonly now: () => number;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  private readonly logger: Logger;
  private readonly maxRetries: number;
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly pageSize: number;
  private readonly tagsCacheTtlMs: number;
  private readonly requestTimeoutMs: number;
  private readonly insecure: Set<string>;
  private readonly buckets = new Map<string, TokenBucket>();
  private readonly tokens = new Map<string, CachedToken>();
  private readonly basicRegistries = new Set<string>();
  private readonly tagCache = new Map<string, CachedTags>();
  private readonly counts = { requests: {} as Record<string, number>, retries: 0, tokenFetches: 0, notModified: 0, cacheHits: 0 };

  constructor(private readonly options: DistributionClientOptions = {}) {
    this.send = options.request ?? httpRequest;
    this.now = options.now ?? Date.now;
    this.sleep = options.sleep ?? sleep;
    this.logger = options.logger ?? nullLogger;
    this.maxRetries = options.maxRetries ?? 4;
    this.initialBackoffMs = options.initialBackoffMs ?? 500;
    this.maxBackoffMs = options.maxBackoffMs ?? 30_000;
    this.pageSize = options.pageSize ?? 1000;
    this.tagsCacheTtlMs = options.tagsCacheTtlMs ?? 0;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
    this.insecure = new Set((options.insecureRegistries ?? []).map(normalizeRegistryHost));
    if (!Number.isInteger(this.maxRetries) || this.maxRetries < 0) {
      throw new Error(`registry 'maxRetries' is ${this.maxRetries}; give a whole number of at least 0`);
    }
    if (!Number.isInteger(this.pageSize) || this.pageSize < 1) {
      throw new Error(`registry 'pageSize' is ${this.pageSize}; give a whole number of at least 1`);
    }
  }

  /** Request counts so far. */
  public stats(): RegistryStats {
    return { ...this.counts, requests: { ...this.counts.requests } };
  }

  /** Makes the next `listTags` of `repo` ask the registry (conditionally, with the ETag kept) whatever the TTL says. */
  public expireTags(repo: RepositoryName): void {
    const key = `${repo.registry}/${repo.repository}`;
    const cached = this.tagCache.get(key);
    if (cached) this.tagCache.set(key, { ...cached, at: Number.NEGATIVE_INFINITY });
  }

  public async listTags(repo: RepositoryName, signal?: AbortSignal): Promise<string[]> {
    const key = `${repo.registry}/${repo.repository}`;
    const cached = this.tagCache.get(key);
    if (cached && this.tagsCacheTtlMs > 0 && this.now() - cached.at < this.tagsCacheTtlMs) {
      this.counts.cacheHits++;
      return [...cached.tags];
    }
    const tags: string[] = [];
    let path: string | undefined = `/v2/${repo.repository}/tags/list?n=${this.pageSize}`;
    let etag: string | undefined;
    const seen = new Set<string>();
    let first = true;
    while (path !== undefined) {
      if (seen.has(path)) throw new RegistryError(`registry ${this.describeHost(repo.registry)} sent a pagination loop at '${path}' for ${repo.repository}`, repo.registry, 0);
      seen.add(path);
      const headers: Record<string, string> = { Accept: 'application/json' };
      if (first && cached?.etag) headers['If-None-Match'] = cached.etag;
      const res = await this.request(repo, 'GET', path, headers, signal);
      if (first && res.status === 304 && cached) {
        this.counts.notModified++;
        this.tagCache.set(key, { ...cached, at: this.now() });
        return [...cached.tags];
      }
      if (res.status === 404) {
        throw new RegistryError(`registry ${this.describeHost(repo.registry)} has no repository '${repo.repository}' (404 on the tag list); check the image name`, repo.registry, 404);
      }
      if (res.status !== 200) throw await this.unexpected(repo, 'GET', path, res);
      if (first) etag = res.headers.get('etag') ?? undefined;
      let body: unknown;
      try {
        body = JSON.parse(res.text());
      } catch (e) {
        throw new RegistryError(`registry ${this.describeHost(repo.registry)} sent a tag list for '${repo.repository}' that is not JSON (${(e as Error).message})`, repo.registry, res.status);
      }
      const page = (body as { tags?: unknown }).tags;
      if (page !== null && page !== undefined && !(Array.isArray(page) && page.every((t) => typeof t === 'string'))) {
        throw new RegistryError(`registry ${this.describeHost(repo.registry)} sent a tag list for '${repo.repository}' whose 'tags' is not a list of strings`, repo.registry, res.status);
      }
      if (Array.isArray(page)) tags.push(...(page as string[]));
      path = this.nextPath(repo, parseNextLink(res.headers.get('link')));
      first = false;
    }
    this.tagCache.set(key, { tags: [...tags], etag, at: this.now() });
    return tags;
  }

  public async resolveDigest(repo: RepositoryName, tag: string, signal?: AbortSignal): Promise<string> {
    const path = `/v2/${repo.repository}/manifests/${encodeURIComponent(tag)}`;
    const head = await this.request(repo, 'HEAD', path, { Accept: MANIFEST_ACCEPT }, signal);
    if (head.status === 404) {
      throw new RegistryError(`registry ${this.describeHost(repo.registry)} has no tag '${tag}' in '${repo.repository}' (404 on the manifest)`, repo.registry, 404);
    }
    if (head.status !== 200) throw await this.unexpected(repo, 'HEAD', path, head);
    const digest = head.headers.get('docker-content-digest');
    if (digest !== null) {
      if (!DIGEST_RE.test(digest)) {
        throw new RegistryError(
          `registry ${this.describeHost(repo.registry)} sent a malformed digest '${digest}' for ${repo.repository}:${tag}; expected 'sha256:' and 64 hex characters`,
          repo.registry, head.status);
      }
      return digest;
    }
    // No Docker-Content-Digest on HEAD (some registries): fetch the manifest and hash its exact bytes.
    const get = await this.request(repo, 'GET', path, { Accept: MANIFEST_ACCEPT }, signal);
    if (get.status !== 200) throw await this.unexpected(repo, 'GET', path, get);
    return `sha256:${createHash('sha256').update(get.body).digest('hex')}`;
  }

  public async hasManifest(repo: RepositoryName, digest: string, signal?: AbortSignal): Promise<boolean> {
    if (!DIGEST_RE.test(digest)) throw new RegistryError(`'${digest}' is not a manifest digest; expected 'sha256:' and 64 hex characters`, repo.registry, 0);
    const path = `/v2/${repo.repository}/manifests/${digest}`;
    const head = await this.request(repo, 'HEAD', path, { Accept: MANIFEST_ACCEPT }, signal);
    if (head.status === 404) return false;
    if (head.status !== 200) throw await this.unexpected(repo, 'HEAD', path, head);
    return true;
  }

  public async imageConfig(repo: RepositoryName, tag: string, signal?: AbortSignal): Promise<{ manifest: string; config: string } | undefined> {
    const path = `/v2/${repo.repository}/manifests/${encodeURIComponent(tag)}`;
    const get = await this.request(repo, 'GET', path, { Accept: MANIFEST_ACCEPT }, signal);
    if (get.status === 404) {
      throw new RegistryError(`registry ${this.describeHost(repo.registry)} has no tag '${tag}' in '${repo.repository}' (404 on the manifest)`, repo.registry, 404);
    }
    if (get.status !== 200) throw await this.unexpected(repo, 'GET', path, get);
    let doc: { config?: { digest?: unknown } };
    try {
      doc = JSON.parse(get.body.toString('utf8')) as typeof doc;
    } catch {
      throw new RegistryError(`registry ${this.describeHost(repo.registry)} sent a manifest for ${repo.repository}:${tag} that is not JSON`, repo.registry, get.status);
    }
    const config = doc.config?.digest;
    if (typeof config !== 'string' || !DIGEST_RE.test(config)) return undefined;
    const sent = get.headers.get('docker-content-digest');
    const manifest = sent !== null && DIGEST_RE.test(sent) ? sent : `sha256:${createHash('sha256').update(get.body).digest('hex')}`;
    return { manifest, config };
  }

  /** A manifest by tag or digest, parsed; undefined on 404. */
  public async fetchManifest(repo: RepositoryName, reference: string, signal?: AbortSignal): Promise<unknown | undefined> {
    const path = `/v2/${repo.repository}/manifests/${encodeURIComponent(reference)}`;
    const get = await this.request(repo, 'GET', path, { Accept: MANIFEST_ACCEPT }, signal);
    if (get.status === 404) return undefined;
    if (get.status !== 200) throw await this.unexpected(repo, 'GET', path, get);
    return parseJsonOr(get.body.toString('utf8'), undefined);
  }

  /** A blob's bytes (at most what the HTTP client reads), checked against its digest. */
  public async fetchBlob(repo: RepositoryName, digest: string, signal?: AbortSignal): Promise<Buffer> {
    if (!DIGEST_RE.test(digest)) throw new RegistryError(`'${digest}' is not a sha256 digest`, repo.registry, 0);
    const path = `/v2/${repo.repository}/blobs/${digest}`;
    const get = await this.request(repo, 'GET', path, {}, signal);
    if (get.status !== 200) throw await this.unexpected(repo, 'GET', path, get);
    if (`sha256:${createHash('sha256').update(get.body).digest('hex')}` !== digest) {
      throw new RegistryError(`registry ${this.describeHost(repo.registry)} sent a blob for ${digest} whose content does not match that digest`, repo.registry, get.status);
    }
    return get.body;
  }

  public async imageCreated(repo: RepositoryName, tag: string, signal?: AbortSignal): Promise<Date | undefined> {
    const found = await this.imageConfig(repo, tag, signal);
    if (!found) return undefined;
    const path = `/v2/${repo.repository}/blobs/${found.config}`;
    const get = await this.request(repo, 'GET', path, {}, signal);
    if (get.status !== 200) throw await this.unexpected(repo, 'GET', path, get);
    try {
      const created = (JSON.parse(get.body.toString('utf8')) as { created?: unknown }).created;
      const t = typeof created === 'string' ? new Date(created) : undefined;
      return t && !Number.isNaN(t.getTime()) ? t : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * Uploads a blob (monolithic: POST an upload, PUT it with the digest); a blob the registry already has is not sent
   * again. Returns its digest.
   */
  public async pushBlob(repo: RepositoryName, bytes: Buffer, signal?: AbortSignal): Promise<string> {
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    const blobPath = `/v2/${repo.repository}/blobs/${digest}`;
    const head = await this.request(repo, 'HEAD', blobPath, {}, signal, undefined, 'pull,push');
    if (head.status === 200) return digest;
    const startPath = `/v2/${repo.repository}/blobs/uploads/`;
    const start = await this.request(repo, 'POST', startPath, { 'Content-Length': '0' }, signal, undefined, 'pull,push');
    if (start.status !== 202) throw await this.unexpected(repo, 'POST', startPath, start);
    const location = start.headers.get('location');
    if (!location) throw new RegistryError(`registry ${this.describeHost(repo.registry)} started an upload without a Location`, repo.registry, start.status);
    const u = new URL(location, this.baseUrl(repo.registry));
    if (u.origin !== new URL(this.baseUrl(repo.registry)).origin) {
      throw new RegistryError(`registry ${this.describeHost(repo.registry)} sent an upload Location on another origin (${u.origin}); not followed`, repo.registry, start.status);
    }
    u.searchParams.set('digest', digest);
    const putPath = `${u.pathname}${u.search}`;
    const put = await this.request(repo, 'PUT', putPath, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(bytes.length) },
      signal, bytes, 'pull,push');
    if (put.status !== 201) throw await this.unexpected(repo, 'PUT', `/v2/${repo.repository}/blobs/uploads/…`, put);
    return digest;
  }

  /** Stores a manifest under a tag; returns its digest. */
  public async pushManifest(repo: RepositoryName, tag: string, manifest: Buffer, mediaType: string, signal?: AbortSignal): Promise<string> {
    const path = `/v2/${repo.repository}/manifests/${encodeURIComponent(tag)}`;
    const put = await this.request(repo, 'PUT', path, { 'Content-Type': mediaType, 'Content-Length': String(manifest.length) }, signal, manifest, 'pull,push');
    if (put.status !== 201) throw await this.unexpected(repo, 'PUT', path, put);
    return `sha256:${createHash('sha256').update(manifest).digest('hex')}`;
  }

  private nextPath(repo: RepositoryName, link: string | undefined): string | undefined {
    if (link === undefined) return undefined;
    if (/^https?:\/\//i.test(link)) {
      const u = new URL(link);
      return `${u.pathname}${u.search}`;
    }
    if (!link.startsWith('/')) {
      throw new RegistryError(`registry ${this.describeHost(repo.registry)} sent an unusable Link '${link}' for ${repo.repository}`, repo.registry, 0);
    }
    return link;
  }

  /** The host the agent contacts for an image's registry: its mirror (`registries.mirrors`), else itself. */
  public contactedHost(registry: string): string {
    const image = normalizeRegistryHost(registry);
    return (this.options.mirrors?.[image] ?? this.options.mirrors?.[registry] ?? image).toLowerCase();
  }

  /** `localhost:30500`, or `localhost:30500 (via mirror model-registry.ml.svc:5000)`: what logs and errors name. */
  public describeHost(registry: string): string {
    const host = this.contactedHost(registry);
    return host === normalizeRegistryHost(registry) ? registry : `${registry} (via mirror ${host})`;
  }

  private baseUrl(registry: string): string {
    const host = this.contactedHost(registry);
    const image = normalizeRegistryHost(registry);
    const name = host.replace(/:\d+$/, '');
    // `insecure` may name the mirror or the image host: the agent speaks plain HTTP to the mirror either way
    const plain = [host, name, image, image.replace(/:\d+$/, '')].some((h) => this.insecure.has(h)) || name === '127.0.0.1' || name === 'localhost' || name === '[::1]';
    const real = host === 'docker.io' ? 'registry-1.docker.io' : host;
    return `${plain ? 'http' : 'https'}://${real}`;
  }

  private bucket(registry: string): TokenBucket {
    let b = this.buckets.get(registry);
    if (!b) {
      const rl = this.options.rateLimit ?? { requestsPerSecond: 10, burst: 20 };
      b = new TokenBucket(rl.requestsPerSecond, rl.burst, this.now, this.sleep);
      this.buckets.set(registry, b);
    }
    return b;
  }

  /** The image host's credentials (they follow it through a mirror), else the mirror's own. */
  private credential(registry: string): RegistryCredential | undefined {
    return this.options.credentials?.get(normalizeRegistryHost(registry)) ?? this.options.credentials?.get(this.contactedHost(registry));
  }

  private authHeader(repo: RepositoryName, access: Access): string | undefined {
    const scope = `repository:${repo.repository}:${access}`;
    const tok = this.tokens.get(`${repo.registry}|${scope}`);
    if (tok && tok.expiresAt > this.now()) return `Bearer ${tok.token}`;
    if (this.basicRegistries.has(repo.registry)) {
      const c = this.credential(repo.registry);
      if (c) return `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
    }
    return undefined;
  }

  private count(registry: string): void {
    this.counts.requests[registry] = (this.counts.requests[registry] ?? 0) + 1;
  }

  /** One logical request: rate limit, auth (one challenge round), retries with backoff. */
  private async request(
    repo: RepositoryName, method: string, path: string, headers: Record<string, string>, signal?: AbortSignal,
    body?: Buffer, access: Access = 'pull',
  ): Promise<HttpResponse> {
    const url = `${this.baseUrl(repo.registry)}${path}`;
    let challenged = false;
    for (let attempt = 0; ; attempt++) {
      await this.bucket(repo.registry).take(signal);
      const h: Record<string, string> = { ...headers };
      const auth = this.authHeader(repo, access);
      if (auth) h.Authorization = auth;
      this.count(repo.registry);
      let res: HttpResponse | undefined;
      let networkError: Error | undefined;
      try {
        // a registry may redirect (blobs, manifests on a CDN): followed, bounded, Authorization dropped off-origin
        res = await this.send({
          url, method, headers: h, signal, timeoutMs: this.requestTimeoutMs, maxRedirects: MAX_REDIRECTS, ...(body ? { body } : {}),
        });
      } catch (e) {
        if (signal?.aborted) throw e;
        networkError = e as Error;
      }
      if (res && res.status === 401 && !challenged) {
        challenged = true;
        await this.answerChallenge(repo, res.headers.get('www-authenticate'), access, signal);
        attempt--; // the challenge round is not a retry
        continue;
      }
      if (res && res.status === 401) {
        const hasCred = this.credential(repo.registry) !== undefined;
        throw new RegistryError(
          `registry ${this.describeHost(repo.registry)} refused ${method} ${path} (401 unauthorized)${hasCred ? '; the credentials in the docker config were rejected' : `; add credentials for '${repo.registry}' to the docker config.json`}`,
          repo.registry, 401);
      }
      const retryable = networkError !== undefined || (res !== undefined && (res.status === 429 || res.status >= 500));
      if (!retryable) return res as HttpResponse;
      const what = networkError ? `network error: ${networkError.message}` : `${res!.status}`;
      if (attempt >= this.maxRetries) {
        throw new RegistryError(`registry ${this.describeHost(repo.registry)} failed ${method} ${path} after ${attempt + 1} attempts (${what}); will try again next cycle`,
          repo.registry, res?.status ?? 0);
      }
      const retryAfter = res ? parseRetryAfter(res.headers.get('retry-after'), this.now()) : undefined;
      const delay = Math.min(this.maxBackoffMs, retryAfter ?? this.initialBackoffMs * 2 ** attempt);
      this.counts.retries++;
      this.logger.warn('registry request failed; backing off', {
        registry: repo.registry, method, path, status: res?.status ?? 0, error: networkError?.message, attempt: attempt + 1, delayMs: delay,
      });
      await this.sleep(delay, signal);
    }
  }

  private async answerChallenge(repo: RepositoryName, header: string | null, access: Access, signal?: AbortSignal): Promise<void> {
    const ch = header ? parseChallenge(header) : undefined;
    const cred = this.credential(repo.registry);
    if (ch?.scheme === 'basic' || (ch === undefined && cred)) {
      if (!cred) {
        throw new RegistryError(`registry ${this.describeHost(repo.registry)} asks for basic auth; add credentials for '${repo.registry}' to the docker config.json`, repo.registry, 401);
      }
      this.basicRegistries.add(repo.registry);
      return;
    }
    if (ch?.scheme !== 'bearer' || !ch.params.realm) {
      throw new RegistryError(`registry ${this.describeHost(repo.registry)} sent an unusable WWW-Authenticate '${header ?? ''}'`, repo.registry, 401);
    }
    const scope = `repository:${repo.repository}:${access}`;
    const u = new URL(ch.params.realm);
    if (ch.params.service) u.searchParams.set('service', ch.params.service);
    u.searchParams.set('scope', access === 'pull' ? ch.params.scope ?? scope : scope);
    const h: Record<string, string> = { Accept: 'application/json' };
    if (cred) h.Authorization = `Basic ${Buffer.from(`${cred.username}:${cred.password}`).toString('base64')}`;
    this.counts.tokenFetches++;
    this.count(u.host);
    let res: HttpResponse;
    try {
      res = await this.send({ url: u.toString(), headers: h, signal, timeoutMs: this.requestTimeoutMs, maxRedirects: MAX_REDIRECTS });
    } catch (e) {
      throw new RegistryError(`token service ${u.origin} for registry ${this.describeHost(repo.registry)} is unreachable (${(e as Error).message})`, repo.registry, 0);
    }
    if (res.status !== 200) {
      throw new RegistryError(`token service ${u.origin} for registry ${this.describeHost(repo.registry)} answered ${res.status} for scope '${scope}'`, repo.registry, res.status);
    }
    const body = parseJsonOr(res.text(), {}) as { token?: unknown; access_token?: unknown; expires_in?: unknown };
    const token = typeof body.token === 'string' ? body.token : typeof body.access_token === 'string' ? body.access_token : undefined;
    if (!token) throw new RegistryError(`token service ${u.origin} for registry ${this.describeHost(repo.registry)} sent no 'token'`, repo.registry, res.status);
    const expiresIn = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : 60;
    // Renew 10 s early (or at half-life for very short tokens) so a request never carries an expired token.
    const margin = Math.min(10, expiresIn / 2) * 1000;
    this.tokens.set(`${repo.registry}|${scope}`, { token, expiresAt: this.now() + expiresIn * 1000 - margin });
  }

  private async unexpected(repo: RepositoryName, method: string, path: string, res: HttpResponse): Promise<RegistryError> {
    const text = method === 'HEAD' ? '' : res.text().slice(0, 200);
    return new RegistryError(`registry ${this.describeHost(repo.registry)} answered ${res.status} for ${method} ${path}${text ? `: ${text}` : ''}`, repo.registry, res.status);
  }
}
