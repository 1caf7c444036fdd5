/**
 * Staging-verified promotion with the real distribution registry and the real cosign (v2.6.5, built from the Go
 * module proxy by scripts/signing/build.sh; offline, no transparency log):
 * - two agents on one registry: the staging agent promotes a version and writes its proof; the production agent
 *   (`requireVerifiedIn: ['staging']`) takes only that digest — a newer one without proof, and one whose proof is
 *   signed by another key, are refused; the same production run without the guard takes the newest;
 * - cosign reads the agent's proof (`cosign verify-attestation --key staging.pub`), and the agent reads proof that
 *   cosign wrote (`cosign attest` with the staging key imported into cosign).
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import { generateKeyPairSync } from 'node:crypto';
import * as os from 'os';
import * as path from 'path';
import { DistributionClient } from '../../agent/registry';
import { loadPrivateKey, VERIFIED_PREDICATE_TYPE, verifyVerifiedIn } from '../../agent/registry/attestation';
import { loadPublicKeys } from '../../agent/registry/cosign';
import { pushEmptyImage, startRegistry, TestRegistry } from '../support/registry';
import { signingBinDir } from '../support/signing-tools';
import { harness, HarnessOptions, realRegistry } from './fakes';

let reg: TestRegistry;
let dir: string;
let cosign: string;
const digests: Record<string, string> = {};


const cosignRun = (args: string[], cwd = dir) => spawnSync(cosign, args, {
  cwd, encoding: 'utf8', env: { PATH: process.env.PATH, HOME: dir, COSIGN_PASSWORD: '' }, timeout: 120_000,
});
const run = (args: string[], cwd = dir) => {
  const r = cosignRun(args, cwd);
  if (r.status !== 0) throw new Error(`cosign ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
};
const insecure = ['--allow-http-registry', '--allow-insecure-registry'];

/** `cosign attest` of a modelpilot predicate (as a staging agent would write it) with a cosign key. */
function cosignAttest(image: string, key: string, environment: string): void {
  const predicate = path.join(dir, `predicate-${environment}.json`);
  fs.writeFileSync(predicate, JSON.stringify({
    environment, workload: 'k8s/staging/recsys', model: 'recsys', version: image.split(':').pop(), image, verifiedAt: new Date().toISOString(),
    gate: { decision: 'promote', reason: 'written by cosign attest', evidence: {} }, agent: 'cosign',
  }));
  run(['attest', '--key', key, '--type', VERIFIED_PREDICATE_TYPE, '--predicate', predicate, '--tlog-upload=false', '--yes', ...insecure, image]);
}

const pem = (file: string) => ({ name: file, pem: fs.readFileSync(path.join(dir, file), 'utf8') });

