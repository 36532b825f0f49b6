/**
 * Every WGSL kernel of the webgpu backend, as `KernelDef`s for the runtime (src/engine/webgpu/
 * runtime.ts). Semantics are those of the reference backend (src/engine/reference.ts), which is
 * the specification; tensor shapes are in the comments. Element offsets into the bound buffers are
 * parameters (`xOff`, ...), so one tensor can hold many arrays.
 *
 * The matrix products (plain GEMM in all transpose variants, masked Linear, and the three products
 * of a convolution) share one register-tiled skeleton: a 16x16 workgroup computes a 64x64 tile of
 * C, each thread a 4x4 block (rows ty+16i, columns tx+16j, so stores are coalesced), through
 * 16-deep slices of A and B staged in workgroup memory; or, for large products, a 128x128 tile,
 * each thread an 8x8 block, through 8-deep slices (GemmTile). Each product supplies how an element of A
 * and of B is read and how a result is stored. The convolutions are implicit GEMMs: the im2col
 * matrix is never written; its elements are computed from the image indices when loaded, so no
 * whole-batch buffer is needed (a storage binding holds at most 128 MiB, too little for VGG19).
 * Written for this project from the textbook tiling scheme, not taken from another code base.
 */
import type { KernelDef } from './runtime.js';

/**
 * Workgroup tile of the GEMM skeleton: C tile edge (rows = columns). Both tiles use 16x16 threads
 * and stage 1024 elements of A and of B per K slice, so every thread loads 4 of each per slice:
 * - 64: each thread computes a 4x4 block, K slices of 16 (the design measured at 17.7 TFLOPS on
 *   4096^3 on an H200, ../shared/gpu/README.md);
 * - 128: each thread computes an 8x8 block, K slices of 8: twice the arithmetic per element loaded
 *   from workgroup memory, for large products. Not yet measured on a GPU (see gemmTileFor).
 */
export type GemmTile = 64 | 128;
/** How the backend picks the tile: per product (auto), or always one (tests, benchmarks). */
export type GemmTilePolicy = 'auto' | GemmTile;

/** Products with at least this many 128x128 output tiles use the 128 tile under 'auto'. */
export const GEMM_TILE_128_MIN_TILES = 256;

/**
 * The tile for C[M, N] under a policy. 'auto' takes 128 only when both M and N are at least 128
 * (a smaller side would leave at least half of every tile idle) and the product still has
 * GEMM_TILE_128_MIN_TILES workgroups with it (about two 256-thread workgroups on each of a large
 * GPU's ~130 multiprocessors), so smaller products keep the 64 tile's four times more workgroups.
 * An unmeasured rule of thumb: the first GPU visit compares both (`sgemm_*_t64`/`_t128` in the bench).
 */
export function gemmTileFor(M: number, N: number, policy: GemmTilePolicy): GemmTile {
  if (policy !== 'auto') return policy;
  const tiles = Math.ceil(M / 128) * Math.ceil(N / 128);
  return M >= 128 && N >= 128 && tiles >= GEMM_TILE_128_MIN_TILES ? 128 : 64;
}

const INDEX_1D = `let i = gid.y * nwg.x * 256u + gid.x;`;
const MAIN_1D = `@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  ${INDEX_1D}`;

// ---- GEMM skeleton -----------------------------------------------------------------------------

interface GemmSpec {
  name: string;
  /** parameters besides M, N, K (the product's dimensions) */
  params: KernelDef['params'];
  bindings: KernelDef['bindings'];
  /** WGSL helper functions used by the bodies below */
  helpers?: string;
  /** body of fn loadA(m: u32, k: u32) -> f32, called only with m < M and k < K */
  loadA: string;
  /** body of fn loadB(k: u32, n: u32) -> f32, called only with k < K and n < N */
  loadB: string;
  /** body of fn storeC(m: u32, n: u32, v: f32), called only with m < M and n < N */
  storeC: string;
  /** true when consecutive k of A are adjacent in memory (threads then walk k when loading) */
  aKContiguous: boolean;
  /** true when consecutive n of B are adjacent in memory */
  bNContiguous: boolean;
}

function gemmKernel(s: GemmSpec, tile: GemmTile = 64): KernelDef {
  const T = tile;
  const KS = 1024 / T; // depth of one K slice: T x KS = 1024 elements staged per operand
  const R = T / 16; // rows (and columns) of C per thread: ty + 16i, tx + 16j, i, j < R
  const Q = R / 4; // vec4 accumulators per row of a thread's block
  const aIndex = s.aKContiguous ? `let kk = e % ${KS}u; let mm = e / ${KS}u;` : `let mm = e % ${T}u; let kk = e / ${T}u;`;
  const bIndex = s.bNContiguous ? `let nn = e % ${T}u; let kb = e / ${T}u;` : `let kb = e % ${KS}u; let nn = e / ${KS}u;`;
  const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
  const acc = (i: number, q: number): string => `c${i}_${q}`;
  // Generated unrolled: R x Q vec4 accumulators, one broadcast A value per row, Q vec4 of B per kk.
  const declare = range(R).flatMap((i) => range(Q).map((q) => `  var ${acc(i, q)} = vec4<f32>(0.0);`)).join('\n');
  const readB = range(Q).map((q) => `      let b${q} = vec4<f32>(${range(4).map((j) => `Bs[br + ${16 * (4 * q + j)}u]`).join(', ')});`).join('\n');
  const update = range(R).map((i) => `      let a${i} = vec4<f32>(As[ar + ${16 * i}u]);\n${range(Q).map((q) => `      ${acc(i, q)} = fma(a${i}, b${q}, ${acc(i, q)});`).join('\n')}`).join('\n');
  const blocks = range(R).flatMap((i) => range(Q).map((q) => acc(i, q))).join(', ');
  const code = `
var<workgroup> As: array<f32, 1024>; // A slice [${KS} k][${T} m]
var<private> splitIndex: u32; // which K chunk this workgroup sums (split-K; 0 otherwise)
var<workgroup> Bs: array<f32, 1024>; // B slice [${KS} k][${T} n]
${s.helpers ?? ''}
fn loadA(m: u32, k: u32) -> f32 { ${s.loadA} }
fn loadB(k: u32, n: u32) -> f32 { ${s.loadB} }
fn storeC(m: u32, n: u32, v: f32) { ${s.storeC} }
@compute @workgroup_size(16, 16)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let t = lid.y * 16u + lid.x;
  let m0 = wid.y * ${T}u;
  let n0 = wid.x * ${T}u;
  // split-K: workgroup z sums k in [z·kChunk, (z+1)·kChunk); kChunk = 0 means the whole K
  splitIndex = wid.z;
  let chunk = select(p.K, p.kChunk, p.kChunk != 0u);
  let kBegin = wid.z * chunk;
  let kEnd = min(p.K, kBegin + chunk);
${declare}
  for (var k0 = kBegin; k0 < kEnd; k0 += ${KS}u) {
    for (var r = 0u; r < 4u; r++) {
      let e = t + r * 256u;
      ${aIndex}
      var a = 0.0;
      if (m0 + mm < p.M && k0 + kk < kEnd) { a = loadA(m0 + mm, k0 + kk); }
      As[kk * ${T}u + mm] = a;
      ${bIndex}
      var b = 0.0;
      if (n0 + nn < p.N && k0 + kb < kEnd) { b = loadB(k0 + kb, n0 + nn); }
      Bs[kb * ${T}u + nn] = b;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < ${KS}u; kk++) {
      let ar = kk * ${T}u + lid.y;
      let br = kk * ${T}u + lid.x;
${readB}
${update}
    }
    workgroupBarrier();
  }
  // block i·${Q} + q holds row ty + 16i, columns tx + 16(4q + j), j < 4
  var blocks = array<vec4<f32>, ${R * Q}>(${blocks});
  for (var i = 0u; i < ${R}u; i++) {
    let m = m0 + lid.y + 16u * i;
    if (m < p.M) {
      for (var j = 0u; j < ${R}u; j++) {
        let n = n0 + lid.x + 16u * j;
        if (n < p.N) { storeC(m, n, blocks[i * ${Q}u + j / 4u][j % 4u]); }
      }
    }
  }
}`;
  return {
    name: tile === 64 ? s.name : `${s.name}_t${tile}`,
    params: [['M', 'u32'], ['N', 'u32'], ['K', 'u32'], ['kChunk', 'u32'], ...s.params],
    bindings: s.bindings,
    code,
  };
}

