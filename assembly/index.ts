// The engine's WebAssembly module. Every export is a kernel taking byte offsets into the shared
// memory owned by the host (src/engine/wasm.ts) and sizes in elements. The module has no data
// segments and no allocator: with worker threads, each instance has its own globals, so all memory
// is handed out by the host.
export { setThreadScratch } from './scratch';
export { sgemm, GEMM_SCRATCH_BYTES } from './gemm';
export { transpose, csrGather, cscGather, spmmRows, sparseWeightGrad } from './sparse';
export {
  im2col, col2im, convForward, convBackward, addPartialsMasked,
  maxPoolForward, maxPoolBackward, avgPoolForward, avgPoolBackward,
} from './conv';
export {
  reluForward, reluBackward, addBias, biasBackward, softmaxCrossEntropy, softmaxCorrect,
  batchNormForwardTrain, batchNormForwardEval, batchNormBackward, applyMask, adamStep, sgdStep,
} from './elementwise';
