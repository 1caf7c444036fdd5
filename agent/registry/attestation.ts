/**
 * Staging-verified promotion: proof, stored in the registry next to the digest, that an environment's agent
 * promoted a version after its health gate passed; and the check a production policy (`requireVerifiedIn`) makes
 * before it takes a digest.
 *
 * The proof is a cosign attestation in cosign's own layout, so `cosign verify-attestation --key <staging pub>
 * --type https://modelpilot.dev/attestations/verified/v1` reads it too: the image tagged
 * `sha256-<hex of the digest>.att` in the same repository, each layer a DSSE envelope
 * (`application/vnd.dsse.envelope.v1+json`) whose payload is an in-toto Statement naming the digest as its subject,
 * signed (ECDSA P-256 / Ed25519 / RSA, node:crypto) over the DSSE pre-authentication encoding. A new attestation is
 * added beside the ones already there (other environments, earlier promotions), as `cosign attest` does.
 */
import { createPrivateKey, KeyObject, sign, verify } from 'node:crypto';
import type { RegistryClient, RepositoryName } from '../types';

/** The in-toto predicate type of modelpilot's proof. */
export const VERIFIED_PREDICATE_TYPE = 'https://modelpilot.dev/attestations/verified/v1';
export const DSSE_MEDIA_TYPE = 'application/vnd.dsse.envelope.v1+json';
export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';
const IN_TOTO_STATEMENT = 'https://in-toto.io/Statement/v0.1';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
/** Attestation layers read at most per digest (the newest first), each one a blob fetched. */
const MAX_ATTESTATIONS = 20;
/** Attestation layers kept when a new one is added (the oldest are dropped beyond it). */
const MAX_KEPT = 50;

/** What a promotion proves: where, what, when, and the gate's values that decided it. */
export interface VerifiedPredicate {
  /** The environment whose agent promoted the digest (`staging`). */
  readonly environment: string;
  readonly workload: string;
  readonly model: string;
  readonly version: string;
  /** The full reference promoted (`registry/repo:tag@sha256:…`). */
  readonly image: string;
  /** When it was promoted (ISO 8601). */
  readonly verifiedAt: string;
  /** The health gate's verdict: its reason and the SLO values measured (error ratio, p99, request rate …). */
  readonly gate: {
    readonly decision: 'promote'; readonly reason: string; readonly evidence: Readonly<Record<string, number>>;
    /** The golden set the quality gate replayed (file, sha256 digest, samples), when the model has one. */
    readonly goldenSet?: { readonly source: string; readonly digest: string; readonly samples: number };
  };
  /** The agent that wrote it. */
  readonly agent: string;
}

/** Loads a PEM private key (PKCS#8 or SEC1, unencrypted); throws naming the file and the fix. */
export function loadPrivateKey(name: string, pem: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch (e) {
    throw new Error(`'${name}' is not an unencrypted PEM private key (${(e as Error).message}); `
      + "create one with 'openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out attest.key' "
      + "and give its public half ('openssl pkey -in attest.key -pubout') to the environments that verify");
  }
  if (!['ec', 'ed25519', 'rsa'].includes(key.asymmetricKeyType ?? '')) {
    throw new Error(`'${name}' is a ${key.asymmetricKeyType ?? 'unknown'} key; give an EC P-256, Ed25519 or RSA private key`);
  }
  return key;
}

/** DSSE's pre-authentication encoding: what is signed. */
function pae(payloadType: string, payload: Buffer): Buffer {
  const type = Buffer.from(payloadType, 'utf8');
  return Buffer.concat([Buffer.from(`DSSEv1 ${type.length} `), type, Buffer.from(` ${payload.length} `), payload]);
}

const hashFor = (k: KeyObject) => (k.asymmetricKeyType === 'ed25519' ? null : 'sha256');

interface Layer { readonly mediaType?: string; readonly digest?: string; readonly size?: number; readonly annotations?: Record<string, string> }
interface Manifest { readonly layers?: Layer[] }

/** The tag cosign stores a digest's attestations under. */
export const attestationTag = (digest: string): string => `${digest.replace(':', '-')}.att`;

/**
 * Signs `predicate` about `digest` and adds it to the digest's attestation image in `repo` (created when missing).
 * Registry failures throw; the caller decides whether to retry.
 */
