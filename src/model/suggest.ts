// "Did you mean" suggestions for unknown keys and names in user files (profiles, figure specs).

export function levenshtein(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0];
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j];
      prev[j] = Math.min(prev[j] + 1, prev[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length];
}

/** The candidate nearest to `word` when it is near enough to be a typo of it, else undefined. */
export function nearest(word: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  // Long input (a pasted line) is never a typo of a short name; skip the quadratic distance.
  if (word.length > 200) return undefined;
  for (const c of candidates) {
    const d = levenshtein(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  return bestDistance <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

/** ` (did you mean "x"?)` for the nearest candidate, or a list of valid keys when none is near. */
export function suggest(word: string, candidates: string[]): string {
  if (candidates.length === 0) return '';
  const best = nearest(word, candidates);
  if (best !== undefined) return ` (did you mean "${best}"?)`;
  return ` (valid keys: ${[...candidates].sort().join(', ')})`;
}
