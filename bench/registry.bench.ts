/**
 * The registry client against Debian's real distribution registry on 127.0.0.1, and the webhook server:
 * - registry requests per image for a cold poll, a quiet poll (tags unchanged), a quiet poll inside the tag-cache
 *   TTL, and a digest lookup, over 100 watched images (3 tags each);
 * - wall time of a quiet poll of 100 images (sequential, as the loop does, and 10 at a time);
 * - webhook reaction: POST /webhooks/registry on 127.0.0.1 → TriggerEvent emitted (p50/p95 of 200, HMAC-signed).
 * Writes bench/results/registry.json.
 */
import { createHash, createHmac } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { AgentHttpServer } from '../agent/http';
import { DistributionClient } from '../agent/registry';
import { RepositoryName } from '../agent/types';
import { startRegistry, TestRegistry } from '../test/support/registry';

const IMAGES = 100;
const TAGS = ['1.0.0', '1.1.0', '1.2.0'];

const quantile = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};
const round = (x: number): number => Math.round(x * 10) / 10;

async function push(reg: TestRegistry, repository: string, tag: string): Promise<void> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Labels: { repository, tag } }, rootfs: { type: 'layers', diff_ids: [] } }));
  const digest = `sha256:${createHash('sha256').update(config).digest('hex')}`;
  const start = await fetch(`${reg.url}/v2/${repository}/blobs/uploads/`, { method: 'POST' });
  const loc = new URL(start.headers.get('location') as string, reg.url);
  loc.searchParams.set('digest', digest);
  const put = await fetch(loc, { method: 'PUT', headers: { 'Content-Type': 'application/octet-stream' }, body: config });
  if (put.status !== 201) throw new Error(`blob put ${put.status}`);
  const manifest = JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest, size: config.length }, layers: [],
  });
  const res = await fetch(`${reg.url}/v2/${repository}/manifests/${tag}`, {
    method: 'PUT', headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' }, body: manifest,
  });
  if (res.status !== 201) throw new Error(`manifest put ${res.status}`);
}

async function registryNumbers(): Promise<Record<string, unknown>> {
  const reg = await startRegistry();
  try {
    const repos: RepositoryName[] = [];
    for (let i = 0; i < IMAGES; i++) {
      const repository = `models/m${i}`;
      for (const t of TAGS) await push(reg, repository, t);
      repos.push({ registry: reg.host, repository });
    }
    const client = new DistributionClient({ rateLimit: { requestsPerSecond: 10_000, burst: 10_000 } });
    const count = (): number => client.stats().requests[reg.host] ?? 0;
    let n = count();
    for (const r of repos) await client.listTags(r);
    const cold = (count() - n) / IMAGES;

    n = count();
    let t = performance.now();
    for (const r of repos) await client.listTags(r);
    const quietMs = performance.now() - t;
    const quiet = (count() - n) / IMAGES;

    n = count();
    t = performance.now();
    for (let i = 0; i < IMAGES; i += 10) await Promise.all(repos.slice(i, i + 10).map((r) => client.listTags(r)));
    const quietParallelMs = performance.now() - t;

    n = count();
    for (const r of repos) await client.resolveDigest(r, '1.1.0');
    const digest = (count() - n) / IMAGES;

    const cached = new DistributionClient({ tagsCacheTtlMs: 60_000, rateLimit: { requestsPerSecond: 10_000, burst: 10_000 } });
    for (const r of repos) await cached.listTags(r);
    const before = cached.stats().requests[reg.host] ?? 0;
    for (const r of repos) await cached.listTags(r);
    const withinTtl = ((cached.stats().requests[reg.host] ?? 0) - before) / IMAGES;

    return {
      images: IMAGES,
      tagsPerImage: TAGS.length,
      requestsPerImage: { coldPoll: cold, quietPoll: quiet, quietPollWithinTagCacheTtl: withinTtl, digestLookup: digest },
      quietPoll100ImagesMs: { sequential: round(quietMs), tenAtATime: round(quietParallelMs) },
      // Measured, not assumed: does this registry send an ETag on tag lists (else a quiet poll is a full, small GET)?
      etagOnTagList: (await fetch(`${reg.url}/v2/${repos[0].repository}/tags/list`)).headers.get('etag') !== null,
      notModifiedAnswers: client.stats().notModified,
    };
  } finally {
    await reg.stop();
  }
}

async function webhookNumbers(): Promise<Record<string, unknown>> {
  const secret = 'bench-secret-0123456789abcdef';
  // the per-source rate limit (20/s by default) lifted: this measures the server's own latency, back to back
  const server = new AgentHttpServer({ port: 0, host: '127.0.0.1', auth: { hmacSecret: secret }, requestsPerSecond: 100_000 });
  const port = await server.listen();
  const ctl = new AbortController();
  let resolveEmit: (() => void) | undefined;
  await server.trigger().start(() => resolveEmit?.(), ctl.signal);
  // each delivery is its own event (a replayed signature is refused), signed as docs/agent.md says: '<timestamp>.<body>'
  const delivery = (i: number): { body: string; headers: Record<string, string> } => {
    const body = JSON.stringify({ events: [{ id: `e${i}`, action: 'push', target: { repository: 'models/recsys', tag: '1.1.0', digest: `sha256:${'a'.repeat(64)}` } }] });
    const ts = String(Math.floor(Date.now() / 1000));
    return { body, headers: { 'X-Modelpilot-Timestamp': ts, 'X-Modelpilot-Signature': `sha256=${createHmac('sha256', secret).update(`${ts}.${body}`).digest('hex')}` } };
  };
  const times: number[] = [];
  try {
    for (let i = 0; i < 200; i++) {
      const t = performance.now();
      const emitted = new Promise<void>((r) => (resolveEmit = r));
      const { body, headers } = delivery(i);
      const res = await fetch(`http://127.0.0.1:${port}/webhooks/registry`, { method: 'POST', headers, body });
      await emitted;
      await res.arrayBuffer();
      if (res.status !== 202) throw new Error(`webhook answered ${res.status}`);
      times.push(performance.now() - t);
    }
  } finally {
    ctl.abort();
    await server.close();
  }
  return {
    requests: times.length,
    postToEmitMs: { p50: round(quantile(times, 0.5)), p95: round(quantile(times, 0.95)), max: round(Math.max(...times)) },
  };
}

async function main(): Promise<void> {
  const registry = await registryNumbers();
  const webhook = await webhookNumbers();
  const result = {
    benchmark: 'registry-client-and-webhooks',
    node: process.version,
    ...registry,
    webhook,
    // Of this whole bench process, ts-node's compiler included: an upper bound, not the agent's RSS.
    peakRssMb: round(process.resourceUsage().maxRSS / 1024),
  };
  const out = path.join(__dirname, 'results', 'registry.json');
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
  process.stdout.write(JSON.stringify(result, null, 2) + '\n');
}

main().catch((e: unknown) => {
  process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
  process.exitCode = 1;
});
