/**
 * Presets: every experiment of the paper at its protocol (Table 3 and ../shared/paper/NOTES.md
 * section 7), and `--quick`, which scales any config down so that it finishes on a CPU.
 *
 * A preset is a partial config (the schema fills in the rest) plus the seeds the experiment
 * repeats over (the paper's figures show error bars over 5 runs) and, for the Table 2 sweeps, the
 * variants compared. `ramanujan run <preset>` runs its first seed; `ramanujan sweep <preset>` runs
 * every seed and variant. `reproduces` names the paper's figure or table.
 *
 * Rewinding (NOTES section 7): the paper rewinds to theta_i for a small i without giving i. Lenet
 * and the Conv nets rewind to i = 0, the original lottery ticket (Frankle & Carbin find their
 * tickets there); VGG19 at lr 0.01 needs late rewinding (Frankle et al. 2020, "Linear mode
 * connectivity": about 1-2% of training), so it rewinds to iteration 500 of 30,000 (1.7%).
 */
import type { ModelName } from '../prune/config.js';
import type { ExperimentConfig, ExperimentConfigInput } from './schema.js';

export interface SweepVariant {
  /** short name of the variant, part of each run's label */
  label: string;
  /** key-path assignments applied on top of the base config */
  set: Record<string, unknown>;
}

export interface Preset {
  name: string;
  /** one line for `ramanujan presets` */
  description: string;
  /** the paper's figures or table this preset reproduces, e.g. `Fig. 4, 6` or `Table 2` */
  reproduces: string;
  config: ExperimentConfigInput;
  seeds: number[];
  /** grid axes (key path -> values), crossed with the variants and seeds */
  grid: Record<string, unknown[]>;
  variants: SweepVariant[];
}

const FIVE_SEEDS = [0, 1, 2, 3, 4];

// Table 3: Lenet 300-100 on MNIST, Adam, lr 0.0012, batch 60, 20,000 iterations, 50 levels;
// rewinding to 0 (the original lottery ticket; see the module comment).
const lenetMnist: ExperimentConfigInput = {
  model: 'lenet-300-100',
  data: { dataset: 'mnist' },
  training: { optimizer: 'adam', lr: 0.0012, batchSize: 60, iterations: 20000 },
  pruning: { algorithm: 'imp', scope: 'layerwise', pFc: 0.2, pOut: 0.1, maxLevels: 50, rewindIteration: 0 },
};

/** The conv nets of Frankle & Carbin on CIFAR-10, layer-wise p_conv 0.1, p_fc 0.2, p_out 0.1,
 *  rewinding to 0 (Frankle & Carbin find the Conv nets' tickets there). */
function convCifar(model: ModelName, lr: number, iterations: number, extra: Partial<ExperimentConfigInput['evaluation']> = {}): ExperimentConfigInput {
  return {
    model,
    data: { dataset: 'cifar10' },
    training: { optimizer: 'adam', lr, batchSize: 60, iterations },
    pruning: { algorithm: 'imp', scope: 'layerwise', pConv: 0.1, pFc: 0.2, pOut: 0.1, maxLevels: 50, rewindIteration: 0 },
    evaluation: { ...extra },
  };
}

/**
 * Conv4's first and last layer are left out of the regime: one side of their bipartite graph is
 * tiny (27 inputs of the first conv, 10 outputs of the last linear layer; paper Figure 5).
 * Names as the model zoo gives them (src/models/zoo.ts).
 */
export const CONV4_EXCLUDED_FROM_ANALYSIS = ['features.0.weight', 'classifier.4.weight'];

/**
 * Table 2 with its per-layer protocol (NOTES section 6): IMP, SNIP and SynFlow pruning every layer
 * down to the same density 10^-alpha (targetScope 'layer', set in the base config), at alpha a1 and
 * alpha 2; and with the Ramanujan bound (Algorithm 1, which stops where no layer changes), each
 * layer floored at 10^-2: `bound` applies line 17 to the raw scores (the paper's rule),
 * `bound-mean1` to scores scaled to mean 1 (our variant, reported beside the paper's rows).
 */
function table2Variants(alpha1: number): { grid: Record<string, unknown[]>; variants: SweepVariant[] } {
  return {
    grid: { 'pruning.algorithm': ['imp', 'snip', 'synflow'] },
    variants: [
      { label: `alpha-${alpha1}`, set: { 'pruning.targetAlpha': alpha1, 'pruning.bound': null } },
      { label: 'alpha-2', set: { 'pruning.targetAlpha': 2, 'pruning.bound': null } },
      { label: 'bound', set: { 'pruning.targetAlpha': 2, 'pruning.bound': { scoreScale: 'none' } } },
      { label: 'bound-mean1', set: { 'pruning.targetAlpha': 2, 'pruning.bound': { scoreScale: 'mean1' } } },
    ],
  };
}

