/**
 * The matrix-vector products of the Lanczos methods (spectrum.ts) in WebAssembly SIMD:
 * assembly/spectral.ts, built by scripts/build-wasm.mjs as dist/wasm/spectral.wasm.
 *
 * Why wasm: the products are the whole cost of a large layer's spectrum (about 50 Lanczos steps,
 * each reading all the weights twice), and V8 does not vectorise plain JavaScript loops; the wasm
 * kernels convert four f32 weights at a time to two f64x2 and accumulate in Float64 (measured in
 * docs/analysis.md). The module is small and separate from the training engine's: its own
 * growable (not shared) memory, compiled synchronously because analyzeLayer is synchronous.
 *
 * Memory: one user at a time (a block's products, or one graph being built). `blockProducts` copies the block's arrays (CSR and CSC, or the dense
 * weights) in once, above the module's data, and the memory grows to the largest block seen (about
 * the size of that block's indices and weights; a dense layer is not transposed here). Creating the
 * next block's products invalidates the previous ones.
 *
 * When the file is missing (sources run before a build) the plain TypeScript products in
 * spectrum.ts are used; they are also the reference the tests compare these kernels with.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../paths.js';
import type { EdgeWeights } from './types.js';

/** The few WebAssembly API types used here (lib ES2022 has no declarations for them). */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: Record<string, never>) => { exports: Record<string, unknown> };
}
const WebAssemblyApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

type Kernel = (...args: number[]) => void;
interface SpectralExports {
  memory: WasmMemory;
  heapBase(): number;
  denseDotsF32: Kernel;
  denseDotsF64: Kernel;
  denseTransposedF32: Kernel;
  denseTransposedF64: Kernel;
  csrDotsF32: Kernel;
  csrDotsF64: Kernel;
  csrDotsOnes: Kernel;
  edgesOfF32(s: number, rows: number, cols: number, ptr: number, out: number): number;
  countIndices: Kernel;
  absF32(x: number, n: number): number;
  cscOf: Kernel;
  reorthogonalise: Kernel;
}

const PAGE = 65536;
/**
 * Most memory one use may take (the module's memory stays at its largest size, per thread).
 * Larger layers take the TypeScript path: the same results, more slowly. vgg19's largest layers
 * need about 19 MB; a 25088 x 4096 float32 layer's products (411 MB) still fit, its edge scan not.
 */
let WASM_MAX_BYTES = 512 * 1024 * 1024;

/** Sets that limit (tests use a small one to exercise the fallbacks); returns the previous one. */
export function setWasmMemoryLimit(bytes: number): number {
  const previous = WASM_MAX_BYTES;
  WASM_MAX_BYTES = bytes;
  return previous;
}

/** The instantiated module and a bump allocator over its memory (reset for every block). */
class SpectralWasm {
  private top: number;
  constructor(readonly exports: SpectralExports) {
    this.top = exports.heapBase();
  }
  reset(): void {
    this.top = this.exports.heapBase();
  }
  /** `bytes` of memory, 16-byte aligned; grows the memory when needed (earlier views then detach). */
  alloc(bytes: number): number {
    const ptr = this.top;
    if (ptr + bytes > WASM_MAX_BYTES) throw new RangeError(`spectral wasm: ${ptr + bytes} bytes exceed the ${WASM_MAX_BYTES}-byte limit`);
    this.top = ptr + Math.ceil(bytes / 16) * 16;
    const have = this.exports.memory.buffer.byteLength;
    if (this.top > have) this.exports.memory.grow(Math.ceil((this.top - have) / PAGE));
    return ptr;
  }
  /** Copies an array in; returns its pointer. */
  copyIn(a: Int32Array | Float32Array | Float64Array): number {
    const ptr = this.alloc(a.byteLength);
    new Uint8Array(this.exports.memory.buffer, ptr, a.byteLength).set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
    return ptr;
  }
  f64(ptr: number, n: number): Float64Array {
    return new Float64Array(this.exports.memory.buffer, ptr, n);
  }
}

let loaded: SpectralWasm | null | undefined;
let enabled = true;

function wasmPath(): string {
  return join(packageRoot(), 'dist', 'wasm', 'spectral.wasm');
}

/** The module, or null when it is not built or switched off. */
export function spectralWasm(): SpectralWasm | null {
  if (!enabled) return null;
  if (loaded === undefined) {
    const path = wasmPath();
    loaded = existsSync(path)
      ? new SpectralWasm(new WebAssemblyApi.Instance(new WebAssemblyApi.Module(readFileSync(path)), {}).exports as unknown as SpectralExports)
      : null;
  }
  return loaded;
}

/** Whether the wasm kernels are built and in use. */
export function wasmKernelsAvailable(): boolean {
  return spectralWasm() !== null;
}

