import { ImageRef } from '../../lib';
import { parseVersionTag } from '../../lib/core/image-ref';

const DIGEST = 'sha256:' + '0123456789abcdef'.repeat(4);

describe('ImageRef.parse', () => {
  test.each([
    ['registry.example.com/models/recsys:1.2.0', 'registry.example.com', 'models/recsys', '1.2.0', undefined],
    ['registry.example.com:5000/models/recsys:v1.2.0', 'registry.example.com:5000', 'models/recsys', 'v1.2.0', undefined],
    ['localhost/recsys:1.3.0-rc.1', 'localhost', 'recsys', '1.3.0-rc.1', undefined],
    ['127.0.0.1:5000/m:2.0.0', '127.0.0.1:5000', 'm', '2.0.0', undefined],
    ['recsys:1.0.0', 'docker.io', 'library/recsys', '1.0.0', undefined],
    ['acme/recsys:1.0.0', 'docker.io', 'acme/recsys', '1.0.0', undefined],
    [`ghcr.io/acme/recsys@${DIGEST}`, 'ghcr.io', 'acme/recsys', undefined, DIGEST],
    [`ghcr.io/acme/recsys:latest@${DIGEST}`, 'ghcr.io', 'acme/recsys', 'latest', DIGEST],
  ])('parses %s', (text, registry, repository, tag, digest) => {
    const ref = ImageRef.parse(text);
    expect(ref.registry).toBe(registry);
    expect(ref.repository).toBe(repository);
    expect(ref.tag).toBe(tag);
    expect(ref.digest).toBe(digest);
  });

  test('round-trips through toString and JSON', () => {
    const ref = ImageRef.parse(`registry.example.com/models/recsys:1.2.0@${DIGEST}`);
    expect(ref.toString()).toBe(`registry.example.com/models/recsys:1.2.0@${DIGEST}`);
    expect(JSON.stringify({ ref })).toBe(`{"ref":"registry.example.com/models/recsys:1.2.0@${DIGEST}"}`);
    expect(ref.name).toBe('registry.example.com/models/recsys');
  });

  test('version is the SemVer of the tag, leading v allowed', () => {
    expect(ImageRef.parse('r.io/m:v1.2.3').version?.version).toBe('1.2.3');
    expect(ImageRef.parse(`r.io/m@${DIGEST}`).version).toBeUndefined();
  });

  test('withTag drops the digest; withDigest keeps the tag', () => {
    const ref = ImageRef.parse(`r.io/m:1.0.0@${DIGEST}`);
    expect(ref.withTag('1.1.0').toString()).toBe('r.io/m:1.1.0');
    expect(ImageRef.parse('r.io/m:1.0.0').withDigest(DIGEST).toString()).toBe(`r.io/m:1.0.0@${DIGEST}`);
  });

  test.each([
    ['r.io/m:latest', "'image' tag 'latest' is mutable; pin a semver tag such as '1.2.0' or a digest"],
    ['r.io/m:stable', "'image' tag 'stable' is mutable; pin a semver tag such as '1.2.0' or a digest"],
    ['r.io/m', "'image' value 'r.io/m' has no tag; pin a semver tag such as 'r.io/m:1.2.0' or a digest"],
    ['r.io/m:1.2', "'image' tag '1.2' is not a semantic version; use a tag such as '1.2.0', 'v1.2.0' or '1.3.0-rc.1', or pin a digest"],
    ['r.io/m@sha256:xyz', "'image' digest 'sha256:xyz' is malformed; a digest is 'sha256:' followed by 64 lowercase hex characters"],
    ['r.io/Models/m:1.0.0', "'image' repository 'Models/m' in 'r.io/Models/m:1.0.0' is malformed; use lowercase letters, digits and '.', '_', '-' separators"],
    ['r.io/m:1.0.0 x', "'image' value 'r.io/m:1.0.0 x' contains white space; an image reference has none"],
    ['', "'image' is empty; give an image reference such as 'registry.example.com/models/recsys:1.2.0'"],
  ])('throws if the reference is %j', (text, message) => {
    expect(() => ImageRef.parse(text)).toThrow(new Error(message));
  });

  test('names the field in errors and allows mutable tags only when asked', () => {
    expect(() => ImageRef.parse('r.io/m:latest', { field: 'model.image' })).toThrow(/^'model.image' tag 'latest' is mutable/);
    expect(ImageRef.parse('r.io/m:latest', { allowMutableTag: true }).tag).toBe('latest');
    expect(ImageRef.tryParse('r.io/m:latest')).toBeUndefined();
    expect(ImageRef.tryParse('r.io/m:1.0.0')?.tag).toBe('1.0.0');
  });
});

describe('parseVersionTag', () => {
  test.each([
    ['1.2.0', '1.2.0'], ['v1.2.0', '1.2.0'], ['1.3.0-rc.1', '1.3.0-rc.1'], ['1.2', undefined], ['latest', undefined], ['vv1.0.0', undefined], ['=1.0.0', undefined],
  ])('%s -> %s', (tag, expected) => {
    expect(parseVersionTag(tag)?.version).toBe(expected);
  });
});
