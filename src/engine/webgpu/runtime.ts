/// <reference types="@webgpu/types" />
/**
 * The WebGPU runtime under the kernels: device-resident tensors, compiled pipelines and the
 * command batching.
 *
 * Batching: kernels are recorded, not run. Every dispatch goes into one compute pass of one
 * command encoder; its uniform parameters go into a 256-byte slot of a host staging array, and
 * the whole batch is sent by `flush()` as one `writeBuffer` of the parameters and one `submit`
 * (an empty submit costs ~42 us on an H200, a dispatch a few us, so a training step must be a few
 * submits, not one per kernel). WebGPU orders the dispatches of a pass (each is its own usage
 * scope), so a kernel sees the writes of the ones recorded before it. The uniform buffer is bound
 * with a dynamic offset, so one bind group per (kernel, tensors) is made once and cached.
 *
 * Ordering rules the runtime keeps for its callers:
 * - `upload` flushes recorded work first when that work uses the tensor (it must read the old
 *   contents), then writes; a write to a tensor the recorded work does not touch needs no flush;
 * - `download` flushes, copies into a mappable buffer and resolves when the GPU is done;
 * - `free` destroys the buffer only after the batch that used it has been submitted.
 *
 * Nothing here uses a Node API: the same runtime can run on a browser's `navigator.gpu`.
 */

import type { DType, Tensor } from '../kernels.js';

// GPUBufferUsage / GPUMapMode values (fixed by the WebGPU spec; Dawn in Node has no globals)
const USAGE_MAP_READ = 0x0001;
const USAGE_COPY_SRC = 0x0004;
const USAGE_COPY_DST = 0x0008;
const USAGE_UNIFORM = 0x0040;
const USAGE_STORAGE = 0x0080;
const MAP_READ = 0x0001;

/** Bytes of one dispatch's parameter slot (minUniformBufferOffsetAlignment is at most 256). */
const PARAM_SLOT = 256;
/** Dispatches per batch before it is sent on its own. */
const SLOTS_PER_BATCH = 2048;
/** WebGPU's guaranteed maxComputeWorkgroupsPerDimension. */
export const MAX_GROUPS_PER_DIM = 65535;

export type ElementType = DType;

/**
 * A tensor in GPU memory: a flat array of `length` 32-bit elements. Opaque to callers: its
 * contents are reached only through `upload`/`download` and the kernels.
 */
export class GpuTensor implements Tensor {
  /** @internal */
  destroyed = false;
  constructor(
    /** @internal */ readonly buffer: GPUBuffer,
    readonly length: number,
    readonly dtype: ElementType,
    /** @internal unique per runtime, for the bind group cache */ readonly id: number,
  ) {}
}

export type ScalarType = 'u32' | 'i32' | 'f32';

/**
 * One WGSL compute kernel: its uniform parameters (all 4-byte scalars, in this order), its
 * storage bindings (in this order, from binding 1; binding 0 is the parameters) and the rest of
 * its source (workgroup variables, helper functions and `fn main`).
 */
export interface KernelDef {
  name: string;
  params: ReadonlyArray<readonly [string, ScalarType]>;
  bindings: ReadonlyArray<readonly [string, 'f32' | 'i32', 'read' | 'read_write']>;
  code: string;
}

/** The full WGSL of a kernel: the parameter struct and bindings, then its code. */
export function kernelSource(def: KernelDef): string {
  const fields = def.params.length > 0 ? def.params.map(([n, t]) => `  ${n}: ${t},`).join('\n') : '  unused: u32,';
  const bindings = def.bindings
    .map(([n, t, access], i) => `@group(0) @binding(${i + 1}) var<storage, ${access}> ${n}: array<${t}>;`)
    .join('\n');
  return `struct Params {\n${fields}\n}\n@group(0) @binding(0) var<uniform> p: Params;\n${bindings}\n${def.code}\n`;
}

interface Compiled {
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
  def: KernelDef;
}

export class GpuRuntime {
  private nextId = 1;
  private readonly compiled = new Map<string, Compiled>();
  private readonly bindGroups = new Map<string, GPUBindGroup>();
  /** bind group cache keys that mention each tensor id, dropped when the tensor is freed */
  private readonly keysOfTensor = new Map<number, string[]>();
  private readonly uniform: GPUBuffer;
  private readonly params = new ArrayBuffer(PARAM_SLOT * SLOTS_PER_BATCH);
  private readonly paramsU32 = new Uint32Array(this.params);
  private readonly paramsI32 = new Int32Array(this.params);
  private readonly paramsF32 = new Float32Array(this.params);
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private slots = 0;
  private readonly usedInBatch = new Set<number>();
  private pendingDestroy: GPUBuffer[] = [];
  private readonly errors: string[] = [];
  /** submits so far (a measure of batching, reported by the bench) */
  submits = 0;
  dispatches = 0;