export async function pushVerifiedAttestation(
  registry: RegistryClient, repo: RepositoryName, digest: string, predicate: VerifiedPredicate, key: KeyObject, signal?: AbortSignal,
): Promise<{ tag: string; manifest: string }> {
  if (!registry.pushBlob || !registry.pushManifest || !registry.fetchManifest) throw new Error('this registry client cannot write attestations');
  const [algorithm, hex] = digest.split(':');
  const statement = {
    _type: IN_TOTO_STATEMENT, predicateType: VERIFIED_PREDICATE_TYPE,
    subject: [{ name: `${repo.registry}/${repo.repository}`, digest: { [algorithm]: hex } }], predicate,
  };
  const payload = Buffer.from(JSON.stringify(statement), 'utf8');
  const sig = sign(hashFor(key), pae(IN_TOTO_PAYLOAD_TYPE, payload), key);
  const envelope = Buffer.from(JSON.stringify({
    payloadType: IN_TOTO_PAYLOAD_TYPE, payload: payload.toString('base64'), signatures: [{ keyid: '', sig: sig.toString('base64') }],
  }), 'utf8');
  const tag = attestationTag(digest);
  const existing = await registry.fetchManifest(repo, tag, signal) as Manifest | undefined;
  const kept = (existing?.layers ?? []).filter((l) => l.digest && typeof l.size === 'number').slice(-(MAX_KEPT - 1));
  const layerDigest = await registry.pushBlob(repo, envelope, signal);
  const layers: Layer[] = [...kept, {
    mediaType: DSSE_MEDIA_TYPE, size: envelope.length, digest: layerDigest,
    annotations: { 'dev.cosignproject.cosign/signature': '', predicateType: VERIFIED_PREDICATE_TYPE },
  }];
  const config = Buffer.from(JSON.stringify({
    architecture: '', created: '0001-01-01T00:00:00Z', history: [{ created: '0001-01-01T00:00:00Z' }], os: '',
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) }, config: {},
  }), 'utf8');
  const configDigest = await registry.pushBlob(repo, config, signal);
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: OCI_CONFIG, size: config.length, digest: configDigest }, layers,
  }), 'utf8');
  return { tag, manifest: await registry.pushManifest(repo, tag, manifest, OCI_MANIFEST, signal) };
}

/** The outcome of a check: verified (with the proof's predicate), or why not (for the audit log). */
export type VerifiedVerdict =
  | { readonly verified: true; readonly predicate: VerifiedPredicate }
  | { readonly verified: false; readonly reason: string };

/**
 * Whether `digest` in `repo` carries modelpilot's proof that `environment`'s agent promoted it, signed by one of
 * `keys`. Registry failures throw (the caller retries later).
 */
export async function verifyVerifiedIn(
  registry: RegistryClient, repo: RepositoryName, digest: string, environment: string, keys: readonly KeyObject[], signal?: AbortSignal,
): Promise<VerifiedVerdict> {
  if (!registry.fetchManifest || !registry.fetchBlob) return { verified: false, reason: 'this registry client cannot read attestations' };
  const tag = attestationTag(digest);
  const manifest = await registry.fetchManifest(repo, tag, signal) as Manifest | undefined;
  if (!manifest) return { verified: false, reason: `no attestation: ${repo.registry}/${repo.repository}:${tag} does not exist` };
  const layers = (manifest.layers ?? []).filter((l) => l.mediaType === DSSE_MEDIA_TYPE && l.digest).reverse();
  if (layers.length === 0) return { verified: false, reason: `${tag} holds no DSSE envelope` };
  const [algorithm, hex] = digest.split(':');
  const problems = new Set<string>();
  for (const layer of layers.slice(0, MAX_ATTESTATIONS)) {
    const blob = await registry.fetchBlob(repo, layer.digest!, signal);
    let envelope: { payloadType?: unknown; payload?: unknown; signatures?: Array<{ sig?: unknown }> };
    try {
      envelope = JSON.parse(blob.toString('utf8')) as typeof envelope;
    } catch {
      problems.add(`envelope ${layer.digest} is not JSON`);
      continue;
    }
    if (envelope.payloadType !== IN_TOTO_PAYLOAD_TYPE || typeof envelope.payload !== 'string') {
      problems.add(`an envelope is not an in-toto statement (payloadType ${String(envelope.payloadType)})`);
      continue;
    }
    const payload = Buffer.from(envelope.payload, 'base64');
    const signed = pae(IN_TOTO_PAYLOAD_TYPE, payload);
    const sigs = (envelope.signatures ?? []).filter((s) => typeof s.sig === 'string').map((s) => Buffer.from(s.sig as string, 'base64'));
    const ok = sigs.some((s) => keys.some((k) => {
      try {
        return verify(hashFor(k), signed, k, s);
      } catch {
        return false;
      }
    }));
    let statement: { predicateType?: unknown; subject?: Array<{ digest?: Record<string, unknown> }>; predicate?: Partial<VerifiedPredicate> };
    try {
      statement = JSON.parse(payload.toString('utf8')) as typeof statement;
    } catch {
      problems.add('a statement is not JSON');
      continue;
    }
    if (statement.predicateType !== VERIFIED_PREDICATE_TYPE) {
      problems.add(`an attestation is of type ${String(statement.predicateType)}, not ${VERIFIED_PREDICATE_TYPE}`);
      continue;
    }
    if (!ok) {
      problems.add(`an attestation (environment ${String(statement.predicate?.environment)}) is not signed by a key trusted for '${environment}'`);
      continue;
    }
    if (!(statement.subject ?? []).some((s) => s.digest?.[algorithm] === hex)) {
      const named = (statement.subject ?? []).map((s) => Object.entries(s.digest ?? {}).map(([a, h]) => `${a}:${String(h)}`).join(',')).join(' ');
      problems.add(`an attestation is about ${named || 'no digest'}, not ${digest}`);
      continue;
    }
    const p = statement.predicate;
    if (p?.environment !== environment) {
      problems.add(`an attestation names environment '${String(p?.environment)}', not '${environment}'`);
      continue;
    }
    if (p.gate?.decision !== 'promote') {
      problems.add(`the '${environment}' attestation does not record a promotion`);
      continue;
    }
    return { verified: true, predicate: p as VerifiedPredicate };
  }
  return { verified: false, reason: [...problems].join('; ') };
}

