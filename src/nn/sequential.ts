/**
 * A feed-forward network: a list of layers run in order, with PyTorch-style named parameters,
 * per-weight masks, and a state dict that moves to and from PyTorch without reshaping.
 *
 * The model owns its input tensor (host inputs are uploaded into it), a shared convolution
 * workspace, and the tensors for dLogits, labels and loss statistics used by the training loop.
 * All are allocated once per batch size from the device, never per step. Everything that reads
 * values back (state dict, masks) is asynchronous: it downloads from the device.
 */
import type { FloatArray, Tensor } from '../engine/kernels.js';
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

export class Sequential {
  readonly name: string;
  readonly layers: Layer[];
  readonly params: Param[];
  readonly buffers: StateBuffer[];
  readonly inputShape: [number, number, number];
  readonly classes: number;
  /** name of the weight of the last Linear layer (the output layer, p_out in the paper) */
  readonly outputWeightName: string;
  readonly device: Device;
  private readonly input: BatchBuffer;
  private readonly dLogits: BatchBuffer;
  private readonly labels: BatchBufferInt32;
  private workspace: Tensor | null = null;
  /** loss statistics of `evaluate` and the *AndRead helpers: [loss sum, correct] */
  private statsTensor: Tensor | null = null;
  /** index of the first layer that has parameters (backward stops there) */
  private readonly firstParamLayer: number;
  private workspaceCapacity = 0;
  private preparedN = -1;

