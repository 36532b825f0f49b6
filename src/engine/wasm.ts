/**
 * The wasm backend: AssemblyScript kernels (assembly/) compiled to WebAssembly SIMD, running on one
 * shared memory (src/engine/memory.ts) and split across worker threads (src/engine/pool.ts).
 *
 * How kernels are split. A split kernel is a round of tasks that the calling thread and the workers
 * claim from a shared counter (src/engine/pool.ts), so a thread held up by another process leaves
 * its share to the others. Tasks depend only on sizes and the thread count, and each writes its own
 * outputs with buffers chosen by task index, so repeated runs are bit-identical:
 * - sgemm: C is cut into column blocks (or row blocks when it is taller than wide), two per thread
 *   for large products. Each C element is computed by the same operations whatever the cut, so
 *   results do not depend on the thread count either.
 * - sparse products: compressed rows are cut into ranges of about equal nonzero counts, only for
 *   large products (small sparse pieces lose more to the hand-off than they gain).
 * - convolutions: the batch is cut into image ranges (4 per thread); each task has its own column
 *   buffer in the workspace and, in the backward pass, its own weight-gradient partial, summed in
 *   task order.
 * - the rest (pooling, elementwise, loss, batch norm) runs on the calling thread; optimiser steps
 *   are cut into ranges when a tensor is large.
 *
 * Every array handed to these kernels must be a view into the engine's memory (from alloc /
 * allocInt32, or a subarray of one); Float64Array is not supported (use the reference backend).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../errors.js';
import { packageRoot } from '../paths.js';
import { convOutputSize, type Conv2dGeometry, type FloatArray, type Kernels, type MaskedWeight } from './kernels.js';
import { EngineMemory } from './memory.js';
import { ThreadPool, type Task } from './pool.js';
import { WebAssemblyApi, type WasmGlobal, type WasmModule } from './wasm-api.js';

/**
 * Below this density products with a masked weight run sparse. Measured with
 * `npm run bench -- engine` (masked_forward_d*): see docs/engine.md.
 */
export const DEFAULT_SPARSE_BELOW_DENSITY = 0.45;

/** Products smaller than this many flops run on one thread (a split costs a few microseconds). */
const PARALLEL_MIN_FLOPS = 400_000;
/**
 * The same for sparse products, whose pieces are small and memory-bound: splitting lenet's 5%
 * layers across two threads made a training step slower than on one (measured, docs/engine.md).
 */
const PARALLEL_MIN_SPARSE_FLOPS = 8_000_000;
/** Optimiser steps on tensors larger than this are split across threads. */
const PARALLEL_MIN_ELEMENTS = 1 << 20;
/** sgemm micro-tile (assembly/gemm.ts): splits are aligned to it. */
const MR = 4;
const NR = 8;

export interface WasmKernelOptions {
  /** threads including the calling one (>= 1) */
  threads: number;
  /** masked weights with density below this run sparse (0: never, >1: always) */
  sparseBelowDensity?: number;
}

type Exports = Record<string, (...args: number[]) => number> & { GEMM_SCRATCH_BYTES: WasmGlobal };

/** The wasm exports the workers may be asked to run. */
const WORKER_FUNCTIONS = [
  'sgemm', 'spmmRows', 'sparseWeightGrad', 'csrGather', 'cscGather', 'convForward', 'convBackward', 'im2col',
  'adamStep', 'sgdStep', 'transpose',
];

function wasmPath(): string {
  return join(packageRoot(), 'dist', 'wasm', 'engine.wasm');
}

let compiled: WasmModule | undefined;

function compileModule(): WasmModule {
  if (compiled) return compiled;
  const path = wasmPath();
  if (!existsSync(path)) {
    throw new UserError(`${path}: the compiled WebAssembly engine is missing; run \`npm run build\` first`);
  }
  compiled = new WebAssemblyApi.Module(readFileSync(path));
  return compiled;
}

function need(array: ArrayLike<number>, length: number, what: string): void {
  if (array.length < length) throw new Error(`wasm kernels: ${what} has ${array.length} elements, needs ${length}`);
}

/** [start, end) of part t when `count` items are cut into `parts` nearly equal ranges. */
function range(count: number, parts: number, t: number, align = 1): [number, number] {
  const units = Math.ceil(count / align);
  const start = Math.floor((units * t) / parts) * align;
  const end = Math.min(count, Math.floor((units * (t + 1)) / parts) * align);
  return [Math.min(start, count), end];
}

