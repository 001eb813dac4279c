// The one seeded pseudo-random generator of the project: bootstrap resampling in
// stats.ts, synthetic benchmark data (bench/) and synthetic test inputs all draw from it,
// so every "random" result is reproducible from its seed.

/** mulberry32: small, fast, deterministic; uniform in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A seed for one named computation under a base seed (FNV-1a of the name, mixed with
 * the base): each comparison gets its own stream, so adding or reordering comparisons
 * does not change the others' results.
 */
export function seedFor(base: number, name: string): number {
  let h = 0x811c9dc5 ^ (base >>> 0);
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}
