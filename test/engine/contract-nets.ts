/**
 * The paper's networks as a sequence of engine-contract calls (src/engine/kernels.ts `Kernels`),
 * for the webgpu-versus-wasm training tests (independent of src/nn, so a difference points at the
 * kernels, not the layers). One `step()` is a full training step as src/nn does it: forward (conv /
 * Linear through MaskedWeights, ReLU, max / average pooling, batch norm in training mode), softmax
 * cross-entropy with loss and correct counts accumulated on the device, backward, and Adam with
 * the masks (masked weights stay exactly 0). Shapes and layer order are those of src/models/zoo.ts
 * (lenet-300-100, conv2/4/6, vgg19 with batch norm); the initial weights are Kaiming-normal from a
 * seeded generator but not the zoo's stream, so they are not the weights `createModel` makes.
 *
 * Works on any backend (it uses the calls in `NetKernels`).
 */
import { convOutputSize, type Conv2dGeometry, type Kernels, type MaskedWeight, type Tensor } from '../../src/engine/kernels.js';

export type NetKernels = Pick<
  Kernels,
  | 'tensor' | 'free' | 'upload' | 'download' | 'fill'
  | 'createMaskedWeight' | 'maskedForward' | 'maskedBackwardInput' | 'maskedBackwardWeight'
  | 'conv2dForward' | 'conv2dBackward' | 'conv2dWorkspaceSize'
  | 'maxPool2dForward' | 'maxPool2dBackward' | 'avgPool2dForward' | 'avgPool2dBackward'
  | 'reluForward' | 'reluBackward' | 'biasBackward' | 'softmaxCrossEntropy'
  | 'batchNormForwardTrain' | 'batchNormBackward' | 'adamStep' | 'sgdStep'
>;

export type NetName = 'lenet-300-100' | 'conv2' | 'conv4' | 'conv6' | 'vgg19' | 'bn-small';

type Spec =
  | { kind: 'conv'; out: number; bn: boolean }
  | { kind: 'linear'; out: number }
  | { kind: 'relu' }
  | { kind: 'maxpool' }
  | { kind: 'avgpool-global' };

/** Layer list of a network (conv = 3x3 "same" convolution; bn: followed by BatchNorm2d). */
function specOf(name: NetName, classes: number): Spec[] {
  const convs = (stages: Array<number | 'M'>, bn: boolean): Spec[] =>
    stages.flatMap((s): Spec[] => (s === 'M' ? [{ kind: 'maxpool' }] : [{ kind: 'conv', out: s, bn }, { kind: 'relu' }]));
  const head: Spec[] = [{ kind: 'linear', out: 256 }, { kind: 'relu' }, { kind: 'linear', out: 256 }, { kind: 'relu' }, { kind: 'linear', out: classes }];
  switch (name) {
    case 'lenet-300-100':
      return [{ kind: 'linear', out: 300 }, { kind: 'relu' }, { kind: 'linear', out: 100 }, { kind: 'relu' }, { kind: 'linear', out: classes }];
    case 'conv2':
      return [...convs([64, 64, 'M'], false), ...head];
    case 'conv4':
      return [...convs([64, 64, 'M', 128, 128, 'M'], false), ...head];
    case 'conv6':
      return [...convs([64, 64, 'M', 128, 128, 'M', 256, 256, 'M'], false), ...head];
    case 'vgg19':
      return [...convs([64, 64, 'M', 128, 128, 'M', 256, 256, 256, 256, 'M', 512, 512, 512, 512, 'M', 512, 512, 512, 512], true), { kind: 'avgpool-global' }, { kind: 'linear', out: classes }];
    case 'bn-small':
      // a small batch-norm convnet for tests: conv-bn-relu, pool, conv-bn-relu, global average pool, linear
      return [...convs([8, 'M', 12], true), { kind: 'avgpool-global' }, { kind: 'linear', out: classes }];
  }
}

/** A seeded generator (mulberry32) with normal draws (Box-Muller). */
function rng(seed: number): { uniform(): number; normal(): number } {
  let a = seed >>> 0;
  const uniform = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { uniform, normal: () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform()) };
}

interface Param {
  name: string;
  value: Tensor;
  grad: Tensor;
  m: Tensor;
  v: Tensor;
  mask: Tensor | null;
  length: number;
}

interface Layer {
  spec: Spec;
  /** input [N, ...inShape] and output [N, ...outShape] per example sizes */
  inSize: number;
  outSize: number;
  g?: Conv2dGeometry;
  mw?: MaskedWeight;
  weight?: Param;
  bias?: Param;
  gamma?: Param;
  beta?: Param;
  /** batch norm: the pre-BN output of the conv, and the BN buffers */
  convOut?: Tensor;
  dConvOut?: Tensor;
  runMean?: Tensor;
  runVar?: Tensor;
  saveMean?: Tensor;
  saveInvStd?: Tensor;
  argmax?: Tensor;
}

