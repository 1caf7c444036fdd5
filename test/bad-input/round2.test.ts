/**
 * Round 2 of the bad-input corpus (#27): each case of test/bad-input/round2-cases.ts gives exactly the outcome it
 * names — refused with its message (the field, the value, the fix), or accepted and rendered correctly.
 */
import { CASES, classify } from './round2-cases';

describe.each([...new Set(CASES.map((c) => c.kind))])('%s', (kind) => {
  test.each(CASES.filter((c) => c.kind === kind).map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const { outcome, message } = await classify(c);
    const want = 'refused' in c.expected ? { outcome: 'refused', message: c.expected.refused } : { outcome: 'accepted and correct', message: undefined };
    // a refusal's message must contain the expected text (the field, the value, the fix); the rest is the prefix
    const got = { outcome, message: want.message !== undefined && message?.includes(want.message) ? want.message : message };
    expect(got).toEqual(want);
  });
});

test('the corpus covers every class of #27 with refusals and accepted twins', () => {
  const kinds = new Set(CASES.map((c) => c.kind));
  expect([...kinds].sort()).toEqual(['Argo CD', 'Argo Rollouts', 'KEDA', 'Secret key', 'compose', 'key files', 'mirrors', 'ports', 'registry', 'updater', 'versions'].sort());
  expect(CASES.filter((c) => 'accepted' in c.expected).length).toBeGreaterThanOrEqual(6);
});