  constructor(device: Device, layers: Layer[], opts: SequentialOptions) {
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
  prunableParams(): Param[] {
    return this.params.filter((p) => p.prunable);
  }

  /** The parameter called `name`; throws a UserError naming it when there is none. */
  param(name: string): Param {
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
   * logits[N, classes] = model(x[N, C, H, W]), x on the host (uploaded into the model's input
   * tensor). The returned tensor is owned by the model and valid until the next forward (it may be
   * longer than N·classes). `mode` 'train' uses batch statistics in BatchNorm and updates its running
   * statistics; 'eval' uses the running statistics.
   */
  forward(x: FloatArray, N: number, mode: Mode): Tensor {
    this.prepare(N);
    const input = this.input.view(N);
    const size = N * this.inputShape[0] * this.inputShape[1] * this.inputShape[2];
    if (x.length < size) {
      throw new Error(`${this.name}: input has ${x.length} elements, expected ${size} (N=${N}, [${this.inputShape}])`);
    }
    this.kernels.upload(input, x.length === size ? x : x.subarray(0, size));
    return this.forwardFrom(input, N, mode);
  }

  /** The forward pass from the model's input tensor (already uploaded). */
  private forwardFrom(input: Tensor, N: number, mode: Mode): Tensor {
    for (const l of this.layers) l.refreshWeights();
    let h: Tensor = input;
    for (const l of this.layers) h = l.forward(h, N, mode);
    return h;
  }

  /**
   * Backpropagates dLogits[N, classes] through the last forward pass: fills every param.grad
   * (pruned entries exactly 0). The gradient with respect to the input is not computed.
   */
  backward(dLogits: Tensor, N: number): void {
    if (N !== this.preparedN) throw new Error(`${this.name}: backward with N=${N} after a forward with N=${this.preparedN}`);
    let g: Tensor | null = dLogits;
    for (let i = this.layers.length - 1; i >= this.firstParamLayer; i--) {
      // Layers before the first one with parameters need no gradient: stop there.
      g = this.layers[i].backward(g!, N, i > this.firstParamLayer);
    }
  }

  /** A model-owned tensor for dLogits[N, classes] (used by the training loop). */
  dLogitsBuffer(N: number): Tensor {
    return this.dLogits.view(N);
  }

  /**
   * Uploads labels[N] (host) into the model's label tensor and returns it. Labels are checked here,
   * on the host, because a GPU kernel cannot report a bad one.
   */
  setLabels(labels: Int32Array, N: number): Tensor {
    if (labels.length < N) throw new Error(`${this.name}: labels has ${labels.length} entries, expected ${N}`);
    for (let n = 0; n < N; n++) {
      const l = labels[n];
      if (!(l >= 0 && l < this.classes)) throw new Error(`${this.name}: label ${l} is outside [0, ${this.classes})`);
    }
    const buf = this.labels.view(N);
    this.kernels.upload(buf, labels.length === N ? labels : labels.subarray(0, N));
    return buf;
  }

  /** A model-owned stats tensor [loss sum, correct] (see Kernels.softmaxCrossEntropy). */
  stats(): Tensor {
    if (this.statsTensor === null) this.statsTensor = this.device.alloc(2);
    return this.statsTensor;
  }

  /**
   * Sets the mask of prunable weight `name` (host values, checked to be 0/1; uploaded) and zeroes
   * the pruned weights and gradients on the device.
   */
  setMask(name: string, mask: ArrayLike<number>): void {
    const p = this.param(name);
    if (p.mask === null) throw new UserError(`${this.name}: parameter "${name}" is not prunable (only Linear and Conv weights have masks)`);
    if (mask.length !== p.mask.length) {
      throw new UserError(`${this.name}: mask for "${name}" has ${mask.length} entries, expected ${p.mask.length} ([${p.shape}])`);
    }
    for (let i = 0; i < mask.length; i++) {
      const m = mask[i];
      if (m !== 0 && m !== 1) throw new UserError(`${this.name}: mask for "${name}" has the value ${m} at ${i}; masks hold 0 or 1`);
    }
    const k = this.kernels;
    k.upload(p.mask, mask);
    k.applyMask(p.data, p.mask, p.data.length);
    k.applyMask(p.grad, p.mask, p.grad.length);
    this.layerOf(p).maskChanged();
  }

  /** Host copies of the masks of all prunable weights, by parameter name (downloaded). */
  async masks(): Promise<Map<string, Float32Array>> {
    const out = new Map<string, Float32Array>();
    for (const p of this.prunableParams()) out.set(p.name, await this.kernels.download(p.mask!));
    return out;
  }

  private layerOf(p: Param): Layer {
    const layer = this.layers.find((l) => l.params.includes(p));
    if (layer === undefined) throw new Error(`${this.name}: no layer owns ${p.name}`);
    return layer;
  }

  /** Host copies of every parameter and buffer (BN running stats), by PyTorch name, in module order (downloaded). */
  async stateDict(): Promise<Map<string, Float32Array>> {
    const out = new Map<string, Float32Array>();
    for (const l of this.layers) {
      for (const p of l.params) out.set(p.name, await this.kernels.download(p.data));
      for (const b of l.buffers) out.set(b.name, await this.kernels.download(b.data));
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
  loadStateDict(state: Map<string, ArrayLike<number>>): void {
    const known = new Map<string, { data: Tensor; required: boolean }>();
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
      if (src !== undefined) this.kernels.upload(t.data, src);
    }
    for (const p of this.prunableParams()) this.kernels.applyMask(p.data, p.mask!, p.data.length);
  }

  /**
   * SynFlow's forward and backward pass (src/prune/scores.ts has the method and the numerics), run
   * through the kernels: every parameter replaced by its absolute value, BatchNorm in eval mode, an
   * all-ones input of one example, dR/dlogits = 1. After each 'rescale' layer (Linear, Conv2d) the
   * activation is multiplied by a power of two that brings its largest magnitude near 1, folded
   * into the layer's weight and bias; the gradient passed down is rescaled the same way. Only a
   * few scalars (one max per weight layer and direction) come back to the host.
   * Afterwards param.grad holds the rescaled gradients and param.data (still the rescaled absolute
   * values) must be read before the model is restored: `read` runs at that point and its result is
   * returned. Parameters, buffers and masks are then restored exactly, also when something throws.
   * The true score of weight w of a layer is |w' · g'| / (outputScale · gradScale(w)).
   */
  async synflowPass<T>(read: (r: { outputScale: number; gradScale: Map<string, number> }) => Promise<T>): Promise<T> {
    for (const l of this.layers) {
      if (l.synflow === 'unknown') {
        throw new Error(`synflowScores: layer ${l.name || l.description} is not one SynFlow's rescaling knows (weight layers, batch norm, positively homogeneous maps)`);
      }
    }
    const k = this.kernels;
    const tensors = [...this.params.map((p) => p.data), ...this.buffers.map((b) => b.data)];
    const saved = tensors.map((t) => {
      const copy = this.device.alloc(t.length);
      k.copy(t, copy, t.length);
      return copy;
    });
    const scalar = this.device.alloc(1);
    /** 2^-round(log2 max|t[0..n)|), from one scalar downloaded */
    const powerOfTwoScale = async (t: Tensor, n: number, what: string): Promise<number> => {
      k.maxAbs(t, n, scalar);
      const m = (await k.download(scalar))[0];
      if (!Number.isFinite(m)) throw new Error(`synflowScores: non-finite ${what}`);
      return m > 0 ? 2 ** -Math.round(Math.log2(m)) : 1;
    };
    try {
      for (const p of this.params) k.abs(p.data, p.data, p.data.length);
      this.prepare(1);
      const [C, H, W] = this.inputShape;
      const input = this.input.view(1);
      k.fill(input, 1, 0, C * H * W);
      for (const l of this.layers) l.refreshWeights();
      let scale = 1; // S_l: product of the c's so far
      let h: Tensor = input;
      for (const layer of this.layers) {
        if (layer.synflow !== 'homogeneous') layer.scaleShift!(scale);
        if (layer.synflow === 'rescale') layer.refreshWeights();
        h = layer.forward(h, 1, 'eval');
        if (layer.synflow === 'rescale') {
          const n = layer.outShape.reduce((a, b) => a * b, 1);
          const c = await powerOfTwoScale(h, n, `activation after ${layer.name}`);
          // fold c into the layer: output, weight, bias; the model is now c-scaled from here on
          k.scale(h, c, n);
          layer.scaleWeights!(c);
          scale *= c;
        }
      }
      // Backward, layer by layer: T is the factor the signal arriving at a layer carries; a
      // layer's parameter gradients are computed at its T.
      const dLogits = this.dLogitsBuffer(1);
      k.fill(dLogits, 1, 0, this.classes); // R' = sum of the (rescaled) logits
      const gradScale = new Map<string, number>();
      let back = 1;
      let g: Tensor | null = dLogits;
      for (let i = this.layers.length - 1; i >= this.firstParamLayer; i--) {
        const layer = this.layers[i];
        for (const p of layer.params) gradScale.set(p.name, back);
        g = layer.backward(g!, 1, i > this.firstParamLayer);
        if (g !== null && layer.synflow === 'rescale') {
          const n = layer.inShape.reduce((a, b) => a * b, 1);
          const d = await powerOfTwoScale(g, n, `gradient below ${layer.name}`);
          k.scale(g, d, n);
          back *= d;
        }
      }
      return await read({ outputScale: scale, gradScale });
    } finally {
      tensors.forEach((t, i) => {
        k.copy(saved[i], t, t.length);
        this.device.free(saved[i]);
      });
      this.device.free(scalar);
      for (const l of this.layers) l.refreshWeights();
    }
  }

  /** Frees all engine memory of the model. */
  dispose(): void {
    for (const l of this.layers) l.dispose();
    this.input.dispose();
    this.dLogits.dispose();
    this.labels.dispose();
    if (this.workspace !== null) this.device.free(this.workspace);
    if (this.statsTensor !== null) this.device.free(this.statsTensor);
    this.workspace = null;
    this.statsTensor = null;
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
