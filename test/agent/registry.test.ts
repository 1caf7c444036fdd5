import { createHash } from 'node:crypto';
import * as http from 'node:http';
import { AddressInfo } from 'node:net';
import type { HttpRequester, HttpResponse } from '../../agent/http-client';
import {
  DistributionClient, MANIFEST_ACCEPT, parseChallenge, parseDockerConfig, parseNextLink, parseRetryAfter, RegistryError, TokenBucket,
} from '../../agent/registry';

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

interface TestServer {
  readonly host: string;
  readonly requests: { method: string; url: string; headers: http.IncomingHttpHeaders }[];
  close(): Promise<void>;
}

async function serve(handler: Handler): Promise<TestServer> {
  const requests: TestServer['requests'] = [];
  const server = http.createServer((req, res) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    host: `127.0.0.1:${port}`,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A sleep that records the delays asked for and returns at once. */
function fakeSleep(): { delays: number[]; sleep: (ms: number) => Promise<void> } {
  const delays: number[] = [];
  return { delays, sleep: async (ms: number) => { delays.push(ms); } };
}

const DIGEST = `sha256:${'a'.repeat(64)}`;

describe('DistributionClient', () => {
  let server: TestServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  test('follows Link pagination until the last page and returns every tag', async () => {
    // GIVEN a registry with 5 tags that serves 2 per page with RFC 5988 Link headers
    const all = ['1.0.0', '1.1.0', '1.2.0', '2.0.0', '2.1.0'];
    server = await serve((req, res) => {
      const u = new URL(req.url ?? '', 'http://x');
      const n = Number(u.searchParams.get('n'));
      const last = u.searchParams.get('last');
      const start = last ? all.indexOf(last) + 1 : 0;
      const page = all.slice(start, start + n);
      if (start + n < all.length) res.setHeader('Link', `</v2/models/recsys/tags/list?n=${n}&last=${page[page.length - 1]}>; rel="next"`);
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify({ name: 'models/recsys', tags: page }));
    });
    const client = new DistributionClient({ pageSize: 2 });
    // WHEN
    const tags = await client.listTags({ registry: server.host, repository: 'models/recsys' });
    // THEN
    expect(tags).toEqual(all);
    expect(server.requests.map((r) => r.url)).toEqual([
      '/v2/models/recsys/tags/list?n=2',
      '/v2/models/recsys/tags/list?n=2&last=1.1.0',
      '/v2/models/recsys/tags/list?n=2&last=2.0.0',
    ]);
  });

  test('answers a bearer challenge with basic credentials from the docker config, then reuses the token', async () => {
    // GIVEN a registry that wants a bearer token from its realm, which wants basic auth
    let realm = '';
    server = await serve((req, res) => {
      if (req.url?.startsWith('/token')) {
        const u = new URL(req.url, 'http://x');
        const ok = req.headers.authorization === `Basic ${Buffer.from('bob:s3cret').toString('base64')}`;
        if (!ok || u.searchParams.get('scope') !== 'repository:models/recsys:pull' || u.searchParams.get('service') !== 'reg') {
          res.statusCode = 403;
          res.end();
          return;
        }
        res.end(JSON.stringify({ token: 'tok-1', expires_in: 300 }));
        return;
      }
      if (req.headers.authorization !== 'Bearer tok-1') {
        res.statusCode = 401;
        res.setHeader('WWW-Authenticate', `Bearer realm="${realm}",service="reg",scope="repository:models/recsys:pull"`);
        res.end();
        return;
      }
      res.end(JSON.stringify({ tags: ['1.0.0'] }));
    });
    realm = `http://${server.host}/token`;
    const credentials = parseDockerConfig({ auths: { [`http://${server.host}`]: { auth: Buffer.from('bob:s3cret').toString('base64') } } });
    const client = new DistributionClient({ credentials });
    const repo = { registry: server.host, repository: 'models/recsys' };
    // WHEN listing twice
    expect(await client.listTags(repo)).toEqual(['1.0.0']);
    expect(await client.listTags(repo)).toEqual(['1.0.0']);
    // THEN the challenge and the token fetch happen once; the second poll is a single request
    expect(server.requests.map((r) => r.url.split('?')[0])).toEqual([
      '/v2/models/recsys/tags/list', '/token', '/v2/models/recsys/tags/list', '/v2/models/recsys/tags/list',
    ]);
    expect(client.stats().tokenFetches).toBe(1);
  });

  test('fetches a new bearer token once the cached one is about to expire', async () => {
    let realm = '';
    let issued = 0;
    server = await serve((req, res) => {
      if (req.url?.startsWith('/token')) {
        issued++;
        res.end(JSON.stringify({ token: `tok-${issued}`, expires_in: 60 }));
        return;
      }
      if (req.headers.authorization !== `Bearer tok-${issued}`) {
        res.statusCode = 401;
        res.setHeader('WWW-Authenticate', `Bearer realm="${realm}",service="reg"`);
        res.end();
        return;
      }
      res.end(JSON.stringify({ tags: ['1.0.0'] }));
    });
    realm = `http://${server.host}/token`;
    let t = 0;
    const client = new DistributionClient({ now: () => t });
    const repo = { registry: server.host, repository: 'm' };
    await client.listTags(repo);
    t += 45_000; // still valid (renewed 10 s before expiry)
    await client.listTags(repo);
    expect(client.stats().tokenFetches).toBe(1);
    t += 10_000; // within the last 10 s: renewed
    await client.listTags(repo);
    expect(client.stats().tokenFetches).toBe(2);
  });

  test('stops backing off when the signal aborts', async () => {
    server = await serve((_req, res) => {
      res.statusCode = 503;
      res.end();
    });
    const ctl = new AbortController();
    const client = new DistributionClient({
      initialBackoffMs: 60_000,
      sleep: async (_ms, signal) => {
        ctl.abort(new Error('agent stopping'));
        signal?.throwIfAborted();
      },
    });
    await expect(client.listTags({ registry: server.host, repository: 'm' }, ctl.signal)).rejects.toThrow('agent stopping');
    expect(server.requests).toHaveLength(1);
  });

  test('uses basic auth when the registry challenges with Basic', async () => {
    const expected = `Basic ${Buffer.from('alice:pw').toString('base64')}`;
    server = await serve((req, res) => {
      if (req.headers.authorization !== expected) {
        res.statusCode = 401;
        res.setHeader('WWW-Authenticate', 'Basic realm="Registry Realm"');
        res.end();
        return;
      }
      res.end(JSON.stringify({ tags: ['2.0.0'] }));
    });
    const client = new DistributionClient({ credentials: parseDockerConfig({ auths: { [server.host]: { username: 'alice', password: 'pw' } } }) });
    expect(await client.listTags({ registry: server.host, repository: 'm' })).toEqual(['2.0.0']);
    expect(await client.listTags({ registry: server.host, repository: 'm' })).toEqual(['2.0.0']);
    expect(server.requests).toHaveLength(3);
  });

  test('throws a clear 401 error naming the docker config when no credentials exist', async () => {
    server = await serve((_req, res) => {
      res.statusCode = 401;
      res.setHeader('WWW-Authenticate', 'Basic realm="x"');
      res.end();
    });
    const client = new DistributionClient();
    await expect(client.listTags({ registry: server.host, repository: 'm' })).rejects.toThrow(`add credentials for '${server.host}' to the docker config.json`);
  });

  test('honours Retry-After on 429 and then succeeds', async () => {
    // GIVEN a registry that answers 429 (Retry-After: 2) twice
    let calls = 0;
    server = await serve((_req, res) => {
      calls++;
      if (calls <= 2) {
        res.statusCode = 429;
        res.setHeader('Retry-After', '2');
        res.end();
        return;
      }
      res.end(JSON.stringify({ tags: ['1.0.0'] }));
    });
    const s = fakeSleep();
    const client = new DistributionClient({ sleep: s.sleep });
    // WHEN
    const tags = await client.listTags({ registry: server.host, repository: 'm' });
    // THEN it waited exactly what the registry asked, twice
    expect(tags).toEqual(['1.0.0']);
    expect(s.delays).toEqual([2000, 2000]);
    expect(client.stats().retries).toBe(2);
  });

  test('backs off exponentially on 5xx and gives up after maxRetries with a RegistryError', async () => {
    server = await serve((_req, res) => {
      res.statusCode = 503;
      res.end('down for maintenance');
    });
    const s = fakeSleep();
    const client = new DistributionClient({ sleep: s.sleep, maxRetries: 3, initialBackoffMs: 100 });
    const err = await client.listTags({ registry: server.host, repository: 'm' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryError);
    expect((err as RegistryError).status).toBe(503);
    expect((err as Error).message).toContain('after 4 attempts (503)');
    expect(s.delays).toEqual([100, 200, 400]);
    expect(server.requests).toHaveLength(4);
  });

  test('caps a huge Retry-After at maxBackoffMs', async () => {
    let calls = 0;
    server = await serve((_req, res) => {
      calls++;
      if (calls === 1) {
        res.statusCode = 429;
        res.setHeader('Retry-After', '3600');
        res.end();
        return;
      }
      res.end(JSON.stringify({ tags: [] }));
    });
    const s = fakeSleep();
    const client = new DistributionClient({ sleep: s.sleep, maxBackoffMs: 5000 });
    expect(await client.listTags({ registry: server.host, repository: 'm' })).toEqual([]);
    expect(s.delays).toEqual([5000]);
  });

  test('retries a refused connection (registry down) and then throws with status 0', async () => {
    const probe = await serve((_req, res) => res.end());
    const host = probe.host;
    await probe.close();
    const s = fakeSleep();
    const client = new DistributionClient({ sleep: s.sleep, maxRetries: 2, initialBackoffMs: 10 });
    const err = await client.listTags({ registry: host, repository: 'm' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryError);
    expect((err as RegistryError).status).toBe(0);
    expect((err as Error).message).toContain('network error');
    expect(s.delays).toEqual([10, 20]);
  });

  test('resolves a digest with one HEAD that accepts OCI and Docker v2 manifest types', async () => {
    server = await serve((_req, res) => {
      res.setHeader('Docker-Content-Digest', DIGEST);
      res.setHeader('Content-Type', 'application/vnd.oci.image.manifest.v1+json');
      res.end();
    });
    const client = new DistributionClient();
    expect(await client.resolveDigest({ registry: server.host, repository: 'models/recsys' }, '1.2.0')).toBe(DIGEST);
    expect(server.requests).toHaveLength(1);
    expect(server.requests[0].method).toBe('HEAD');
    expect(server.requests[0].url).toBe('/v2/models/recsys/manifests/1.2.0');
    for (const type of [
      'application/vnd.oci.image.index.v1+json', 'application/vnd.oci.image.manifest.v1+json',
      'application/vnd.docker.distribution.manifest.list.v2+json', 'application/vnd.docker.distribution.manifest.v2+json',
    ]) expect(server.requests[0].headers.accept).toContain(type);
    expect(MANIFEST_ACCEPT.split(', ')).toHaveLength(4);
  });

  test('hasManifest: HEAD by digest, true on 200, false on 404, an error otherwise', async () => {
    const status: Record<string, number> = { [`/v2/m/manifests/${DIGEST}`]: 200, [`/v2/m/manifests/sha256:${'b'.repeat(64)}`]: 404 };
    server = await serve((req, res) => res.writeHead(status[req.url ?? ''] ?? 500).end());
    const client = new DistributionClient({ maxRetries: 0 });
    const repo = { registry: server.host, repository: 'm' };
    expect(await client.hasManifest(repo, DIGEST)).toBe(true);
    expect(await client.hasManifest(repo, `sha256:${'b'.repeat(64)}`)).toBe(false);
    expect(server.requests.map((r) => r.method)).toEqual(['HEAD', 'HEAD']);
    await expect(client.hasManifest(repo, 'latest')).rejects.toThrow("'latest' is not a manifest digest; expected 'sha256:' and 64 hex characters");
  });

  test('imageConfig: the config digest of a single-platform manifest, none for an index', async () => {
    const config = `sha256:${'c'.repeat(64)}`;
    const image = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { digest: config, size: 1 }, layers: [] });
    const index = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [] });
    server = await serve((req, res) => {
      if (req.url === '/v2/m/manifests/1.0.0') res.end(image);
      else if (req.url === '/v2/m/manifests/multi') res.end(index);
      else res.writeHead(404).end();
    });
    const client = new DistributionClient();
    const repo = { registry: server.host, repository: 'm' };
    expect(await client.imageConfig(repo, '1.0.0')).toEqual({ manifest: `sha256:${createHash('sha256').update(image).digest('hex')}`, config });
    expect(await client.imageConfig(repo, 'multi')).toBeUndefined();
    await expect(client.imageConfig(repo, 'gone')).rejects.toMatchObject({ status: 404 });
  });

  test('throws if the registry sends a malformed digest', async () => {
    server = await serve((_req, res) => {
      res.setHeader('Docker-Content-Digest', 'sha256:not-hex');
      res.end();
    });
    const client = new DistributionClient();
    await expect(client.resolveDigest({ registry: server.host, repository: 'm' }, '1.0.0'))
      .rejects.toThrow(`registry ${server.host} sent a malformed digest 'sha256:not-hex' for m:1.0.0`);
  });

  test('hashes the manifest bytes when HEAD carries no Docker-Content-Digest', async () => {
    const manifest = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json' });
    server = await serve((req, res) => {
      res.setHeader('Content-Type', 'application/vnd.oci.image.manifest.v1+json');
      res.end(req.method === 'GET' ? manifest : undefined);
    });
    const client = new DistributionClient();
    const digest = await client.resolveDigest({ registry: server.host, repository: 'm' }, '1.0.0');
    expect(digest).toBe(`sha256:${createHash('sha256').update(manifest).digest('hex')}`);
  });

  test('follows a registry redirect of the manifest (HEAD and GET), bounded', async () => {
    // GIVEN a registry that sends manifest requests elsewhere (as a registry in front of storage or a CDN may)
    const manifest = JSON.stringify({ schemaVersion: 2 });
    server = await serve((req, res) => {
      if (req.url === '/v2/m/manifests/1.0.0') {
        res.writeHead(307, { Location: '/storage/m/1.0.0' }).end();
      } else if (req.url === '/storage/m/1.0.0') {
        res.setHeader('Content-Type', 'application/vnd.oci.image.manifest.v1+json');
        res.end(req.method === 'GET' ? manifest : undefined);
      } else {
        res.writeHead(302, { Location: '/v2/loop/manifests/1.0.0' }).end();
      }
    });
    const client = new DistributionClient();
    // WHEN the HEAD has no digest: HEAD and GET both follow the redirect
    const digest = await client.resolveDigest({ registry: server.host, repository: 'm' }, '1.0.0');
    // THEN
    expect(digest).toBe(`sha256:${createHash('sha256').update(manifest).digest('hex')}`);
    expect(server.requests.map((r) => `${r.method} ${r.url}`)).toEqual([
      'HEAD /v2/m/manifests/1.0.0', 'HEAD /storage/m/1.0.0', 'GET /v2/m/manifests/1.0.0', 'GET /storage/m/1.0.0',
    ]);
    // AND a redirect loop ends after a bounded number of hops with the 3xx as an error
    server.requests.length = 0;
    await expect(client.resolveDigest({ registry: server.host, repository: 'loop' }, '1.0.0'))
      .rejects.toThrow(`registry ${server.host} answered 302 for HEAD /v2/loop/manifests/1.0.0`);
    expect(server.requests.length).toBeLessThanOrEqual(10);
  });

  test('throws a 404 error naming the missing tag', async () => {
    server = await serve((_req, res) => {
      res.statusCode = 404;
      res.end();
    });
    const client = new DistributionClient();
    await expect(client.resolveDigest({ registry: server.host, repository: 'm' }, '9.9.9')).rejects.toThrow('has no tag \'9.9.9\' in \'m\'');
    await expect(client.listTags({ registry: server.host, repository: 'm' })).rejects.toThrow('has no repository \'m\'');
  });

  test('sends If-None-Match with the tag list ETag and serves a 304 from cache', async () => {
    server = await serve((req, res) => {
      if (req.headers['if-none-match'] === '"v1"') {
        res.statusCode = 304;
        res.end();
        return;
      }
      res.setHeader('ETag', '"v1"');
      res.end(JSON.stringify({ tags: ['1.0.0', '1.1.0'] }));
    });
    const client = new DistributionClient();
    const repo = { registry: server.host, repository: 'm' };
    expect(await client.listTags(repo)).toEqual(['1.0.0', '1.1.0']);
    expect(await client.listTags(repo)).toEqual(['1.0.0', '1.1.0']);
    expect(server.requests).toHaveLength(2);
    expect(client.stats().notModified).toBe(1);
  });

  test('reuses a tag list within tagsCacheTtlMs without any request', async () => {
    server = await serve((_req, res) => res.end(JSON.stringify({ tags: ['1.0.0'] })));
    let t = 1_000_000;
    const client = new DistributionClient({ tagsCacheTtlMs: 60_000, now: () => t });
    const repo = { registry: server.host, repository: 'm' };
    await client.listTags(repo);
    t += 30_000;
    await client.listTags(repo);
    expect(server.requests).toHaveLength(1);
    t += 31_000;
    await client.listTags(repo);
    expect(server.requests).toHaveLength(2);
  });

  test('registries.mirrors: an image host the nodes pull (localhost:30500) is reached at the Service the agent can reach', async () => {
    server = await serve((_req, res) => res.end(JSON.stringify({ tags: ['1.4.0'] })));
    const client = new DistributionClient({ mirrors: { 'localhost:30500': server.host } });
    expect(await client.listTags({ registry: 'localhost:30500', repository: 'models/recsys' })).toEqual(['1.4.0']);
    expect(server.requests).toHaveLength(1);
  });

  describe('registries.mirrors (#27): the mirror is the host contacted; insecure and credentials follow the image host', () => {
    /** Records each URL and Authorization header the client sends; answers 404 or a tag list. */
    function recorder(fixed = 200, challengeFirst = false): { urls: string[]; auth: Array<string | undefined>; request: HttpRequester } {
      const urls: string[] = [];
      const auth: Array<string | undefined> = [];
      const request: HttpRequester = async (req) => {
        urls.push(req.url);
        const h = req.headers as Record<string, string> | undefined;
        auth.push(h?.Authorization ?? h?.authorization);
        // 404 when asked; else a Basic challenge until credentials come, then the tag list
        const status = challengeFirst && !auth.at(-1) ? 401 : fixed;
        const challenge = status === 401 ? 'Basic realm="registry"' : null;
        const body = Buffer.from(status === 200 ? JSON.stringify({ tags: ['1.0.0'] }) : '{}');
        return { status, ok: status < 300, headers: { get: (n: string) => (n.toLowerCase() === 'www-authenticate' ? challenge : null) }, body, url: req.url, text: () => body.toString(), json: () => JSON.parse(body.toString()) } as unknown as HttpResponse;
      };
      return { urls, auth, request };
    }

    test('insecure naming the image host makes the agent speak plain HTTP to the mirror', async () => {
      const r = recorder();
      const client = new DistributionClient({ mirrors: { 'registry.internal:5000': 'mirror.ml.svc:5000' }, insecureRegistries: ['registry.internal:5000'], request: r.request });
      await client.listTags({ registry: 'registry.internal:5000', repository: 'models/recsys' });
      expect(r.urls[0]).toMatch(/^http:\/\/mirror\.ml\.svc:5000\/v2\/models\/recsys\/tags\/list/);
    });

    test('insecure naming the mirror works too; neither named: TLS to the mirror', async () => {
      const a = recorder();
      await new DistributionClient({ mirrors: { 'registry.internal:5000': 'mirror.ml.svc:5000' }, insecureRegistries: ['mirror.ml.svc:5000'], request: a.request })
        .listTags({ registry: 'registry.internal:5000', repository: 'm' });
      expect(a.urls[0]).toMatch(/^http:\/\/mirror\.ml\.svc:5000\//);
      const b = recorder();
      await new DistributionClient({ mirrors: { 'registry.internal:5000': 'mirror.ml.svc:5000' }, request: b.request }).listTags({ registry: 'registry.internal:5000', repository: 'm' });
      expect(b.urls[0]).toMatch(/^https:\/\/mirror\.ml\.svc:5000\//);
    });

    test("the image host's credentials are sent to its mirror", async () => {
      const r = recorder(200, true);
      const credentials = new Map([['registry.internal:5000', { username: 'ci', password: 'pw' }]]);
      await new DistributionClient({ mirrors: { 'registry.internal:5000': 'mirror.ml.svc:5000' }, credentials, request: r.request })
        .listTags({ registry: 'registry.internal:5000', repository: 'm' });
      expect(r.urls.every((u) => u.startsWith('https://mirror.ml.svc:5000/'))).toBe(true);
      expect(r.auth.at(-1)).toBe(`Basic ${Buffer.from('ci:pw').toString('base64')}`);
    });

    test('an error names the image host and the mirror it contacted', async () => {
      const r = recorder(404);
      const client = new DistributionClient({ mirrors: { 'registry.internal:5000': 'mirror.ml.svc:5000' }, request: r.request, maxRetries: 0 });
      await expect(client.listTags({ registry: 'registry.internal:5000', repository: 'm' }))
        .rejects.toThrow("registry registry.internal:5000 (via mirror mirror.ml.svc:5000) has no repository 'm'");
    });
  });

  test('expireTags makes the next list ask the registry within the TTL (a webhook announced a push)', async () => {
    let tags = ['1.0.0'];
    server = await serve((_req, res) => res.end(JSON.stringify({ tags })));
    const client = new DistributionClient({ tagsCacheTtlMs: 60_000, now: () => 1_000_000 });
    const repo = { registry: server.host, repository: 'm' };
    expect(await client.listTags(repo)).toEqual(['1.0.0']);
    tags = ['1.0.0', '1.1.0'];
    expect(await client.listTags(repo)).toEqual(['1.0.0']);
    client.expireTags(repo);
    expect(await client.listTags(repo)).toEqual(['1.0.0', '1.1.0']);
    expect(server.requests).toHaveLength(2);
  });

  test('throws if the tag list is not JSON', async () => {
    server = await serve((_req, res) => res.end('<html>'));
    const client = new DistributionClient();
    await expect(client.listTags({ registry: server.host, repository: 'm' })).rejects.toThrow('sent a tag list for \'m\' that is not JSON');
  });
});

describe('parsers', () => {
  test('parseChallenge reads scheme and quoted params', () => {
    expect(parseChallenge('Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull"')).toEqual({
      scheme: 'bearer', params: { realm: 'https://auth.example/token', service: 'registry.example', scope: 'repository:a/b:pull' },
    });
  });

  test('parseNextLink finds rel=next', () => {
    expect(parseNextLink('</v2/m/tags/list?n=2&last=b>; rel="next"')).toBe('/v2/m/tags/list?n=2&last=b');
    expect(parseNextLink('</x>; rel="prev"')).toBeUndefined();
    expect(parseNextLink(null)).toBeUndefined();
  });

  test.each([
    ['5', 5000],
    ['0.5', 500],
    ['Wed, 25 Nov 2026 10:00:10 GMT', 10_000],
    ['soon', undefined],
  ])('parseRetryAfter(%p) is %p ms', (value, ms) => {
    expect(parseRetryAfter(value, Date.parse('Wed, 25 Nov 2026 10:00:00 GMT'))).toBe(ms);
  });

  test('parseDockerConfig decodes auth and username/password, and normalizes hosts', () => {
    const store = parseDockerConfig({
      auths: {
        'https://index.docker.io/v1/': { auth: Buffer.from('u1:p:with:colons').toString('base64') },
        'http://127.0.0.1:5000': { username: 'u2', password: 'p2' },
      },
    });
    expect(store.get('docker.io')).toEqual({ username: 'u1', password: 'p:with:colons' });
    expect(store.get('127.0.0.1:5000')).toEqual({ username: 'u2', password: 'p2' });
  });

  test('throws if an auth entry does not decode to user:password', () => {
    expect(() => parseDockerConfig({ auths: { 'r.example': { auth: Buffer.from('nocolon').toString('base64') } } }, '/x/config.json'))
      .toThrow("docker config '/x/config.json' entry 'auths.r.example.auth' does not decode to 'user:password'; re-run 'docker login r.example'");
  });
});

describe('TokenBucket', () => {
  test('lets a burst through, then paces requests at the refill rate', async () => {
    let t = 0;
    const waits: number[] = [];
    const bucket = new TokenBucket(2, 3, () => t, async (ms) => { waits.push(ms); t += ms; });
    for (let i = 0; i < 5; i++) await bucket.take();
    // 3 at once (burst), then one every 500 ms
    expect(waits).toEqual([500, 500]);
    expect(t).toBe(1000);
  });

  test('throws if the rate is not positive', () => {
    expect(() => new TokenBucket(0, 1, Date.now, async () => undefined)).toThrow("rate limit 'requestsPerSecond' is 0; give a number greater than 0");
  });
});