/** Workgroups of a GEMM-skeleton kernel computing C[M, N]. */
export function gemmGroups(M: number, N: number, tile: GemmTile = 64): [number, number] {
  return [Math.ceil(N / tile), Math.ceil(M / tile)];
}

export type GemmEpilogue = 'alphaBeta' | 'bias' | 'mask';

const gemmCache = new Map<string, KernelDef>();

/** The skeleton kernel of `spec` at `tile`, built once. */
function cachedGemm(tile: GemmTile, spec: GemmSpec): KernelDef {
  const key = `${spec.name}_t${tile}`;
  let def = gemmCache.get(key);
  if (def === undefined) {
    def = gemmKernel(spec, tile);
    gemmCache.set(key, def);
  }
  return def;
}

/**
 * C[M,N] = alpha·op(A)·op(B) + beta·C (alphaBeta), or alpha·op(A)·op(B) + bias[n] (bias: Linear
 * forward, Y = X·Wᵀ + b), or (alpha·op(A)·op(B)) ⊙ mask, exactly 0 where mask[m,n] = 0 (mask:
 * the masked weight gradient). A is [M,K] or [K,M] (transA); B is [K,N] or [N,K] (transB).
 * beta = 0 ignores C's previous content, NaN included.
 */
export function gemmDef(transA: boolean, transB: boolean, epilogue: GemmEpilogue, tile: GemmTile = 64): KernelDef {
  const name = `gemm_${transA ? 't' : 'n'}${transB ? 't' : 'n'}_${epilogue}`;
  const result = 'var r = p.alpha * v; if (p.beta != 0.0) { r += p.beta * C[i]; }';
  const storeC = {
    alphaBeta: `let i = p.cOff + m * p.N + n; ${result} C[i] = r;`,
    bias: `let i = p.cOff + m * p.N + n; ${result} C[i] = r + E[p.eOff + n];`,
    mask: `let i = p.cOff + m * p.N + n; ${result} C[i] = select(r, 0.0, E[p.eOff + m * p.N + n] == 0.0);`,
  }[epilogue];
  return cachedGemm(tile, {
    name,
    params: [['aOff', 'u32'], ['bOff', 'u32'], ['cOff', 'u32'], ['eOff', 'u32'], ['alpha', 'f32'], ['beta', 'f32']],
    bindings: [
      ['A', 'f32', 'read'],
      ['B', 'f32', 'read'],
      ['C', 'f32', 'read_write'],
      ...(epilogue === 'alphaBeta' ? [] : [['E', 'f32', 'read'] as const]),
    ],
    loadA: transA ? 'return A[p.aOff + k * p.M + m];' : 'return A[p.aOff + m * p.K + k];',
    loadB: transB ? 'return B[p.bOff + n * p.K + k];' : 'return B[p.bOff + k * p.N + n];',
    storeC,
    aKContiguous: !transA,
    bNContiguous: !transB,
  });
}

// ---- convolution as implicit GEMM ----------------------------------------------------------------

/** Geometry parameters shared by the convolution kernels (see Conv2dGeometry). */
const CONV_PARAMS = [
  ['n', 'u32'], ['cIn', 'u32'], ['h', 'u32'], ['w', 'u32'], ['cOut', 'u32'], ['kh', 'u32'], ['kw', 'u32'],
  ['sh', 'u32'], ['sw', 'u32'], ['ph', 'u32'], ['pw', 'u32'], ['oh', 'u32'], ['ow', 'u32'],
] as const;

/**
 * Element (k, j) of the batch's im2col matrix [cIn*kh*kw, n*oh*ow]: k = (c, ki, kj), j = (image,
 * oy, ox); 0 in the padding. Reads X[n, cIn, h, w] from p.xOff.
 */
const IM2COL = `
fn im2col(k: u32, j: u32) -> f32 {
  let P = p.oh * p.ow;
  let img = j / P;
  let q = j - img * P;
  let oy = q / p.ow;
  let ox = q - oy * p.ow;
  let kk = p.kh * p.kw;
  let c = k / kk;
  let r = k - c * kk;
  let ki = r / p.kw;
  let kj = r - ki * p.kw;
  let iy = i32(oy * p.sh + ki) - i32(p.ph);
  let ix = i32(ox * p.sw + kj) - i32(p.pw);
  if (iy < 0 || ix < 0 || iy >= i32(p.h) || ix >= i32(p.w)) { return 0.0; }
  return X[p.xOff + ((img * p.cIn + c) * p.h + u32(iy)) * p.w + u32(ix)];
}`;

