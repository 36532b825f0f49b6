// c + a · b lane-wise, the multiply-add of the GEMM, conv (im2col + GEMM) and sparse inner loops.
//
// scripts/build-wasm.mjs compiles the engine twice: dist/wasm/engine.wasm with mul then add, and
// dist/wasm/engine-relaxed.wasm (--enable relaxed-simd) with f32x4.relaxed_madd, which V8 lowers
// to one fused multiply-add where the CPU has FMA (one instruction and one rounding instead of
// two). src/engine/wasm.ts picks the relaxed module when the runtime validates it (Node >= 22).
// ASC_FEATURE_RELAXED_SIMD is a compile-time constant: each module holds only its own branch.
// The result of one element does not depend on how C is split across threads in either module.

// @ts-ignore: decorator
@inline export function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(c, f32x4.mul(a, b));
}