  constructor(readonly device: GPUDevice) {
    this.uniform = device.createBuffer({ size: PARAM_SLOT * SLOTS_PER_BATCH, usage: USAGE_UNIFORM | USAGE_COPY_DST });
    device.addEventListener('uncapturederror', (event) => {
      const e = (event as GPUUncapturedErrorEvent).error;
      this.errors.push(e.message);
    });
  }

  // ---- tensors ------------------------------------------------------------------------------

  /** A zero-filled tensor of `length` elements. */
  tensor(length: number, dtype: ElementType = 'f32'): GpuTensor {
    if (!(Number.isInteger(length) && length >= 0)) throw new RangeError(`webgpu: tensor length must be an integer >= 0, got ${length}`);
    const bytes = Math.max(16, Math.ceil((length * 4) / 16) * 16);
    const max = this.device.limits.maxStorageBufferBindingSize;
    if (bytes > max) throw new RangeError(`webgpu: a tensor of ${length} elements exceeds the device's storage binding limit of ${max} bytes`);
    // buffers are created zero-filled by WebGPU
    const buffer = this.device.createBuffer({ size: bytes, usage: USAGE_STORAGE | USAGE_COPY_SRC | USAGE_COPY_DST });
    return new GpuTensor(buffer, length, dtype, this.nextId++);
  }

  /**
   * Writes `data` into `t` from element `offset`. A queued write lands before the commands not yet
   * submitted, so the recorded work is sent first when it uses `t` (it must see the old contents);
   * otherwise it stays recorded (a training step's labels join the batch its forward pass is in).
   */
  upload(t: GpuTensor, data: Float32Array | Int32Array, offset = 0): void {
    this.check(t);
    if (offset + data.length > t.length) throw new RangeError(`webgpu: upload of ${data.length} elements at ${offset} overflows a tensor of ${t.length}`);
    if (this.usedInBatch.has(t.id)) this.flush();
    if (data.length === 0) return;
    this.device.queue.writeBuffer(t.buffer, offset * 4, data.buffer, data.byteOffset, data.length * 4);
  }

  /** Reads `length` elements of `t` from element `offset`, after all recorded work. */
  async download(t: GpuTensor, offset = 0, length = t.length - offset): Promise<Float32Array> {
    const bytes = await this.read(t, offset, length);
    return new Float32Array(bytes);
  }

  async downloadInt32(t: GpuTensor, offset = 0, length = t.length - offset): Promise<Int32Array> {
    return new Int32Array(await this.read(t, offset, length));
  }

  private async read(t: GpuTensor, offset: number, length: number): Promise<ArrayBuffer> {
    this.check(t);
    if (offset < 0 || length < 0 || offset + length > t.length) throw new RangeError(`webgpu: download of ${length} elements at ${offset} from a tensor of ${t.length}`);
    if (length === 0) return new ArrayBuffer(0);
    const staging = this.device.createBuffer({ size: Math.ceil((length * 4) / 4) * 4, usage: USAGE_MAP_READ | USAGE_COPY_DST });
    this.endPass();
    this.ensureEncoder().copyBufferToBuffer(t.buffer, offset * 4, staging, 0, length * 4);
    this.flush();
    await staging.mapAsync(MAP_READ);
    const copy = staging.getMappedRange().slice(0);
    staging.unmap();
    staging.destroy();
    this.throwErrors();
    return copy;
  }

  /** Returns the tensor's memory; it must not be used afterwards. */
  free(t: GpuTensor): void {
    if (t.destroyed) return;
    t.destroyed = true;
    for (const key of this.keysOfTensor.get(t.id) ?? []) this.bindGroups.delete(key);
    this.keysOfTensor.delete(t.id);
    if (this.usedInBatch.has(t.id)) this.pendingDestroy.push(t.buffer);
    else t.buffer.destroy();
  }

  private check(t: GpuTensor): void {
    if (t.destroyed) throw new Error('webgpu: the tensor was freed');
  }

  // ---- kernels ------------------------------------------------------------------------------

  private compile(def: KernelDef): Compiled {
    let c = this.compiled.get(def.name);
    if (c !== undefined) {
      if (c.def !== def && kernelSource(c.def) !== kernelSource(def)) throw new Error(`webgpu: two different kernels are named ${def.name}`);
      return c;
    }
    const module = this.device.createShaderModule({ label: def.name, code: kernelSource(def) });
    const entries: GPUBindGroupLayoutEntry[] = [
      { binding: 0, visibility: 4 /* COMPUTE */, buffer: { type: 'uniform', hasDynamicOffset: true, minBindingSize: 0 } },
      ...def.bindings.map(([, , access], i): GPUBindGroupLayoutEntry => ({
        binding: i + 1,
        visibility: 4,
        buffer: { type: access === 'read' ? 'read-only-storage' : 'storage' },
      })),
    ];
    const layout = this.device.createBindGroupLayout({ label: def.name, entries });
    const pipeline = this.device.createComputePipeline({
      label: def.name,
      layout: this.device.createPipelineLayout({ bindGroupLayouts: [layout] }),
      compute: { module, entryPoint: 'main' },
    });
    c = { pipeline, layout, def };
    this.compiled.set(def.name, c);
    return c;
  }

