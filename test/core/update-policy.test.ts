import { Candidate, UpdatePolicy } from '../../lib';

const tags = (...t: string[]): Candidate[] => t.map((tag) => ({ tag }));
const CANDIDATES = tags('1.2.0', '1.2.1', '1.2.5', '1.3.0', '1.4.0-rc.1', '1.9.2', '2.0.0', '2.1.0', 'latest', 'v1.2.9', 'nightly');

describe('UpdatePolicy.select', () => {
  test.each([
    ['semver:patch', '1.2.0', 'v1.2.9'],
    ['semver:minor', '1.2.0', '1.9.2'],
    ['semver:major', '1.2.0', '2.1.0'],
    ['semver:minor+prerelease', '1.3.0', '1.9.2'],
    ['semver:patch', '1.9.2', undefined],
    ['semver:major', '2.1.0', undefined],
    ['semver:minor', 'latest', undefined],
    ['pinned', '1.2.0', undefined],
  ])('%s from %s chooses %s', (policy, current, expected) => {
    expect(UpdatePolicy.parse(policy).select({ tag: current }, CANDIDATES)?.tag).toBe(expected);
  });

  test('pre-releases are candidates only with +prerelease', () => {
    const c = tags('1.3.0', '1.4.0-rc.1');
    expect(UpdatePolicy.semver('minor').select({ tag: '1.3.0' }, c)).toBeUndefined();
    expect(UpdatePolicy.semver('minor', { includePrerelease: true }).select({ tag: '1.3.0' }, c)?.tag).toBe('1.4.0-rc.1');
  });

  test('never chooses a quarantined version; falls back to the next best', () => {
    const policy = UpdatePolicy.semver('minor');
    expect(policy.select({ tag: '1.2.0' }, CANDIDATES, (c) => c.tag === '1.9.2')?.tag).toBe('1.3.0');
  });

  test.each([
    ['new digest on the same tag', { tag: '1.2.0', digest: 'sha256:a' }, [{ tag: '1.2.0', digest: 'sha256:b' }], 'sha256:b'],
    ['same digest', { tag: '1.2.0', digest: 'sha256:a' }, [{ tag: '1.2.0', digest: 'sha256:a' }], undefined],
    ['tag gone', { tag: '1.2.0', digest: 'sha256:a' }, [{ tag: '1.3.0', digest: 'sha256:b' }], undefined],
    ['digest unknown', { tag: '1.2.0', digest: 'sha256:a' }, [{ tag: '1.2.0' }], undefined],
  ])('digest policy: %s', (_name, current, candidates, expected) => {
    expect(UpdatePolicy.digest().select(current, candidates)?.digest).toBe(expected);
  });

  test('digest policy skips a quarantined digest', () => {
    expect(UpdatePolicy.digest().select({ tag: '1.2.0', digest: 'sha256:a' }, [{ tag: '1.2.0', digest: 'sha256:b' }], () => true)).toBeUndefined();
  });
});

describe('UpdatePolicy text form', () => {
  test.each(['semver:patch', 'semver:minor', 'semver:major', 'semver:minor+prerelease', 'pinned', 'digest'])('parse(%s).toString() round-trips', (text) => {
    expect(UpdatePolicy.parse(text).toString()).toBe(text);
    expect(JSON.stringify(UpdatePolicy.parse(text))).toBe(JSON.stringify(text));
  });

  test('throws if the text is not a policy', () => {
    expect(() => UpdatePolicy.parse('semver:minr', 'modelpilot.policy')).toThrow(new Error(
      "'modelpilot.policy' value 'semver:minr' is not a policy; use 'semver:patch', 'semver:minor', 'semver:major' (optionally '+prerelease'), 'pinned' or 'digest'"));
  });

  test('throws if the semver level is unknown', () => {
    expect(() => UpdatePolicy.semver('huge' as never)).toThrow(new Error("'updatePolicy' semver level 'huge' is unknown; use 'patch', 'minor' or 'major'"));
  });
});
