/**
 * The model zoo: the networks of the paper (NOTES.md section 7), for any [C, H, W] input
 * (28x28x1 MNIST and 32x32x3 CIFAR-10 are the usual ones).
 *
 * Parameter names are those of the usual PyTorch definitions, so state dicts and masks move to
 * and from PyTorch unchanged (docs/models.md gives the PyTorch code):
 * - lenet-300-100: fc1 [300, C·H·W], fc2 [100, 300], fc3 [classes, 100] (+ biases); ReLU between.
 * - conv2 / conv4 / conv6 (Frankle & Carbin 2019): `features` = per stage two 3x3 "same" convs
 *   (each followed by ReLU) and a 2x2 max-pool, with 64 / 64,128 / 64,128,256 channels; then
 *   `classifier` = Linear(·, 256), ReLU, Linear(256, 256), ReLU, Linear(256, classes). Module
 *   indices count every entry of the nn.Sequential (conv, ReLU, pool), e.g. conv4: features.0,
 *   features.2, features.5, features.7; classifier.0, classifier.2, classifier.4.
 * - vgg19 (the CIFAR variant with batch norm, as in open_lth / common CIFAR code): `features` =
 *   [Conv3x3 → BatchNorm2d → ReLU] per entry of 64,64,M,128,128,M,256x4,M,512x4,M,512x4, where
 *   M is a 2x2 max-pool, then a global average pool (AvgPool2d over the remaining H x W, i.e.
 *   AdaptiveAvgPool2d(1); for 32x32 inputs that is AvgPool2d(2) as in open_lth); `classifier` =
 *   Linear(512, classes) (a single layer, so its weight is `classifier.weight`).
 * All convs and linears have biases. Initialisation: src/nn/init.ts.
 */
import type { Kernels } from '../engine/kernels.js';
import { UserError } from '../errors.js';
import { float32Device, type Device } from '../nn/device.js';
import { kaimingNormalInit } from '../nn/init.js';
import { AvgPool2d, BatchNorm2d, Conv2d, Flatten, Linear, MaxPool2d, ReLU, type Layer } from '../nn/layers.js';
import { Rng } from '../nn/rng.js';
import { Sequential } from '../nn/sequential.js';
import type { ModelName } from '../prune/config.js';

export const MODEL_NAMES: readonly ModelName[] = ['lenet-300-100', 'conv2', 'conv4', 'conv6', 'vgg19'];

export interface ModelOptions {
  seed: number;
  /** per-example input shape [C, H, W] */
  inputShape: [number, number, number];
  classes: number;
}

type Stage = number | 'M';

const CONV_STAGES: Record<'conv2' | 'conv4' | 'conv6', Stage[]> = {
  conv2: [64, 64, 'M'],
  conv4: [64, 64, 'M', 128, 128, 'M'],
  conv6: [64, 64, 'M', 128, 128, 'M', 256, 256, 'M'],
};

const VGG19_STAGES: Stage[] = [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 256, 'M', 512, 512, 512, 512, 'M', 512, 512, 512, 512];

/** Tracks the current per-example shape while layers are stacked. */
class Builder {
  readonly layers: Layer[] = [];
  shape: number[];

  constructor(readonly device: Device, inputShape: [number, number, number]) {
    this.shape = [...inputShape];
  }

  add(layer: Layer): void {
    this.layers.push(layer);
    this.shape = layer.outShape;
  }

  get image(): [number, number, number] {
    if (this.shape.length !== 3) throw new Error(`expected an image shape, have [${this.shape}]`);
    return this.shape as [number, number, number];
  }
}

function lenet(b: Builder, classes: number): void {
  const d = b.device;
  b.add(new Flatten(b.shape));
  b.add(new Linear(d, 'fc1', b.shape[0], 300));
  b.add(new ReLU(d, b.shape));
  b.add(new Linear(d, 'fc2', 300, 100));
  b.add(new ReLU(d, b.shape));
  b.add(new Linear(d, 'fc3', 100, classes));
}

