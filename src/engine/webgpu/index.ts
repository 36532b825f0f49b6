/**
 * The webgpu backend's building blocks: adapter and device acquisition (adapter.ts), the runtime
 * with device tensors and command batching (runtime.ts), the WGSL kernels (wgsl.ts) and their
 * typed operations (ops.ts). Importing this module loads no GPU library: Dawn is imported lazily
 * by `acquireWebGpu`/`listAdapters`.
 */
export { acquireWebGpu, hardwareProbeSkipped, listAdapters, describeAdapter, softwareAllowedByEnv, webgpuLoadError, SOFTWARE_ENV } from './adapter.js';
export type { AdapterDescription, WebGpuContext, AcquireOptions } from './adapter.js';
export { GpuRuntime, GpuTensor, kernelSource } from './runtime.js';
export type { KernelDef, ElementType } from './runtime.js';
export { WebGpuOps } from './ops.js';
export type { Arg, View } from './ops.js';
export { createWebGpuKernels } from './backend.js';
export type { WebGpuKernels } from './backend.js';
