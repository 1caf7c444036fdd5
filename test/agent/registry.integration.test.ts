/**
 * The registry client against Debian's real distribution registry (`docker-registry`) on 127.0.0.1.
 * Images are pushed straight through the registry API (a config blob + an OCI manifest per tag): fast and enough
 * for the client, which only reads tags and manifest digests.
 */
import { DistributionClient, parseDockerConfig } from '../../agent/registry';
import { pushEmptyImage, startRegistry, TestRegistry } from '../support/registry';

/** One shared helper: a minimal OCI image pushed under a tag (test/support/registry.ts). */
const pushTag = pushEmptyImage;

describe('DistributionClient against the real distribution registry', () => {
  let reg: TestRegistry;
  afterEach(async () => {
    await reg?.stop();
  });

  test('lists every tag across pages, resolves digests, and a quiet poll costs one request per image', async () => {
    // GIVEN a registry holding five versions of one model
    reg = await startRegistry();
    const versions = ['1.0.0', '1.1.0', '1.2.0', '2.0.0', '2.0.1'];
    const digests: Record<string, string> = {};
    for (const v of versions) digests[v] = await pushTag(reg, 'models/recsys', v);
    const client = new DistributionClient({ pageSize: 2 });
    const repo = { registry: reg.host, repository: 'models/recsys' };

    // WHEN listing with a page size of 2
    const tags = await client.listTags(repo);
    // THEN every tag arrives. (Debian's distribution 2.8.2 ignores `n` for tag lists and answers in one page with no
    // Link header — pagination arrived in distribution 3 — so Link-following is proven by the unit tests.)
    expect([...tags].sort()).toEqual(versions);
    expect(client.stats().requests[reg.host]).toBe(1);

    // AND a HEAD resolves each tag to the digest of the manifest that was pushed
    for (const v of ['1.0.0', '2.0.1']) expect(await client.resolveDigest(repo, v)).toBe(digests[v]);

    // AND with the default page size, a quiet poll (list tags again, nothing changed) is exactly one request
    const quiet = new DistributionClient();
    await quiet.listTags(repo);
    const before = quiet.stats().requests[reg.host];
    await quiet.listTags(repo);
    expect(quiet.stats().requests[reg.host] - before).toBe(1);
  });

  test('authenticates with basic credentials from a docker config against an htpasswd registry', async () => {
    reg = await startRegistry({ htpasswd: { username: 'ci', password: 'pa55word' } });
    const digest = await pushTag(reg, 'models/fraud', '3.1.4');
    const repo = { registry: reg.host, repository: 'models/fraud' };

    // WHEN no credentials: a clear 401 error
    await expect(new DistributionClient().listTags(repo)).rejects.toThrow(`add credentials for '${reg.host}' to the docker config.json`);

    // WHEN credentials come from a docker config
    const credentials = parseDockerConfig({ auths: { [reg.host]: { auth: Buffer.from('ci:pa55word').toString('base64') } } });
    const client = new DistributionClient({ credentials });
    expect(await client.listTags(repo)).toEqual(['3.1.4']);
    expect(await client.resolveDigest(repo, '3.1.4')).toBe(digest);
    // THEN only the first request met the challenge; later ones send basic auth up front
    const before = client.stats().requests[reg.host];
    await client.listTags(repo);
    expect(client.stats().requests[reg.host] - before).toBe(1);

    // AND wrong credentials are reported as rejected
    const wrong = new DistributionClient({ credentials: parseDockerConfig({ auths: { [reg.host]: { username: 'ci', password: 'nope' } } }) });
    await expect(wrong.listTags(repo)).rejects.toThrow('the credentials in the docker config were rejected');
  });

  test('registries.mirrors: images say localhost:30500 (the NodePort the nodes pull), the agent reaches the registry at its Service, with the credentials of the image host', async () => {
    reg = await startRegistry({ htpasswd: { username: 'ci', password: 'pa55word' } });
    const digest = await pushTag(reg, 'models/recsys', '1.4.0');
    const repo = { registry: 'localhost:30500', repository: 'models/recsys' };
    const credentials = parseDockerConfig({ auths: { 'localhost:30500': { auth: Buffer.from('ci:pa55word').toString('base64') } } });
    const client = new DistributionClient({ credentials, mirrors: { 'localhost:30500': reg.host } });
    expect(await client.listTags(repo)).toEqual(['1.4.0']);
    expect(await client.resolveDigest(repo, '1.4.0')).toBe(digest);
    // without the mirror, localhost:30500 is nobody (in the agent's pod: the pod itself)
    await expect(new DistributionClient({ credentials, maxRetries: 0 }).listTags(repo)).rejects.toThrow(/registry localhost:30500 failed GET/);
  });

  test('a stopped registry gives a RegistryError after bounded retries, not a crash', async () => {
    reg = await startRegistry();
    await pushTag(reg, 'm', '1.0.0');
    const host = reg.host;
    await reg.stop();
    const delays: number[] = [];
    const client = new DistributionClient({ maxRetries: 2, sleep: async (ms) => { delays.push(ms); } });
    await expect(client.listTags({ registry: host, repository: 'm' })).rejects.toThrow(`registry ${host} failed GET /v2/m/tags/list?n=1000 after 3 attempts (network error`);
    expect(delays).toEqual([500, 1000]);
  });
});
