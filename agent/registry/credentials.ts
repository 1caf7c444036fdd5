import { normalizeRegistryHost } from '../../lib/core/image-ref';
import { readInputFile } from '../files';

export { normalizeRegistryHost };
/** A username and password for one registry (basic auth, also sent to a token realm). */
export interface RegistryCredential {
  readonly username: string;
  readonly password: string;
}

/** Credentials by registry host (`host[:port]`). */
export type CredentialStore = ReadonlyMap<string, RegistryCredential>;


/**
 * Reads the `auths` section of a docker `config.json` (as written by `docker login` / `podman login`):
 * each entry holds `auth` (base64 of `user:password`) or `username` + `password`.
 * Credential helpers (`credsStore`, `credHelpers`) are not supported.
 * @throws if the document is not an object or an entry cannot be decoded (naming the entry and the fix)
 */
export function parseDockerConfig(json: unknown, source = 'config.json'): CredentialStore {
  const out = new Map<string, RegistryCredential>();
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new Error(`docker config '${source}' is not a JSON object; expected {"auths": {"<host>": {"auth": "<base64 user:password>"}}}`);
  }
  const auths = (json as { auths?: unknown }).auths;
  if (auths === undefined) return out;
  if (auths === null || typeof auths !== 'object' || Array.isArray(auths)) {
    throw new Error(`docker config '${source}' field 'auths' is not an object; expected {"<host>": {"auth": "<base64 user:password>"}}`);
  }
  for (const [key, value] of Object.entries(auths as Record<string, unknown>)) {
    const entry = (value ?? {}) as { auth?: unknown; username?: unknown; password?: unknown };
    let username: string | undefined;
    let password: string | undefined;
    if (typeof entry.auth === 'string' && entry.auth !== '') {
      const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon <= 0) {
        throw new Error(`docker config '${source}' entry 'auths.${key}.auth' does not decode to 'user:password'; re-run 'docker login ${key}'`);
      }
      username = decoded.slice(0, colon);
      password = decoded.slice(colon + 1);
    } else if (typeof entry.username === 'string' && typeof entry.password === 'string') {
      username = entry.username;
      password = entry.password;
    }
    if (username !== undefined && password !== undefined) out.set(normalizeRegistryHost(key), { username, password });
  }
  return out;
}

/** Reads and parses a docker `config.json` file. */
export function loadDockerConfig(path: string): CredentialStore {
  let text: string;
  try {
    text = readInputFile(path, { field: 'registries.dockerConfig', fix: "give the path of a config.json written by 'docker login'", maxBytes: 4 * 1024 * 1024 });
  } catch (e) {
    throw new Error(`docker config: ${(e as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new Error(`docker config '${path}' is not valid JSON (${(e as Error).message})`);
  }
  return parseDockerConfig(json, path);
}