/**
 * Forward: Y[img, o, P] = W[cOut, K] · im2col[K, n·P] + bias[o]. M = cOut, N = n·oh·ow,
 * K = cIn·kh·kw. Bindings X [n,cIn,h,w], W [cOut,K] (already 0 under the mask), Y, Bias.
 */
export function convForwardDef(bias: boolean, tile: GemmTile = 64): KernelDef {
  return cachedGemm(tile, {
    name: bias ? 'conv_fwd_bias' : 'conv_fwd',
    params: [...CONV_PARAMS, ['xOff', 'u32'], ['wOff', 'u32'], ['yOff', 'u32'], ['bOff', 'u32']],
    bindings: [['X', 'f32', 'read'], ['W', 'f32', 'read'], ['Y', 'f32', 'read_write'], ...(bias ? [['Bias', 'f32', 'read'] as const] : [])],
    helpers: IM2COL,
    loadA: 'return W[p.wOff + m * p.K + k];',
    loadB: 'return im2col(k, n);',
    storeC: `let P = p.oh * p.ow; let img = n / P; let q = n - img * P;
      Y[p.yOff + (img * p.M + m) * P + q] = v${bias ? ' + Bias[p.bOff + m]' : ''};`,
    aKContiguous: true,
    bNContiguous: true,
  });
}

/**
 * Weight gradient: dW[cOut, K] = (dY[cOut, n·P] · im2col[K, n·P]ᵀ) ⊙ mask, exactly 0 under the
 * mask. M = cOut, N = cIn·kh·kw, K = n·oh·ow (the sum runs over the batch and the positions).
 */
export function convWeightGradDef(tile: GemmTile = 64): KernelDef {
  return cachedGemm(tile, {
    name: 'conv_dw',
    params: [...CONV_PARAMS, ['xOff', 'u32'], ['dyOff', 'u32'], ['dwOff', 'u32'], ['maskOff', 'u32']],
    bindings: [['X', 'f32', 'read'], ['DY', 'f32', 'read'], ['DW', 'f32', 'read_write'], ['Mask', 'f32', 'read']],
    helpers: IM2COL,
    loadA: 'let P = p.oh * p.ow; let img = k / P; let q = k - img * P; return DY[p.dyOff + (img * p.M + m) * P + q];',
    loadB: 'return im2col(n, k);',
    storeC: 'let i = m * p.N + n; DW[p.dwOff + i] = select(v, 0.0, Mask[p.maskOff + i] == 0.0);',
    aKContiguous: true,
    bNContiguous: false,
  });
}

/**
 * The weight gradient split along its long reduction (n·oh·ow, e.g. 61,440 for conv4's second
 * layer at batch 60, against only 1x9 output tiles): workgroup z writes the partial sum of its K
 * chunk to Part[z, cOut, K'], and `splitKReduceMaskDef` adds the chunks and applies the mask.
 */
export function convWeightGradPartialDef(tile: GemmTile = 64): KernelDef {
  return cachedGemm(tile, {
    name: 'conv_dw_partial',
    params: [...CONV_PARAMS, ['xOff', 'u32'], ['dyOff', 'u32']],
    bindings: [['X', 'f32', 'read'], ['DY', 'f32', 'read'], ['Part', 'f32', 'read_write']],
    helpers: IM2COL,
    loadA: 'let P = p.oh * p.ow; let img = k / P; let q = k - img * P; return DY[p.dyOff + (img * p.M + m) * P + q];',
    loadB: 'return im2col(n, k);',
    storeC: 'Part[(splitIndex * p.M + m) * p.N + n] = v;',
    aKContiguous: true,
    bNContiguous: false,
  });
}

/** DW[dwOff + i] = Σ_z Part[z·len + i], exactly 0 where Mask[maskOff + i] = 0. */
export const splitKReduceMaskDef: KernelDef = {
  name: 'splitk_reduce_mask',
  params: [['len', 'u32'], ['splits', 'u32'], ['dwOff', 'u32'], ['maskOff', 'u32']],
  bindings: [['Part', 'f32', 'read'], ['Mask', 'f32', 'read'], ['DW', 'f32', 'read_write']],
  code: `${MAIN_1D}
  if (i >= p.len) { return; }
  var s = 0.0;
  for (var z = 0u; z < p.splits; z++) { s += Part[z * p.len + i]; }
  DW[p.dwOff + i] = select(s, 0.0, Mask[p.maskOff + i] == 0.0);
}`,
};

/**
 * Input gradient as a gather (no col2im scatter, no atomics): dX[img, c, iy, ix] =
 * Σ_{o,ki,kj} W[o, c, ki, kj] · dY[img, o, oy, ox] over the (oy, ox) whose window reads (iy, ix).
 * M = cIn, N = n·h·w, K = cOut·kh·kw.
 */
export function convInputGradDef(tile: GemmTile = 64): KernelDef {
  return cachedGemm(tile, {
    name: 'conv_dx',
    params: [...CONV_PARAMS, ['wOff', 'u32'], ['dyOff', 'u32'], ['dxOff', 'u32']],
    bindings: [['W', 'f32', 'read'], ['DY', 'f32', 'read'], ['DX', 'f32', 'read_write']],
    helpers: `
  fn dyAt(k: u32, pix: u32) -> f32 {
    let kk = p.kh * p.kw;
    let o = k / kk;
    let r = k - o * kk;
    let ki = r / p.kw;
    let kj = r - ki * p.kw;
    let hw = p.h * p.w;
    let img = pix / hw;
    let q = pix - img * hw;
    let iy = q / p.w;
    let ix = q - iy * p.w;
    let ty = i32(iy + p.ph) - i32(ki);
    let tx = i32(ix + p.pw) - i32(kj);
    if (ty < 0 || tx < 0) { return 0.0; }
    let uy = u32(ty);
    let ux = u32(tx);
    if (uy % p.sh != 0u || ux % p.sw != 0u) { return 0.0; }
    let oy = uy / p.sh;
    let ox = ux / p.sw;
    if (oy >= p.oh || ox >= p.ow) { return 0.0; }
    return DY[p.dyOff + ((img * p.cOut + o) * p.oh + oy) * p.ow + ox];
  }`,
    loadA: 'let kk = p.kh * p.kw; let o = k / kk; let r = k - o * kk; return W[p.wOff + (o * p.cIn + m) * kk + r];',
    loadB: 'return dyAt(k, n);',
    storeC: 'let hw = p.h * p.w; let img = n / hw; let q = n - img * hw; DX[p.dxOff + (img * p.cIn + m) * hw + q] = v;',
    aKContiguous: true,
    bNContiguous: true,
  });
}

