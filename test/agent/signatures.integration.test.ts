/**
 * `requireSignature` with the real cosign (v2.6.5, built from the Go module proxy by scripts/signing/build.sh) and the
 * real distribution registry: images are signed offline (a key pair, `--tlog-upload=false`) and the agent's own
 * registry client and verifier judge them. Cases: signed by the trusted key, by another key, unsigned, a signature
 * for another digest placed under this digest's tag, and a tag moved after signing. The reconcile loop then takes
 * only the signed version; the same run without the guard takes the newest, unsigned one.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { DistributionClient } from '../../agent/registry';
import { loadPublicKeys, verifyCosignSignature } from '../../agent/registry/cosign';
import { pushEmptyImage, startRegistry, TestRegistry } from '../support/registry';
import { signingBinDir } from '../support/signing-tools';
import { harness, realRegistry } from './fakes';

let reg: TestRegistry;
let dir: string;
let cosign: string;
const digests: Record<string, string> = {};


const run = (args: string[], cwd = dir) => {
  const r = spawnSync(cosign, args, { cwd, encoding: 'utf8', env: { PATH: process.env.PATH, HOME: dir, COSIGN_PASSWORD: '' }, timeout: 120_000 });
  if (r.status !== 0) throw new Error(`cosign ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
};
const sign = (image: string, key: string) => run(['sign', '--key', key, '--tlog-upload=false', '--yes', '--allow-http-registry', '--allow-insecure-registry', image]);

beforeAll(async () => {
  cosign = path.join(signingBinDir(), 'cosign');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelpilot-cosign-'));
  fs.mkdirSync(path.join(dir, 'trusted'));
  fs.mkdirSync(path.join(dir, 'other'));
  run(['generate-key-pair'], path.join(dir, 'trusted'));
  run(['generate-key-pair'], path.join(dir, 'other'));
  reg = await startRegistry();
  const repo = `${reg.host}/models/signed`;
  for (const v of ['1.0.0', '1.1.0', '1.2.0', '1.3.0', '1.4.0', '1.5.0']) digests[v] = await pushEmptyImage(reg, 'models/signed', v);
  sign(`${repo}@${digests['1.0.0']}`, path.join(dir, 'trusted/cosign.key'));
  sign(`${repo}@${digests['1.1.0']}`, path.join(dir, 'trusted/cosign.key')); // the right key
  sign(`${repo}@${digests['1.2.0']}`, path.join(dir, 'other/cosign.key')); // another key
  // 1.3.0: unsigned
  // 1.4.0: 1.1.0's signature image copied under 1.4.0's .sig tag (a signature for another digest)
  const accept = { Accept: 'application/vnd.oci.image.manifest.v1+json' };
  const sig110 = await (await fetch(`${reg.url}/v2/models/signed/manifests/${digests['1.1.0'].replace(':', '-')}.sig`, { headers: accept })).text();
  const put = await fetch(`${reg.url}/v2/models/signed/manifests/${digests['1.4.0'].replace(':', '-')}.sig`, {
    method: 'PUT', headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' }, body: sig110,
  });
  if (put.status !== 201) throw new Error(`copying the signature manifest failed: ${put.status} ${await put.text()}`);
  // 1.5.0: signed, then the tag moved to other content
  sign(`${repo}@${digests['1.5.0']}`, path.join(dir, 'trusted/cosign.key'));
  digests['1.5.0-moved'] = await pushEmptyImage(reg, 'models/signed', '1.5.0', new Date('2026-01-01T00:00:00Z'));
}, 300_000);
afterAll(async () => {
  await reg?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const keys = () => loadPublicKeys([{ name: 'trusted/cosign.pub', pem: fs.readFileSync(path.join(dir, 'trusted/cosign.pub'), 'utf8') }]);

test('cosign → verifier: signed by the trusted key', async () => {
  const verdict = await verifyCosignSignature(new DistributionClient(), { registry: reg.host, repository: 'models/signed' }, digests['1.1.0'], keys());
  expect(verdict).toEqual({ signed: true, by: 0 });
});

test.each<[string, string, RegExp]>([
  ['signed by another key', '1.2.0', /does not verify with any trusted public key/],
  ['unsigned', '1.3.0', /no cosign signature: .*:sha256-[0-9a-f]{64}\.sig does not exist/],
  ['a signature for another digest', '1.4.0', /a signature is for sha256:[0-9a-f]{64}, not for sha256:/],
  ['a tag moved after signing (the new digest is judged)', '1.5.0-moved', /no cosign signature/],
])('cosign → verifier: %s', async (_n, version, refused) => {
  const client = new DistributionClient();
  const verdict = await verifyCosignSignature(client, { registry: reg.host, repository: 'models/signed' }, digests[version], keys());
  expect(verdict).toEqual({ signed: false, reason: expect.stringMatching(refused) });
});

test.each([
  ['with requireSignature: only the signed 1.1.0 goes; 1.2.0–1.5.0 are refused and audited', true, '1.1.0'],
  ['without the guard: the newest tag, unsigned 1.5.0, goes', false, '1.5.0'],
])('%s', async (_n, guard, expected) => {
  const repository = `${reg.host}/models/signed`;
  const registry = realRegistry();
  const h = harness({ registry, signatureKeys: guard ? keys() : undefined });
  h.target.add('signed', `${repository}:1.0.0@${digests['1.0.0']}`, { policy: 'semver:minor' });
  const report = await h.reconciler.runCycle([{ source: 'poll' }]);
  expect(report.failures).toEqual([]);
  expect(report.updates.map((u) => `${u.plan}: ${u.result}`)).toEqual([`signed 1.0.0 -> ${expected}: promoted`]);
  const refused = h.audit.read().filter((e) => e.event === 'refused').map((e) => e.to?.split(':')[2]?.split('@')[0]);
  expect(refused).toEqual(guard ? ['1.5.0', '1.4.0', '1.3.0', '1.2.0'] : []);
});