export interface ContractNetOptions {
  name: NetName;
  /** [C, H, W] of one example */
  inputShape: [number, number, number];
  batch: number;
  classes: number;
  seed: number;
  /** fraction of each prunable weight kept (random masks, like a pruned ticket) */
  density: number;
  /** default adam (lr 1e-3); sgd: momentum 0.9 */
  optimizer?: 'adam' | 'sgd';
}

export class ContractNet {
  readonly params: Param[] = [];
  private readonly layers: Layer[] = [];
  /** activations: acts[0] is the input batch, acts[i + 1] the output of layer i */
  private readonly acts: Tensor[] = [];
  /** gradients of the activations (grads[0] unused) */
  private readonly grads: Tensor[] = [];
  private readonly labels: Tensor;
  private readonly dLogits: Tensor;
  /** [loss sum, correct] accumulated by softmaxCrossEntropy */
  readonly stats: Tensor;
  private readonly workspace: Tensor;
  private steps = 0;

  constructor(private readonly k: NetKernels, readonly opts: ContractNetOptions) {
    const { batch: N, inputShape, classes } = opts;
    const r = rng(opts.seed);
    let shape: number[] = [...inputShape];
    const size = (s: number[]): number => s.reduce((a, b) => a * b, 1);
    this.acts.push(k.tensor(N * size(shape)));
    this.grads.push(k.tensor(1));
    let workspace = 1;
    let index = 0;
    const param = (name: string, values: Float32Array, mask: Float32Array | null): Param => {
      const p: Param = {
        name, length: values.length,
        value: k.tensor(values.length), grad: k.tensor(values.length), m: k.tensor(values.length), v: k.tensor(values.length),
        mask: mask === null ? null : k.tensor(values.length),
      };
      k.upload(p.value, values);
      if (mask !== null && p.mask !== null) k.upload(p.mask, mask);
      this.params.push(p);
      return p;
    };
    const weight = (name: string, rows: number, cols: number): { w: Param; mask: Tensor } => {
      const values = new Float32Array(rows * cols);
      const mask = new Float32Array(rows * cols);
      const std = Math.sqrt(2 / cols);
      for (let i = 0; i < values.length; i++) {
        mask[i] = r.uniform() < opts.density ? 1 : 0;
        values[i] = mask[i] * std * r.normal();
      }
      const w = param(name, values, mask);
      return { w, mask: w.mask as Tensor };
    };
    for (const spec of specOf(opts.name, classes)) {
      const inSize = size(shape);
      const layer: Layer = { spec, inSize, outSize: inSize };
      if (spec.kind === 'conv') {
        const [c, h, w] = shape;
        layer.g = { n: N, cIn: c, h, w, cOut: spec.out, kh: 3, kw: 3, strideH: 1, strideW: 1, padH: 1, padW: 1 };
        const { w: wp, mask } = weight(`conv${index}.weight`, spec.out, c * 9);
        layer.weight = wp;
        layer.mw = k.createMaskedWeight(wp.value, mask, spec.out, c * 9);
        layer.bias = param(`conv${index}.bias`, new Float32Array(spec.out), null);
        workspace = Math.max(workspace, k.conv2dWorkspaceSize(layer.g));
        shape = [spec.out, h, w];
        if (spec.bn) {
          layer.gamma = param(`bn${index}.weight`, new Float32Array(spec.out).fill(1), null);
          layer.beta = param(`bn${index}.bias`, new Float32Array(spec.out), null);
          layer.convOut = k.tensor(N * size(shape));
          layer.dConvOut = k.tensor(N * size(shape));
          layer.runMean = k.tensor(spec.out);
          layer.runVar = k.tensor(spec.out);
          k.fill(layer.runVar, 1);
          layer.saveMean = k.tensor(spec.out);
          layer.saveInvStd = k.tensor(spec.out);
        }
      } else if (spec.kind === 'linear') {
        const { w: wp, mask } = weight(`fc${index}.weight`, spec.out, inSize);
        layer.weight = wp;
        layer.mw = k.createMaskedWeight(wp.value, mask, spec.out, inSize);
        layer.bias = param(`fc${index}.bias`, new Float32Array(spec.out), null);
        shape = [spec.out];
      } else if (spec.kind === 'maxpool' || spec.kind === 'avgpool-global') {
        const [c, h, w] = shape;
        const kSize = spec.kind === 'maxpool' ? 2 : h;
        layer.g = { n: N, cIn: c, h, w, cOut: c, kh: kSize, kw: kSize, strideH: kSize, strideW: kSize, padH: 0, padW: 0 };
        shape = [c, convOutputSize(h, kSize, kSize, 0), convOutputSize(w, kSize, kSize, 0)];
        if (spec.kind === 'maxpool') layer.argmax = k.tensor(N * size(shape), 'i32');
      }
      layer.outSize = size(shape);
      this.layers.push(layer);
      this.acts.push(k.tensor(N * layer.outSize));
      this.grads.push(k.tensor(N * layer.outSize));
      index++;
    }
    this.labels = k.tensor(N, 'i32');
    this.dLogits = this.grads[this.grads.length - 1];
    this.stats = k.tensor(2);
    this.workspace = k.tensor(workspace);
  }