/** A masked weight as the wasm backend keeps it. */
class WasmMaskedWeight implements MaskedWeight {
  readonly density: number;
  readonly sparse: boolean;
  /** engine copy of the mask [rows, cols] */
  mask: Float32Array | null;
  /** CSR (rows) and CSC (columns) copies when sparse */
  rowPtr: Int32Array | null = null;
  colIdx: Int32Array | null = null;
  vals: Float32Array | null = null;
  colPtr: Int32Array | null = null;
  rowIdx: Int32Array | null = null;
  valsT: Float32Array | null = null;
  /** row ranges [start, end) per thread for the CSR and CSC products, balanced by nonzeros */
  rowSplits: Array<[number, number]> = [];
  colSplits: Array<[number, number]> = [];
  /** batch-contiguous scratch for the linear sparse products, grown on demand */
  scratchA: Float32Array | null = null;
  scratchB: Float32Array | null = null;
  disposed = false;

  constructor(
    private readonly kernels: WasmKernels,
    readonly W: Float32Array,
    mask: Float32Array,
    readonly rows: number,
    readonly cols: number,
    sparseBelow: number,
  ) {
    const size = rows * cols;
    this.mask = kernels.alloc(size);
    let kept = 0;
    for (let i = 0; i < size; i++) {
      const keep = mask[i] !== 0;
      this.mask[i] = keep ? 1 : 0;
      if (keep) kept++;
    }
    this.density = size === 0 ? 0 : kept / size;
    this.sparse = size > 0 && this.density < sparseBelow;
    if (this.sparse) this.compress(kept);
  }

  /** Builds CSR and CSC index arrays of the mask and their per-thread row ranges. */
  private compress(nnz: number): void {
    const { rows, cols, kernels } = this;
    const mask = this.mask!;
    const rowPtr = kernels.allocInt32(rows + 1);
    const colIdx = kernels.allocInt32(Math.max(1, nnz));
    const colPtr = kernels.allocInt32(cols + 1);
    const rowIdx = kernels.allocInt32(Math.max(1, nnz));
    let e = 0;
    for (let r = 0; r < rows; r++) {
      rowPtr[r] = e;
      for (let c = 0; c < cols; c++) if (mask[r * cols + c] !== 0) colIdx[e++] = c;
    }
    rowPtr[rows] = e;
    const counts = new Int32Array(cols + 1);
    for (let i = 0; i < nnz; i++) counts[colIdx[i] + 1]++;
    for (let c = 0; c < cols; c++) counts[c + 1] += counts[c];
    colPtr.set(counts);
    const fill = counts.slice(0, cols);
    for (let r = 0; r < rows; r++) {
      for (let i = rowPtr[r]; i < rowPtr[r + 1]; i++) rowIdx[fill[colIdx[i]]++] = r;
    }
    this.rowPtr = rowPtr;
    this.colIdx = colIdx;
    this.colPtr = colPtr;
    this.rowIdx = rowIdx;
    this.vals = kernels.alloc(Math.max(1, nnz));
    this.valsT = kernels.alloc(Math.max(1, nnz));
    this.rowSplits = balancedSplits(rowPtr, rows, kernels.threads);
    this.colSplits = balancedSplits(colPtr, cols, kernels.threads);
    this.refreshValues();
  }

  refreshValues(): void {
    if (!this.sparse || this.disposed) return;
    this.kernels.gatherSparseValues(this);
  }

  /** Scratch arrays of at least a and b elements. */
  scratch(a: number, b: number): [Float32Array, Float32Array] {
    if (this.scratchA === null || this.scratchA.length < a) {
      if (this.scratchA) this.kernels.free(this.scratchA);
      this.scratchA = this.kernels.alloc(a);
    }
    if (this.scratchB === null || this.scratchB.length < b) {
      if (this.scratchB) this.kernels.free(this.scratchB);
      this.scratchB = this.kernels.alloc(b);
    }
    return [this.scratchA, this.scratchB];
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const a of [this.mask, this.rowPtr, this.colIdx, this.vals, this.colPtr, this.rowIdx, this.valsT, this.scratchA, this.scratchB]) {
      if (a) this.kernels.free(a);
    }
    this.mask = this.rowPtr = this.colIdx = this.colPtr = this.rowIdx = null;
    this.vals = this.valsT = this.scratchA = this.scratchB = null;
  }
}

/** Cuts `count` compressed rows into `parts` ranges with about equal nonzeros. */
function balancedSplits(ptr: Int32Array, count: number, parts: number): Array<[number, number]> {
  const total = ptr[count];
  const splits: Array<[number, number]> = [];
  let start = 0;
  for (let t = 0; t < parts; t++) {
    let end = start;
    const target = (total * (t + 1)) / parts;
    while (end < count && (t === parts - 1 || ptr[end + 1] <= target)) end++;
    if (t === parts - 1) end = count;
    splits.push([start, end]);
    start = end;
  }
  return splits;
}

