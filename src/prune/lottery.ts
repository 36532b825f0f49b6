/**
 * The lottery loop (NOTES sections 6-7): iterative pruning with rewinding.
 *
 * Level k trains the network under mask k (level 0: dense) for `training.iterations` steps from
 * the rewind state, evaluates it on the clean and the noisy test sets, scores the surviving
 * weights, analyses every prunable layer (unweighted, weighted and score-weighted graphs), prunes
 * (plain selection, or Algorithm 1 when `pruning.bound` is set) to get mask k+1, and emits one
 * LevelRecord with a checkpoint. The next level rewinds the surviving weights (and every other
 * parameter and buffer) to their values at iteration `rewindIteration` of level 0's training
 * (0 = the initialisation) and resets the optimiser.
 *
 * Stops after a level when: its density is at or below 10^-targetAlpha ('target-density'; this
 * level is not scored or pruned; the plain algorithms shorten the pruning step before it so that
 * the run lands on that density, see fractionsLandingOn), it was level `maxLevels` ('max-levels'), or, with the bound,
 * Algorithm 1 changed no layer ('no-layer-changed').
 *
 * Randomness: everything random in level k (batch order, SNIP batches, random scores) comes from
 * new Rng(seed).fork('level').fork(k); the model's initialisation from the seed; the noisy test
 * sets from the seed. So a run resumed from the checkpoint of level k (masks for k+1, rewind
 * state) gives bit for bit what the uninterrupted run gives: no generator state is saved.
 *
 * Checkpoint tensors are fresh copies; the caller may keep them.
 *
 * Device traffic: the training loop reads nothing back per step. Each step's loss sum and correct
 * count go into its slot of a stats tensor on the device, downloaded every PROGRESS_EVERY steps
 * (progress, the divergence check and the LOSS_WINDOW mean come from it). Evaluation downloads
 * two numbers per test set. Weights and masks are downloaded once per level (scores, graph
 * analysis, mask selection), and the state dict once for the rewind point and once per checkpoint.
 */
import type { Kernels } from '../engine/kernels.js';
import { UserError } from '../errors.js';
import { TrainBatches, testBatches, type EvalBatchSource } from '../data/batches.js';
import type { Dataset } from '../data/types.js';
import { analyzeLayer, graphMetrics, networkRegime } from '../graph/index.js';
import type { CriterionSet, LayerAnalysis, LayerVerdicts, Regime } from '../graph/types.js';
import { createModel } from '../models/zoo.js';
import { createOptimizer } from '../nn/optim.js';
import { Rng } from '../nn/rng.js';
import type { Sequential } from '../nn/sequential.js';
import { evaluate, trainStep } from '../nn/train.js';
import { ramanujanPreservingPrune, skippedDecision, type GraphMetricsFn } from './algorithm1.js';
import type { LotteryConfig } from './config.js';
import type { Algorithm1Decision, LayerLevelRecord, LevelRecord, PhaseTimings } from './records.js';
import { magnitudeScores, randomScores, snipScores, synflowScores, type LayerScores } from './scores.js';
import { countRemaining, fractionsLandingOn, layerFraction, selectGlobal, selectLayerwise, type SelectionLayer } from './select.js';

export interface LotteryCheckpoint {
  /** the level whose record was just emitted */
  level: number;
  /** masks for level + 1 (for a finished run: the masks level + 1 would have had) */
  nextMasks: Map<string, Float32Array>;
  /** all parameters and buffers at the rewind iteration of level 0's training */
  rewindState: Map<string, Float32Array>;
  /** all parameters and buffers after this level's training */
  trainedState: Map<string, Float32Array>;
  finished: boolean;
  stopReason: string | null;
}

