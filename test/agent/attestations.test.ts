/**
 * Staging-verified promotion (`attest`, `requireVerifiedIn`): a staging agent that promotes a version writes signed
 * proof of it to the registry (a cosign-layout DSSE attestation, built in memory here; the real registry and the
 * real cosign read and write them in attestations.integration.test.ts); a production agent on the same registry
 * takes only digests whose proof is signed by the staging key, names staging, and is about that very digest.
 */
import { generateKeyPairSync, KeyObject } from 'node:crypto';
import { AlertmanagerNotifier } from '../../agent/notify/alertmanager';
import {
  attestationTag, pushVerifiedAttestation, VERIFIED_PREDICATE_TYPE, VerifiedPredicate, verifyVerifiedIn,
} from '../../agent/registry/attestation';
import { loadPublicKeys } from '../../agent/registry/cosign';
import { TriggerEvent } from '../../agent/types';
import { digestOf, FakeRegistry, harness, ref, REPO } from './fakes';

const poll: TriggerEvent = { source: 'poll' };
const staging = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const other = generateKeyPairSync('ed25519');
const pem = (k: KeyObject) => k.export({ type: 'spki', format: 'pem' }).toString();
const stagingKeys = loadPublicKeys([{ name: 'staging.pub', pem: pem(staging.publicKey) }]);
const repo = { registry: '127.0.0.1:5000', repository: 'models/recsys' };

const predicate = (version: string, environment = 'staging'): VerifiedPredicate => ({
  environment, workload: 'fake/recsys', model: 'recsys', version, image: ref(version), verifiedAt: '2026-01-01T00:00:00.000Z',
  gate: { decision: 'promote', reason: 'healthy', evidence: { errorRatio: 0.001 } }, agent: 'test',
});

describe('verifyVerifiedIn', () => {
  test('proof written by pushVerifiedAttestation with the staging key is accepted, and its predicate returned', async () => {
    const registry = new FakeRegistry();
    await pushVerifiedAttestation(registry, repo, digestOf('1.1.0'), predicate('1.1.0'), staging.privateKey);
    const verdict = await verifyVerifiedIn(registry, repo, digestOf('1.1.0'), 'staging', stagingKeys);
    expect(verdict).toEqual({ verified: true, predicate: predicate('1.1.0') });
    const manifest = registry.manifests.get(`${REPO}:${attestationTag(digestOf('1.1.0'))}`) as { layers: Array<{ mediaType: string; annotations: Record<string, string> }> };
    expect(manifest.layers).toEqual([expect.objectContaining({
      mediaType: 'application/vnd.dsse.envelope.v1+json', annotations: { 'dev.cosignproject.cosign/signature': '', predicateType: VERIFIED_PREDICATE_TYPE },
    })]);
  });

  test('a second attestation (another environment) is added beside the first, and each is found', async () => {
    const registry = new FakeRegistry();
    await pushVerifiedAttestation(registry, repo, digestOf('1.1.0'), predicate('1.1.0'), staging.privateKey);
    await pushVerifiedAttestation(registry, repo, digestOf('1.1.0'), predicate('1.1.0', 'dev'), other.privateKey);
    expect((registry.manifests.get(`${REPO}:${attestationTag(digestOf('1.1.0'))}`) as { layers: unknown[] }).layers).toHaveLength(2);
    expect(await verifyVerifiedIn(registry, repo, digestOf('1.1.0'), 'staging', stagingKeys)).toMatchObject({ verified: true });
    const devKeys = loadPublicKeys([{ name: 'dev.pub', pem: pem(other.publicKey) }]);
    expect(await verifyVerifiedIn(registry, repo, digestOf('1.1.0'), 'dev', devKeys)).toMatchObject({ verified: true, predicate: { environment: 'dev' } });
  });

  test.each<[string, (r: FakeRegistry) => Promise<unknown>, RegExp]>([
    ['no attestation at all', async () => undefined, /no attestation: 127\.0\.0\.1:5000\/models\/recsys:sha256-[0-9a-f]{64}\.att does not exist/],
    ['signed by another key', (r) => pushVerifiedAttestation(r, repo, digestOf('1.1.0'), predicate('1.1.0'), other.privateKey),
      /an attestation \(environment staging\) is not signed by a key trusted for 'staging'/],
    ['signed by the staging key but naming another environment', (r) => pushVerifiedAttestation(r, repo, digestOf('1.1.0'), predicate('1.1.0', 'dev'), staging.privateKey),
      /an attestation names environment 'dev', not 'staging'/],
    ['another digest\'s proof copied under this digest\'s tag', async (r) => {
      await pushVerifiedAttestation(r, repo, digestOf('1.0.0'), predicate('1.0.0'), staging.privateKey);
      r.manifests.set(`${REPO}:${attestationTag(digestOf('1.1.0'))}`, r.manifests.get(`${REPO}:${attestationTag(digestOf('1.0.0'))}`));
    }, /an attestation is about sha256:[0-9a-f]{64}, not sha256:/],
  ])('refused: %s', async (_n, setup, reason) => {
    const registry = new FakeRegistry();
    await setup(registry);
    expect(await verifyVerifiedIn(registry, repo, digestOf('1.1.0'), 'staging', stagingKeys)).toEqual({ verified: false, reason: expect.stringMatching(reason) });
  });
});