// ---- pooling -----------------------------------------------------------------------------------

const POOL_PARAMS = [
  ['total', 'u32'], ['h', 'u32'], ['w', 'u32'], ['kh', 'u32'], ['kw', 'u32'], ['sh', 'u32'], ['sw', 'u32'],
  ['ph', 'u32'], ['pw', 'u32'], ['oh', 'u32'], ['ow', 'u32'],
] as const;

/** y[plane, oy, ox] = max of the window (padding ignored; first maximum or first NaN wins);
 *  argmax = flat index into x (from xOff) of that element. One thread per output. */
export const maxPoolForwardDef: KernelDef = {
  name: 'maxpool_fwd',
  params: [...POOL_PARAMS, ['xOff', 'u32'], ['yOff', 'u32'], ['aOff', 'u32']],
  bindings: [['X', 'f32', 'read'], ['Y', 'f32', 'read_write'], ['Arg', 'i32', 'read_write']],
  code: `${MAIN_1D}
  if (i >= p.total) { return; }
  let ohw = p.oh * p.ow;
  let plane = i / ohw;
  let q = i - plane * ohw;
  let oy = q / p.ow;
  let ox = q - oy * p.ow;
  let base = plane * p.h * p.w;
  var best = 0.0;
  var bestIndex = -1;
  for (var ki = 0u; ki < p.kh; ki++) {
    let iy = i32(oy * p.sh + ki) - i32(p.ph);
    if (iy < 0 || iy >= i32(p.h)) { continue; }
    for (var kj = 0u; kj < p.kw; kj++) {
      let ix = i32(ox * p.sw + kj) - i32(p.pw);
      if (ix < 0 || ix >= i32(p.w)) { continue; }
      let index = i32(base) + iy * i32(p.w) + ix;
      let v = X[p.xOff + u32(index)];
      let isNan = !(v == v);
      if (bestIndex == -1 || v > best || isNan) {
        best = v;
        bestIndex = index;
        if (isNan) { break; }
      }
    }
    if (!(best == best)) { break; }
  }
  Y[p.yOff + i] = best;
  Arg[p.aOff + i] = bestIndex;
}`,
};

/** Loops `oy`/`ox` over the outputs whose window contains input (iy, ix); the body uses them. */
function forEachWindowOf(body: string): string {
  return `
  let ty = i32(iy + p.ph) - i32(p.kh) + 1;
  let tx = i32(ix + p.pw) - i32(p.kw) + 1;
  let oyFirst = select(0u, (u32(max(ty, 0)) + p.sh - 1u) / p.sh, ty > 0);
  let oxFirst = select(0u, (u32(max(tx, 0)) + p.sw - 1u) / p.sw, tx > 0);
  let oyEnd = min(p.oh, (iy + p.ph) / p.sh + 1u);
  let oxEnd = min(p.ow, (ix + p.pw) / p.sw + 1u);
  for (var oy = oyFirst; oy < oyEnd; oy++) {
    for (var ox = oxFirst; ox < oxEnd; ox++) {
      ${body}
    }
  }`;
}

const POOL_INPUT_INDEX = `
  if (i >= p.total) { return; }
  let hw = p.h * p.w;
  let plane = i / hw;
  let q = i - plane * hw;
  let iy = q / p.w;
  let ix = q - iy * p.w;
  let obase = plane * p.oh * p.ow;
  var sum = 0.0;`;

/** dx[plane, iy, ix] = Σ dy over the windows whose argmax is this element (a gather: one thread
 *  per input element, no atomics; windows in output order as the reference's scatter). */
export const maxPoolBackwardDef: KernelDef = {
  name: 'maxpool_bwd',
  params: [...POOL_PARAMS, ['dyOff', 'u32'], ['aOff', 'u32'], ['dxOff', 'u32']],
  bindings: [['DY', 'f32', 'read'], ['Arg', 'i32', 'read'], ['DX', 'f32', 'read_write']],
  code: `${MAIN_1D}
  ${POOL_INPUT_INDEX}
  ${forEachWindowOf(`let o = obase + oy * p.ow + ox;
      if (Arg[p.aOff + o] == i32(i)) { sum += DY[p.dyOff + o]; }`)}
  DX[p.dxOff + i] = sum;
}`,
};

/** y = mean over the window, padding counted as zeros (count_include_pad). One thread per output. */
export const avgPoolForwardDef: KernelDef = {
  name: 'avgpool_fwd',
  params: [...POOL_PARAMS, ['xOff', 'u32'], ['yOff', 'u32']],
  bindings: [['X', 'f32', 'read'], ['Y', 'f32', 'read_write']],
  code: `${MAIN_1D}
  if (i >= p.total) { return; }
  let ohw = p.oh * p.ow;
  let plane = i / ohw;
  let q = i - plane * ohw;
  let oy = q / p.ow;
  let ox = q - oy * p.ow;
  let base = plane * p.h * p.w;
  var sum = 0.0;
  for (var ki = 0u; ki < p.kh; ki++) {
    let iy = i32(oy * p.sh + ki) - i32(p.ph);
    if (iy < 0 || iy >= i32(p.h)) { continue; }
    for (var kj = 0u; kj < p.kw; kj++) {
      let ix = i32(ox * p.sw + kj) - i32(p.pw);
      if (ix < 0 || ix >= i32(p.w)) { continue; }
      sum += X[p.xOff + base + u32(iy) * p.w + u32(ix)];
    }
  }
  Y[p.yOff + i] = sum / f32(p.kh * p.kw);
}`,
};

/** dx[plane, iy, ix] = Σ dy / (kh·kw) over the windows containing the element (gather). */
export const avgPoolBackwardDef: KernelDef = {
  name: 'avgpool_bwd',
  params: [...POOL_PARAMS, ['dyOff', 'u32'], ['dxOff', 'u32']],
  bindings: [['DY', 'f32', 'read'], ['DX', 'f32', 'read_write']],
  code: `${MAIN_1D}
  ${POOL_INPUT_INDEX}
  let divisor = f32(p.kh * p.kw);
  ${forEachWindowOf('sum += DY[p.dyOff + obase + oy * p.ow + ox] / divisor;')}
  DX[p.dxOff + i] = sum;
}`,
};

