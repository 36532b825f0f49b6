/**
 * A feed-forward network: a list of layers run in order, with PyTorch-style named parameters,
 * per-weight masks, and a state dict that moves to and from PyTorch without reshaping.
 *
 * The model owns its input buffer (inputs are copied in, so callers may pass any Float32Array),
 * a shared convolution workspace, and the buffers for dLogits and labels used by the training
 * loop. All are allocated once per batch size from the device, never per step.
 */
import type { FloatArray } from '../engine/kernels.js';
import { UserError } from '../errors.js';
import { BatchBuffer, BatchBufferInt32, type Device } from './device.js';
import type { Layer, Mode, StateBuffer } from './layers.js';
import type { Param } from './param.js';

export interface SequentialOptions {
  /** model name, e.g. 'lenet-300-100' (for messages) */
  name: string;
  /** per-example input shape [C, H, W] */
  inputShape: [number, number, number];
  classes: number;
}

export class Sequential<A extends FloatArray = Float32Array> {
  readonly name: string;
  readonly layers: Layer<A>[];
  readonly params: Param<A>[];
  readonly buffers: StateBuffer<A>[];
  readonly inputShape: [number, number, number];
  readonly classes: number;
  /** name of the weight of the last Linear layer (the output layer, p_out in the paper) */
  readonly outputWeightName: string;
  readonly device: Device<A>;
  private readonly input: BatchBuffer<A>;
  private readonly dLogits: BatchBuffer<A>;
  private readonly labels: BatchBufferInt32;
  private workspace: A | null = null;
  /** index of the first layer that has parameters (backward stops there) */
  private readonly firstParamLayer: number;
  private workspaceCapacity = 0;
  private preparedN = -1;
  /** SynFlow mode: every BatchNorm runs in eval mode whatever the caller asks */
  private absoluteMode = false;

  constructor(device: Device<A>, layers: Layer<A>[], opts: SequentialOptions) {
    this.device = device;
    this.name = opts.name;
    this.layers = layers;
    this.inputShape = opts.inputShape;
    this.classes = opts.classes;
    this.params = layers.flatMap((l) => l.params);
    this.buffers = layers.flatMap((l) => l.buffers);
    const names = new Set<string>();
    for (const t of [...this.params, ...this.buffers]) {
      if (names.has(t.name)) throw new Error(`${opts.name}: duplicate tensor name ${t.name}`);
      names.add(t.name);
    }
    const last = layers[layers.length - 1];
    if (last.outShape.length !== 1 || last.outShape[0] !== opts.classes) {
      throw new Error(`${opts.name}: the last layer gives [${last.outShape}], expected [${opts.classes}] logits`);
    }
    const outputWeight = [...this.params].reverse().find((p) => p.kind === 'linear');
    this.outputWeightName = outputWeight?.name ?? '';
    this.firstParamLayer = Math.max(0, layers.findIndex((l) => l.params.length > 0));
    this.input = new BatchBuffer(device, opts.inputShape[0] * opts.inputShape[1] * opts.inputShape[2]);
    this.dLogits = new BatchBuffer(device, opts.classes);
    this.labels = new BatchBufferInt32(device, 1);
  }

  get kernels() {
    return this.device.kernels;
  }

  /** Linear and Conv weights, in layer order: what pruning and the graph analysis work on. */
  prunableParams(): Param<A>[] {
    return this.params.filter((p) => p.prunable);
  }

  /** The parameter called `name`; throws a UserError naming it when there is none. */
  param(name: string): Param<A> {
    const p = this.params.find((q) => q.name === name);
    if (p === undefined) throw new UserError(`${this.name} has no parameter "${name}"; it has: ${this.params.map((q) => q.name).join(', ')}`);
    return p;
  }

  /** Allocates (or reuses) the shared buffers for batch size N. */
  private prepare(N: number): void {
    if (N === this.preparedN) return;
    if (!Number.isInteger(N) || N < 1) throw new Error(`${this.name}: batch size must be a positive integer, got ${N}`);
    const need = Math.max(0, ...this.layers.map((l) => l.workspaceSize(N)));
    if (need > this.workspaceCapacity) {
      if (this.workspace !== null) this.device.free(this.workspace);
      this.workspace = this.device.alloc(need);
      this.workspaceCapacity = need;
    }
    if (this.workspace !== null) for (const l of this.layers) l.setWorkspace(this.workspace);
    this.preparedN = N;
  }

  /**
   * logits[N, classes] = model(x[N, C, H, W]). The returned array is owned by the model and valid
   * until the next forward. `mode` 'train' uses batch statistics in BatchNorm and updates its
   * running statistics; 'eval' uses the running statistics.
   */
  forward(x: FloatArray, N: number, mode: Mode): A {
    this.prepare(N);
    const input = this.input.view(N);
    if (x.length < input.length) {
      throw new Error(`${this.name}: input has ${x.length} elements, expected ${input.length} (N=${N}, [${this.inputShape}])`);
    }
    input.set(x.length === input.length ? x : x.subarray(0, input.length));
    for (const l of this.layers) l.refreshWeights();
    const layerMode: Mode = this.absoluteMode ? 'eval' : mode;
    let h: A = input;
    for (const l of this.layers) h = l.forward(h, N, layerMode);
    return h;
  }

  /**
   * Backpropagates dLogits[N, classes] through the last forward pass: fills every param.grad
   * (pruned entries exactly 0). The gradient with respect to the input is not computed.
   */
  backward(dLogits: A, N: number): void {
    if (N !== this.preparedN) throw new Error(`${this.name}: backward with N=${N} after a forward with N=${this.preparedN}`);
    let g: A | null = dLogits;
    for (let i = this.layers.length - 1; i >= this.firstParamLayer; i--) {
      // Layers before the first one with parameters need no gradient: stop there.
      g = this.layers[i].backward(g!, N, i > this.firstParamLayer);
    }
  }

