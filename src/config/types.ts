/**
 * The settings one lottery run needs, as plain types, and the names of the zoo's models. The
 * experiment layer (src/experiment/schema.ts) validates user configs with zod and produces an
 * object of this shape; the pruning loop takes it. Field meanings follow ../shared/paper/NOTES.md
 * sections 5-7.
 *
 * This module is the bottom layer (it imports nothing), so that nn (optimiser settings), models
 * (model names), graph (criteria) and prune can all use it without importing upwards.
 */

/** The models of the zoo (src/models/zoo.ts builds each); the config schema lists these. */
export const MODEL_NAMES = ['lenet-300-100', 'conv2', 'conv4', 'conv6', 'vgg19'] as const;
export type ModelName = (typeof MODEL_NAMES)[number];

/**
 * The single criteria of Table 1; 'unweighted', the unweighted Ramanujan property of Algorithm 1
 * line 12 (UE or UD: max(DeltaS, DeltaR) > 0 on the mask), which decides the regimes of the
 * paper's Figure 4(a) and 5; and 'combined', the whole rule of Algorithm 1 (unweighted property,
 * else the score-weighted expansion property).
 */
export type Criterion = 'UE' | 'UD' | 'WE' | 'WD';
export type CriterionSet = 'combined' | 'unweighted' | Criterion;

export type PruneAlgorithm = 'imp' | 'snip' | 'synflow' | 'random';

export interface TrainingConfig {
  optimizer: 'adam' | 'sgd';
  lr: number;
  /** SGD only */
  momentum: number;
  nesterov: boolean;
  weightDecay: number;
  batchSize: number;
  /** training iterations per level */
  iterations: number;
  /** learning-rate schedule over the iterations of one level */
  schedule: 'constant' | 'cosine' | 'step';
  /** for 'step': iterations at which the lr is multiplied by `gamma` */
  milestones: number[];
  gamma: number;
}

export interface BoundConfig {
  /** which property Algorithm 1 keeps: the combined rule (default) or one criterion */
  criterion: CriterionSet;
  /** K: how many fractions are tried per layer per level */
  maxTries: number;
  /** 'text': p, p/2, p/4, ... (default); 'pseudocode': p/2, p/4, ... */
  schedule: 'text' | 'pseudocode';
  /** line 17's score scale: 'none' tests the raw scores (the paper's rule); 'mean1' divides the
   *  candidate layer's scores by their mean over its surviving edges first (ours; NOTES section 6) */
  scoreScale: 'none' | 'mean1';
}

export interface PruningConfig {
  algorithm: PruneAlgorithm;
  scope: 'layerwise' | 'global';
  /** layer-wise fractions of the remaining weights removed per level, by layer type */
  pConv: number;
  pFc: number;
  pOut: number;
  /** global fraction */
  pGlobal: number;
  /** iteration of the first training whose weights surviving weights are reset to (0 = init) */
  rewindIteration: number;
  /** stop once density <= 10^-alpha (null: no density target) */
  targetAlpha: number | null;
  /** where the target density applies: 'network' (the whole network's density) or 'layer' (every
   *  prunable layer is floored at round(10^-alpha x its size); Table 2's protocol, NOTES section 6) */
  targetScope: 'network' | 'layer';
  /** stop after this many pruning levels (level 0, the dense network, is not counted) */
  maxLevels: number;
  /** names of prunable weights that are never pruned */
  excludeFromPruning: string[];
  /** minibatches the SNIP gradient is averaged over */
  snipBatches: number;
  /** Algorithm 1 on top of the score; null for the plain algorithm */
  bound: BoundConfig | null;
}

export interface DataConfig {
  /** 'mnist' | 'fashion-mnist' | 'cifar10' | 'folder:<path>' */
  dataset: string;
  dataDir: string | null;
  /** use only N training examples, the same share of every class (null: all) */
  trainSubset: number | null;
  /** use only N test examples, the same share of every class (null: all) */
  testSubset: number | null;
  augment: boolean;
}

export interface EvaluationConfig {
  /** Gaussian noise sigmas on the [0,1] pixel scale (our values; the paper prints none) */
  noiseSigmas: number[];
  /** how a sigma is read: 'std' (the standard deviation) or 'variance' (std = sqrt(sigma)) */
  noiseScale: 'std' | 'variance';
  /** seed of the test-set noise; independent of the run's seed so that every run of a sweep
   *  (all seeds, all algorithms) is evaluated on the same noisy images (issue 3) */
  noiseSeed: number;
  /** criterion the per-level verdicts and the regime use */
  criterion: CriterionSet;
  /** weights left out of the regime (e.g. Conv4's first and last layer) */
  excludeFromAnalysis: string[];
}

export interface LotteryConfig {
  model: ModelName;
  seed: number;
  data: DataConfig;
  training: TrainingConfig;
  pruning: PruningConfig;
  evaluation: EvaluationConfig;
}