// ---- elementwise -------------------------------------------------------------------------------

/** y = max(x, 0) (NaN gives 0, as the reference's x > 0 ? x : 0). */
export const reluForwardDef: KernelDef = {
  name: 'relu_fwd',
  params: [['len', 'u32'], ['xOff', 'u32'], ['yOff', 'u32']],
  bindings: [['X', 'f32', 'read'], ['Y', 'f32', 'read_write']],
  code: `${MAIN_1D}
  if (i >= p.len) { return; }
  let v = X[p.xOff + i];
  Y[p.yOff + i] = select(0.0, v, v > 0.0);
}`,
};

/** In place: y = max(y, 0). */
export const reluForwardInPlaceDef: KernelDef = {
  name: 'relu_fwd_inplace',
  params: [['len', 'u32'], ['yOff', 'u32']],
  bindings: [['Y', 'f32', 'read_write']],
  code: `${MAIN_1D}
  if (i >= p.len) { return; }
  let v = Y[p.yOff + i];
  Y[p.yOff + i] = select(0.0, v, v > 0.0);
}`,
};

/** dx = dy where y > 0, else 0 (y is the ReLU output). */
export const reluBackwardDef: KernelDef = {
  name: 'relu_bwd',
  params: [['len', 'u32'], ['yOff', 'u32'], ['dyOff', 'u32'], ['dxOff', 'u32']],
  bindings: [['Y', 'f32', 'read'], ['DY', 'f32', 'read'], ['DX', 'f32', 'read_write']],
  code: `${MAIN_1D}
  if (i >= p.len) { return; }
  DX[p.dxOff + i] = select(0.0, DY[p.dyOff + i], Y[p.yOff + i] > 0.0);
}`,
};

/** In place (dx is dy): dx = 0 where y <= 0. */
export const reluBackwardInPlaceDef: KernelDef = {
  name: 'relu_bwd_inplace',
  params: [['len', 'u32'], ['yOff', 'u32'], ['dxOff', 'u32']],
  bindings: [['Y', 'f32', 'read'], ['DX', 'f32', 'read_write']],
  code: `${MAIN_1D}
  if (i >= p.len) { return; }
  DX[p.dxOff + i] = select(0.0, DX[p.dxOff + i], Y[p.yOff + i] > 0.0);
}`,
};

/** y[N, C, S] += bias[C]. */
export const addBiasDef: KernelDef = {
  name: 'add_bias',
  params: [['len', 'u32'], ['C', 'u32'], ['S', 'u32'], ['yOff', 'u32'], ['bOff', 'u32']],
  bindings: [['Y', 'f32', 'read_write'], ['Bias', 'f32', 'read']],
  code: `${MAIN_1D}
  if (i >= p.len) { return; }
  let c = (i / p.S) % p.C;
  Y[p.yOff + i] += Bias[p.bOff + c];
}`,
};

/**
 * Tree sums over the 256 threads of a workgroup (called from uniform control flow). Each sum of a
 * kernel gets its own workgroup array (reduceSum0, reduceSum1): reusing one array for the second
 * sum gave wrong results on llvmpipe (the first result was read from the array after the second
 * sum had overwritten it).
 */
const REDUCE = `
var<workgroup> red0: array<f32, 256>;
var<workgroup> red1: array<f32, 256>;
fn reduceSum0(l: u32, v: f32) -> f32 {
  red0[l] = v;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s >>= 1u) {
    if (l < s) { red0[l] += red0[l + s]; }
    workgroupBarrier();
  }
  return red0[0];
}
fn reduceSum1(l: u32, v: f32) -> f32 {
  red1[l] = v;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s >>= 1u) {
    if (l < s) { red1[l] += red1[l + s]; }
    workgroupBarrier();
  }
  return red1[0];
}`;

/** One workgroup per channel c (workgroup_id.x); threads stride over the N·S values. */
const PER_CHANNEL_MAIN = `@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) l: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let c = wid.x;
  let count = p.N * p.S;`;

/** Index of the j-th value (j < N·S) of channel c in [N, C, S]. */
const CHANNEL_INDEX = 'fn at(c: u32, j: u32) -> u32 { let n = j / p.S; return (n * p.C + c) * p.S + (j - n * p.S); }';

/** dBias[C] = Σ over n and s of dy[N, C, S]. Workgroups: C. */
export const biasBackwardDef: KernelDef = {
  name: 'bias_bwd',
  params: [['N', 'u32'], ['C', 'u32'], ['S', 'u32'], ['dyOff', 'u32'], ['dbOff', 'u32']],
  bindings: [['DY', 'f32', 'read'], ['DB', 'f32', 'read_write']],
  code: `${REDUCE}
${CHANNEL_INDEX}
${PER_CHANNEL_MAIN}
  var s = 0.0;
  for (var j = l; j < count; j += 256u) { s += DY[p.dyOff + at(c, j)]; }
  let total = reduceSum0(l, s);
  if (l == 0u) { DB[p.dbOff + c] = total; }
}`,
};

/** t[off .. off+len) = value, for f32 or i32 tensors (an i32 copy keeps the bits exact). */
export function fillDef(dtype: 'f32' | 'i32'): KernelDef {
  return dtype === 'f32' ? FILL_F32 : FILL_I32;
}
function makeFill(dtype: 'f32' | 'i32'): KernelDef {
  return {
    name: `fill_${dtype}`,
    params: [['len', 'u32'], ['off', 'u32'], ['value', dtype]],
    bindings: [['T', dtype, 'read_write']],
    code: `${MAIN_1D}
  if (i >= p.len) { return; }
  T[p.off + i] = p.value;
}`,
  };
}
const FILL_F32 = makeFill('f32');
const FILL_I32 = makeFill('i32');

/** dst[dstOff + i] = src[srcOff + i]. Typed per dtype: an f32 copy of i32 bits could flush them. */
export function copyDef(dtype: 'f32' | 'i32'): KernelDef {
  return dtype === 'f32' ? COPY_F32 : COPY_I32;
}
function makeCopy(dtype: 'f32' | 'i32'): KernelDef {
  return {
    name: `copy_${dtype}`,
    params: [['len', 'u32'], ['srcOff', 'u32'], ['dstOff', 'u32']],
    bindings: [['Src', dtype, 'read'], ['Dst', dtype, 'read_write']],
    code: `${MAIN_1D}
  if (i >= p.len) { return; }
  Dst[p.dstOff + i] = Src[p.srcOff + i];
}`,
  };
}
const COPY_F32 = makeCopy('f32');
const COPY_I32 = makeCopy('i32');