  /**
   * Records one dispatch of `def` over `groups` workgroups with the given tensors (by binding
   * name) and parameters (by name; missing ones are 0).
   */
  dispatch(
    def: KernelDef,
    tensors: Record<string, GpuTensor>,
    params: Record<string, number>,
    groups: readonly [number, number?, number?],
  ): void {
    const [gx, gy = 1, gz = 1] = groups;
    if (gx === 0 || gy === 0 || gz === 0) return;
    if (gx > MAX_GROUPS_PER_DIM || gy > MAX_GROUPS_PER_DIM || gz > MAX_GROUPS_PER_DIM) {
      throw new RangeError(`webgpu: ${def.name} needs ${gx}x${gy}x${gz} workgroups, more than ${MAX_GROUPS_PER_DIM} in one dimension`);
    }
    const c = this.compile(def);
    const buffers: GpuTensor[] = def.bindings.map(([name]) => {
      const t = tensors[name];
      if (t === undefined) throw new Error(`webgpu: ${def.name} needs tensor ${name}`);
      this.check(t);
      return t;
    });
    // one buffer bound twice where one binding writes is a WebGPU validation error
    for (let i = 0; i < buffers.length; i++) {
      for (let j = i + 1; j < buffers.length; j++) {
        if (buffers[i] === buffers[j] && (def.bindings[i][2] === 'read_write' || def.bindings[j][2] === 'read_write')) {
          throw new Error(`webgpu: ${def.name} got the same tensor for ${def.bindings[i][0]} and ${def.bindings[j][0]}`);
        }
      }
    }
    if (this.slots === SLOTS_PER_BATCH) this.flush();
    const slot = this.slots++;
    const base = (slot * PARAM_SLOT) / 4;
    def.params.forEach(([name, type], i) => {
      const v = params[name] ?? 0;
      if (type === 'f32') this.paramsF32[base + i] = v;
      else if (type === 'i32') this.paramsI32[base + i] = v;
      else {
        if (!(Number.isInteger(v) && v >= 0 && v <= 0xffffffff)) throw new RangeError(`webgpu: ${def.name} parameter ${name} must be a u32, got ${v}`);
        this.paramsU32[base + i] = v;
      }
    });
    const key = `${def.name}|${buffers.map((b) => b.id).join(',')}`;
    let group = this.bindGroups.get(key);
    if (group === undefined) {
      group = this.device.createBindGroup({
        layout: c.layout,
        entries: [
          { binding: 0, resource: { buffer: this.uniform, offset: 0, size: PARAM_SLOT } },
          ...buffers.map((b, i): GPUBindGroupEntry => ({ binding: i + 1, resource: { buffer: b.buffer } })),
        ],
      });
      this.bindGroups.set(key, group);
      for (const b of buffers) {
        const keys = this.keysOfTensor.get(b.id);
        if (keys === undefined) this.keysOfTensor.set(b.id, [key]);
        else keys.push(key);
      }
    }
    for (const b of buffers) this.usedInBatch.add(b.id);
    const pass = this.ensurePass();
    pass.setPipeline(c.pipeline);
    pass.setBindGroup(0, group, [slot * PARAM_SLOT]);
    pass.dispatchWorkgroups(gx, gy, gz);
    this.dispatches++;
  }

  private ensureEncoder(): GPUCommandEncoder {
    this.encoder ??= this.device.createCommandEncoder();
    return this.encoder;
  }

  private ensurePass(): GPUComputePassEncoder {
    this.pass ??= this.ensureEncoder().beginComputePass();
    return this.pass;
  }

  private endPass(): void {
    if (this.pass !== null) {
      this.pass.end();
      this.pass = null;
    }
  }

  /** Sends the recorded work: one parameter upload and one submit. */
  flush(): void {
    this.endPass();
    if (this.encoder === null) return;
    if (this.slots > 0) this.device.queue.writeBuffer(this.uniform, 0, this.params, 0, this.slots * PARAM_SLOT);
    this.device.queue.submit([this.encoder.finish()]);
    this.submits++;
    this.encoder = null;
    this.slots = 0;
    this.usedInBatch.clear();
    for (const b of this.pendingDestroy) b.destroy();
    this.pendingDestroy = [];
  }

  /** Sends the recorded work and resolves when the GPU has finished it; throws a GPU error seen. */
  async sync(): Promise<void> {
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
    this.throwErrors();
  }

  private throwErrors(): void {
    if (this.errors.length > 0) {
      const all = this.errors.splice(0);
      throw new Error(`webgpu: ${all.length} GPU error(s); first: ${all[0]}`);
    }
  }
}

/** Workgroup counts for `n` threads in groups of `size`, folded into 2-D past 65535 groups. */
export function groups1d(n: number, size = 256): [number, number] {
  const g = Math.ceil(n / size);
  if (g <= MAX_GROUPS_PER_DIM) return [g, 1];
  const y = Math.ceil(g / MAX_GROUPS_PER_DIM);
  return [Math.ceil(g / y), y];
}