  /** Copies a batch x[N, C, H, W] and its labels to the device. */
  setBatch(x: Float32Array, labels: Int32Array): void {
    this.k.upload(this.acts[0], x);
    this.k.upload(this.labels, labels);
  }

  /** One training step (forward, loss, backward, Adam); nothing is read back. */
  step(lr = 1e-3): void {
    const { k } = this;
    const N = this.opts.batch;
    this.layers.forEach((l, i) => {
      const x = this.acts[i], y = this.acts[i + 1];
      switch (l.spec.kind) {
        case 'conv':
          if (l.spec.bn) {
            k.conv2dForward(l.mw!, x, l.bias!.value, l.g!, l.convOut!, this.workspace);
            k.batchNormForwardTrain(l.convOut!, N, l.spec.out, l.outSize / l.spec.out, l.gamma!.value, l.beta!.value, 1e-5, 0.1, l.runMean!, l.runVar!, y, l.saveMean!, l.saveInvStd!);
          } else {
            k.conv2dForward(l.mw!, x, l.bias!.value, l.g!, y, this.workspace);
          }
          break;
        case 'linear':
          k.maskedForward(l.mw!, x, N, l.bias!.value, y);
          break;
        case 'relu':
          k.reluForward(x, y, N * l.outSize);
          break;
        case 'maxpool':
          k.maxPool2dForward(x, l.g!, y, l.argmax!);
          break;
        case 'avgpool-global':
          k.avgPool2dForward(x, l.g!, y);
          break;
      }
    });
    k.softmaxCrossEntropy(this.acts[this.acts.length - 1], this.labels, N, this.opts.classes, this.dLogits, this.stats);
    for (let i = this.layers.length - 1; i >= 0; i--) {
      const l = this.layers[i];
      const x = this.acts[i], dy = this.grads[i + 1], dx = i === 0 ? null : this.grads[i];
      switch (l.spec.kind) {
        case 'conv': {
          let dConv = dy;
          if (l.spec.bn) {
            k.batchNormBackward(l.convOut!, dy, N, l.spec.out, l.outSize / l.spec.out, l.gamma!.value, l.saveMean!, l.saveInvStd!, l.dConvOut!, l.gamma!.grad, l.beta!.grad);
            dConv = l.dConvOut!;
          }
          k.conv2dBackward(l.mw!, x, dConv, l.g!, l.weight!.grad, l.bias!.grad, dx, this.workspace);
          break;
        }
        case 'linear':
          k.maskedBackwardWeight(l.mw!, dy, x, N, l.weight!.grad);
          k.biasBackward(dy, N, l.spec.out, 1, l.bias!.grad);
          if (dx !== null) k.maskedBackwardInput(l.mw!, dy, N, dx);
          break;
        case 'relu':
          if (dx !== null) k.reluBackward(this.acts[i + 1], dy, dx, N * l.outSize);
          break;
        case 'maxpool':
          if (dx !== null) k.maxPool2dBackward(dy, l.argmax!, l.g!, dx);
          break;
        case 'avgpool-global':
          if (dx !== null) k.avgPool2dBackward(dy, l.g!, dx);
          break;
      }
    }
    this.steps++;
    for (const p of this.params) {
      if (this.opts.optimizer === 'sgd') k.sgdStep(p.value, p.grad, p.m, p.mask, lr, 0.9, false, 0, 0, this.steps);
      else k.adamStep(p.value, p.grad, p.m, p.v, p.mask, lr, 0.9, 0.999, 1e-8, 0, this.steps);
    }
    for (const l of this.layers) l.mw?.refreshValues();
  }

  /** The summed loss and correct count since the last reset, then zeroes them. */
  async takeStats(): Promise<{ lossSum: number; correct: number }> {
    const s = await this.k.download(this.stats);
    this.k.fill(this.stats, 0);
    return { lossSum: s[0], correct: s[1] };
  }

  /** Host copies of every parameter (by name). */
  async readParams(): Promise<Map<string, Float32Array>> {
    const out = new Map<string, Float32Array>();
    for (const p of this.params) out.set(p.name, await this.k.download(p.value));
    return out;
  }

  dispose(): void {
    for (const t of [...this.acts, ...this.grads, this.labels, this.stats, this.workspace]) this.k.free(t);
    for (const p of this.params) for (const t of [p.value, p.grad, p.m, p.v, p.mask]) if (t !== null) this.k.free(t);
    for (const l of this.layers) {
      l.mw?.dispose();
      for (const t of [l.convOut, l.dConvOut, l.runMean, l.runVar, l.saveMean, l.saveInvStd, l.argmax]) if (t !== undefined) this.k.free(t);
    }
  }
}
