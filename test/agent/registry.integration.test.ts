/**
 * The registry client against Debian's real distribution registry (`docker-registry`) on 127.0.0.1.
 * Images are pushed straight through the registry API (a config blob + an OCI manifest per tag): fast and enough
 * for the client, which only reads tags and manifest digests.
 */
import { DistributionClient, parseDockerConfig } from '../../agent/registry';
import { pushEmptyImage, startRegistry, TestRegistry } from '../support/registry';
import { harness } from './fakes';

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

  test('a watched workload whose registry refuses the agent (401, no such repository) is explained once in the log and the audit, and still counts as a failure (#28)', async () => {
    // GIVEN the real loop (fake target and gate) with the real client, no credentials, against an htpasswd registry
    reg = await startRegistry({ htpasswd: { username: 'ci', password: 'pa55word' } });
    await pushTag(reg, 'models/fraud', '3.1.4');
    const h = harness({ registry: new DistributionClient() });
    h.target.add('fraud', `${reg.host}/models/fraud:3.1.4`);
    h.target.add('typo', `${reg.host}/models/frod:1.0.0`);
    // WHEN three cycles run
    const reports = [];
    for (let i = 0; i < 3; i++) {
      reports.push(await h.reconciler.runCycle([{ source: 'poll' }]));
      h.clock.advance(60_000);
    }
    // THEN each cycle fails for both (counted: ModelUpdaterFailing tells a person) and nothing is updated
    for (const r of reports) {
      expect(r.updates).toEqual([]);
      expect(r.failures).toHaveLength(2);
    }
    expect(await h.metric('modelpilot_updater_failures_total')).toBe(6);
    // AND one audit entry per workload names why and the fix
    const skipped = h.audit.read().filter((e) => e.event === 'skipped');
    expect(skipped).toHaveLength(2);
    const fraud = skipped.find((e) => e.target === 'fake/fraud')!;
    expect(fraud.result).toBe('no-registry-access');
    expect(fraud.reason).toContain(`registry ${reg.host} asks for basic auth; put credentials`);
    expect(fraud.reason).toContain(`put credentials for '${reg.host}' that may pull ${reg.host}/models/fraud in the docker config the agent reads`);
    // (the htpasswd registry authenticates before it looks up the repository: the typo is a 401 too)
    expect(skipped.find((e) => e.target === 'fake/typo')!.result).toBe('no-registry-access');
  });

  test('a repository the registry does not have is skipped as not-in-registry, with the fix (#28)', async () => {
    reg = await startRegistry();
    await pushTag(reg, 'models/fraud', '3.1.4');
    const h = harness({ registry: new DistributionClient() });
    h.target.add('typo', `${reg.host}/models/frod:1.0.0`);
    await h.reconciler.runCycle([{ source: 'poll' }]);
    h.clock.advance(60_000);
    const second = await h.reconciler.runCycle([{ source: 'poll' }]);
    expect(second.failures).toEqual([expect.stringContaining("has no repository 'models/frod' (404 on the tag list)")]);
    const skipped = h.audit.read().filter((e) => e.event === 'skipped');
    expect(skipped).toEqual([expect.objectContaining({ target: 'fake/typo', result: 'not-in-registry', from: `${reg.host}/models/frod:1.0.0` })]);
    expect(skipped[0].reason).toContain('check the image name');
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