/** The graph library's functions the loop uses (src/graph/index.ts). */
export interface GraphApi {
  analyzeLayer(input: {
    name: string;
    kind: 'linear' | 'conv';
    shape: number[];
    weight: Float32Array | Float64Array;
    mask: Float32Array | Uint8Array | null;
    score?: Float32Array | Float64Array | null;
  }): LayerAnalysis;
  graphMetrics: GraphMetricsFn;
  networkRegime(verdicts: LayerVerdicts[], criterion: CriterionSet): Regime;
}

export interface LotteryDeps {
  kernels: Kernels;
  dataset: Dataset;
  /** the graph library (default: src/graph); tests may pass a stand-in */
  graph?: GraphApi;
  /** builds the network instead of createModel(config.model, ...) (tests: tiny models) */
  buildModel?: (kernels: Kernels, opts: { seed: number; inputShape: [number, number, number]; classes: number }) => Sequential;
}

export interface LotteryProgress {
  level: number;
  iteration: number;
  iterations: number;
  loss: number;
}

export interface LotteryOptions {
  resume?: LotteryCheckpoint | null;
  onLevel: (record: LevelRecord, checkpoint: LotteryCheckpoint) => Promise<void> | void;
  onProgress?: (p: LotteryProgress) => void;
  signal?: AbortSignal;
}

/** Examples per evaluation batch (memory, not results, depends on it). */
const EVAL_BATCH = 200;
/** Training steps between progress reports (and yields to the event loop). */
const PROGRESS_EVERY = 100;
/** The record's training loss is the mean over this many last iterations. */
const LOSS_WINDOW = 100;

const defaultGraph: GraphApi = { analyzeLayer, graphMetrics, networkRegime };

/** Checks what the schema cannot know (names and lengths that depend on the model). */
function checkConfig(config: LotteryConfig, model: Sequential): void {
  const p = config.pruning;
  const t = config.training;
  const names = new Set(model.prunableParams().map((q) => q.name));
  for (const [field, list] of [['pruning.excludeFromPruning', p.excludeFromPruning], ['evaluation.excludeFromAnalysis', config.evaluation.excludeFromAnalysis]] as const) {
    for (const name of list) {
      if (!names.has(name)) throw new UserError(`${field}: "${name}" is not a prunable weight of ${model.name}; they are: ${[...names].join(', ')}`);
    }
  }
  for (const [field, v] of [['pruning.pConv', p.pConv], ['pruning.pFc', p.pFc], ['pruning.pOut', p.pOut], ['pruning.pGlobal', p.pGlobal]] as const) {
    if (!(v >= 0 && v <= 1)) throw new UserError(`${field}: expected a fraction in [0, 1], got ${v}`);
  }
  if (!Number.isInteger(t.iterations) || t.iterations < 0) throw new UserError(`training.iterations: expected a whole number >= 0, got ${t.iterations}`);
  if (!Number.isInteger(p.rewindIteration) || p.rewindIteration < 0 || p.rewindIteration > t.iterations) {
    throw new UserError(`pruning.rewindIteration: expected a whole number from 0 to training.iterations (${t.iterations}), got ${p.rewindIteration}`);
  }
  if (!Number.isInteger(p.maxLevels) || p.maxLevels < 0) throw new UserError(`pruning.maxLevels: expected a whole number >= 0, got ${p.maxLevels}`);
  if (p.bound !== null && (!Number.isInteger(p.bound.maxTries) || p.bound.maxTries < 1)) {
    throw new UserError(`pruning.bound.maxTries: expected a whole number >= 1, got ${p.bound.maxTries}`);
  }
  if (p.algorithm === 'snip' && (!Number.isInteger(p.snipBatches) || p.snipBatches < 1)) {
    throw new UserError(`pruning.snipBatches: expected a whole number >= 1, got ${p.snipBatches}`);
  }
}

function checkResume(resume: LotteryCheckpoint, model: Sequential): void {
  for (const p of model.prunableParams()) {
    const m = resume.nextMasks.get(p.name);
    if (m === undefined || m.length !== p.data.length) throw new UserError(`resume: the checkpoint has no mask of the right size for ${p.name}`);
  }
}

