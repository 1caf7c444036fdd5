/**
 * The agent's single HTTP server (node:http): `/healthz` and `/metrics` through callbacks the core passes in, and,
 * when webhooks are on, the webhook routes, which become `TriggerEvent`s through the {@link Trigger} returned by {@link AgentHttpServer.trigger}.
 *
 * Order of checks for a webhook: path (404) → method (405) → declared size (413) → read at most `maxBodyBytes`
 * (413) → authentication (401) → JSON and payload shape (400) → emit (202). Nothing is emitted on any 4xx.
 */
import * as http from 'node:http';
import { AddressInfo } from 'node:net';
import {
  authenticate, parseWebhook, validateWebhookAuth, WEBHOOK_ROUTES, WebhookAuthOptions, WebhookError, WebhookRoute,
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
  /** `/metrics` body (Prometheus text), e.g. from prom-client's `register.metrics()`. @default - 404 */
  readonly metrics?: () => Promise<{ contentType: string; body: string }>;
  /** `/healthz`: healthy → 200, else 503; `detail` is sent as JSON. @default - always healthy */
  readonly healthz?: () => { healthy: boolean; detail?: Record<string, unknown> };
  /** Called after each request (for counters): route or 'other', HTTP status. */
  readonly onRequest?: (route: string, status: number) => void;
  readonly logger?: Logger;
  readonly now?: () => number;
}

const DEFAULT_MAX_BODY = 1024 * 1024;

class BodyTooLarge extends Error {}

/** The agent's HTTP server. `listen()`, hand `trigger()` to the loop, `close()` on shutdown. */
export class AgentHttpServer {
  private readonly server: http.Server;
  private readonly maxBodyBytes: number;
  private readonly logger: Logger;
  private emit: ((e: TriggerEvent) => void) | undefined;

  constructor(private readonly options: AgentHttpServerOptions) {
    if (options.auth) validateWebhookAuth(options.auth);
    this.maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY;
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
    const text = JSON.stringify(body);
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), ...headers });
    res.end(text);
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
      res.writeHead(200, { 'Content-Type': m.contentType });
      res.end(m.body);
      this.options.onRequest?.(path, 200);
      return undefined;
    }
    const auth = this.options.auth;
    if (!auth) {
      req.resume();
      return this.send(res, 'other', 404, { error: `no route ${req.method} ${path}; webhooks are disabled` });
    }
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
      res.setHeader('Connection', 'close');
      this.send(res, route, 413, { error: `body of ${declared} bytes exceeds the limit of ${this.maxBodyBytes}` });
      req.destroy();
      return undefined;
    }
    let body: Buffer;
    try {
      body = await this.readBody(req);
    } catch (e) {
      if (e instanceof BodyTooLarge) {
        this.logger.warn('webhook refused', { route, status: 413 });
        res.setHeader('Connection', 'close');
        this.send(res, route, 413, { error: `body exceeds the limit of ${this.maxBodyBytes} bytes` });
        req.destroy();
        return undefined;
      }
      throw e;
    }
    try {
      const via = authenticate(route, req.headers, body, auth, (this.options.now ?? Date.now)());
      const result = parseWebhook(route, body, url.searchParams);
      const emit = this.emit;
      if (!emit) throw new WebhookError(503, 'the agent is not ready for webhooks yet; retry shortly');
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

  private readBody(req: http.IncomingMessage): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let done = false;
      req.on('data', (c: Buffer) => {
        if (done) return;
        size += c.length;
        if (size > this.maxBodyBytes) {
          done = true;
          req.pause();
          reject(new BodyTooLarge());
          return;
        }
        chunks.push(c);
      });
      req.on('end', () => {
        if (!done) {
          done = true;
          resolve(Buffer.concat(chunks));
        }
      });
      req.on('error', (e) => {
        if (!done) {
          done = true;
          reject(e);
        }
      });
    });
  }
}
