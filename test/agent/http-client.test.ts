import * as http from 'node:http';
import { AddressInfo } from 'node:net';
import { httpRequest } from '../../agent/http-client';

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, body: string) => void;

interface Seen {
  readonly method: string;
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

interface TestServer {
  readonly base: string;
  readonly seen: Seen[];
  close(): Promise<void>;
}

async function serve(handler: Handler): Promise<TestServer> {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      handler(req, res, body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

describe('httpRequest (node:http, no fetch)', () => {
  const servers: TestServer[] = [];
  const start = async (h: Handler): Promise<TestServer> => {
    const s = await serve(h);
    servers.push(s);
    return s;
  };
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  test('sends method, headers and body; returns status, headers (case-insensitive) and the body', async () => {
    // GIVEN a server that echoes and sets a repeated header
    const s = await start((req, res, body) => {
      res.setHeader('Link', ['</a>; rel="next"', '</b>; rel="last"']);
      res.setHeader('ETag', '"v1"');
      res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ got: body, ct: req.headers['content-type'] }));
    });
    // WHEN
    const res = await httpRequest({ url: `${s.base}/p?q=1`, method: 'post', headers: { 'Content-Type': 'text/plain' }, body: 'héllo' });
    // THEN
    expect(res.status).toBe(201);
    expect(res.ok).toBe(true);
    expect(res.headers.get('etag')).toBe('"v1"');
    expect(res.headers.get('ETAG')).toBe('"v1"');
    expect(res.headers.get('link')).toBe('</a>; rel="next", </b>; rel="last"');
    expect(res.headers.get('x-missing')).toBeNull();
    expect(JSON.parse(res.text())).toEqual({ got: 'héllo', ct: 'text/plain' });
    expect(s.seen[0]).toMatchObject({ method: 'POST', url: '/p?q=1' });
    expect(s.seen[0].headers['content-length']).toBe(String(Buffer.byteLength('héllo')));
  });

  test('a HEAD returns the headers and an empty body; a non-2xx is not ok and not an error', async () => {
    const s = await start((_req, res) => {
      res.writeHead(404, { 'docker-content-digest': 'sha256:abc' }).end();
    });
    const res = await httpRequest({ url: `${s.base}/m`, method: 'HEAD' });
    expect(res.status).toBe(404);
    expect(res.ok).toBe(false);
    expect(res.headers.get('docker-content-digest')).toBe('sha256:abc');
    expect(res.body).toHaveLength(0);
  });

  test('follows a 307 with the same method and body, and returns the final URL', async () => {
    const s = await start((req, res) => {
      if (req.url === '/old') res.writeHead(307, { location: '/new' }).end();
      else res.end('moved here');
    });
    const res = await httpRequest({ url: `${s.base}/old`, method: 'PUT', body: 'x' });
    expect(res.text()).toBe('moved here');
    expect(res.url).toBe(`${s.base}/new`);
    expect(s.seen.map((r) => `${r.method} ${r.url} ${r.body}`)).toEqual(['PUT /old x', 'PUT /new x']);
  });

  test('turns a POST into a bodiless GET after a 303 (as fetch does)', async () => {
    const s = await start((req, res) => {
      if (req.url === '/form') res.writeHead(303, { location: '/result' }).end();
      else res.end('ok');
    });
    await httpRequest({ url: `${s.base}/form`, method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(s.seen.map((r) => `${r.method} ${r.url} ${r.body}`)).toEqual(['POST /form {}', 'GET /result ']);
    expect(s.seen[1].headers['content-type']).toBeUndefined();
  });

  test('drops Authorization when a redirect leaves the origin, keeps it on the same origin', async () => {
    // GIVEN a registry that sends the manifest to a "storage" host on another port
    const storage = await start((_req, res) => res.end('blob'));
    const registry = await start((req, res) => {
      if (req.url === '/same') res.writeHead(302, { location: '/other' }).end();
      else if (req.url === '/other') res.writeHead(302, { location: `${storage.base}/blob?sig=1` }).end();
    });
    // WHEN
    const res = await httpRequest({ url: `${registry.base}/same`, headers: { Authorization: 'Bearer t0ken', Accept: 'x/y' } });
    // THEN
    expect(res.text()).toBe('blob');
    expect(registry.seen.map((r) => r.headers.authorization)).toEqual(['Bearer t0ken', 'Bearer t0ken']);
    expect(storage.seen[0].url).toBe('/blob?sig=1');
    expect(storage.seen[0].headers.authorization).toBeUndefined();
    expect(storage.seen[0].headers.accept).toBe('x/y');
  });

  test('stops following after maxRedirects and returns the 3xx itself', async () => {
    const s = await start((req, res) => {
      const n = Number(req.url?.slice(1));
      res.writeHead(302, { location: `/${n + 1}` }).end();
    });
    const res = await httpRequest({ url: `${s.base}/0`, maxRedirects: 3 });
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('/4');
    expect(s.seen.map((r) => r.url)).toEqual(['/0', '/1', '/2', '/3']);
  });

  test('rejects with a timeout error when the server does not answer within timeoutMs', async () => {
    const s = await start(() => undefined); // never answers
    await expect(httpRequest({ url: `${s.base}/slow`, timeoutMs: 100 })).rejects.toThrow('timed out after 100 ms');
  });

  test('rejects with the signal reason when the caller aborts, before or during the request', async () => {
    const s = await start(() => undefined);
    await expect(httpRequest({ url: `${s.base}/x`, signal: AbortSignal.abort(new Error('already stopped')) })).rejects.toThrow('already stopped');
    expect(s.seen).toHaveLength(0);
    const ctl = new AbortController();
    const p = httpRequest({ url: `${s.base}/x`, signal: ctl.signal, timeoutMs: 60_000 });
    await new Promise((r) => setTimeout(r, 50));
    ctl.abort(new Error('agent stopping'));
    await expect(p).rejects.toThrow('agent stopping');
  });

  test('rejects with the connection error when nothing listens', async () => {
    const s = await start(() => undefined);
    const base = s.base;
    await servers.pop()!.close();
    await expect(httpRequest({ url: `${base}/` })).rejects.toThrow(/ECONNREFUSED/);
  });

  test('throws if the body is larger than maxBodyBytes', async () => {
    const s = await start((_req, res) => res.end('x'.repeat(2048)));
    await expect(httpRequest({ url: `${s.base}/big`, maxBodyBytes: 1024 })).rejects.toThrow(`response body of ${s.base}/big is larger than 1024 bytes`);
  });

  test('throws if the URL scheme is neither http nor https', async () => {
    await expect(httpRequest({ url: 'ftp://127.0.0.1/x' })).rejects.toThrow("unsupported URL scheme 'ftp:'; use http: or https:");
  });
});