/** x[off + i] = x[off + i] * alpha + add (scale: add = 0; addScalar: alpha = 1). */
export const affineDef: KernelDef = {
  name: 'affine',
  params: [['len', 'u32'], ['off', 'u32'], ['alpha', 'f32'], ['add', 'f32']],
  bindings: [['X', 'f32', 'read_write']],
  code: `${MAIN_1D}
  if (i >= p.len) { return; }
  X[p.off + i] = X[p.off + i] * p.alpha + p.add;
}`,
};

/** y[i] += alpha · x[i]. */
export const axpyDef: KernelDef = {
  name: 'axpy',
  params: [['len', 'u32'], ['alpha', 'f32']],
  bindings: [['X', 'f32', 'read'], ['Y', 'f32', 'read_write']],
  code: `${MAIN_1D}
  if (i >= p.len) { return; }
  Y[i] += p.alpha * X[i];
}`,
};

/** y[i] = |x[i]| (inPlace: x is y). */
export function absDef(inPlace: boolean): KernelDef {
  return inPlace ? ABS_IN_PLACE : ABS;
}
const ABS: KernelDef = {
  name: 'abs',
  params: [['len', 'u32']],
  bindings: [['X', 'f32', 'read'], ['Y', 'f32', 'read_write']],
  code: `${MAIN_1D}
  if (i >= p.len) { return; }
  Y[i] = abs(X[i]);
}`,
};
const ABS_IN_PLACE: KernelDef = {
  name: 'abs_inplace',
  params: [['len', 'u32']],
  bindings: [['Y', 'f32', 'read_write']],
  code: `${MAIN_1D}
  if (i >= p.len) { return; }
  Y[i] = abs(Y[i]);
}`,
};

/** x[i] = 0 where mask[i] = 0, unchanged elsewhere (exactly 0, even where x was NaN). */
export const applyMaskDef: KernelDef = {
  name: 'apply_mask',
  params: [['len', 'u32']],
  bindings: [['X', 'f32', 'read_write'], ['Mask', 'f32', 'read']],
  code: `${MAIN_1D}
  if (i >= p.len) { return; }
  if (Mask[i] == 0.0) { X[i] = 0.0; }
}`,
};

/** out[outOff] = max |x[off + i]| over i < len (0 when len = 0; NaN when any is NaN). One workgroup. */
export const maxAbsDef: KernelDef = {
  name: 'max_abs',
  params: [['len', 'u32'], ['off', 'u32'], ['outOff', 'u32']],
  bindings: [['X', 'f32', 'read'], ['Out', 'f32', 'read_write']],
  code: `
var<workgroup> best: array<f32, 256>;
var<workgroup> nan: array<u32, 256>;
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) l: u32) {
  var m = 0.0;
  var sawNan = 0u;
  for (var i = l; i < p.len; i += 256u) {
    let v = abs(X[p.off + i]);
    if (!(v == v)) { sawNan = 1u; }
    else if (v > m) { m = v; }
  }
  best[l] = m;
  nan[l] = sawNan;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s >>= 1u) {
    if (l < s) {
      best[l] = max(best[l], best[l + s]);
      nan[l] = nan[l] | nan[l + s];
    }
    workgroupBarrier();
  }
  if (l == 0u) {
    Out[p.outOff] = select(best[0], bitcast<f32>(0x7fc00000u | (p.len & 0u)), nan[0] != 0u);
  }
}`,
};

/** col[cIn·kh·kw, oh·ow] of one image x[xOff ..] of shape [cIn, h, w] (zero padding). */
export const im2colDef: KernelDef = {
  name: 'im2col',
  params: [...CONV_PARAMS, ['xOff', 'u32'], ['len', 'u32']],
  bindings: [['X', 'f32', 'read'], ['Col', 'f32', 'read_write']],
  code: `${IM2COL}
${MAIN_1D}
  if (i >= p.len) { return; }
  let P = p.oh * p.ow;
  let k = i / P;
  Col[i] = im2col(k, i - k * P);
}`,
};

/** dx[dxOff ..] of shape [cIn, h, w] = Σ of col[cIn·kh·kw, oh·ow] over the windows reading each pixel (gather). */
export const col2imDef: KernelDef = {
  name: 'col2im',
  params: [...CONV_PARAMS, ['dxOff', 'u32'], ['len', 'u32']],
  bindings: [['Col', 'f32', 'read'], ['DX', 'f32', 'read_write']],
  code: `${MAIN_1D}
  if (i >= p.len) { return; }
  let hw = p.h * p.w;
  let c = i / hw;
  let q = i - c * hw;
  let iy = q / p.w;
  let ix = q - iy * p.w;
  let P = p.oh * p.ow;
  var sum = 0.0;
  for (var ki = 0u; ki < p.kh; ki++) {
    let ty = i32(iy + p.ph) - i32(ki);
    if (ty < 0 || u32(ty) % p.sh != 0u || u32(ty) / p.sh >= p.oh) { continue; }
    for (var kj = 0u; kj < p.kw; kj++) {
      let tx = i32(ix + p.pw) - i32(kj);
      if (tx < 0 || u32(tx) % p.sw != 0u || u32(tx) / p.sw >= p.ow) { continue; }
      let row = (c * p.kh + ki) * p.kw + kj;
      sum += Col[row * P + (u32(ty) / p.sh) * p.ow + u32(tx) / p.sw];
    }
  }
  DX[p.dxOff + i] = sum;
}`,
};

// ---- loss --------------------------------------------------------------------------------------

/**
 * Softmax cross-entropy over logits[N, C] with labels[N] (one workgroup; thread l takes rows l,
 * l+256, ...): dLogits = (softmax - onehot) / N; with stats, Acc[accOff] += the summed loss and
 * Acc[accOff+1] += the number of rows whose first argmax is the label. The sums stay on the device
 * and are read every few steps. A label outside [0, C) gives a NaN loss (a kernel cannot throw;
 * the contract leaves it unspecified) and zero gradients.
 */