function copyState(state: Map<string, Float32Array>): Map<string, Float32Array> {
  return new Map([...state].map(([k, v]) => [k, v.slice()]));
}

/** The score of every prunable weight for this level. */
async function levelScores(config: LotteryConfig, model: Sequential, dataset: Dataset, rng: Rng): Promise<LayerScores> {
  switch (config.pruning.algorithm) {
    case 'imp':
      return magnitudeScores(model);
    case 'random':
      return randomScores(model, rng.fork('random-scores'));
    case 'snip': {
      const batches = new TrainBatches(dataset, { batchSize: config.training.batchSize, seed: rng.fork('snip').int(0x7fffffff), augment: false });
      return snipScores(model, batches, config.pruning.snipBatches);
    }
    case 'synflow':
      return synflowScores(model);
    default:
      throw new UserError(`pruning.algorithm: unknown algorithm "${String(config.pruning.algorithm)}"`);
  }
}

/** Masks for the next level and, with the bound, Algorithm 1's decisions. */
function pruneLevel(
  config: LotteryConfig, model: Sequential, masksNow: Map<string, Float32Array>, scores: LayerScores, graph: GraphApi, targetRemaining: number | null,
): { masks: Map<string, Float32Array>; decisions: Algorithm1Decision[] | null } {
  const p = config.pruning;
  const prunable = model.prunableParams();
  const layers: SelectionLayer[] = prunable.map((q) => ({
    name: q.name,
    kind: q.kind as 'linear' | 'conv',
    isOutput: q.name === model.outputWeightName,
    mask: masksNow.get(q.name)!,
    score: scores.get(q.name)!,
  }));
  const fractions = { pConv: p.pConv, pFc: p.pFc, pOut: p.pOut };
  if (p.bound === null) {
    // With a target density, the last level's fractions are shortened to land on it.
    const f = targetRemaining === null
      ? { ...fractions, pGlobal: p.pGlobal }
      : fractionsLandingOn(layers, p.scope, { ...fractions, pGlobal: p.pGlobal }, targetRemaining, p.excludeFromPruning);
    const sel = p.scope === 'global' ? selectGlobal(layers, f.pGlobal, p.excludeFromPruning) : selectLayerwise(layers, f, p.excludeFromPruning);
    return { masks: sel.masks, decisions: null };
  }
  // Algorithm 1 is layer-wise; with global scope, each layer's base fraction is the share the
  // global ranking would take from it.
  let base: Map<string, number>;
  if (p.scope === 'global') {
    const sel = selectGlobal(layers, p.pGlobal, p.excludeFromPruning);
    base = new Map(layers.map((l) => {
      const remaining = countRemaining(l.mask);
      return [l.name, remaining === 0 ? 0 : sel.removed.get(l.name)! / remaining];
    }));
  } else {
    base = new Map(layers.map((l) => [l.name, layerFraction(l, fractions)]));
  }
  const excluded = new Set(p.excludeFromPruning);
  const masks = new Map<string, Float32Array>();
  const decisions: Algorithm1Decision[] = [];
  for (const [i, l] of layers.entries()) {
    if (excluded.has(l.name)) {
      masks.set(l.name, Float32Array.from(l.mask));
      decisions.push(skippedDecision(l.name));
      continue;
    }
    const rows = prunable[i].shape[0];
    const cols = l.mask.length / rows;
    const r = ramanujanPreservingPrune({ name: l.name, rows, cols, mask: l.mask, score: l.score }, base.get(l.name)!, p.bound, graph.graphMetrics);
    masks.set(l.name, r.mask);
    decisions.push(r.decision);
  }
  return { masks, decisions };
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw signal.reason ?? new Error('aborted');
}