class WasmKernels implements Kernels {
  readonly name = 'wasm' as const;
  readonly threads: number;
  readonly mem: EngineMemory;
  private readonly x: Exports;
  private pool: ThreadPool | null = null;
  private readonly sparseBelow: number;
  private closed = false;

  constructor(module: WasmModule, opts: WasmKernelOptions) {
    this.threads = Math.max(1, Math.floor(opts.threads));
    this.sparseBelow = opts.sparseBelowDensity ?? DEFAULT_SPARSE_BELOW_DENSITY;
    this.mem = new EngineMemory();
    const instance = new WebAssemblyApi.Instance(module, { env: { memory: this.mem.memory } });
    this.x = instance.exports as unknown as Exports;
    const bytes = this.scratchBytes();
    this.x.setThreadScratch(this.mem.allocate(bytes), bytes);
    // methods stay usable when taken off the object (const { sgemm } = kernels), as in the reference
    const self = this as unknown as Record<string, unknown>;
    for (const name of Object.getOwnPropertyNames(WasmKernels.prototype)) {
      const value = self[name];
      if (name !== 'constructor' && typeof value === 'function') self[name] = value.bind(this);
    }
  }

  scratchBytes(): number {
    return this.x.GEMM_SCRATCH_BYTES.value as number;
  }