export function softmaxCrossEntropyDef(stats: boolean): KernelDef {
  return stats ? SOFTMAX_STATS : SOFTMAX;
}
function makeSoftmax(stats: boolean): KernelDef {
  return {
    name: stats ? 'softmax_xent_stats' : 'softmax_xent',
    params: [['N', 'u32'], ['C', 'u32'], ['zOff', 'u32'], ['lOff', 'u32'], ['dzOff', 'u32'], ['accOff', 'u32']],
    bindings: [['Z', 'f32', 'read'], ['Labels', 'i32', 'read'], ['DZ', 'f32', 'read_write'], ...(stats ? [['Acc', 'f32', 'read_write'] as const] : [])],
    code: `${REDUCE}
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) l: u32) {
  var loss = 0.0;
  var correct = 0.0;
  let invN = 1.0 / f32(p.N);
  for (var n = l; n < p.N; n += 256u) {
    let row = p.zOff + n * p.C;
    let drow = p.dzOff + n * p.C;
    let label = Labels[p.lOff + n];
    if (label < 0 || label >= i32(p.C)) {
      loss += bitcast<f32>(0x7fc00000u | (p.N & 0u)); // not a constant: a constant NaN is a WGSL error
      for (var c = 0u; c < p.C; c++) { DZ[drow + c] = 0.0; }
      continue;
    }
    var mx = Z[row];
    var arg = 0u;
    for (var c = 1u; c < p.C; c++) {
      let v = Z[row + c];
      if (v > mx) { mx = v; arg = c; }
    }
    if (arg == u32(label)) { correct += 1.0; }
    var sumExp = 0.0;
    for (var c = 0u; c < p.C; c++) { sumExp += exp(Z[row + c] - mx); }
    loss += log(sumExp) - (Z[row + u32(label)] - mx);
    for (var c = 0u; c < p.C; c++) {
      let prob = exp(Z[row + c] - mx) / sumExp;
      DZ[drow + c] = (prob - select(0.0, 1.0, c == u32(label))) * invN;
    }
  }
  ${stats ? `let totalLoss = reduceSum0(l, loss);
  let totalCorrect = reduceSum1(l, correct);
  if (l == 0u) {
    Acc[p.accOff] += totalLoss;
    Acc[p.accOff + 1u] += totalCorrect;
  }` : ''}
}`,
  };
}
const SOFTMAX = makeSoftmax(false);
const SOFTMAX_STATS = makeSoftmax(true);

// ---- batch norm over [N, C, S] -------------------------------------------------------------------

/**
 * Training forward, one workgroup per channel: two-pass mean and biased variance; y = gamma·x̂ +
 * beta; saves mean and 1/sqrt(var + eps); running stats move by momentum toward the batch mean
 * and the unbiased variance (PyTorch).
 */
export const batchNormTrainDef: KernelDef = {
  name: 'bn_train_fwd',
  params: [['N', 'u32'], ['C', 'u32'], ['S', 'u32'], ['eps', 'f32'], ['momentum', 'f32'], ['xOff', 'u32'], ['yOff', 'u32']],
  bindings: [
    ['X', 'f32', 'read'], ['Gamma', 'f32', 'read'], ['Beta', 'f32', 'read'], ['RunMean', 'f32', 'read_write'],
    ['RunVar', 'f32', 'read_write'], ['Y', 'f32', 'read_write'], ['SaveMean', 'f32', 'read_write'], ['SaveInvStd', 'f32', 'read_write'],
  ],
  code: `${REDUCE}
${CHANNEL_INDEX}
${PER_CHANNEL_MAIN}
  var s = 0.0;
  for (var j = l; j < count; j += 256u) { s += X[p.xOff + at(c, j)]; }
  let mean = reduceSum0(l, s) / f32(count);
  var q = 0.0;
  for (var j = l; j < count; j += 256u) { let d = X[p.xOff + at(c, j)] - mean; q += d * d; }
  let squares = reduceSum1(l, q);
  let invStd = 1.0 / sqrt(squares / f32(count) + p.eps);
  let g = Gamma[c];
  let b = Beta[c];
  for (var j = l; j < count; j += 256u) {
    let i = at(c, j);
    Y[p.yOff + i] = g * (X[p.xOff + i] - mean) * invStd + b;
  }
  if (l == 0u) {
    SaveMean[c] = mean;
    SaveInvStd[c] = invStd;
    RunMean[c] = (1.0 - p.momentum) * RunMean[c] + p.momentum * mean;
    RunVar[c] = (1.0 - p.momentum) * RunVar[c] + p.momentum * (squares / f32(count - 1u));
  }
}`,
};

/** Evaluation forward: y = gamma·(x - runMean)/sqrt(runVar + eps) + beta, one thread per value. */
export const batchNormEvalDef: KernelDef = {
  name: 'bn_eval_fwd',
  params: [['len', 'u32'], ['C', 'u32'], ['S', 'u32'], ['eps', 'f32'], ['xOff', 'u32'], ['yOff', 'u32']],
  bindings: [['X', 'f32', 'read'], ['Gamma', 'f32', 'read'], ['Beta', 'f32', 'read'], ['RunMean', 'f32', 'read'], ['RunVar', 'f32', 'read'], ['Y', 'f32', 'read_write']],
  code: `${MAIN_1D}
  if (i >= p.len) { return; }
  let c = (i / p.S) % p.C;
  let invStd = 1.0 / sqrt(RunVar[c] + p.eps);
  Y[p.yOff + i] = Gamma[c] * (X[p.xOff + i] - RunMean[c]) * invStd + Beta[c];
}`,
};

/**
 * Training backward, one workgroup per channel: dBeta = Σ dy, dGamma = Σ dy·x̂,
 * dx = gamma·invStd/M · (M·dy - dBeta - x̂·dGamma) with M = N·S.
 */
export const batchNormBackwardDef: KernelDef = {
  name: 'bn_bwd',
  params: [['N', 'u32'], ['C', 'u32'], ['S', 'u32'], ['xOff', 'u32'], ['dyOff', 'u32'], ['dxOff', 'u32']],
  bindings: [
    ['X', 'f32', 'read'], ['DY', 'f32', 'read'], ['Gamma', 'f32', 'read'], ['SaveMean', 'f32', 'read'],
    ['SaveInvStd', 'f32', 'read'], ['DX', 'f32', 'read_write'], ['DGamma', 'f32', 'read_write'], ['DBeta', 'f32', 'read_write'],
  ],
  code: `${REDUCE}
${CHANNEL_INDEX}
${PER_CHANNEL_MAIN}
  let mean = SaveMean[c];
  let invStd = SaveInvStd[c];
  var sdy = 0.0;
  var sdyx = 0.0;
  for (var j = l; j < count; j += 256u) {
    let i = at(c, j);
    let dy = DY[p.dyOff + i];
    sdy += dy;
    sdyx += dy * (X[p.xOff + i] - mean) * invStd;
  }
  let sumDy = reduceSum0(l, sdy);
  let sumDyXhat = reduceSum1(l, sdyx);
  let m = f32(count);
  let scale = Gamma[c] * invStd / m;
  for (var j = l; j < count; j += 256u) {
    let i = at(c, j);
    let xhat = (X[p.xOff + i] - mean) * invStd;
    DX[p.dxOff + i] = scale * (m * DY[p.dyOff + i] - sumDy - xhat * sumDyXhat);
  }
  if (l == 0u) {
    DBeta[c] = sumDy;
    DGamma[c] = sumDyXhat;
  }
}`,
};

