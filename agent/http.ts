/**
 * The agent's single HTTP server (node:http): `/healthz` and `/metrics` through callbacks the core passes in, and,
 * when webhooks are on, the webhook routes, which become `TriggerEvent`s through the {@link Trigger} returned by {@link AgentHttpServer.trigger}.
 *
 * Order of checks for a webhook: path (404) → method (405) → declared size (413) → the sender's request rate (429)
 * → credentials in the headers: a bearer token, or a well-formed signature with a fresh timestamp (401; no byte of
 * the body is read before this) → room in the shared body budget (503) → read at most `maxBodyBytes` (413) → the
 * signature over the body (401) → a delivery seen before (409) → JSON and payload shape (400) → a model no
 * workload runs (404) → emit (202). Nothing is emitted on any 4xx or 5xx. Connections are capped
 * (`maxConnections`); a refused request's connection is closed rather than drained.
 */
import * as http from 'node:http';
import { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { OPERATOR_ROUTES } from './operator-api';
import {
  authenticate, parseWebhook, preAuthenticate, validateWebhookAuth, WEBHOOK_ROUTES, WebhookAuthOptions, WebhookError, WebhookRoute,
} from './triggers/webhooks';
import { Logger, nullLogger, Trigger, TriggerEvent } from './types';

/** Options of {@link AgentHttpServer}. */
export interface AgentHttpServerOptions {
  /** Port to listen on; 0 picks a free one. @default 8080 */
  readonly port?: number;
  /** Address to bind. @default '0.0.0.0' */
  readonly host?: string;
  /**
   * Webhook authentication (at least a bearer token or an HMAC secret). Without it the webhooks are off and the
   * server answers only `/healthz` and `/metrics` (every other path 404).
   * @default - webhooks off
   */
  readonly auth?: WebhookAuthOptions;
  /** Largest accepted webhook body. @default 1048576 (1 MiB) */
  readonly maxBodyBytes?: number;
  /** Bytes of webhook bodies held in memory at once, over all requests; beyond it a request gets 503. @default 8 MiB */
  readonly maxBufferedBytes?: number;
  /** Open connections at once; more are closed on accept. @default 128 */
  readonly maxConnections?: number;
  /** Webhook requests per second per source address (a token bucket with twice that as burst); more get 429. @default 20 */
  readonly requestsPerSecond?: number;
  /**
   * Whether a model is run by a workload the agent manages; a model webhook or alert for a model it does not
   * know gets 404 and changes nothing. `undefined` (not discovered yet) accepts.
   * @default - every model accepted
   */
  readonly knownModel?: (model: string) => boolean | undefined;
  /** `/metrics` body (Prometheus text), e.g. from prom-client's `register.metrics()`. @default - 404 */
  readonly metrics?: () => Promise<{ contentType: string; body: string }>;
  /** `/healthz`: healthy → 200, else 503; `detail` is sent as JSON. @default - always healthy */
  readonly healthz?: () => { healthy: boolean; detail?: Record<string, unknown> };
  /**
   * Prometheus HTTP service discovery (`GET /sd/targets`, the http_sd_configs format): the running model
   * containers' scrape addresses — on one host, the blue/green slot that runs now, and both during an update.
   */
  readonly scrapeTargets?: () => Promise<Array<{ targets: string[]; labels: Record<string, string> }>>;
  /**
   * The operator API (`/v1/overrides`, `/v1/hold`, `/v1/pin`, `/v1/quarantine`; bearer token only): holds, pins and
   * quarantines, as `modelpilot hold|pin|quarantine` (agent/operator-api.ts).
   * @default - off (404)
   */
  readonly operator?: (method: string, path: string, query: URLSearchParams, body: Buffer) => { status: number; body: unknown };
  /** Called after each request (for counters): route or 'other', HTTP status. */
  readonly onRequest?: (route: string, status: number) => void;
  readonly logger?: Logger;
  readonly now?: () => number;
}

const DEFAULT_MAX_BODY = 1024 * 1024;
/** The largest `webhooks.bodyLimit` the server takes (the schema refuses more, naming this). */
export const MAX_BODY_LIMIT = 16 * 1024 * 1024;
const REPLAY_CACHE = 10_000;
const RATE_SOURCES = 10_000;

class BodyTooLarge extends Error {}
class BudgetExceeded extends Error {}
class ClientGone extends Error {}

/** The agent's HTTP server. `listen()`, hand `trigger()` to the loop, `close()` on shutdown. */
export class AgentHttpServer {
  private readonly server: http.Server;
  private readonly maxBodyBytes: number;
  private readonly logger: Logger;
  private emit: ((e: TriggerEvent) => void) | undefined;
  private readonly maxBufferedBytes: number;
  private buffered = 0;
  /** Signature fingerprints accepted, with when they stop mattering (the timestamp window has passed). */
  private readonly seen = new Map<string, number>();
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(private readonly options: AgentHttpServerOptions) {
    if (options.auth) validateWebhookAuth(options.auth);
    this.maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY;
    if (!Number.isInteger(this.maxBodyBytes) || this.maxBodyBytes < 1 || this.maxBodyBytes > MAX_BODY_LIMIT) {
      throw new Error(`'webhooks.bodyLimit' value ${this.maxBodyBytes} is out of range; give 1 byte to 16MiB (webhook payloads are a few KiB)`);
    }
    this.maxBufferedBytes = Math.max(options.maxBufferedBytes ?? 8 * 1024 * 1024, this.maxBodyBytes);
    this.logger = options.logger ?? nullLogger;
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((e: unknown) => {
        this.logger.error('http handler failed', { error: (e as Error).message });
        if (!res.headersSent) this.send(res, 'other', 500, { error: 'internal error' });
        else res.destroy();
      });
    });
    this.server.requestTimeout = 30_000;
    this.server.headersTimeout = 10_000;
    this.server.maxConnections = options.maxConnections ?? 128;
  }

  /** Starts listening; resolves with the bound port. */
  public async listen(): Promise<number> {
    const port = this.options.port ?? 8080;
    const host = this.options.host ?? '0.0.0.0';
    await new Promise<void>((resolve, reject) => {
      const onError = (e: Error): void => reject(new Error(`agent http server cannot listen on ${host}:${port} (${e.message}); choose a free 'webhooks.listen'`));
      this.server.once('error', onError);
      this.server.listen(port, host, () => {
        this.server.off('error', onError);
        resolve();
      });
    });
    const bound = (this.server.address() as AddressInfo).port;
    this.logger.info('http server listening', { host, port: bound, webhooks: this.options.auth !== undefined });
    return bound;
  }

  /** The bound port (after `listen()`). */
  public get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** Stops accepting connections and closes idle ones. */
  public async close(): Promise<void> {
    if (!this.server.listening) return;
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeIdleConnections();
    });
  }

  /**
   * The webhook trigger: `start(emit, signal)` routes accepted webhooks to `emit` until `signal` aborts, then
   * detaches. Until started, webhooks are answered 503 (nothing emitted). It resolves once attached.
   */
  public trigger(): Trigger {
    return {
      start: async (emit, signal) => {
        if (signal.aborted) return;
        this.emit = emit;
        signal.addEventListener('abort', () => {
          if (this.emit === emit) this.emit = undefined;
        }, { once: true });
      },
    };
  }

  private send(res: http.ServerResponse, route: string, status: number, body: unknown, headers: Record<string, string> = {}): void {
    writeCompressible(res, status, 'application/json', JSON.stringify(body), headers);
    this.options.onRequest?.(route, status);
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://agent');
    const path = url.pathname;
    if (path === '/healthz') {
      if (req.method !== 'GET' && req.method !== 'HEAD') return this.send(res, path, 405, { error: 'use GET' }, { Allow: 'GET, HEAD' });
      const h = this.options.healthz?.() ?? { healthy: true };
      return this.send(res, path, h.healthy ? 200 : 503, { healthy: h.healthy, ...h.detail });
    }
    if (path === '/metrics') {
      if (req.method !== 'GET') return this.send(res, path, 405, { error: 'use GET' }, { Allow: 'GET' });
      if (!this.options.metrics) return this.send(res, path, 404, { error: 'metrics are not enabled' });
      const m = await this.options.metrics();
      writeCompressible(res, 200, m.contentType, m.body);
      this.options.onRequest?.(path, 200);
      return undefined;
    }
    if (path === '/sd/targets' && this.options.scrapeTargets) {
      if (req.method !== 'GET') return this.send(res, path, 405, { error: 'use GET' }, { Allow: 'GET' });
      try {
        return this.send(res, path, 200, await this.options.scrapeTargets());
      } catch (e) {
        // Prometheus keeps the targets it had when discovery fails
        return this.send(res, path, 503, { error: `listing the containers failed: ${(e as Error).message}` });
      }
    }
    const auth = this.options.auth;
    if (!auth) {
      req.resume();
      return this.send(res, 'other', 404, { error: `no route ${req.method} ${path}; webhooks are disabled` });
    }
    if (this.options.operator && (OPERATOR_ROUTES as readonly string[]).includes(path)) return this.operatorRequest(req, res, path, url, auth);
    if (!(path in WEBHOOK_ROUTES)) {
      req.resume();
      return this.send(res, 'other', 404, { error: `no route ${path}` });
    }
    const route = path as WebhookRoute;
    if (req.method !== 'POST') {
      req.resume();
      return this.send(res, route, 405, { error: `${route} takes POST` }, { Allow: 'POST' });
    }
    const declared = Number(req.headers['content-length'] ?? '0');
    if (declared > this.maxBodyBytes) {
      this.logger.warn('webhook refused', { route, status: 413, bytes: declared });
      this.refuse(req, res, route, 413, `body of ${declared} bytes exceeds the limit of ${this.maxBodyBytes}`);
      return undefined;
    }
    const now = (this.options.now ?? Date.now)();
    if (!this.takeToken(req.socket.remoteAddress ?? '?', now)) {
      this.logger.warn('webhook refused', { route, status: 429, source: req.socket.remoteAddress });
      this.refuse(req, res, route, 429, `more than ${this.options.requestsPerSecond ?? 20} webhook requests per second from this address; slow down`, { 'Retry-After': '1' });
      return undefined;
    }
    let pre;
    try {
      pre = preAuthenticate(route, req.headers, auth, now);
    } catch (e) {
      if (!(e instanceof WebhookError)) throw e;
      this.logger.warn('webhook refused', { route, status: e.status, reason: e.message });
      this.refuse(req, res, route, e.status, e.message, { 'WWW-Authenticate': 'Bearer' });
      return undefined;
    }
    let body: Buffer;
    try {
      body = await this.readBody(req);
    } catch (e) {
      if (e instanceof BodyTooLarge || e instanceof BudgetExceeded) {
        const status = e instanceof BodyTooLarge ? 413 : 503;
        this.logger.warn('webhook refused', { route, status });
        this.refuse(req, res, route, status, e instanceof BodyTooLarge
          ? `body exceeds the limit of ${this.maxBodyBytes} bytes` : 'too many webhook bodies in flight; retry shortly', status === 503 ? { 'Retry-After': '1' } : {});
        return undefined;
      }
      if (e instanceof ClientGone) return undefined; // nobody to answer
      throw e;
    }
    try {
      const via = authenticate(route, req.headers, body, auth, now);
      if (pre.kind === 'signed') this.checkReplay(pre.fingerprint, now);
      const result = parseWebhook(route, body, url.searchParams);
      const unknown = this.unknownModels(result.events);
      if (unknown.length) {
        throw new WebhookError(404, `no workload this agent manages runs model ${unknown.map((m) => `'${m}'`).join(', ')}; check the model name (nothing was changed)`);
      }
      const emit = this.emit;
      if (!emit) throw new WebhookError(503, 'the agent is not ready for webhooks yet; retry shortly');
      if (pre.kind === 'signed') this.remember(pre.fingerprint, now);
      for (const e of result.events) emit(e);
      this.logger.info('webhook accepted', { route, auth: via, events: result.events.length, note: result.note });
      return this.send(res, route, result.events.length > 0 ? 202 : 200, { accepted: result.events.length, note: result.note });
    } catch (e) {
      if (e instanceof WebhookError) {
        this.logger.warn('webhook refused', { route, status: e.status, reason: e.message });
        return this.send(res, route, e.status, { error: e.message }, e.status === 401 ? { 'WWW-Authenticate': 'Bearer' } : {});
      }
      throw e;
    }
  }

  /** An operator API request: rate limit, bearer token (as `/v1/update`), a bounded body, then the handler. */
  private async operatorRequest(
    req: http.IncomingMessage, res: http.ServerResponse, path: string, url: URL, auth: WebhookAuthOptions,
  ): Promise<void> {
    const now = (this.options.now ?? Date.now)();
    if (!this.takeToken(req.socket.remoteAddress ?? '?', now)) {
      this.refuse(req, res, path, 429, `more than ${this.options.requestsPerSecond ?? 20} requests per second from this address; slow down`, { 'Retry-After': '1' });
      return;
    }
    try {
      preAuthenticate('/v1/update', req.headers, auth, now);
    } catch (e) {
      if (!(e instanceof WebhookError)) throw e;
      this.logger.warn('operator request refused', { path, status: e.status });
      this.refuse(req, res, path, 401, 'the operator API takes the bearer token only (Authorization: Bearer <webhooks.bearerTokenFile>)', { 'WWW-Authenticate': 'Bearer' });
      return;
    }
    let body: Buffer;
    try {
      body = await this.readBody(req);
    } catch (e) {
      if (e instanceof BodyTooLarge || e instanceof BudgetExceeded) {
        this.refuse(req, res, path, e instanceof BodyTooLarge ? 413 : 503, 'body too large or too many in flight');
        return;
      }
      if (e instanceof ClientGone) return;
      throw e;
    }
    const answer = this.options.operator!(req.method ?? 'GET', path, url.searchParams, body);
    this.logger.info('operator request', { method: req.method, path, status: answer.status });
    this.send(res, path, answer.status, answer.body);
  }

  /** Answers a refused request and closes its connection, without reading (or draining) its body. */
  private refuse(
    req: http.IncomingMessage, res: http.ServerResponse, route: string, status: number, error: string, headers: Record<string, string> = {},
  ): void {
    res.setHeader('Connection', 'close');
    this.send(res, route, status, { error }, headers);
    res.on('finish', () => req.destroy());
  }

  /** A token bucket per source address; false when the sender is over its rate. */
  private takeToken(source: string, now: number): boolean {
    const rate = this.options.requestsPerSecond ?? 20;
    const burst = rate * 2;
    let b = this.buckets.get(source);
    if (!b) {
      if (this.buckets.size >= RATE_SOURCES) this.buckets.clear();
      b = { tokens: burst, at: now };
      this.buckets.set(source, b);
    }
    b.tokens = Math.min(burst, b.tokens + ((now - b.at) / 1000) * rate);
    b.at = now;
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  private checkReplay(fingerprint: string, now: number): void {
    const until = this.seen.get(fingerprint);
    if (until !== undefined && until > now) throw new WebhookError(409, 'this signed delivery was already accepted; a replay changes nothing (sign a new delivery with the current time)');
  }

  private remember(fingerprint: string, now: number): void {
    if (this.seen.size >= REPLAY_CACHE) {
      for (const [k, until] of this.seen) if (until <= now) this.seen.delete(k);
      // still full: all are inside the window; the oldest goes (its timestamp is the first to fall out of the window)
      if (this.seen.size >= REPLAY_CACHE) this.seen.delete(this.seen.keys().next().value!);
    }
    // a timestamp is accepted up to the window either side of now: remember it for twice the window
    this.seen.set(fingerprint, now + 2 * (this.options.auth?.maxSignatureAgeSeconds ?? 300) * 1000);
  }

  private unknownModels(events: readonly TriggerEvent[]): string[] {
    const known = this.options.knownModel;
    if (!known) return [];
    const models = new Set(events.flatMap((e) => [...(e.models ?? []), ...(e.rollback ? [e.rollback.model] : [])]));
    return [...models].filter((m) => known(m) === false);
  }

  private readBody(req: http.IncomingMessage): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let done = false;
      const finish = (): void => {
        done = true;
        this.buffered -= size;
        size = 0;
      };
      req.on('data', (c: Buffer) => {
        if (done) return;
        size += c.length;
        this.buffered += c.length;
        if (size > this.maxBodyBytes || this.buffered > this.maxBufferedBytes) {
          const tooLarge = size > this.maxBodyBytes;
          finish();
          chunks.length = 0;
          req.pause();
          reject(tooLarge ? new BodyTooLarge() : new BudgetExceeded());
          return;
        }
        chunks.push(c);
      });
      req.on('end', () => {
        if (!done) {
          const body = Buffer.concat(chunks);
          finish();
          resolve(body);
        }
      });
      const fail = (e: Error): void => {
        if (!done) {
          finish();
          reject(e);
        }
      };
      req.on('error', fail);
      req.on('close', () => fail(new ClientGone()));
    });
  }
}