/** Runs (or resumes) a lottery run; see the module comment. */
export async function runLottery(config: LotteryConfig, deps: LotteryDeps, opts: LotteryOptions): Promise<{ stopReason: string }> {
  const resume = opts.resume ?? null;
  if (resume?.finished) return { stopReason: resume.stopReason ?? 'finished' };
  const { kernels, dataset } = deps;
  const graph = deps.graph ?? defaultGraph;
  const { training, pruning, evaluation } = config;
  const modelOpts = { seed: config.seed, inputShape: dataset.shape, classes: dataset.classes.length };
  const model = deps.buildModel ? deps.buildModel(kernels, modelOpts) : createModel(config.model, kernels, modelOpts);
  const optimizer = createOptimizer(model, training);
  // [loss sum, correct] per training step since the last download; slot = step - first step of the block
  const stats = kernels.tensor(2 * PROGRESS_EVERY);
  try {
    checkConfig(config, model);
    if (resume) checkResume(resume, model);
    const prunable = model.prunableParams();
    const total = prunable.reduce((s, q) => s + q.data.length, 0);
    const targetDensity = pruning.targetAlpha === null ? null : 10 ** -pruning.targetAlpha;
    const analysedNames = new Set(prunable.map((q) => q.name).filter((n) => !evaluation.excludeFromAnalysis.includes(n)));

    const clean = testBatches(dataset, { batchSize: EVAL_BATCH });
    const noisy: Array<[string, EvalBatchSource]> = evaluation.noiseSigmas.map((sigma) => [
      String(sigma),
      testBatches(dataset, { batchSize: EVAL_BATCH, noiseSigma: sigma, noiseSeed: config.evaluation.noiseSeed }),
    ]);

    const [C, H, W] = dataset.shape;
    const N = training.batchSize;
    const x = new Float32Array(N * C * H * W);
    const labels = new Int32Array(N);
    const losses = new Float64Array(LOSS_WINDOW);

    let level = resume ? resume.level + 1 : 0;
    let masks: Map<string, Float32Array> | null = resume ? resume.nextMasks : null;
    let rewindState: Map<string, Float32Array> | null = resume ? resume.rewindState : null;

    for (;;) {
      throwIfAborted(opts.signal);
      const levelRng = new Rng(config.seed).fork('level').fork(level);
      const timings: PhaseTimings = { trainMs: 0, evalMs: 0, analyzeMs: 0, scoreMs: 0, pruneMs: 0 };

      // ---- rewind and train ---------------------------------------------------------------------
      let t0 = performance.now();
      if (rewindState !== null) model.loadStateDict(rewindState);
      if (masks !== null) for (const [name, m] of masks) model.setMask(name, m);
      optimizer.reset();
      const batches = new TrainBatches(dataset, { batchSize: N, seed: levelRng.fork('batches').int(0x7fffffff), augment: config.data.augment });
      let seen = 0;
      let blockStart = 0;
      kernels.fill(stats, 0);
      for (let it = 0; it < training.iterations; it++) {
        if (rewindState === null && it === pruning.rewindIteration) rewindState = await model.stateDict();
        batches.next(x, labels);
        trainStep(model, optimizer, x, labels, N, { stats, offset: 2 * (it - blockStart) });
        if ((it + 1) % PROGRESS_EVERY === 0 || it + 1 === training.iterations) {
          const block = await kernels.download(stats, 0, 2 * (it + 1 - blockStart));
          kernels.fill(stats, 0);
          blockStart = it + 1;
          let loss = NaN;
          for (let j = 0; j < block.length; j += 2) {
            loss = block[j] / N;
            losses[seen++ % LOSS_WINDOW] = loss;
          }
          if (!Number.isFinite(loss)) {
            throw new UserError(`training diverged at level ${level}, iteration ${it + 1} (loss ${loss}); try a lower training.lr`);
          }
          opts.onProgress?.({ level, iteration: it + 1, iterations: training.iterations, loss });
          await new Promise<void>((r) => setImmediate(r));
          throwIfAborted(opts.signal);
        }
      }
      if (rewindState === null) rewindState = await model.stateDict(); // rewindIteration === iterations
      let lossSum = 0;
      const window = Math.min(seen, LOSS_WINDOW);
      for (let i = 0; i < window; i++) lossSum += losses[i];
      const trainLoss = window > 0 ? lossSum / window : NaN;
      timings.trainMs = performance.now() - t0;

      // ---- evaluate ----------------------------------------------------------------------------
      t0 = performance.now();
      const accuracy = { clean: (await evaluate(model, clean)).accuracy, noisy: {} as Record<string, number> };
      for (const [key, source] of noisy) accuracy.noisy[key] = (await evaluate(model, source)).accuracy;
      timings.evalMs = performance.now() - t0;

      // the once-per-level download of masks (weights follow for the analysis)
      const masksNow = await model.masks();
      const remaining = prunable.reduce((s, q) => s + countRemaining(masksNow.get(q.name)!), 0);
      const density = total === 0 ? 0 : remaining / total;
      let stopReason: string | null = null;
      if (targetDensity !== null && density <= targetDensity) stopReason = 'target-density';
      else if (level >= pruning.maxLevels) stopReason = 'max-levels';

      // ---- score -------------------------------------------------------------------------------
      t0 = performance.now();
      const scores = stopReason === null ? await levelScores(config, model, dataset, levelRng) : null;
      timings.scoreMs = performance.now() - t0;

      // ---- analyse -----------------------------------------------------------------------------
      t0 = performance.now();
      const layerRecords: LayerLevelRecord[] = [];
      for (const q of prunable) {
        const mask = masksNow.get(q.name)!;
        const a = graph.analyzeLayer({
          name: q.name,
          kind: q.kind as 'linear' | 'conv',
          shape: q.shape,
          weight: await kernels.download(q.data),
          mask,
          score: scores?.get(q.name) ?? null,
        });
        const rem = countRemaining(mask);
        layerRecords.push({
          name: q.name,
          kind: q.kind as 'linear' | 'conv',
          shape: [...q.shape],
          total: q.data.length,
          remaining: rem,
          density: rem / q.data.length,
          analysed: analysedNames.has(q.name),
          unweighted: a.unweighted,
          weighted: a.weighted,
          score: a.score ?? null,
          verdicts: a.verdicts,
        });
      }
      const regime = graph.networkRegime(layerRecords.filter((l) => l.analysed).map((l) => l.verdicts), evaluation.criterion);
      timings.analyzeMs = performance.now() - t0;

      // ---- prune -------------------------------------------------------------------------------
      t0 = performance.now();
      let nextMasks: Map<string, Float32Array>;
      let decisions: Algorithm1Decision[] | null = null;
      if (scores !== null) {
        const pruned = pruneLevel(config, model, masksNow, scores, graph, targetDensity === null ? null : Math.floor(targetDensity * total + 1e-9));
        nextMasks = pruned.masks;
        decisions = pruned.decisions;
        if (decisions !== null && decisions.every((d) => d.removed === 0)) stopReason = 'no-layer-changed';
      } else {
        nextMasks = masksNow;
      }
      timings.pruneMs = performance.now() - t0;

      const record: LevelRecord = {
        level,
        density,
        remaining,
        total,
        layers: layerRecords,
        trainLoss,
        accuracy,
        regime,
        criterion: evaluation.criterion,
        decisions,
        timings,
      };
      const checkpoint: LotteryCheckpoint = {
        level,
        nextMasks,
        rewindState: copyState(rewindState),
        trainedState: await model.stateDict(),
        finished: stopReason !== null,
        stopReason,
      };
      await opts.onLevel(record, checkpoint);
      if (stopReason !== null) return { stopReason };
      masks = nextMasks;
      level++;
    }
  } finally {
    kernels.free(stats);
    optimizer.dispose();
    model.dispose();
  }
}