function convNet(b: Builder, stages: Stage[], classes: number): void {
  const d = b.device;
  let i = 0;
  for (const s of stages) {
    if (s === 'M') {
      b.add(new MaxPool2d(d, b.image, 2));
      i += 1;
    } else {
      b.add(new Conv2d(d, `features.${i}`, b.image, s, 3, { padding: 1 }));
      b.add(new ReLU(d, b.shape));
      i += 2;
    }
  }
  b.add(new Flatten(b.shape));
  b.add(new Linear(d, 'classifier.0', b.shape[0], 256));
  b.add(new ReLU(d, b.shape));
  b.add(new Linear(d, 'classifier.2', 256, 256));
  b.add(new ReLU(d, b.shape));
  b.add(new Linear(d, 'classifier.4', 256, classes));
}

function vgg19(b: Builder, classes: number): void {
  const d = b.device;
  let i = 0;
  for (const s of VGG19_STAGES) {
    if (s === 'M') {
      b.add(new MaxPool2d(d, b.image, 2));
      i += 1;
    } else {
      b.add(new Conv2d(d, `features.${i}`, b.image, s, 3, { padding: 1 }));
      b.add(new BatchNorm2d(d, `features.${i + 1}`, b.image));
      b.add(new ReLU(d, b.shape));
      i += 3;
    }
  }
  const [, h, w] = b.image;
  if (h !== w) throw new Error(`vgg19 needs square feature maps, has ${h}x${w}`);
  b.add(new AvgPool2d(d, b.image, h));
  b.add(new Flatten(b.shape));
  b.add(new Linear(d, 'classifier', b.shape[0], classes));
}

/**
 * Builds `name` on any device (Float32 engine memory, or Float64 for gradient checks), with
 * Kaiming-normal initial weights from `opts.seed` (`new Rng(seed).fork('init')`).
 */
export function buildModel(name: ModelName, device: Device, opts: ModelOptions): Sequential {
  const [c, h, w] = opts.inputShape;
  if (![c, h, w].every((v) => Number.isInteger(v) && v > 0)) {
    throw new UserError(`model ${name}: inputShape must be three positive integers [C, H, W], got [${opts.inputShape}]`);
  }
  if (!Number.isInteger(opts.classes) || opts.classes < 2) {
    throw new UserError(`model ${name}: classes must be an integer >= 2, got ${opts.classes}`);
  }
  const b = new Builder(device, opts.inputShape);
  try {
    switch (name) {
      case 'lenet-300-100':
        lenet(b, opts.classes);
        break;
      case 'conv2':
      case 'conv4':
      case 'conv6':
        convNet(b, CONV_STAGES[name], opts.classes);
        break;
      case 'vgg19':
        vgg19(b, opts.classes);
        break;
      default:
        throw new UserError(`unknown model "${String(name)}"; models are: ${MODEL_NAMES.join(', ')}`);
    }
  } catch (e) {
    for (const l of b.layers) l.dispose();
    if (e instanceof UserError) throw e;
    throw new UserError(`model ${name} cannot take inputs of shape [${opts.inputShape}]: ${(e as Error).message}`);
  }
  const model = new Sequential(device, b.layers, { name, inputShape: opts.inputShape, classes: opts.classes });
  kaimingNormalInit(model.params, new Rng(opts.seed).fork('init'), device.kernels);
  return model;
}

/** The model in Float32 on the engine's memory: what training uses. */
export function createModel(name: ModelName, kernels: Kernels, opts: ModelOptions): Sequential {
  return buildModel(name, float32Device(kernels), opts);
}

/** Total elements of the prunable weights (Linear and Conv weights, no biases or BN). */
export function countPrunableWeights(model: Sequential): number {
  return model.prunableParams().reduce((s, p) => s + p.data.length, 0);
}

/** Total elements of all trainable parameters. */
export function countParams(model: Sequential): number {
  return model.params.reduce((s, p) => s + p.data.length, 0);
}