/** The base of a Table 2 sweep: per-layer target (floor 10^-2 until a variant says otherwise), 60 levels. */
const TABLE2_PRUNING = { targetScope: 'layer', targetAlpha: 2, maxLevels: 60 } as const;

function withPruning(base: ExperimentConfigInput, pruning: ExperimentConfigInput['pruning']): ExperimentConfigInput {
  return { ...base, pruning: { ...base.pruning, ...pruning } };
}

export const PRESETS: readonly Preset[] = [
  {
    name: 'lenet-mnist',
    description: 'Lenet 300-100 on MNIST, layer-wise IMP (p_fc 0.2, p_out 0.1), Adam lr 0.0012, batch 60, 20k iterations/level, 50 levels, rewind to 0',
    reproduces: 'Fig. 4, 6',
    config: lenetMnist,
    seeds: FIVE_SEEDS,
    grid: {},
    variants: [],
  },
  {
    name: 'lenet-mnist-global',
    description: 'Lenet 300-100 on MNIST, global IMP (p 0.2), otherwise as lenet-mnist',
    reproduces: 'Fig. 7',
    config: withPruning(lenetMnist, { scope: 'global', pGlobal: 0.2 }),
    seeds: FIVE_SEEDS,
    grid: {},
    variants: [],
  },
  {
    name: 'lenet-mnist-p02',
    description: 'Lenet 300-100 on MNIST, layer-wise IMP with p 0.2 on every layer (p_out 0.2), otherwise as lenet-mnist',
    reproduces: 'Fig. 8',
    config: withPruning(lenetMnist, { pFc: 0.2, pOut: 0.2 }),
    seeds: FIVE_SEEDS,
    grid: {},
    variants: [],
  },
  {
    name: 'conv2-cifar10',
    description: 'Conv2 on CIFAR-10, layer-wise IMP (p_conv 0.1, p_fc 0.2, p_out 0.1), Adam lr 0.0002, batch 60, 20k iterations (Frankle & Carbin), rewind to 0',
    reproduces: 'Fig. 11',
    config: convCifar('conv2', 0.0002, 20000),
    seeds: FIVE_SEEDS,
    grid: {},
    variants: [],
  },
  {
    name: 'conv2-cifar10-global',
    description: 'Conv2 on CIFAR-10, global IMP (p 0.2), otherwise as conv2-cifar10',
    reproduces: 'Fig. 12',
    config: withPruning(convCifar('conv2', 0.0002, 20000), { scope: 'global', pGlobal: 0.2 }),
    seeds: FIVE_SEEDS,
    grid: {},
    variants: [],
  },
  {
    name: 'conv4-cifar10',
    description: 'Conv4 on CIFAR-10, layer-wise IMP (p_conv 0.1, p_fc 0.2, p_out 0.1), Adam lr 0.0003, batch 60, 25k iterations, rewind to 0; first/last layer not analysed',
    reproduces: 'Fig. 5, 13, 15',
    config: convCifar('conv4', 0.0003, 25000, { excludeFromAnalysis: CONV4_EXCLUDED_FROM_ANALYSIS }),
    seeds: FIVE_SEEDS,
    grid: {},
    variants: [],
  },
  {
    name: 'conv4-cifar10-pout02',
    description: 'Conv4 on CIFAR-10, layer-wise IMP with p_out 0.2 (p_conv 0.1, p_fc 0.2), otherwise as conv4-cifar10',
    reproduces: 'Fig. 14',
    config: withPruning(convCifar('conv4', 0.0003, 25000, { excludeFromAnalysis: CONV4_EXCLUDED_FROM_ANALYSIS }), { pOut: 0.2 }),
    seeds: FIVE_SEEDS,
    grid: {},
    variants: [],
  },
  {
    name: 'conv6-cifar10',
    description: 'Conv6 on CIFAR-10, layer-wise IMP (p_conv 0.1, p_fc 0.2, p_out 0.1), Adam lr 0.0003, batch 60, 30k iterations (Frankle & Carbin), rewind to 0',
    reproduces: 'Fig. 17',
    config: convCifar('conv6', 0.0003, 30000),
    seeds: FIVE_SEEDS,
    grid: {},
    variants: [],
  },
  {
    name: 'conv6-cifar10-pout02',
    description: 'Conv6 on CIFAR-10, layer-wise IMP with p_out 0.2 (p_conv 0.1, p_fc 0.2), otherwise as conv6-cifar10',
    reproduces: 'Fig. 16',
    config: withPruning(convCifar('conv6', 0.0003, 30000), { pOut: 0.2 }),
    seeds: FIVE_SEEDS,
    grid: {},
    variants: [],
  },
  {
    name: 'vgg19-cifar10',
    description: 'VGG19 (batch norm) on CIFAR-10, global IMP (p 0.2), SGD momentum 0.9 lr 0.01, batch 64, 30k iterations, augmentation, late rewinding to iteration 500 (1.7%)',
    reproduces: 'Fig. 18, 19',
    config: {
      model: 'vgg19',
      data: { dataset: 'cifar10', augment: true },
      // The paper gives lr 0.01 and global p 0.2; optimiser, batch and length follow Frankle & Carbin's VGG-19 shape.
      training: { optimizer: 'sgd', lr: 0.01, momentum: 0.9, weightDecay: 0.0001, batchSize: 64, iterations: 30000 },
      // Late rewinding: at lr 0.01 VGG19 needs it (Frankle et al. 2020: about 1-2% of training).
      pruning: { algorithm: 'imp', scope: 'global', pGlobal: 0.2, maxLevels: 50, rewindIteration: 500 },
    },
    seeds: FIVE_SEEDS,
    grid: {},
    variants: [],
  },
  {
    name: 'table2-lenet-mnist',
    description: 'Table 2, Lenet/MNIST, per-layer protocol (p 0.2 on every layer, each layer down to 10^-alpha): IMP, SNIP, SynFlow at alpha 1.5 and 2, -Bound (floor 10^-2, raw scores) and -Bound mean1 (ours); 60 levels, rewind to 0; 12 runs',
    reproduces: 'Table 2, 4',
    config: withPruning(lenetMnist, { ...TABLE2_PRUNING, pFc: 0.2, pOut: 0.2 }),
    seeds: [0],
    ...table2Variants(1.5),
  },
  {
    name: 'table2-conv4-cifar10',
    description: 'Table 2, Conv4/CIFAR-10, per-layer protocol (p_conv 0.1, p_fc 0.2, p_out 0.1, each layer down to 10^-alpha): IMP, SNIP, SynFlow at alpha 1 and 2, -Bound (floor 10^-2, raw scores) and -Bound mean1 (ours); 60 levels, rewind to 0; 12 runs',
    reproduces: 'Table 2',
    config: withPruning(convCifar('conv4', 0.0003, 25000, { excludeFromAnalysis: CONV4_EXCLUDED_FROM_ANALYSIS }), { ...TABLE2_PRUNING }),
    seeds: [0],
    ...table2Variants(1),
  },
];

