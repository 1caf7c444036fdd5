import { closestName } from '../../lib/core/closest-name';
import { formatKeyPath, valueAt } from '../../lib/core/key-path';

describe('formatKeyPath', () => {
  test.each([
    [['images', 0, 'policy'], undefined, 'images[0].policy'],
    [[0, 'type'], 'modelpilot:alertReceivers', 'modelpilot:alertReceivers[0].type'],
    [['host'], 'modelpilot:registry', 'modelpilot:registry.host'],
    [[], 'modelpilot:model', 'modelpilot:model'],
  ])('%j after %s reads %s', (path, base, expected) => {
    expect(formatKeyPath(path, base)).toBe(expected);
  });
});

describe('valueAt', () => {
  test('follows keys and indexes, undefined past a leaf', () => {
    const root = { images: [{ policy: 'semver:minor' }] };
    expect(valueAt(root, ['images', 0, 'policy'])).toBe('semver:minor');
    expect(valueAt(root, ['images', 0, 'policy', 'x'])).toBeUndefined();
    expect(valueAt(root, ['health'])).toBeUndefined();
  });
});

describe('closestName', () => {
  test('finds the nearest candidate, case-insensitively, within the limit', () => {
    expect(closestName('replica', ['replicas', 'selector'], 3)).toBe('replicas');
    expect(closestName('IMAGE', ['image', 'images'], 3)).toBe('image');
    expect(closestName('zzzzzzzz', ['replicas'], 3)).toBeUndefined();
  });

  test('the first of equally near candidates wins', () => {
    expect(closestName('ab', ['ax', 'ay'], 1)).toBe('ax');
  });

  test('a per-candidate limit', () => {
    const limit = (c: string): number => Math.max(2, Math.floor(c.length / 3));
    expect(closestName('inteval', ['interval'], limit)).toBe('interval');
    expect(closestName('abcd', ['wxyz'], limit)).toBeUndefined();
  });
});
