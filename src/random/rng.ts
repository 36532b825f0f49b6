/**
 * The project's one seeded random generator.
 *
 * - Generator: xoshiro128** (Blackman & Vigna), 32-bit words, period 2^128 - 1.
 * - Seeding: the 64-bit key of a stream is expanded into the four state words with splitmix64.
 * - Streams: `fork(label)` derives a child key from the parent's key and the label (FNV-1a of the
 *   label, mixed through splitmix64). A child depends only on the root seed and the chain of
 *   labels, never on how many numbers the parent has drawn, and forking does not advance the
 *   parent. So `new Rng(seed).fork('level').fork(3)` is the same stream in a fresh process and in
 *   one that has already run levels 0-2: this is what lets a lottery run resume without saving
 *   generator state. Labels are compared as strings (`fork(3)` equals `fork('3')`).
 * - normal(): Box-Muller on two uniforms, the second value of each pair cached.
 *
 * Hand-written rather than an npm package because the project needs exactly this keyed-fork
 * behaviour and a fixed, documented algorithm (results must not change with a dependency update);
 * the whole generator is a few lines.
 */
const MASK64 = (1n << 64n) - 1n;

/** splitmix64 finaliser: a bijective 64-bit mix. */
function mix64(z: bigint): bigint {
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
  return z ^ (z >> 31n);
}

/** FNV-1a 64 over the UTF-16 code units of a string. */
function hashLabel(label: string): bigint {
  let h = 0xcbf29ce484222325n;
  for (let i = 0; i < label.length; i++) {
    h ^= BigInt(label.charCodeAt(i));
    h = (h * 0x100000001b3n) & MASK64;
  }
  return h;
}

const GOLDEN = 0x9e3779b97f4a7c15n;

export class Rng {
  /** 64-bit key this stream was created from (root: from the seed; child: from parent + label). */
  private readonly key: bigint;
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;
  private spareNormal: number | null = null;

  /** `seed`: any safe integer (negative values are taken modulo 2^64). */
  constructor(seed: number, key?: bigint) {
    if (!Number.isSafeInteger(seed)) throw new RangeError(`Rng: seed must be a safe integer, got ${seed}`);
    this.key = key ?? mix64((BigInt.asUintN(64, BigInt(seed)) + GOLDEN) & MASK64);
    // splitmix64 sequence from the key fills the 128-bit state.
    let x = this.key;
    const words: number[] = [];
    for (let i = 0; i < 2; i++) {
      x = (x + GOLDEN) & MASK64;
      const z = mix64(x);
      words.push(Number(z & 0xffffffffn), Number(z >> 32n));
    }
    [this.s0, this.s1, this.s2, this.s3] = words.map((w) => w >>> 0);
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1; // the all-zero state is fixed
  }

  /** An independent child stream named by `label` (see the module comment). */
  fork(label: string | number): Rng {
    const childKey = mix64((this.key ^ mix64(hashLabel(String(label)))) & MASK64);
    return new Rng(0, childKey);
  }

  /** Next 32 random bits as an unsigned integer (xoshiro128**). */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform double in [0, 1) with 53 random bits. */
  next(): number {
    const hi = this.nextUint32() >>> 5; // 27 bits
    const lo = this.nextUint32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Standard normal N(0, 1) (Box-Muller). */
  normal(): number {
    if (this.spareNormal !== null) {
      const z = this.spareNormal;
      this.spareNormal = null;
      return z;
    }
    let u = 0;
    while (u === 0) u = this.next(); // log(0) guard
    const v = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spareNormal = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** Uniform integer in [0, n), unbiased. */
  int(n: number): number {
    if (!Number.isSafeInteger(n) || n <= 0) throw new RangeError(`Rng.int: n must be a positive integer, got ${n}`);
    if (n <= 0x100000000) {
      // rejection sampling on 32 bits: accept below the largest multiple of n
      const limit = 0x100000000 - (0x100000000 % n);
      for (;;) {
        const x = this.nextUint32();
        if (x < limit) return x % n;
      }
    }
    return Math.floor(this.next() * n);
  }

  /** Fisher-Yates shuffle in place; returns the same array. */
  shuffle<T extends { length: number; [i: number]: any }>(array: T): T {
    for (let i = array.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = array[i];
      array[i] = array[j];
      array[j] = tmp;
    }
    return array;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