/** Responses smaller than this are sent as they are: gzip would not pay for its header. */
const GZIP_MIN_BYTES = 1024;

/** Whether the request's `Accept-Encoding` takes gzip (and does not refuse it with `q=0`). */
export function acceptsGzip(header: string | string[] | undefined): boolean {
  const text = Array.isArray(header) ? header.join(',') : header ?? '';
  return text.split(',').some((part) => {
    const [coding, ...params] = part.trim().toLowerCase().split(';').map((x) => x.trim());
    if (coding !== 'gzip' && coding !== '*') return false;
    const q = params.find((p) => p.startsWith('q='));
    return q === undefined || Number(q.slice(2)) > 0;
  });
}

/** Writes a text response, gzip-compressed when the client asks for it (`Accept-Encoding`) and it is worth it. */
function writeCompressible(res: http.ServerResponse, status: number, contentType: string, text: string, headers: Record<string, string> = {}): void {
  const raw = Buffer.from(text, 'utf8');
  const gzip = raw.length >= GZIP_MIN_BYTES && acceptsGzip(res.req?.headers['accept-encoding']);
  const body = gzip ? gzipSync(raw) : raw;
  res.writeHead(status, {
    'Content-Type': contentType, 'Content-Length': body.length, Vary: 'Accept-Encoding', ...(gzip ? { 'Content-Encoding': 'gzip' } : {}), ...headers,
  });
  res.end(body);
}