beforeAll(async () => {
  cosign = path.join(signingBinDir(), 'cosign');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelpilot-attest-'));
  // the staging agent's key: a plain PEM key pair (what `attest.privateKeyFile` takes), also imported into cosign
  const staging = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  fs.writeFileSync(path.join(dir, 'staging.key'), staging.privateKey.export({ type: 'pkcs8', format: 'pem' }));
  fs.writeFileSync(path.join(dir, 'staging.pub'), staging.publicKey.export({ type: 'spki', format: 'pem' }));
  run(['import-key-pair', '--key', 'staging.key', '--output-key-prefix', 'staging-cosign']);
  fs.mkdirSync(path.join(dir, 'other'));
  run(['generate-key-pair'], path.join(dir, 'other'));
  reg = await startRegistry();
  for (const v of ['1.0.0', '1.1.0']) digests[v] = await pushEmptyImage(reg, 'models/attested', v);
  for (const v of ['2.0.0', '2.1.0']) digests[v] = await pushEmptyImage(reg, 'models/by-cosign', v);
}, 300_000);
afterAll(async () => {
  await reg?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** A harness whose registry is the real one, through the agent's own client. */
function agent(options: HarnessOptions) {
  const registry = realRegistry();
  return harness({ ...options, registry });
}
const stagingKeys = () => loadPublicKeys([pem('staging.pub')]);
const repo = (repository: string) => ({ registry: reg.host, repository });

test('two agents on one registry: staging proves 1.1.0; prod takes it and refuses 1.2.0 (no proof) and 1.3.0 (proof by another key)', async () => {
  const image = `${reg.host}/models/attested`;
  const staging = agent({ attest: { environment: 'staging', key: loadPrivateKey('staging.key', pem('staging.key').pem) } });
  staging.slo.evidence = { errorRatio: 0.001, p99Seconds: 0.08, requestRate: 12 };
  staging.target.add('recsys', `${image}:1.0.0@${digests['1.0.0']}`, { policy: 'semver:minor' });
  expect((await staging.reconciler.runCycle([{ source: 'poll' }])).updates.map((u) => `${u.plan}: ${u.result}`)).toEqual(['recsys 1.0.0 -> 1.1.0: promoted']);
  expect(staging.audit.read().filter((e) => e.event === 'attested').map((e) => e.result)).toEqual(['ok']);

  digests['1.2.0'] = await pushEmptyImage(reg, 'models/attested', '1.2.0'); // nobody proved it
  digests['1.3.0'] = await pushEmptyImage(reg, 'models/attested', '1.3.0');
  cosignAttest(`${image}@${digests['1.3.0']}`, path.join(dir, 'other/cosign.key'), 'staging'); // names staging, wrong key

  const prod = agent({ verifiedIn: [{ environment: 'staging', keys: stagingKeys() }] });
  prod.target.add('recsys', `${image}:1.0.0@${digests['1.0.0']}`, { policy: 'semver:minor' });
  const report = await prod.reconciler.runCycle([{ source: 'poll' }]);
  expect(report.failures).toEqual([]);
  expect(report.updates.map((u) => `${u.plan}: ${u.result}`)).toEqual(['recsys 1.0.0 -> 1.1.0: promoted']);
  expect(prod.audit.read().filter((e) => e.event === 'refused').map((e) => [e.to?.split(':')[2]?.split('@')[0], e.result, e.reason])).toEqual([
    ['1.3.0', 'unverified', expect.stringMatching(/^not verified in 'staging': an attestation \(environment staging\) is not signed by a key trusted for 'staging'/)],
    ['1.2.0', 'unverified', expect.stringMatching(/^not verified in 'staging': no attestation: .*\.att does not exist/)],
  ]);

  const unguarded = agent({});
  unguarded.target.add('recsys', `${image}:1.0.0@${digests['1.0.0']}`, { policy: 'semver:minor' });
  expect((await unguarded.reconciler.runCycle([{ source: 'poll' }])).updates.map((u) => `${u.plan}: ${u.result}`)).toEqual(['recsys 1.0.0 -> 1.3.0: promoted']);
});

test('cosign verify-attestation accepts the agent\'s proof with the staging key, and rejects it with another key', async () => {
  const subject = `${reg.host}/models/attested@${digests['1.1.0']}`;
  const ok = cosignRun(['verify-attestation', '--key', 'staging.pub', '--type', VERIFIED_PREDICATE_TYPE, '--insecure-ignore-tlog', ...insecure, subject]);
  expect(ok.stderr).toContain('The signatures were verified against the specified public key');
  expect(ok.status).toBe(0);
  const statement = JSON.parse(Buffer.from((JSON.parse(ok.stdout.trim().split('\n')[0]) as { payload: string }).payload, 'base64').toString('utf8')) as {
    subject: Array<{ digest: Record<string, string> }>; predicate: Record<string, unknown>;
  };
  expect(statement.subject[0].digest.sha256).toBe(digests['1.1.0'].slice('sha256:'.length));
  expect(statement.predicate).toMatchObject({ environment: 'staging', version: '1.1.0', gate: { decision: 'promote', evidence: { errorRatio: 0.001, p99Seconds: 0.08 } } });
  const wrong = cosignRun(['verify-attestation', '--key', 'other/cosign.pub', '--type', VERIFIED_PREDICATE_TYPE, '--insecure-ignore-tlog', ...insecure, subject]);
  expect(wrong.status).not.toBe(0);
});

test('the agent reads proof cosign wrote with the staging key; a cosign attestation naming another environment is refused', async () => {
  const image = `${reg.host}/models/by-cosign`;
  cosignAttest(`${image}@${digests['2.0.0']}`, path.join(dir, 'staging-cosign.key'), 'staging');
  cosignAttest(`${image}@${digests['2.1.0']}`, path.join(dir, 'staging-cosign.key'), 'dev');
  const client = new DistributionClient();
  expect(await verifyVerifiedIn(client, repo('models/by-cosign'), digests['2.0.0'], 'staging', stagingKeys()))
    .toMatchObject({ verified: true, predicate: { environment: 'staging', agent: 'cosign' } });
  expect(await verifyVerifiedIn(client, repo('models/by-cosign'), digests['2.1.0'], 'staging', stagingKeys()))
    .toEqual({ verified: false, reason: "an attestation names environment 'dev', not 'staging'" });
});