/**
 * Evaluation-mode backward (statistics fixed): dx = dy·gamma/sqrt(runVar + eps),
 * dGamma = Σ dy·(x - runMean)/sqrt(runVar + eps), dBeta = Σ dy. One workgroup per channel.
 */
export const batchNormEvalBackwardDef: KernelDef = {
  name: 'bn_eval_bwd',
  params: [['N', 'u32'], ['C', 'u32'], ['S', 'u32'], ['eps', 'f32'], ['xOff', 'u32'], ['dyOff', 'u32'], ['dxOff', 'u32']],
  bindings: [
    ['X', 'f32', 'read'], ['DY', 'f32', 'read'], ['Gamma', 'f32', 'read'], ['RunMean', 'f32', 'read'],
    ['RunVar', 'f32', 'read'], ['DX', 'f32', 'read_write'], ['DGamma', 'f32', 'read_write'], ['DBeta', 'f32', 'read_write'],
  ],
  code: `${REDUCE}
${CHANNEL_INDEX}
${PER_CHANNEL_MAIN}
  let mean = RunMean[c];
  let invStd = 1.0 / sqrt(RunVar[c] + p.eps);
  let g = Gamma[c] * invStd;
  var sdy = 0.0;
  var sdyx = 0.0;
  for (var j = l; j < count; j += 256u) {
    let i = at(c, j);
    let dy = DY[p.dyOff + i];
    sdy += dy;
    sdyx += dy * (X[p.xOff + i] - mean) * invStd;
    DX[p.dxOff + i] = dy * g;
  }
  let sumDy = reduceSum0(l, sdy);
  let sumDyXhat = reduceSum1(l, sdyx);
  if (l == 0u) {
    DBeta[c] = sumDy;
    DGamma[c] = sumDyXhat;
  }
}`,
};

// ---- optimisers --------------------------------------------------------------------------------

/**
 * torch.optim.Adam with L2 weight decay in the gradient; the host passes stepSize = lr/(1-β1^t)
 * and sqrtBc2 = sqrt(1-β2^t). Masked elements (mask = 0) become exactly 0 with zero state.
 */
export function adamDef(masked: boolean): KernelDef {
  return masked ? ADAM_MASKED : ADAM;
}
function makeAdam(masked: boolean): KernelDef {
  return {
    name: masked ? 'adam_masked' : 'adam',
    params: [
      ['len', 'u32'], ['pOff', 'u32'], ['gOff', 'u32'], ['mOff', 'u32'], ['vOff', 'u32'], ['maskOff', 'u32'],
      ['stepSize', 'f32'], ['beta1', 'f32'], ['beta2', 'f32'], ['eps', 'f32'], ['weightDecay', 'f32'], ['sqrtBc2', 'f32'],
    ],
    bindings: [['P', 'f32', 'read_write'], ['G', 'f32', 'read'], ['M', 'f32', 'read_write'], ['V', 'f32', 'read_write'], ...(masked ? [['Mask', 'f32', 'read'] as const] : [])],
    code: `${MAIN_1D}
  if (i >= p.len) { return; }
  ${masked ? 'if (Mask[p.maskOff + i] == 0.0) { P[p.pOff + i] = 0.0; M[p.mOff + i] = 0.0; V[p.vOff + i] = 0.0; return; }' : ''}
  let w = P[p.pOff + i];
  let g = G[p.gOff + i] + p.weightDecay * w;
  let m = p.beta1 * M[p.mOff + i] + (1.0 - p.beta1) * g;
  let v = p.beta2 * V[p.vOff + i] + (1.0 - p.beta2) * g * g;
  M[p.mOff + i] = m;
  V[p.vOff + i] = v;
  P[p.pOff + i] = w - p.stepSize * m / (sqrt(v) / p.sqrtBc2 + p.eps);
}`,
  };
}

/**
 * torch.optim.SGD: d = grad + wd·p; with momentum, buf = d on the first step, else
 * momentum·buf + (1 - dampening)·d; d = nesterov ? d + momentum·buf : buf; p -= lr·d.
 */
export function sgdDef(masked: boolean): KernelDef {
  return masked ? SGD_MASKED : SGD;
}
function makeSgd(masked: boolean): KernelDef {
  return {
    name: masked ? 'sgd_masked' : 'sgd',
    params: [
      ['len', 'u32'], ['pOff', 'u32'], ['gOff', 'u32'], ['bufOff', 'u32'], ['maskOff', 'u32'],
      ['lr', 'f32'], ['momentum', 'f32'], ['weightDecay', 'f32'], ['dampening', 'f32'], ['nesterov', 'u32'], ['first', 'u32'],
    ],
    bindings: [['P', 'f32', 'read_write'], ['G', 'f32', 'read'], ['Buf', 'f32', 'read_write'], ...(masked ? [['Mask', 'f32', 'read'] as const] : [])],
    code: `${MAIN_1D}
  if (i >= p.len) { return; }
  ${masked ? 'if (Mask[p.maskOff + i] == 0.0) { P[p.pOff + i] = 0.0; Buf[p.bufOff + i] = 0.0; return; }' : ''}
  let w = P[p.pOff + i];
  var d = G[p.gOff + i] + p.weightDecay * w;
  if (p.momentum != 0.0) {
    var b = d;
    if (p.first == 0u) { b = p.momentum * Buf[p.bufOff + i] + (1.0 - p.dampening) * d; }
    Buf[p.bufOff + i] = b;
    d = select(b, d + p.momentum * b, p.nesterov != 0u);
  }
  P[p.pOff + i] = w - p.lr * d;
}`,
  };
}

const ADAM = makeAdam(false);
const ADAM_MASKED = makeAdam(true);
const SGD = makeSgd(false);
const SGD_MASKED = makeSgd(true);
