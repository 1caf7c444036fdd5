/**
 * `requireSignature`: the loop rolls out only versions whose digest carries a valid cosign signature by a trusted key
 * (cosign's registry layout, built here in memory with node:crypto; the real cosign signs in
 * signatures.integration.test.ts). Unsigned, badly signed, or signed-for-another-digest versions are refused —
 * audited once, counted, never applied — and an older signed version the policy accepts goes instead.
 */
import { createHash, generateKeyPairSync, KeyObject, sign } from 'node:crypto';
import { loadPublicKeys, verifyCosignSignature } from '../../agent/registry/cosign';
import { TriggerEvent } from '../../agent/types';
import { digestOf, FakeRegistry, harness, ref, REPO } from './fakes';

const poll: TriggerEvent = { source: 'poll' };
const trusted = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const pem = (k: KeyObject) => k.export({ type: 'spki', format: 'pem' }).toString();
const keys = loadPublicKeys([{ name: 'cosign.pub', pem: pem(trusted.publicKey) }]);

/** Stores a cosign signature of `signedDigest` under the `.sig` tag of `forDigest` (they differ for a misplaced one). */
function addSignature(registry: FakeRegistry, forDigest: string, signedDigest: string, key: KeyObject): void {
  const payload = Buffer.from(JSON.stringify({
    critical: { identity: { 'docker-reference': REPO }, image: { 'docker-manifest-digest': signedDigest }, type: 'cosign container image signature' }, optional: null,
  }));
  const payloadDigest = `sha256:${createHash('sha256').update(payload).digest('hex')}`;
  registry.blobs.set(payloadDigest, payload);
  registry.manifests.set(`${REPO}:${forDigest.replace(':', '-')}.sig`, {
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    layers: [{
      mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json', digest: payloadDigest, size: payload.length,
      annotations: { 'dev.cosignproject.cosign/signature': sign('sha256', payload, key).toString('base64') },
    }],
  });
}

const repo = { registry: '127.0.0.1:5000', repository: 'models/recsys' };

test('verifyCosignSignature: signed by the trusted key', async () => {
  const registry = new FakeRegistry();
  addSignature(registry, digestOf('1.1.0'), digestOf('1.1.0'), trusted.privateKey);
  expect(await verifyCosignSignature(registry, repo, digestOf('1.1.0'), keys)).toEqual({ signed: true, by: 0 });
});

test.each<[string, (r: FakeRegistry) => void, RegExp]>([
  ['signed by another key', (r) => addSignature(r, digestOf('1.1.0'), digestOf('1.1.0'), other.privateKey), /does not verify with any trusted public key/],
  ['unsigned', () => undefined, /no cosign signature: 127\.0\.0\.1:5000\/models\/recsys:sha256-[0-9a-f]{64}\.sig does not exist/],
  ['a signature of another digest under this digest\'s tag', (r) => addSignature(r, digestOf('1.1.0'), digestOf('1.0.0'), trusted.privateKey), /a signature is for sha256:[0-9a-f]+, not for sha256:/],
])('verifyCosignSignature: %s', async (_n, setup, expected) => {
  const registry = new FakeRegistry();
  setup(registry);
  expect(await verifyCosignSignature(registry, repo, digestOf('1.1.0'), keys)).toEqual({ signed: false, reason: expect.stringMatching(expected) });
});

test('the loop refuses an unsigned newest version (audited once, counted), and rolls out the older signed one', async () => {
  const h = harness({ tags: ['1.0.0', '1.1.0', '1.2.0'] });
  addSignature(h.registry, digestOf('1.1.0'), digestOf('1.1.0'), trusted.privateKey);
  // the reconciler reads its keys from its options: a harness with keys
  const signed = harness({ tags: ['1.0.0', '1.1.0', '1.2.0'], registry: h.registry, signatureKeys: keys });
  signed.target.add('recsys', `${REPO}:1.0.0`);
  let report = await signed.reconciler.runCycle([poll]);
  expect(report.updates.map((u) => `${u.plan}: ${u.result}`)).toEqual(['recsys 1.0.0 -> 1.1.0: promoted']);
  expect(signed.target.get('recsys').image).toBe(ref('1.1.0'));
  const refused = signed.audit.read().filter((e) => e.event === 'refused');
  expect(refused).toEqual([expect.objectContaining({ result: 'signature', to: ref('1.2.0'), reason: expect.stringMatching(/^not signed by a trusted key: no cosign signature/) })]);
  expect(await signed.metric('modelpilot_updater_refused_versions_total', { reason: 'signature' })).toBe(1);
  // the next poll: still refused, not audited again, nothing applied
  signed.clock.advance(60_000);
  report = await signed.reconciler.runCycle([poll]);
  expect(report.updates).toEqual([]);
  expect(signed.audit.read().filter((e) => e.event === 'refused')).toHaveLength(1);
  // signed at last: rolled out
  addSignature(h.registry, digestOf('1.2.0'), digestOf('1.2.0'), trusted.privateKey);
  signed.clock.advance(60_000);
  expect((await signed.reconciler.runCycle([poll])).updates.map((u) => u.result)).toEqual(['promoted']);
  expect(signed.target.get('recsys').image).toBe(ref('1.2.0'));
});

test('without requireSignature nothing is checked (no signature request at all)', async () => {
  const h = harness({ tags: ['1.0.0', '1.1.0'] });
  h.target.add('recsys', `${REPO}:1.0.0`);
  expect((await h.reconciler.runCycle([poll])).updates.map((u) => u.result)).toEqual(['promoted']);
  expect(h.registry.requests.some((r) => r.includes('.sig'))).toBe(false);
});

test('a key that is not PEM is refused at start, naming the file', () => {
  expect(() => loadPublicKeys([{ name: '/etc/modelpilot/cosign.pub', pem: 'not a key' }])).toThrow("'/etc/modelpilot/cosign.pub' is not a PEM public key");
});