export function findPreset(name: string): Preset | undefined {
  return PRESETS.find((p) => p.name === name);
}

/** A preset that is a sweep (several variants), rather than one run repeated over seeds. */
export function isSweepPreset(p: Preset): boolean {
  return p.variants.length > 0 || Object.keys(p.grid).length > 0;
}

// ---------------------------------------------------------------------------------------------
// --quick

/** Training iterations per level under --quick, by model (about one pass over a 60k-image set
 *  for Lenet; a few minutes per level on 2 cores for the conv nets). */
export const QUICK_ITERATIONS: Record<ModelName, number> = {
  'lenet-300-100': 1000,
  conv2: 300,
  conv4: 200,
  conv6: 200,
  vgg19: 100,
};
/** Levels under --quick: enough to reach 1% density (alpha 2) with the paper's fractions. */
export const QUICK_MAX_LEVELS = 30;
/** Test images under --quick (each is evaluated clean and at every noise sigma). */
export const QUICK_TEST_SUBSET = 2000;

/**
 * Scales a resolved config down for a CPU: fewer iterations per level (the rewind iteration and
 * lr milestones scaled with them), at most QUICK_MAX_LEVELS levels, a smaller test set. Marks the
 * config `quick: true`, so the run's id differs from the full protocol's and its record says so.
 */
export function quickScale(config: ExperimentConfig): ExperimentConfig {
  const iterations = Math.min(config.training.iterations, QUICK_ITERATIONS[config.model]);
  const ratio = iterations / config.training.iterations;
  const scale = (i: number) => Math.max(1, Math.min(iterations - 1, Math.round(i * ratio)));
  const milestones = [...new Set(config.training.milestones.map(scale))].sort((a, b) => a - b);
  return {
    ...config,
    quick: true,
    data: { ...config.data, testSubset: Math.min(config.data.testSubset ?? Infinity, QUICK_TEST_SUBSET) },
    // The scaled iterations replace epochs (which would set them again).
    training: { ...config.training, iterations, epochs: null, milestones },
    pruning: {
      ...config.pruning,
      rewindIteration: config.pruning.rewindIteration === 0 ? 0 : scale(config.pruning.rewindIteration),
      maxLevels: Math.min(config.pruning.maxLevels, QUICK_MAX_LEVELS),
    },
  };
}
