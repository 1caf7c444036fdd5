/**
 * The agent's one outgoing HTTP helper, on `node:http` / `node:https`: the registry client, the synthetic probe,
 * the Docker target's readiness probe and the Prometheus SLO check all go through it.
 *
 * Why not the global `fetch`: in Node 20 it is undici, which loads on the first call and costs the agent a measurable
 * share of its RSS for what are a few small JSON and HEAD requests (numbers: bench/results/agent.json, `watched100`).
 *
 * What it keeps of `fetch`'s behaviour: redirects are followed (at most `maxRedirects`; 303, and 301/302 after a
 * POST, turn into a bodiless GET; `Authorization` is dropped when a redirect leaves the origin), keep-alive
 * connections (the default agents of Node 20), the caller's `AbortSignal` rejects with its reason. The whole body
 * is read into memory (bounded by `maxBodyBytes`); a timeout covers the whole exchange, body included.
 */
import * as http from 'node:http';
import type * as https from 'node:https';

/** One request. */
export interface HttpRequest {
  readonly url: string;
  /** @default 'GET' */
  readonly method?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string | Buffer;
  /** Whole exchange (connect, headers, body). @default - none (only `signal`) */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
  /** Redirects followed before the 3xx itself is returned. @default 20 (as `fetch`) */
  readonly maxRedirects?: number;
  /** Largest response body read; a larger one fails the request. @default 64 MiB */
  readonly maxBodyBytes?: number;
}

/** Response headers, looked up case-insensitively; repeated headers are joined with `, ` (as `fetch`'s). */
export class HttpHeaders {
  constructor(private readonly raw: http.IncomingHttpHeaders) {}

  public get(name: string): string | null {
    const v = this.raw[name.toLowerCase()];
    if (v === undefined) return null;
    return Array.isArray(v) ? v.join(', ') : v;
  }
}

/** A response whose body has been read. */
export interface HttpResponse {
  readonly status: number;
  /** 2xx */
  readonly ok: boolean;
  readonly headers: HttpHeaders;
  readonly body: Buffer;
  /** The URL that answered (after redirects). */
  readonly url: string;
  text(): string;
}

/** The request function; injectable wherever the agent talks HTTP. */
export type HttpRequester = (req: HttpRequest) => Promise<HttpResponse>;

const DEFAULT_MAX_REDIRECTS = 20;
const DEFAULT_MAX_BODY = 64 * 1024 * 1024;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

let httpsModule: typeof https | undefined;
/** `node:https` (and with it TLS) only once an https URL is asked for. */
function transport(protocol: string): typeof http | typeof https {
  if (protocol === 'http:') return http;
  if (protocol === 'https:') {
    httpsModule ??= require('node:https') as typeof https;
    return httpsModule;
  }
  throw new Error(`unsupported URL scheme '${protocol}'; use http: or https:`);
}

/** Sends `req`, follows redirects, reads the body. Rejects on a network error, a timeout or an abort. */
export const httpRequest: HttpRequester = async (req) => {
  const maxRedirects = req.maxRedirects ?? DEFAULT_MAX_REDIRECTS;
  const timeoutMs = req.timeoutMs;
  const ctl = new AbortController();
  const timer = timeoutMs === undefined ? undefined
    : setTimeout(() => ctl.abort(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
  const onAbort = (): void => ctl.abort(req.signal?.reason);
  if (req.signal?.aborted) onAbort();
  else req.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    let url = new URL(req.url);
    let method = (req.method ?? 'GET').toUpperCase();
    let body = req.body;
    const headers: Record<string, string> = { ...req.headers };
    for (let redirects = 0; ; redirects++) {
      const res = await once(url, method, headers, body, ctl.signal, req.maxBodyBytes ?? DEFAULT_MAX_BODY);
      const location = res.headers.get('location');
      if (!REDIRECTS.has(res.status) || location === null || redirects >= maxRedirects) return res;
      const next = new URL(location, url);
      if (res.status === 303 || ((res.status === 301 || res.status === 302) && method === 'POST')) {
        if (method !== 'HEAD') method = 'GET';
        body = undefined;
        for (const k of Object.keys(headers)) if (/^content-(type|length|encoding|language|location)$/i.test(k)) delete headers[k];
      }
      if (next.origin !== url.origin) {
        for (const k of Object.keys(headers)) if (/^(authorization|cookie|proxy-authorization)$/i.test(k)) delete headers[k];
      }
      url = next;
    }
  } finally {
    if (timer !== undefined) clearTimeout(timer);
    req.signal?.removeEventListener('abort', onAbort);
  }
};

/** One exchange, no redirects. */
function once(
  url: URL, method: string, headers: Record<string, string>, body: string | Buffer | undefined, signal: AbortSignal, maxBodyBytes: number,
): Promise<HttpResponse> {
  return new Promise<HttpResponse>((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const h: Record<string, string | number> = { 'user-agent': 'modelpilot-agent', ...headers };
    if (body !== undefined) h['content-length'] = Buffer.byteLength(body);
    const request = transport(url.protocol).request(url, { method, headers: h, signal });
    request.on('error', (e: Error) => reject(signal.aborted ? signal.reason : e));
    request.on('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > maxBodyBytes) {
          reject(new Error(`response body of ${url.origin}${url.pathname} is larger than ${maxBodyBytes} bytes`));
          res.destroy();
          return;
        }
        chunks.push(c);
      });
      res.on('error', (e: Error) => reject(signal.aborted ? signal.reason : e));
      res.on('aborted', () => reject(signal.aborted ? signal.reason : new Error(`connection to ${url.origin} closed mid-response`)));
      res.on('end', () => {
        const bytes = Buffer.concat(chunks);
        const status = res.statusCode ?? 0;
        resolve({
          status, ok: status >= 200 && status <= 299, headers: new HttpHeaders(res.headers), body: bytes, url: url.toString(),
          text: () => bytes.toString('utf8'),
        });
      });
    });
    request.end(body);
  });
}
