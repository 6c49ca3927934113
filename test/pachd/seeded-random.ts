/**
 * A small seeded generator (mulberry32) returning numbers in [0, 1). The contention model draws
 * from it so a test that fixes the seed and the order of arrivals gets the same stalls and the
 * same lock order on every run; Math.random cannot be seeded.
 */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let mixed = Math.imul(state ^ (state >>> 15), state | 1);
    mixed ^= mixed + Math.imul(mixed ^ (mixed >>> 7), mixed | 61);
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 4294967296;
  };
}