  /** A model-owned buffer for dLogits[N, classes] (used by the training loop). */
  dLogitsBuffer(N: number): A {
    return this.dLogits.view(N);
  }

  /** A model-owned engine buffer for labels[N] (used by the training loop). */
  labelsBuffer(N: number): Int32Array {
    return this.labels.view(N);
  }

  /** Sets the mask of prunable weight `name` (copied; entries 0/1) and zeroes the pruned weights. */
  setMask(name: string, mask: ArrayLike<number>): void {
    const p = this.param(name);
    if (p.mask === null) throw new UserError(`${this.name}: parameter "${name}" is not prunable (only Linear and Conv weights have masks)`);
    if (mask.length !== p.mask.length) {
      throw new UserError(`${this.name}: mask for "${name}" has ${mask.length} entries, expected ${p.mask.length} ([${p.shape}])`);
    }
    for (let i = 0; i < mask.length; i++) {
      const m = mask[i];
      if (m !== 0 && m !== 1) throw new UserError(`${this.name}: mask for "${name}" has the value ${m} at ${i}; masks hold 0 or 1`);
      p.mask[i] = m;
      if (m === 0) {
        p.data[i] = 0;
        p.grad[i] = 0;
      }
    }
    this.layerOf(p).maskChanged();
  }

  /** Copies of the masks of all prunable weights, by parameter name. */
  masks(): Map<string, A> {
    const out = new Map<string, A>();
    for (const p of this.prunableParams()) out.set(p.name, p.mask!.slice() as A);
    return out;
  }

  private layerOf(p: Param<A>): Layer<A> {
    const layer = this.layers.find((l) => l.params.includes(p));
    if (layer === undefined) throw new Error(`${this.name}: no layer owns ${p.name}`);
    return layer;
  }

  /** Copies of every parameter and buffer (BN running stats), by PyTorch name, in module order. */
  stateDict(): Map<string, A> {
    const out = new Map<string, A>();
    for (const l of this.layers) {
      for (const p of l.params) out.set(p.name, p.data.slice() as A);
      for (const b of l.buffers) out.set(b.name, b.data.slice() as A);
    }
    return out;
  }

  /** Shapes of the state dict's tensors (num_batches_tracked is a scalar, shape []). */
  stateShapes(): Map<string, number[]> {
    const out = new Map<string, number[]>();
    for (const l of this.layers) {
      for (const p of l.params) out.set(p.name, [...p.shape]);
      for (const b of l.buffers) out.set(b.name, [...b.shape]);
    }
    return out;
  }

  /**
   * Loads parameters and buffers by name (strict, as PyTorch's load_state_dict: every parameter and
   * running statistic must be present with the right size, and no unknown name may appear;
   * num_batches_tracked may be missing). Pruned weights stay 0: the masks are kept.
   */
  loadStateDict(state: Map<string, FloatArray>): void {
    const known = new Map<string, { data: A; required: boolean }>();
    for (const p of this.params) known.set(p.name, { data: p.data, required: true });
    for (const b of this.buffers) known.set(b.name, { data: b.data, required: b.required });
    for (const name of state.keys()) {
      if (!known.has(name)) throw new UserError(`${this.name}: state has an unknown tensor "${name}"`);
    }
    for (const [name, t] of known) {
      const src = state.get(name);
      if (src === undefined) {
        if (t.required) throw new UserError(`${this.name}: state has no tensor "${name}"`);
        continue;
      }
      if (src.length !== t.data.length) {
        throw new UserError(`${this.name}: tensor "${name}" has ${src.length} elements, expected ${t.data.length}`);
      }
    }
    for (const [name, t] of known) {
      const src = state.get(name);
      if (src !== undefined) t.data.set(src);
    }
    for (const p of this.prunableParams()) {
      const m = p.mask!;
      for (let i = 0; i < m.length; i++) if (m[i] === 0) p.data[i] = 0;
    }
  }

  /** See withAbsoluteParams. */
  setAbsoluteMode(on: boolean): void {
    this.absoluteMode = on;
  }

  /** Frees all engine memory of the model. */
  dispose(): void {
    for (const l of this.layers) l.dispose();
    this.input.dispose();
    this.dLogits.dispose();
    this.labels.dispose();
    if (this.workspace !== null) this.device.free(this.workspace);
    this.workspace = null;
    this.workspaceCapacity = 0;
    this.preparedN = -1;
  }

  /** One line per layer: name, description, output shape, parameter count. */
  summary(): string {
    const lines = this.layers.map((l) => {
      const count = l.params.reduce((s, p) => s + p.data.length, 0);
      return `${(l.name || '-').padEnd(14)} ${l.description.padEnd(40)} [${l.outShape.join(', ')}]${count ? `  ${count}` : ''}`;
    });
    return lines.join('\n');
  }
}

/**
 * Runs `fn` with every parameter replaced by its absolute value and BatchNorm in eval mode (the
 * SynFlow setting: R = sum of the output of the network on an all-ones input), then restores the
 * parameters, buffers and mode exactly, also when `fn` throws. Gradients computed inside stay in
 * param.grad.
 */
export function withAbsoluteParams<T, A extends FloatArray>(model: Sequential<A>, fn: () => T): T {
  const saved = model.params.map((p) => p.data.slice());
  for (const p of model.params) {
    const d = p.data;
    for (let i = 0; i < d.length; i++) d[i] = Math.abs(d[i]);
  }
  model.setAbsoluteMode(true);
  try {
    return fn();
  } finally {
    model.setAbsoluteMode(false);
    model.params.forEach((p, i) => p.data.set(saved[i]));
  }
}
