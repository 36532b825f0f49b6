/**
 * Optimisers over the engine's adamStep / sgdStep, with the learning-rate schedules of
 * TrainingConfig. Masked (pruned) weights stay exactly 0 and keep 0 optimiser state: the kernels
 * take each weight's mask.
 *
 * Semantics are PyTorch's: Adam (betas 0.9, 0.999, eps 1e-8, L2 weight decay added to the
 * gradient, bias correction with the step counted from 1); SGD with momentum, optional Nesterov,
 * dampening 0, L2 weight decay. Weight decay applies to every parameter, as torch.optim does by
 * default.
 */
import type { Tensor } from '../engine/kernels.js';
import type { TrainingConfig } from '../prune/config.js';
import type { Device } from './device.js';
import type { Param } from './param.js';

/** What an optimiser updates: a model (Sequential) or any list of parameters on one device. */
export interface OptimizerTarget {
  readonly params: Param[];
  readonly device: Device;
}

export interface Optimizer {
  /** steps taken since creation or the last reset */
  readonly stepCount: number;
  /** learning rate the next step will use */
  currentLr(): number;
  /** one update of every parameter from its .grad; advances the schedule */
  step(): void;
  /** host copies of the state of parameter `name`: Adam [m, v], SGD [velocity] (downloaded) */
  stateOf(name: string): Promise<Float32Array[]>;
  /** fresh state (moments/velocities 0) and step count 0 */
  reset(): void;
  /** frees engine memory */
  dispose(): void;
}

export type ScheduleConfig = Pick<TrainingConfig, 'lr' | 'schedule' | 'iterations' | 'milestones' | 'gamma'>;

/**
 * Learning rate for the step with 0-based index t (PyTorch schedulers stepped once per iteration):
 * - constant: lr
 * - cosine:   lr · (1 + cos(π · t / iterations)) / 2   (CosineAnnealingLR, T_max = iterations, eta_min 0)
 * - step:     lr · gamma^(number of milestones <= t)     (MultiStepLR)
 */
export function learningRate(cfg: ScheduleConfig, t: number): number {
  switch (cfg.schedule) {
    case 'constant':
      return cfg.lr;
    case 'cosine': {
      const T = Math.max(1, cfg.iterations);
      return (cfg.lr * (1 + Math.cos((Math.PI * Math.min(t, T)) / T))) / 2;
    }
    case 'step': {
      const passed = cfg.milestones.filter((m) => m <= t).length;
      return cfg.lr * Math.pow(cfg.gamma, passed);
    }
    default:
      throw new Error(`unknown lr schedule ${String(cfg.schedule)}`);
  }
}

export const ADAM_BETA1 = 0.9;
export const ADAM_BETA2 = 0.999;
export const ADAM_EPS = 1e-8;

class EngineOptimizer implements Optimizer {
  private steps = 0;
  /** Adam: [m, v] per param; SGD: [velocity] per param */
  private readonly state: Tensor[][];

  constructor(private readonly model: OptimizerTarget, private readonly cfg: TrainingConfig) {
    const slots = cfg.optimizer === 'adam' ? 2 : 1;
    this.state = model.params.map((p) => Array.from({ length: slots }, () => model.device.alloc(p.data.length)));
  }

  get stepCount(): number {
    return this.steps;
  }

  currentLr(): number {
    return learningRate(this.cfg, this.steps);
  }

  step(): void {
    const lr = learningRate(this.cfg, this.steps);
    this.steps += 1;
    const k = this.model.device.kernels;
    const c = this.cfg;
    this.model.params.forEach((p: Param, i) => {
      const s = this.state[i];
      if (c.optimizer === 'adam') {
        k.adamStep(p.data, p.grad, s[0], s[1], p.mask, lr, ADAM_BETA1, ADAM_BETA2, ADAM_EPS, c.weightDecay, this.steps);
      } else {
        k.sgdStep(p.data, p.grad, s[0], p.mask, lr, c.momentum, c.nesterov, c.weightDecay, 0, this.steps);
      }
    });
  }

  async stateOf(name: string): Promise<Float32Array[]> {
    const i = this.model.params.findIndex((p) => p.name === name);
    if (i < 0) throw new Error(`optimizer: no parameter ${name}`);
    return Promise.all(this.state[i].map((a) => this.model.device.kernels.download(a)));
  }

  reset(): void {
    this.steps = 0;
    for (const slots of this.state) for (const a of slots) this.model.device.kernels.fill(a, 0);
  }

  dispose(): void {
    for (const slots of this.state) for (const a of slots) this.model.device.free(a);
    this.state.length = 0;
  }
}

/** An optimiser for every parameter of `model` as `cfg` says (optimizer, lr, schedule, ...). */
export function createOptimizer(model: OptimizerTarget, cfg: TrainingConfig): Optimizer {
  if (cfg.optimizer !== 'adam' && cfg.optimizer !== 'sgd') throw new Error(`unknown optimizer ${String(cfg.optimizer)}`);
  return new EngineOptimizer(model, cfg);
}
