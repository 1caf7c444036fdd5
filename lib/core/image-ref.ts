// Single functions, not the package index: the index loads ~50 modules the updater agent does not need (docs/agent.md, memory).
import type { SemVer } from 'semver';
import semverParse from 'semver/functions/parse';

/** Tags that name a moving target. They are refused everywhere an image is pinned. */
const MUTABLE_TAGS = new Set(['latest', 'stable', 'main', 'master', 'dev', 'edge', 'nightly', 'head']);

const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;
const TAG_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const REPO_COMPONENT_RE = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;

/** Options for {@link ImageRef.parse}. */
export interface ImageRefParseOptions {
  /**
   * Name of the property or config key that held the reference; it is quoted in errors.
   * @default 'image'
   */
  readonly field?: string;
  /**
   * Accept a reference that carries neither a semantic-version tag nor a digest (for example `repo:latest`).
   * Only for observing what runs today; never for declaring what should run.
   * @default false
   */
  readonly allowMutableTag?: boolean;
}

/**
 * A parsed OCI image reference: `[registry[:port]/]repository[:tag][@sha256:digest]`.
 *
 * A reference that declares what should run must be immutable: its tag is a semantic version
 * (`1.2.0`, `v1.2.0`, `1.3.0-rc.1`) or it carries a digest. `latest` and other moving tags are refused.
 * One parser serves the constructs, the CLI and the agent.
 */
export class ImageRef {
  /**
   * Parses and validates an image reference.
   * @throws if the reference is malformed or names a mutable tag without a digest
   */
  public static parse(reference: string, options: ImageRefParseOptions = {}): ImageRef {
    const field = options.field ?? 'image';
    if (typeof reference !== 'string' || reference.trim() === '') {
      throw new Error(`'${field}' is empty; give an image reference such as 'registry.example.com/models/recsys:1.2.0'`);
    }
    const text = reference.trim();
    if (/\s/.test(text)) {
      throw new Error(`'${field}' value '${reference}' contains white space; an image reference has none`);
    }
    let rest = text;
    let digest: string | undefined;
    const at = rest.indexOf('@');
    if (at >= 0) {
      digest = rest.slice(at + 1);
      rest = rest.slice(0, at);
      if (!DIGEST_RE.test(digest)) {
        throw new Error(`'${field}' digest '${digest}' is malformed; a digest is 'sha256:' followed by 64 lowercase hex characters`);
      }
    }
    let tag: string | undefined;
    const lastSlash = rest.lastIndexOf('/');
    const colon = rest.lastIndexOf(':');
    if (colon > lastSlash) {
      tag = rest.slice(colon + 1);
      rest = rest.slice(0, colon);
      if (!TAG_RE.test(tag)) {
        throw new Error(`'${field}' tag '${tag}' is malformed; a tag is up to 128 letters, digits, '_', '.' or '-'`);
      }
    }
    const parts = rest.split('/');
    let registry = 'docker.io';
    if (parts.length > 1 && (parts[0].includes('.') || parts[0].includes(':') || parts[0] === 'localhost')) {
      registry = parts.shift() as string;
    }
    const hostProblem = registryPortProblem(registry);
    if (hostProblem) throw new Error(`'${field}' registry '${registry}' in '${reference}' ${hostProblem}`);
    if (registry === 'docker.io' && parts.length === 1) parts.unshift('library');
    for (const c of parts) {
      if (!REPO_COMPONENT_RE.test(c)) {
        throw new Error(`'${field}' repository '${parts.join('/')}' in '${reference}' is malformed; use lowercase letters, digits and '.', '_', '-' separators`);
      }
    }
    const repository = parts.join('/');
    if (!digest && !options.allowMutableTag) {
      if (tag === undefined) {
        throw new Error(`'${field}' value '${reference}' has no tag; pin a semver tag such as '${registry === 'docker.io' ? '' : registry + '/'}${repository}:1.2.0' or a digest`);
      }
      if (MUTABLE_TAGS.has(tag.toLowerCase())) {
        throw new Error(`'${field}' tag '${tag}' is mutable; pin a semver tag such as '1.2.0' or a digest`);
      }
      if (parseVersionTag(tag) === undefined) {
        throw new Error(`'${field}' tag '${tag}' is not a semantic version; use a tag such as '1.2.0', 'v1.2.0' or '1.3.0-rc.1', or pin a digest`);
      }
    }
    return new ImageRef(registry, repository, tag, digest);
  }

  /** Parses like {@link ImageRef.parse} but returns `undefined` instead of throwing. */
  public static tryParse(reference: string, options: ImageRefParseOptions = {}): ImageRef | undefined {
    try {
      return ImageRef.parse(reference, options);
    } catch {
      return undefined;
    }
  }

  private constructor(
    /** Registry host (and port), `docker.io` when the reference names none. */
    public readonly registry: string,
    /** Repository path inside the registry, e.g. `models/recsys`. */
    public readonly repository: string,
    /** The tag, if any. */
    public readonly tag?: string,
    /** The content digest (`sha256:…`), if any. */
    public readonly digest?: string,
  ) {}

  /** The semantic version the tag names, or `undefined` for a non-semver tag. */
  public get version(): SemVer | undefined {
    return this.tag === undefined ? undefined : parseVersionTag(this.tag);
  }

  /** `registry/repository`, without tag or digest. */
  public get name(): string {
    return `${this.registry}/${this.repository}`;
  }

  /** A copy with another tag (the digest is dropped: it belonged to the old tag). */
  public withTag(tag: string): ImageRef {
    return ImageRef.parse(`${this.name}:${tag}`, { allowMutableTag: true });
  }

