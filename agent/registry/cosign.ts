/**
 * Verifies cosign key-based signatures stored in the registry (cosign's default layout): the signature image is
 * tagged `sha256-<hex of the signed digest>.sig` in the same repository; each of its layers is a "simple signing"
 * payload (`application/vnd.dev.cosign.simplesigning.v1+json`) naming the signed manifest digest, with the
 * signature (base64, ECDSA/Ed25519/RSA over the payload) in the layer annotation `dev.cosignproject.cosign/signature`.
 * A digest is signed when at least one layer's payload names exactly that digest and its signature verifies with one
 * of the trusted public keys (node:crypto, the PEM keys `cosign generate-key-pair` writes). Keyless signatures
 * (Fulcio certificates, Rekor) are not verified here.
 */
import { createPublicKey, KeyObject, verify } from 'node:crypto';
import type { RegistryClient, RepositoryName } from '../types';

export const SIMPLE_SIGNING_MEDIA_TYPE = 'application/vnd.dev.cosign.simplesigning.v1+json';
export const SIGNATURE_ANNOTATION = 'dev.cosignproject.cosign/signature';
/** Layers of a signature image read at most (each one a payload blob fetched). */
const MAX_SIGNATURES = 20;

/** Loads PEM public keys; throws naming the key that is not one. */
export function loadPublicKeys(pems: ReadonlyArray<{ name: string; pem: string }>): KeyObject[] {
  return pems.map(({ name, pem }) => {
    try {
      return createPublicKey(pem);
    } catch (e) {
      throw new Error(`'${name}' is not a PEM public key (${(e as Error).message}); give the cosign.pub that 'cosign generate-key-pair' wrote`);
    }
  });
}

/** The outcome of a verification: signed, or why not (for the audit log). */
export type SignatureVerdict = { readonly signed: true; readonly by: number } | { readonly signed: false; readonly reason: string };

interface Layer { readonly mediaType?: string; readonly digest?: string; readonly annotations?: Record<string, string> }

/** Checks the cosign signatures of `digest` in `repo` against `keys`. Registry failures throw (the caller retries later). */
export async function verifyCosignSignature(
  registry: RegistryClient, repo: RepositoryName, digest: string, keys: readonly KeyObject[], signal?: AbortSignal,
): Promise<SignatureVerdict> {
  if (!registry.fetchManifest || !registry.fetchBlob) return { signed: false, reason: 'this registry client cannot read signatures' };
  const tag = `${digest.replace(':', '-')}.sig`;
  const manifest = await registry.fetchManifest(repo, tag, signal) as { layers?: Layer[] } | undefined;
  if (!manifest) return { signed: false, reason: `no cosign signature: ${repo.registry}/${repo.repository}:${tag} does not exist` };
  const layers = (manifest.layers ?? [])
    .filter((l) => l.mediaType === SIMPLE_SIGNING_MEDIA_TYPE && l.digest && l.annotations?.[SIGNATURE_ANNOTATION]);
  if (layers.length === 0) return { signed: false, reason: `${tag} holds no simple-signing layer with a ${SIGNATURE_ANNOTATION} annotation` };
  const problems: string[] = [];
  for (const layer of layers.slice(0, MAX_SIGNATURES)) {
    const payload = await registry.fetchBlob(repo, layer.digest!, signal);
    let named: unknown;
    try {
      const doc = JSON.parse(payload.toString('utf8')) as { critical?: { image?: { 'docker-manifest-digest'?: unknown } } };
      named = doc.critical?.image?.['docker-manifest-digest'];
    } catch {
      problems.push(`payload ${layer.digest} is not JSON`);
      continue;
    }
    if (named !== digest) {
      problems.push(`a signature is for ${String(named)}, not for ${digest}`);
      continue;
    }
    const signature = Buffer.from(layer.annotations![SIGNATURE_ANNOTATION], 'base64');
    const by = keys.findIndex((k) => {
      try {
        return verify(k.asymmetricKeyType === 'ed25519' ? null : 'sha256', payload, k, signature);
      } catch {
        return false;
      }
    });
    if (by >= 0) return { signed: true, by };
    problems.push('a signature does not verify with any trusted public key');
  }
  return { signed: false, reason: problems.join('; ') };
}