  async startWorkers(module: WasmModule): Promise<void> {
    if (this.threads <= 1) return;
    const bytes = this.scratchBytes();
    this.pool = await ThreadPool.start(this.threads - 1, module, this.mem.memory, WORKER_FUNCTIONS, () => [this.mem.allocate(bytes), bytes]);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.pool) await this.pool.close();
    this.pool = null;
  }

  // ---- memory --------------------------------------------------------------------------------

  alloc(length: number): Float32Array {
    return this.mem.float32(this.mem.allocate(length * 4), length);
  }

  allocInt32(length: number): Int32Array {
    return this.mem.int32(this.mem.allocate(length * 4), length);
  }

  free(array: Float32Array | Int32Array): void {
    if (!this.mem.owns(array)) throw new Error('wasm kernels: free() of an array that is not engine memory');
    this.mem.release(array.byteOffset);
  }

  /** Byte offset of an engine array (0 for null). */
  private p(array: FloatArray | Int32Array | null): number {
    if (array === null) return 0;
    if (array instanceof Float64Array) throw new Error('wasm kernels: Float64Array is not supported (use the reference backend)');
    if (!this.mem.owns(array)) throw new Error('wasm kernels: array is not engine memory (allocate it with kernels.alloc)');
    return array.byteOffset;
  }

  /**
   * Runs a round of tasks: on this thread alone when there is one task or no worker, else claimed
   * by this thread and the workers from a shared counter (src/engine/pool.ts).
   */
  private run(tasks: Task[]): void {
    if (this.closed) throw new Error('wasm kernels: used after close()');
    const pool = this.pool;
    if (tasks.length === 1 || pool === null) {
      for (const task of tasks) this.x[task.fn](...task.args);
      return;
    }
    pool.run(tasks, this.callTask);
  }

  private readonly callTask = (fn: string, args: Float64Array, n: number): void => {
    this.x[fn](...Array.from(args.subarray(0, n)));
  };

  // ---- dense linear algebra -------------------------------------------------------------------

  sgemm(
    transA: boolean, transB: boolean, M: number, N: number, K: number,
    alpha: number, A: FloatArray, B: FloatArray, beta: number, C: FloatArray,
  ): void {
    need(A, M * K, 'A');
    need(B, K * N, 'B');
    need(C, M * N, 'C');
    this.gemm(transA, transB, M, N, K, alpha, this.p(A), transA ? M : K, this.p(B), transB ? K : N, beta, this.p(C), N);
  }

  /** sgemm on byte offsets with explicit leading dimensions, split across threads. */
  private gemm(
    transA: boolean, transB: boolean, M: number, N: number, K: number,
    alpha: number, a: number, lda: number, b: number, ldb: number, beta: number, c: number, ldc: number,
  ): void {
    const tA = transA ? 1 : 0;
    const tB = transB ? 1 : 0;
    const flops = 2 * M * N * K;
    // two pieces per thread for large products, so a thread that is held up by another process
    // leaves its second piece to the others
    let parts = flops < PARALLEL_MIN_FLOPS || this.threads === 1 ? 1 : flops < 4e6 ? this.threads : 2 * this.threads;
    const byColumns = N >= M;
    const extent = byColumns ? N : M;
    const align = byColumns ? NR : MR;
    parts = Math.max(1, Math.min(parts, Math.floor(extent / align)));
    if (parts === 1) {
      this.x.sgemm(tA, tB, M, N, K, alpha, a, lda, b, ldb, beta, c, ldc);
      return;
    }
    const tasks: Task[] = [];
    for (let t = 0; t < parts; t++) {
      const [s, e] = range(extent, parts, t, align);
      if (byColumns) {
        const bOff = b + 4 * (transB ? s * ldb : s);
        tasks.push({ fn: 'sgemm', args: [tA, tB, M, e - s, K, alpha, a, lda, bOff, ldb, beta, c + 4 * s, ldc] });
      } else {
        const aOff = a + 4 * (transA ? s : s * lda);
        tasks.push({ fn: 'sgemm', args: [tA, tB, e - s, N, K, alpha, aOff, lda, b, ldb, beta, c + 4 * s * ldc, ldc] });
      }
    }
    this.run(tasks);
  }

  // ---- masked weights -------------------------------------------------------------------------

  createMaskedWeight(W: FloatArray, mask: FloatArray, rows: number, cols: number): MaskedWeight {
    need(W, rows * cols, 'W');
    need(mask, rows * cols, 'mask');
    this.p(W);
    return new WasmMaskedWeight(this, W as Float32Array, mask as Float32Array, rows, cols, this.sparseBelow);
  }

  private asWasm(mw: MaskedWeight): WasmMaskedWeight {
    if (!(mw instanceof WasmMaskedWeight)) throw new Error('wasm kernels: the MaskedWeight was made by another backend');
    if (mw.disposed) throw new Error('wasm kernels: the MaskedWeight was disposed');
    return mw;
  }

  /** Re-reads W into the compressed copies (both, split across threads). */
  gatherSparseValues(mw: WasmMaskedWeight): void {
    const w = this.p(mw.W);
    const tasks: Task[] = [];
    const parts = mw.rows * mw.cols < PARALLEL_MIN_ELEMENTS ? 1 : this.threads;
    for (let t = 0; t < parts; t++) {
      const [r0, r1] = range(mw.rows, parts, t);
      const [c0, c1] = range(mw.cols, parts, t);
      tasks.push({ fn: 'csrGather', args: [w, mw.cols, this.p(mw.rowPtr), this.p(mw.colIdx), this.p(mw.vals), r0, r1] });
      tasks.push({ fn: 'cscGather', args: [w, mw.cols, this.p(mw.colPtr), this.p(mw.rowIdx), this.p(mw.valsT), c0, c1] });
    }
    if (parts === 1) {
      this.run([tasks[0]]);
      this.run([tasks[1]]);
    } else {
      this.run(tasks.filter((_, i) => i % 2 === 0));
      this.run(tasks.filter((_, i) => i % 2 === 1));
    }
  }

  /** Y[r, 0:n] = Σ vals · X[idx, 0:n] (+ bias) over compressed rows, split by the given ranges. */
  private spmm(
    ptr: Int32Array, idx: Int32Array, vals: Float32Array, splits: Array<[number, number]>, nnz: number,
    X: number, ldx: number, n: number, Y: number, ldy: number, bias: number,
  ): void {
    const parallel = 2 * nnz * n >= PARALLEL_MIN_SPARSE_FLOPS && this.threads > 1;
    const ranges = parallel ? splits : [[0, splits[splits.length - 1][1]] as [number, number]];
    this.run(ranges.map(([r0, r1]) => ({
      fn: 'spmmRows', args: [this.p(ptr), this.p(idx), this.p(vals), r0, r1, X, ldx, n, Y, ldy, bias, 0],
    })));
  }

  maskedForward(mw: MaskedWeight, X: FloatArray, N: number, bias: FloatArray | null, Y: FloatArray): void {
    const m = this.asWasm(mw);
    need(X, N * m.cols, 'X');
    need(Y, N * m.rows, 'Y');
    if (bias !== null) need(bias, m.rows, 'bias');
    if (!m.sparse) {
      // Y[N, rows] = X[N, cols] · Wᵀ
      this.gemm(false, true, N, m.rows, m.cols, 1, this.p(X), m.cols, this.p(m.W), m.cols, 0, this.p(Y), m.rows);
      if (bias !== null) this.x.addBias(this.p(Y), this.p(bias), N, m.rows, 1);
      return;
    }
    // batch-contiguous: Xt[cols, N], Yt[rows, N] = W · Xt (+ bias), Y = Ytᵀ
    const [xt, yt] = m.scratch(m.cols * N, m.rows * N);
    this.x.transpose(this.p(X), N, m.cols, m.cols, this.p(xt), N);
    this.spmm(m.rowPtr!, m.colIdx!, m.vals!, m.rowSplits, m.rowPtr![m.rows], this.p(xt), N, N, this.p(yt), N, this.p(bias));
    this.x.transpose(this.p(yt), m.rows, N, N, this.p(Y), m.rows);
  }

  maskedBackwardInput(mw: MaskedWeight, dY: FloatArray, N: number, dX: FloatArray): void {
    const m = this.asWasm(mw);
    need(dY, N * m.rows, 'dY');
    need(dX, N * m.cols, 'dX');
    if (!m.sparse) {
      // dX[N, cols] = dY[N, rows] · W[rows, cols]
      this.gemm(false, false, N, m.cols, m.rows, 1, this.p(dY), m.rows, this.p(m.W), m.cols, 0, this.p(dX), m.cols);
      return;
    }
    // dXt[cols, N] = Wᵀ · dYt via the column-compressed copy
    const [dyt, dxt] = m.scratch(m.rows * N, m.cols * N);
    this.x.transpose(this.p(dY), N, m.rows, m.rows, this.p(dyt), N);
    this.spmm(m.colPtr!, m.rowIdx!, m.valsT!, m.colSplits, m.colPtr![m.cols], this.p(dyt), N, N, this.p(dxt), N, 0);
    this.x.transpose(this.p(dxt), m.cols, N, N, this.p(dX), m.cols);
  }

  maskedBackwardWeight(mw: MaskedWeight, dY: FloatArray, X: FloatArray, N: number, dW: FloatArray): void {
    const m = this.asWasm(mw);
    need(dY, N * m.rows, 'dY');
    need(X, N * m.cols, 'X');
    need(dW, m.rows * m.cols, 'dW');
    if (!m.sparse) {
      // dW[rows, cols] = dY[N, rows]ᵀ · X[N, cols], then zero outside the mask
      this.gemm(true, false, m.rows, m.cols, N, 1, this.p(dY), m.rows, this.p(X), m.cols, 0, this.p(dW), m.cols);
      this.x.applyMask(this.p(dW), this.p(m.mask), m.rows * m.cols);
      return;
    }
    // only the kept positions: dW[r, c] = dYt[r, :] · Xt[c, :]
    dW.fill(0, 0, m.rows * m.cols);
    const [dyt, xt] = m.scratch(m.rows * N, m.cols * N);
    this.x.transpose(this.p(dY), N, m.rows, m.rows, this.p(dyt), N);
    this.x.transpose(this.p(X), N, m.cols, m.cols, this.p(xt), N);
    const nnz = m.rowPtr![m.rows];
    const parallel = 2 * nnz * N >= PARALLEL_MIN_SPARSE_FLOPS && this.threads > 1;
    const ranges = parallel ? m.rowSplits : [[0, m.rows] as [number, number]];
    this.run(ranges.map(([r0, r1]) => ({
      fn: 'sparseWeightGrad',
      args: [this.p(m.rowPtr), this.p(m.colIdx), r0, r1, this.p(dyt), N, this.p(xt), N, N, this.p(dW), m.cols, 0],
    })));
  }

  // ---- convolution ----------------------------------------------------------------------------

  private geometryArgs(g: Conv2dGeometry): number[] {
    return [g.cIn, g.h, g.w, g.cOut, g.kh, g.kw, g.strideH, g.strideW, g.padH, g.padW];
  }

  private sizes(g: Conv2dGeometry): { K: number; P: number } {
    const oh = convOutputSize(g.h, g.kh, g.strideH, g.padH);
    const ow = convOutputSize(g.w, g.kw, g.strideW, g.padW);
    if (!(oh > 0 && ow > 0)) throw new Error(`wasm kernels: window ${g.kh}x${g.kw} does not fit a ${g.h}x${g.w} input`);
    return { K: g.cIn * g.kh * g.kw, P: oh * ow };
  }

  im2col(x: FloatArray, g: Conv2dGeometry, col: FloatArray): void {
    const { K, P } = this.sizes(g);
    need(x, g.cIn * g.h * g.w, 'x');
    need(col, K * P, 'col');
    this.x.im2col(this.p(x), g.cIn, g.h, g.w, g.kh, g.kw, g.strideH, g.strideW, g.padH, g.padW, this.p(col));
  }

  col2im(col: FloatArray, g: Conv2dGeometry, dx: FloatArray): void {
    const { K, P } = this.sizes(g);
    need(col, K * P, 'col');
    need(dx, g.cIn * g.h * g.w, 'dx');
    this.x.col2im(this.p(col), g.cIn, g.h, g.w, g.kh, g.kw, g.strideH, g.strideW, g.padH, g.padW, this.p(dx));
  }

  /** Per task (see convParts): a column buffer [K, P] and a weight-gradient partial [cOut, K]. */
  conv2dWorkspaceSize(g: Conv2dGeometry): number {
    const { K, P } = this.sizes(g);
    return this.convParts(g) * (K * P + g.cOut * K);
  }

  /**
   * Tasks a batch of n images is cut into (each at least one image): 4 per thread, so that threads
   * held up by other processes leave their share to the others; 1 without workers.
   */
  private convParts(g: Conv2dGeometry): number {
    const { K, P } = this.sizes(g);
    const flops = 2 * g.n * g.cOut * K * P;
    return flops < PARALLEL_MIN_FLOPS || this.threads === 1 ? 1 : Math.max(1, Math.min(4 * this.threads, g.n));
  }

  conv2dForward(
    mw: MaskedWeight, x: FloatArray, bias: FloatArray | null, g: Conv2dGeometry, y: FloatArray, workspace: FloatArray,
  ): void {
    const m = this.asWasm(mw);
    const { K, P } = this.sizes(g);
    if (m.rows !== g.cOut || m.cols !== K) throw new Error('wasm kernels: conv weight shape does not match the geometry');
    need(x, g.n * g.cIn * g.h * g.w, 'x');
    need(y, g.n * g.cOut * P, 'y');
    need(workspace, this.conv2dWorkspaceSize(g), 'workspace');
    if (bias !== null) need(bias, g.cOut, 'bias');
    const ws = this.p(workspace);
    const parts = this.convParts(g);
    const sparse = m.sparse ? 1 : 0;
    const tasks: Task[] = [];
    for (let t = 0; t < parts; t++) {
      const [n0, n1] = range(g.n, parts, t);
      tasks.push({
        fn: 'convForward',
        args: [n0, n1, this.p(x), this.p(m.W), this.p(bias), ...this.geometryArgs(g), this.p(y), ws + 4 * t * K * P,
          sparse, this.p(m.rowPtr), this.p(m.colIdx), this.p(m.vals)],
      });
    }
    this.run(tasks);
  }

  conv2dBackward(
    mw: MaskedWeight, x: FloatArray, dy: FloatArray, g: Conv2dGeometry,
    dW: FloatArray, dBias: FloatArray | null, dx: FloatArray | null, workspace: FloatArray,
  ): void {
    const m = this.asWasm(mw);
    const { K, P } = this.sizes(g);
    if (m.rows !== g.cOut || m.cols !== K) throw new Error('wasm kernels: conv weight shape does not match the geometry');
    need(x, g.n * g.cIn * g.h * g.w, 'x');
    need(dy, g.n * g.cOut * P, 'dy');
    need(dW, g.cOut * K, 'dW');
    need(workspace, this.conv2dWorkspaceSize(g), 'workspace');
    if (dx !== null) need(dx, g.n * g.cIn * g.h * g.w, 'dx');
    if (dBias !== null) {
      need(dBias, g.cOut, 'dBias');
      this.x.biasBackward(this.p(dy), g.n, g.cOut, P, this.p(dBias));
    }
    const ws = this.p(workspace);
    const parts = this.convParts(g);
    const partsBase = ws + 4 * parts * K * P;
    const partStride = 4 * g.cOut * K;
    const sparse = m.sparse ? 1 : 0;
    if (sparse) {
      // sparse partials only write kept positions: clear them so the sum below stays finite
      dW.fill(0, 0, g.cOut * K);
      for (let t = 1; t < parts; t++) this.mem.float32(partsBase + (t - 1) * partStride, g.cOut * K).fill(0);
    }
    const tasks: Task[] = [];
    for (let t = 0; t < parts; t++) {
      const [n0, n1] = range(g.n, parts, t);
      // task 0 writes straight into dW, task t > 0 into partial t-1 (summed in task order below)
      const dWpart = t === 0 ? this.p(dW) : partsBase + (t - 1) * partStride;
      tasks.push({
        fn: 'convBackward',
        args: [n0, n1, this.p(x), this.p(dy), this.p(m.W), ...this.geometryArgs(g), dWpart, this.p(dx), ws + 4 * t * K * P,
          sparse, this.p(m.rowPtr), this.p(m.colIdx), this.p(m.colPtr), this.p(m.rowIdx), this.p(m.valsT)],
      });
    }
    this.run(tasks);
    this.x.addPartialsMasked(this.p(dW), partsBase, partStride, parts - 1, this.p(m.mask), g.cOut * K);
  }

  // ---- pooling --------------------------------------------------------------------------------

  private poolArgs(g: Conv2dGeometry): number[] {
    return [g.n * g.cIn, g.h, g.w, g.kh, g.kw, g.strideH, g.strideW, g.padH, g.padW];
  }

  maxPool2dForward(x: FloatArray, g: Conv2dGeometry, y: FloatArray, argmax: Int32Array): void {
    const { P } = this.sizes(g);
    need(x, g.n * g.cIn * g.h * g.w, 'x');
    need(y, g.n * g.cIn * P, 'y');
    need(argmax, g.n * g.cIn * P, 'argmax');
    this.x.maxPoolForward(this.p(x), ...this.poolArgs(g), this.p(y), this.p(argmax));
  }

  maxPool2dBackward(dy: FloatArray, argmax: Int32Array, g: Conv2dGeometry, dx: FloatArray): void {
    const { P } = this.sizes(g);
    need(dy, g.n * g.cIn * P, 'dy');
    need(argmax, g.n * g.cIn * P, 'argmax');
    need(dx, g.n * g.cIn * g.h * g.w, 'dx');
    this.x.maxPoolBackward(this.p(dy), this.p(argmax), g.n * g.cIn * P, this.p(dx), g.n * g.cIn * g.h * g.w);
  }

  avgPool2dForward(x: FloatArray, g: Conv2dGeometry, y: FloatArray): void {
    const { P } = this.sizes(g);
    need(x, g.n * g.cIn * g.h * g.w, 'x');
    need(y, g.n * g.cIn * P, 'y');
    this.x.avgPoolForward(this.p(x), ...this.poolArgs(g), this.p(y));
  }

  avgPool2dBackward(dy: FloatArray, g: Conv2dGeometry, dx: FloatArray): void {
    const { P } = this.sizes(g);
    need(dy, g.n * g.cIn * P, 'dy');
    need(dx, g.n * g.cIn * g.h * g.w, 'dx');
    this.x.avgPoolBackward(this.p(dy), ...this.poolArgs(g), this.p(dx));
  }

  // ---- elementwise ----------------------------------------------------------------------------

  reluForward(x: FloatArray, y: FloatArray): void {
    need(y, x.length, 'y');
    this.x.reluForward(this.p(x), this.p(y), x.length);
  }

  reluBackward(y: FloatArray, dy: FloatArray, dx: FloatArray): void {
    need(dy, y.length, 'dy');
    need(dx, y.length, 'dx');
    this.x.reluBackward(this.p(y), this.p(dy), this.p(dx), y.length);
  }

  addBias(y: FloatArray, bias: FloatArray, N: number, C: number, S: number): void {
    need(y, N * C * S, 'y');
    need(bias, C, 'bias');
    this.x.addBias(this.p(y), this.p(bias), N, C, S);
  }

  biasBackward(dy: FloatArray, N: number, C: number, S: number, dBias: FloatArray): void {
    need(dy, N * C * S, 'dy');
    need(dBias, C, 'dBias');
    this.x.biasBackward(this.p(dy), N, C, S, this.p(dBias));
  }

  softmaxCrossEntropy(logits: FloatArray, labels: Int32Array, N: number, C: number, dLogits: FloatArray): { loss: number; correct: number } {
    need(logits, N * C, 'logits');
    need(labels, N, 'labels');
    need(dLogits, N * C, 'dLogits');
    for (let n = 0; n < N; n++) {
      if (!(labels[n] >= 0 && labels[n] < C)) throw new Error(`wasm kernels: label ${labels[n]} is outside [0, ${C})`);
    }
    const loss = this.x.softmaxCrossEntropy(this.p(logits), this.p(labels), N, C, this.p(dLogits));
    return { loss, correct: this.x.softmaxCorrect() };
  }

  // ---- batch norm -----------------------------------------------------------------------------

  batchNormForwardTrain(
    x: FloatArray, N: number, C: number, S: number, gamma: FloatArray, beta: FloatArray, eps: number, momentum: number,
    runningMean: FloatArray, runningVar: FloatArray, y: FloatArray, saveMean: FloatArray, saveInvStd: FloatArray,
  ): void {
    need(x, N * C * S, 'x');
    need(y, N * C * S, 'y');
    for (const [a, what] of [[gamma, 'gamma'], [beta, 'beta'], [runningMean, 'runningMean'], [runningVar, 'runningVar'], [saveMean, 'saveMean'], [saveInvStd, 'saveInvStd']] as const) need(a, C, what);
    if (N * S < 2) throw new Error('wasm kernels: batch norm in training mode needs more than 1 value per channel');
    this.x.batchNormForwardTrain(this.p(x), N, C, S, this.p(gamma), this.p(beta), eps, momentum,
      this.p(runningMean), this.p(runningVar), this.p(y), this.p(saveMean), this.p(saveInvStd));
  }

  batchNormForwardEval(
    x: FloatArray, N: number, C: number, S: number, gamma: FloatArray, beta: FloatArray, eps: number,
    runningMean: FloatArray, runningVar: FloatArray, y: FloatArray,
  ): void {
    need(x, N * C * S, 'x');
    need(y, N * C * S, 'y');
    for (const [a, what] of [[gamma, 'gamma'], [beta, 'beta'], [runningMean, 'runningMean'], [runningVar, 'runningVar']] as const) need(a, C, what);
    this.x.batchNormForwardEval(this.p(x), N, C, S, this.p(gamma), this.p(beta), eps, this.p(runningMean), this.p(runningVar), this.p(y));
  }

  batchNormBackward(
    x: FloatArray, dy: FloatArray, N: number, C: number, S: number, gamma: FloatArray,
    saveMean: FloatArray, saveInvStd: FloatArray, dx: FloatArray, dGamma: FloatArray, dBeta: FloatArray,
  ): void {
    need(x, N * C * S, 'x');
    need(dy, N * C * S, 'dy');
    need(dx, N * C * S, 'dx');
    for (const [a, what] of [[gamma, 'gamma'], [saveMean, 'saveMean'], [saveInvStd, 'saveInvStd'], [dGamma, 'dGamma'], [dBeta, 'dBeta']] as const) need(a, C, what);
    this.x.batchNormBackward(this.p(x), this.p(dy), N, C, S, this.p(gamma), this.p(saveMean), this.p(saveInvStd),
      this.p(dx), this.p(dGamma), this.p(dBeta));
  }

  // ---- optimisers -----------------------------------------------------------------------------

  /** Runs an elementwise kernel over n elements, cut into 4-aligned ranges for large tensors. */
  private elementwise(n: number, task: (start: number, count: number) => Task): void {
    const parts = n < PARALLEL_MIN_ELEMENTS ? 1 : this.threads;
    const tasks: Task[] = [];
    for (let t = 0; t < parts; t++) {
      const [s, e] = range(n, parts, t, 4);
      tasks.push(task(s, e - s));
    }
    this.run(tasks);
  }

  adamStep(
    param: FloatArray, grad: FloatArray, m: FloatArray, v: FloatArray, mask: FloatArray | null,
    lr: number, beta1: number, beta2: number, eps: number, weightDecay: number, step: number,
  ): void {
    const n = param.length;
    need(grad, n, 'grad');
    need(m, n, 'm');
    need(v, n, 'v');
    if (mask !== null) need(mask, n, 'mask');
    if (!(step >= 1)) throw new Error(`wasm kernels: Adam step must count from 1, got ${step}`);
    const stepSize = lr / (1 - Math.pow(beta1, step));
    const invSqrtBc2 = 1 / Math.sqrt(1 - Math.pow(beta2, step));
    const [pp, pg, pm, pv, pk] = [this.p(param), this.p(grad), this.p(m), this.p(v), this.p(mask)];
    this.elementwise(n, (s, count) => ({
      fn: 'adamStep',
      args: [pp + 4 * s, pg + 4 * s, pm + 4 * s, pv + 4 * s, pk === 0 ? 0 : pk + 4 * s, count, stepSize, beta1, beta2, eps, weightDecay, invSqrtBc2],
    }));
  }

  sgdStep(
    param: FloatArray, grad: FloatArray, velocity: FloatArray, mask: FloatArray | null,
    lr: number, momentum: number, nesterov: boolean, weightDecay: number, dampening: number, step = 2,
  ): void {
    const n = param.length;
    need(grad, n, 'grad');
    need(velocity, n, 'velocity');
    if (mask !== null) need(mask, n, 'mask');
    const [pp, pg, pb, pk] = [this.p(param), this.p(grad), this.p(velocity), this.p(mask)];
    this.elementwise(n, (s, count) => ({
      fn: 'sgdStep',
      args: [pp + 4 * s, pg + 4 * s, pb + 4 * s, pk === 0 ? 0 : pk + 4 * s, count, lr, momentum, nesterov ? 1 : 0, weightDecay, dampening, step <= 1 ? 1 : 0],
    }));
  }
}

/** Loads the compiled engine and starts its worker threads. */
export async function createWasmKernels(opts: WasmKernelOptions): Promise<Kernels> {
  const module = compileModule();
  const kernels = new WasmKernels(module, opts);
  await kernels.startWorkers(module);
  return kernels;
}