  /** A copy pinned to a digest, keeping the tag for readability. */
  public withDigest(digest: string): ImageRef {
    return ImageRef.parse(`${this.name}${this.tag ? ':' + this.tag : ''}@${digest}`, { allowMutableTag: true });
  }

  /** The canonical reference: `registry/repository[:tag][@digest]`. */
  public toString(): string {
    return `${this.name}${this.tag !== undefined ? ':' + this.tag : ''}${this.digest ? '@' + this.digest : ''}`;
  }

  public toJSON(): string {
    return this.toString();
  }
}

/**
 * Why the port of a registry host (`host:port`) is one no registry can listen on (0, above 65535); undefined when
 * the host has no port or a usable one.
 */
export function registryPortProblem(host: string): string | undefined {
  const m = /:(\d+)$/.exec(host);
  if (!m) return undefined;
  const port = Number(m[1]);
  return port >= 1 && port <= 65535 ? undefined : `has port ${m[1]}, which no registry can listen on; give a port from 1 to 65535, e.g. '${host.slice(0, m.index)}:5000'`;
}

/**
 * Normalizes a registry host as the agent keys it — a docker `config.json` `auths` key, a `registries.mirrors`
 * or `registries.insecure` entry — to `host[:port]`, lower case, without scheme or path:
 * `https://index.docker.io/v1/` → `docker.io`, `http://127.0.0.1:5000` → `127.0.0.1:5000`.
 */
export function normalizeRegistryHost(key: string): string {
  let host = key.trim().replace(/^[a-z]+:\/\//i, '');
  host = host.split('/')[0].toLowerCase();
  if (host === 'index.docker.io' || host === 'registry-1.docker.io' || host === 'registry.hub.docker.com') return 'docker.io';
  return host;
}

/**
 * @internal Reads a tag as a semantic version. Accepts a leading `v` (`v1.2.0`); refuses partial versions (`1.2`)
 * and anything else that is not strictly semver.
 */
export function parseVersionTag(tag: string): SemVer | undefined {
  if (!TAG_RE.test(tag)) return undefined; // semver.parse trims spaces: ' 1.3.0' is no tag a registry holds
  const body = tag.startsWith('v') ? tag.slice(1) : tag;
  // semver.parse itself strips a leading 'v' or '=': refuse them here so that 'vv1.0.0' and '=1.0.0' are not versions.
  const v = /^\d/.test(body) ? semverParse(body) : null;
  return v ?? undefined;
}

/**
 * Why `value` is not a version key the agent would ever compare against ({@link versionKey}): a semantic version tag
 * (`1.3.0`, `v1.3.0-rc.1`) or, under the digest policy, `<tag>@sha256:<64 hex>`. Undefined when it is one. The CLI's
 * operator commands (quarantine add, pin) check with it, so that an entry that can never match is refused.
 */
export function versionKeyProblem(value: string): string | undefined {
  const fix = "give a semantic version tag such as '1.3.0' (or '<tag>@sha256:<digest>' for a model under the digest policy)";
  if (value !== value.trim()) return `'${value}' has leading or trailing spaces, so it never matches a tag; ${fix}`;
  const at = value.indexOf('@');
  if (at >= 0) {
    const [tag, digest] = [value.slice(0, at), value.slice(at + 1)];
    if (!TAG_RE.test(tag)) return `'${value}' has '${tag}' before '@', which is not a tag; ${fix}`;
    if (!/^sha256:[0-9a-f]{64}$/.test(digest)) return `'${value}' has '${digest}' after '@', which is not a sha256 digest (sha256: and 64 hex digits); ${fix}`;
    return undefined;
  }
  if (parseVersionTag(value)) return undefined;
  const partial = /^v?(\d+)(\.\d+)?$/.exec(value);
  if (partial) return `'${value}' is a partial version; the agent reads only full semantic versions: give '${value}${partial[2] ? '.0' : '.0.0'}'`;
  return `'${value}' is not a version the agent applies; ${fix}`;
}

/** Two image references name the same image: same repository, same tag (when both have one), same digest (when both have one). */
export function sameImage(a: string, b: string): boolean {
  const ra = ImageRef.tryParse(a, { allowMutableTag: true });
  const rb = ImageRef.tryParse(b, { allowMutableTag: true });
  if (!ra || !rb) return a === b;
  if (ra.name !== rb.name) return false;
  if (ra.digest && rb.digest) return ra.digest === rb.digest;
  return ra.tag !== undefined && ra.tag === rb.tag;
}

/**
 * The version key: what policies compare and the quarantine stores. The tag, or `tag@digest` under the digest
 * policy (where one tag names many versions).
 */
export function versionKey(tag: string, digest: string | undefined, policyKind?: string): string {
  return policyKind === 'digest' && digest ? `${tag}@${digest}` : tag;
}

/** The {@link versionKey} of an image reference (a bare digest when it has no tag; the text itself when it does not parse). */
export function versionOfRef(ref: string, policyKind?: string): string {
  const r = ImageRef.tryParse(ref, { allowMutableTag: true });
  if (!r) return ref;
  if (r.tag) return versionKey(r.tag, r.digest, policyKind);
  return r.digest ?? ref;
}

/** Two version keys name the same version: `1.2.0` equals `v1.2.0`; anything else compares as text. */
export function sameVersion(a: string, b: string): boolean {
  if (a === b) return true;
  if (a.includes('@') || b.includes('@')) return false;
  const va = parseVersionTag(a);
  const vb = parseVersionTag(b);
  return va !== undefined && vb !== undefined && va.compare(vb) === 0 && va.prerelease.join('.') === vb.prerelease.join('.');
}
