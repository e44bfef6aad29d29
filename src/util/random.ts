/**
 * A small seeded generator for the TypeScript side (data order, test inputs, ACE init).
 * sfc32 (Chris Doty-Humphrey's small fast counter), seeded through splitmix32; normals by Box-Muller.
 */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    let s = seed >>> 0;
    const splitmix = () => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = splitmix();
    this.b = splitmix();
    this.c = splitmix();
    this.d = splitmix();
    for (let i = 0; i < 12; i++) this.nextUint32();
  }

  nextUint32(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    return t;
  }

  /** Uniform in [0, 1). */
  uniform(): number {
    return this.nextUint32() / 4294967296;
  }

  normal(): number {
    const u1 = 1 - this.uniform();
    const u2 = this.uniform();
    return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }

  normals(n: number, scale = 1): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = this.normal() * scale;
    return out;
  }

  int(lo: number, hiInclusive: number): number {
    return lo + Math.floor(this.uniform() * (hiInclusive - lo + 1));
  }

  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = Math.floor(this.uniform() * (i + 1));
      [items[i], items[j]] = [items[j], items[i]];
    }
    return items;
  }
}

/**
 * A 32-bit seed derived from a run's seed and a tuple of integers (e.g. step and micro-batch, or
 * purpose and epoch): all randomness of a step follows from (seed, position), so a resumed run
 * draws what an uninterrupted one would.
 */
export function seedFor(seed: number, ...parts: number[]): number {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  for (const v of parts) h = Math.imul(h ^ (v >>> 0), 0x85ebca6b) ^ (h >>> 13);
  return h >>> 0;
}

/**
 * A fresh seed for tests: CXRL_TEST_SEED when set, else time-based. Printed when drawn, so a
 * failing run can be repeated with CXRL_TEST_SEED.
 */
export function testSeed(): number {
  const env = process.env.CXRL_TEST_SEED;
  const seed = env ? Number(env) >>> 0 : (Date.now() ^ (process.pid << 8)) >>> 0;
  console.log(`test seed ${seed} (CXRL_TEST_SEED=${seed} repeats this run)`);
  return seed;
}