/** Switches the wasm kernels on or off (tests compare both; off = the TypeScript code). */
export function useWasmKernels(on: boolean): void {
  enabled = on;
}

/**
 * The edge set of a float32 support [rows, cols] (entries != 0) in CSR form with the column
 * degrees, scanned four entries at a time in wasm; null when the module is unavailable. The wasm
 * memory briefly holds the support and up to rows * cols indices (released for the next user).
 */
export function wasmEdgesOfF32(
  support: Float32Array,
  rows: number,
  cols: number,
): { rowPtr: Int32Array; colIdx: Int32Array; degreeR: Int32Array } | null {
  const m = spectralWasm();
  if (m === null || 8 * rows * cols + 4 * (rows + cols) + 64 > WASM_MAX_BYTES) return null;
  m.reset();
  const s = m.copyIn(support);
  const ptr = m.alloc(4 * (rows + 1));
  const out = m.alloc(4 * (rows * cols + 4));
  const deg = m.alloc(4 * cols);
  const edges = m.exports.edgesOfF32(s, rows, cols, ptr, out);
  m.exports.countIndices(out, edges, deg, cols);
  const buffer = m.exports.memory.buffer;
  const result = {
    rowPtr: new Int32Array(buffer, ptr, rows + 1).slice(),
    colIdx: new Int32Array(buffer, out, edges).slice(),
    degreeR: new Int32Array(buffer, deg, cols).slice(),
  };
  m.reset();
  return result;
}

/**
 * out = |values| for float32 values (out may be values itself), by sign bits in wasm; returns
 * whether some value is not finite and whether some is zero, or null when the module is unavailable.
 */
export function wasmAbsF32(values: Float32Array, out: Float32Array): { nonFinite: boolean; zero: boolean } | null {
  const m = spectralWasm();
  if (m === null || values.byteLength > WASM_MAX_BYTES) return null;
  m.reset();
  const p = m.copyIn(values);
  const flags = m.exports.absF32(p, values.length);
  out.set(new Float32Array(m.exports.memory.buffer, p, values.length));
  m.reset();
  return { nonFinite: (flags & 1) !== 0, zero: (flags & 2) !== 0 };
}

/** Frees the wasm memory for the next block (what was allocated before becomes invalid). */
export function releaseWasmMemory(): void {
  spectralWasm()?.reset();
}

/** A growing orthonormal basis of vectors of length n (Lanczos vectors). */
export interface Basis {
  readonly count: number;
  /** appends a copy of v */
  push(v: Float64Array): void;
  /** x -= sum_i (q_i . x) q_i over the basis, twice (classical Gram-Schmidt with reorthogonalisation) */
  reorthogonalise(x: Float64Array): void;
}

/**
 * A basis kept contiguous in wasm memory ([capacity, n] f64, doubling when full), so that the
 * reorthogonalisation is two SIMD matrix-vector products; null when the module is unavailable.
 * Allocated after the block's products (see releaseWasmMemory).
 */
export function wasmBasis(n: number): Basis | null {
  const m = spectralWasm();
  if (m === null || 8 * (n + 1) * 16 + 8 * n > WASM_MAX_BYTES / 4) return null;
  let capacity = 16;
  let q = m.alloc(8 * n * capacity);
  let c = m.alloc(8 * capacity);
  const x = m.alloc(8 * n);
  let count = 0;
  // Past the memory limit the basis moves to JS arrays (same arithmetic order: CGS twice).
  let plain: Float64Array[] | null = null;
  return {
    get count() {
      return count;
    },
    push(v) {
      if (plain !== null) {
        plain.push(v.slice());
        count++;
        return;
      }
      if (count === capacity) {
        let moved: number;
        try {
          moved = m.alloc(8 * n * 2 * capacity + 8 * 2 * capacity);
        } catch (err) {
          if (!(err instanceof RangeError)) throw err;
          plain = [];
          for (let i = 0; i < count; i++) plain.push(m.f64(q + 8 * n * i, n).slice());
          plain.push(v.slice());
          count++;
          return;
        }
        capacity *= 2;
        new Uint8Array(m.exports.memory.buffer).copyWithin(moved, q, q + 8 * n * count);
        q = moved;
        c = moved + 8 * n * capacity;
      }
      m.f64(q + 8 * n * count, n).set(v);
      count++;
    },
    reorthogonalise(v) {
      if (count === 0) return;
      if (plain !== null) {
        reorthogonaliseTs(v, plain);
        return;
      }
      const xs = m.f64(x, n);
      xs.set(v);
      m.exports.reorthogonalise(q, count, n, x, c);
      v.set(xs);
    },
  };
}

/**
 * x -= sum_i (q_i . x) q_i over the basis, twice (classical Gram-Schmidt with reorthogonalisation):
 * the TypeScript version, for bases in JS arrays (spectrum.ts without wasm, and past the limit).
 */