describe('two agents on one registry', () => {
  test('staging attests what it promoted (with the gate\'s values); prod takes only that digest and refuses the newer unproven one', async () => {
    const registry = new FakeRegistry(REPO, ['1.0.0', '1.1.0']);
    const stagingAgent = harness({ registry, attest: { environment: 'staging', key: staging.privateKey } });
    stagingAgent.slo.evidence = { errorRatio: 0.002, p99Seconds: 0.12 };
    stagingAgent.target.add('recsys', `${REPO}:1.0.0`);
    expect((await stagingAgent.reconciler.runCycle([poll])).updates.map((u) => `${u.plan}: ${u.result}`)).toEqual(['recsys 1.0.0 -> 1.1.0: promoted']);
    expect(stagingAgent.audit.read().filter((e) => e.event === 'attested')).toEqual([expect.objectContaining({
      result: 'ok', to: ref('1.1.0'), reason: `verified in 'staging': ${REPO}:${attestationTag(digestOf('1.1.0'))}`,
    })]);
    expect(await stagingAgent.metric('modelpilot_updater_attestations_total', { result: 'written' })).toBe(1);

    registry.push(REPO, '1.2.0'); // pushed after staging's cycle: nobody proved it
    const prod = harness({ registry, verifiedIn: [{ environment: 'staging', keys: stagingKeys }] });
    prod.target.add('recsys', `${REPO}:1.0.0`);
    expect((await prod.reconciler.runCycle([poll])).updates.map((u) => `${u.plan}: ${u.result}`)).toEqual(['recsys 1.0.0 -> 1.1.0: promoted']);
    expect(prod.audit.read().filter((e) => e.event === 'refused')).toEqual([expect.objectContaining({
      result: 'unverified', to: ref('1.2.0'), reason: expect.stringMatching(/^not verified in 'staging': no attestation/),
    })]);
    expect(await prod.metric('modelpilot_updater_refused_versions_total', { reason: 'unverified' })).toBe(1);
    const proof = await verifyVerifiedIn(registry, repo, digestOf('1.1.0'), 'staging', stagingKeys);
    expect(proof).toMatchObject({ verified: true, predicate: { version: '1.1.0', gate: { decision: 'promote', evidence: { errorRatio: 0.002, p99Seconds: 0.12 } } } });

    // staging promotes 1.2.0: the next prod poll takes it
    stagingAgent.clock.advance(60_000);
    expect((await stagingAgent.reconciler.runCycle([poll])).updates.map((u) => u.result)).toEqual(['promoted']);
    prod.clock.advance(60_000);
    expect((await prod.reconciler.runCycle([poll])).updates.map((u) => `${u.plan}: ${u.result}`)).toEqual(['recsys 1.1.0 -> 1.2.0: promoted']);
  });

  test('a version staging rolled back gets no proof, so prod never takes it', async () => {
    const registry = new FakeRegistry(REPO, ['1.0.0', '1.1.0']);
    const stagingAgent = harness({ registry, attest: { environment: 'staging', key: staging.privateKey } });
    stagingAgent.slo.verdicts.set('1.1.0', 'Unhealthy');
    stagingAgent.target.add('recsys', `${REPO}:1.0.0`);
    expect((await stagingAgent.reconciler.runCycle([poll])).updates.map((u) => u.result)).toEqual(['rolled_back']);
    expect(stagingAgent.audit.read().filter((e) => e.event === 'attested')).toEqual([]);
    const prod = harness({ registry, verifiedIn: [{ environment: 'staging', keys: stagingKeys }] });
    prod.target.add('recsys', `${REPO}:1.0.0`);
    expect((await prod.reconciler.runCycle([poll])).updates).toEqual([]);
    expect(prod.target.get('recsys').image).toBe(`${REPO}:1.0.0`);
  });

  test('without requireVerifiedIn prod takes the newest version and reads no attestation', async () => {
    const registry = new FakeRegistry(REPO, ['1.0.0', '1.1.0']);
    const prod = harness({ registry });
    prod.target.add('recsys', `${REPO}:1.0.0`);
    expect((await prod.reconciler.runCycle([poll])).updates.map((u) => u.result)).toEqual(['promoted']);
    expect(registry.requests.some((r) => r.includes('.att'))).toBe(false);
  });

  test('proof that cannot be written keeps the promotion, is audited and counted, and alerts', async () => {
    const registry = new FakeRegistry(REPO, ['1.0.0', '1.1.0']);
    registry.pushRefused = 'registry 127.0.0.1:5000 refused PUT (401 unauthorized)';
    const stagingAgent = harness({ registry, attest: { environment: 'staging', key: staging.privateKey }, rollback: { maxAttempts: 2 } });
    stagingAgent.target.add('recsys', `${REPO}:1.0.0`);
    expect((await stagingAgent.reconciler.runCycle([poll])).updates.map((u) => u.result)).toEqual(['promoted']);
    expect(stagingAgent.target.get('recsys').image).toBe(ref('1.1.0'));
    const attested = stagingAgent.audit.read().filter((e) => e.event === 'attested');
    expect(attested).toEqual([expect.objectContaining({ result: 'failed', reason: expect.stringContaining('401 unauthorized') })]);
    expect(await stagingAgent.metric('modelpilot_updater_attestations_total', { result: 'failed' })).toBe(1);
    expect(registry.requests.filter((r) => r.startsWith('push blob'))).toHaveLength(2);
    expect(AlertmanagerNotifier.notable(attested[0])).toBe(true);
  });
});
