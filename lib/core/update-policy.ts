// Single functions, not the package index (see image-ref.ts).
import type { SemVer } from 'semver';
import semverGt from 'semver/functions/gt';
import semverLte from 'semver/functions/lte';
import { parseVersionTag } from './image-ref';

/** How far a semver policy may move. */
export type SemverLevel = 'patch' | 'minor' | 'major';

/** Options for {@link UpdatePolicy.semver}. */
export interface SemverPolicyOptions {
  /**
   * Consider pre-release versions (`1.3.0-rc.1`) as candidates.
   * @default false
   */
  readonly includePrerelease?: boolean;
}

/** A candidate the policy may move to. */
export interface Candidate {
  /** The tag as listed by the registry. */
  readonly tag: string;
  /** The tag's current digest, when known (needed by the digest policy). */
  readonly digest?: string;
}

/** What is running now: a tag and maybe its digest, like a candidate. */
export type Current = Candidate;

/**
 * Which new image versions a model may move to on its own.
 *
 * - `semver('patch' | 'minor' | 'major')`: the highest version above the current one within that level;
 * - `pinned()`: never moves;
 * - `digest()`: same tag, new digest (as Watchtower does).
 *
 * Quarantined versions are never chosen.
 */
export class UpdatePolicy {
  /** Moves to the highest semantic version within `level` of the current one. */
  public static semver(level: SemverLevel, options: SemverPolicyOptions = {}): UpdatePolicy {
    if (!['patch', 'minor', 'major'].includes(level)) {
      throw new Error(`'updatePolicy' semver level '${level}' is unknown; use 'patch', 'minor' or 'major'`);
    }
    return new UpdatePolicy('semver', level, options.includePrerelease ?? false);
  }

  /** Never updates automatically. */
  public static pinned(): UpdatePolicy {
    return new UpdatePolicy('pinned', undefined, false);
  }

  /** Follows the current tag: updates when the tag points at a new digest. */
  public static digest(): UpdatePolicy {
    return new UpdatePolicy('digest', undefined, false);
  }

  /**
   * Reads the policy's text form, as written in agent config and annotations:
   * `semver:patch`, `semver:minor`, `semver:major` (each optionally `+prerelease`), `pinned`, `digest`.
   */
  public static parse(text: string, field = 'updatePolicy'): UpdatePolicy {
    const m = /^semver:(patch|minor|major)(\+prerelease)?$/.exec(String(text).trim());
    if (m) return UpdatePolicy.semver(m[1] as SemverLevel, { includePrerelease: m[2] !== undefined });
    if (text === 'pinned') return UpdatePolicy.pinned();
    if (text === 'digest') return UpdatePolicy.digest();
    throw new Error(`'${field}' value '${text}' is not a policy; use 'semver:patch', 'semver:minor', 'semver:major' (optionally '+prerelease'), 'pinned' or 'digest'`);
  }

  private constructor(
    /** The kind of policy. */
    public readonly kind: 'semver' | 'pinned' | 'digest',
    /** For `semver`: how far it may move. */
    public readonly level: SemverLevel | undefined,
    /** For `semver`: whether pre-releases are candidates. */
    public readonly includePrerelease: boolean,
  ) {}

  /**
   * Chooses what to move to, or `undefined` to stay.
   *
   * @param current what runs now
   * @param candidates the tags the registry lists (non-semver tags are ignored by semver policies)
   * @param isQuarantined versions (tags, or `tag@digest` for the digest policy) that must never be chosen
   */
  public select(current: Current, candidates: readonly Candidate[], isQuarantined: (c: Candidate) => boolean = () => false): Candidate | undefined {
    switch (this.kind) {
      case 'pinned':
        return undefined;
      case 'digest': {
        const same = candidates.find((c) => c.tag === current.tag);
        if (!same || !same.digest || same.digest === current.digest || isQuarantined(same)) return undefined;
        return same;
      }
      case 'semver': {
        const cur = parseVersionTag(current.tag);
        if (!cur) return undefined;
        let best: { c: Candidate; v: SemVer } | undefined;
        for (const c of candidates) {
          const v = parseVersionTag(c.tag);
          if (!v || semverLte(v, cur) || !this.withinLevel(cur, v)) continue;
          if (v.prerelease.length > 0 && !this.includePrerelease) continue;
          if (isQuarantined(c)) continue;
          if (!best || semverGt(v, best.v)) best = { c, v };
        }
        return best?.c;
      }
    }
  }

  /**
   * Chooses what to go back to when the current version must be left (an alert-driven rollback with no recorded
   * previous version): the highest semantic version below the current one that is neither a pre-release nor
   * quarantined, whatever the policy's kind. `undefined` when there is none (or the current tag is not semver).
   */
  public selectPrevious(current: Current, candidates: readonly Candidate[],
    isQuarantined: (c: Candidate) => boolean = () => false): Candidate | undefined {
    const cur = parseVersionTag(current.tag);
    if (!cur) return undefined;
    let best: { c: Candidate; v: SemVer } | undefined;
    for (const c of candidates) {
      const v = parseVersionTag(c.tag);
      if (!v || v.compare(cur) >= 0 || v.prerelease.length > 0 || isQuarantined(c)) continue;
      if (!best || v.compare(best.v) > 0) best = { c, v };
    }
    return best?.c;
  }

  /** The policy's text form, the inverse of {@link UpdatePolicy.parse}. */
  public toString(): string {
    if (this.kind === 'semver') return `semver:${this.level}${this.includePrerelease ? '+prerelease' : ''}`;
    return this.kind;
  }

  public toJSON(): string {
    return this.toString();
  }

  private withinLevel(cur: SemVer, v: SemVer): boolean {
    switch (this.level) {
      case 'patch':
        return v.major === cur.major && v.minor === cur.minor;
      case 'minor':
        return v.major === cur.major;
      default:
        return true;
    }
  }
}
