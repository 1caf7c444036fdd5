/**
 * @internal The known name nearest to a mistyped one (case-insensitive edit distance), for "did you mean" hints.
 * Of the candidates within `maxDistance` (a number, or one per candidate), the first closest wins.
 */
export function closestName(word: string, candidates: readonly string[], maxDistance: number | ((candidate: string) => number)): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    const max = typeof maxDistance === 'number' ? maxDistance : maxDistance(c);
    if (d <= max && d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}

/** Levenshtein distance: insertions, deletions and substitutions each cost 1. */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length];
}