export function reorthogonaliseTs(x: Float64Array, basis: Float64Array[]): void {
  const n = x.length;
  const c = new Float64Array(basis.length);
  for (let pass = 0; pass < 2; pass++) {
    for (let i = 0; i < basis.length; i++) {
      const q = basis[i];
      let s = 0;
      for (let t = 0; t < n; t++) s += q[t] * x[t];
      c[i] = s;
    }
    for (let i = 0; i < basis.length; i++) {
      const q = basis[i];
      const ci = c[i];
      for (let t = 0; t < n; t++) x[t] -= ci * q[t];
    }
  }
}

/** The products a Lanczos method needs from one block B [rows, cols] (x, y: Float64). */
export interface BlockProducts {
  /** y = B x  (x: [cols], y: [rows]) */
  multiply(x: Float64Array, y: Float64Array): void;
  /** z = B^T y  (y: [rows], z: [cols]) */
  multiplyTransposed(y: Float64Array, z: Float64Array): void;
  /** w = B B^T q (rows <= cols) or B^T B q, through a vector of the longer side */
  gram(q: Float64Array, w: Float64Array): void;
}

/** A block as the products need it: CSR (and its CSC), or dense row-major weights. */
export interface ProductBlock {
  rows: number;
  cols: number;
  rowPtr: Int32Array;
  colIdx: Int32Array;
  /** edge weights, null = all 1 */
  w: EdgeWeights | null;
  /** every row holds every column (colIdx is then 0..cols-1 in each row and is not read) */
  dense: boolean;
}

/** The wasm products of a block (its CSC is built in wasm memory), or null when the module is unavailable. */
export function wasmBlockProducts(b: ProductBlock): BlockProducts | null {
  const m = spectralWasm();
  const { rows, cols } = b;
  const nnz = b.colIdx.length;
  const weightBytes = b.w === null ? 0 : b.w.BYTES_PER_ELEMENT;
  const blockBytes = b.dense && b.w !== null ? nnz * weightBytes : 2 * (4 * (rows + cols + 2) + nnz * (4 + weightBytes));
  // room left for the Lanczos bases too
  if (m === null || 8 * (rows + cols) + blockBytes > WASM_MAX_BYTES / 2) return null;
  m.reset();
  const k = m.exports;
  const x = m.alloc(8 * cols);
  const y = m.alloc(8 * rows);
  let forward: () => void;
  let backward: () => void;
  if (b.dense && b.w !== null) {
    const a = m.copyIn(b.w);
    const f32 = b.w instanceof Float32Array;
    const dots = f32 ? k.denseDotsF32 : k.denseDotsF64;
    const trans = f32 ? k.denseTransposedF32 : k.denseTransposedF64;
    forward = () => dots(a, rows, cols, x, y);
    backward = () => trans(a, rows, cols, y, x);
  } else {
    const rowPtr = m.copyIn(b.rowPtr);
    const colIdx = m.copyIn(b.colIdx);
    const w = b.w === null ? 0 : m.copyIn(b.w);
    const f32 = b.w instanceof Float32Array;
    const colPtr = m.alloc(4 * (cols + 1));
    const rowIdx = m.alloc(4 * nnz);
    const cw = b.w === null ? 0 : m.alloc((f32 ? 4 : 8) * nnz);
    k.cscOf(rowPtr, colIdx, w, f32 ? 1 : 0, rows, cols, colPtr, rowIdx, cw);
    if (b.w === null) {
      forward = () => k.csrDotsOnes(rowPtr, colIdx, rows, x, y);
      backward = () => k.csrDotsOnes(colPtr, rowIdx, cols, y, x);
    } else {
      const dots = f32 ? k.csrDotsF32 : k.csrDotsF64;
      forward = () => dots(rowPtr, colIdx, w, rows, x, y);
      backward = () => dots(colPtr, rowIdx, cw, cols, y, x);
    }
  }
  // Views of x and y, made again when a later allocation (a Lanczos basis) grew the memory.
  let xs = m.f64(x, cols);
  let ys = m.f64(y, rows);
  const views = () => {
    if (xs.buffer !== m.exports.memory.buffer) {
      xs = m.f64(x, cols);
      ys = m.f64(y, rows);
    }
  };
  return {
    multiply(xin, yout) {
      views();
      xs.set(xin);
      forward();
      yout.set(ys);
    },
    multiplyTransposed(yin, zout) {
      views();
      ys.set(yin);
      backward();
      zout.set(xs);
    },
    gram(q, w) {
      views();
      if (rows <= cols) {
        ys.set(q);
        backward();
        forward();
        w.set(ys);
      } else {
        xs.set(q);
        forward();
        backward();
        w.set(xs);
      }
    },
  };
}
