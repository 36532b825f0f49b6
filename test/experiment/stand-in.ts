/**
 * A stand-in for the pruning loop (runLottery's signature and resume contract) that runs in
 * milliseconds, for testing the store, ids, locks, resume and commands without training.
 *
 * It is deterministic and sensitive to everything a resume must restore: each level's "trained"
 * weights depend on the seed, the level, the masks it trains under and the rewind state, and the
 * next masks are chosen from the trained weights by magnitude; so a resume from a wrong or
 * damaged checkpoint gives different records. Records carry +Infinity and null metrics, noisy
 * accuracies and, with a bound, Algorithm 1 decisions, to exercise the store's round trip.
 */
import { isCollapsed, networkRegime } from '../../src/graph/bounds.js';
import type { GraphMetrics, LayerVerdicts } from '../../src/graph/types.js';
import type { LotteryConfig } from '../../src/prune/config.js';
import type { Algorithm1Decision, LayerLevelRecord, LevelRecord } from '../../src/prune/records.js';
import type { LotteryCheckpoint } from '../../src/experiment/checkpoints.js';
import type { LoopDeps, LoopOptions, RunEnvironment, RunReporter } from '../../src/experiment/runner.js';
import type { LevelEvent, RunDoneEvent, RunStartEvent } from '../../src/experiment/events.js';

const LAYERS = [
  { name: 'fc1.weight', kind: 'linear' as const, shape: [8, 12] },
  { name: 'fc2.weight', kind: 'linear' as const, shape: [6, 8] },
  { name: 'fc3.weight', kind: 'linear' as const, shape: [3, 6] },
];
const BIASES = [
  { name: 'fc1.bias', size: 8 },
  { name: 'fc2.bias', size: 6 },
  { name: 'fc3.bias', size: 3 },
];

/** mulberry32: a tiny seeded generator (the stand-in needs no quality, only determinism). */
function generator(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function initialState(seed: number): Map<string, Float32Array> {
  const rand = generator(seed * 7919 + 1);
  const state = new Map<string, Float32Array>();
  for (const l of LAYERS) state.set(l.name, Float32Array.from({ length: l.shape[0] * l.shape[1] }, () => rand() * 2 - 1));
  for (const b of BIASES) state.set(b.name, Float32Array.from({ length: b.size }, () => rand() * 0.1));
  return state;
}

function metrics(weighting: GraphMetrics['weighting'], w: Float32Array, mask: Float32Array, rows: number, cols: number, layerIndex: number): GraphMetrics {
  let edges = 0;
  let sum = 0;
  for (let i = 0; i < w.length; i++) {
    if (mask[i] !== 0) {
      edges++;
      sum += Math.abs(w[i]);
    }
  }
  // Weighted: the mean |w| (below 1, so eb is undefined: null), as for small real weights.
  const t1 = weighting === 'unweighted' ? edges / Math.sqrt(rows * cols) : sum / (rows * cols);
  // The output layer gets t2 = 0 (a complete block): Delta = +Infinity, as the real analysis does.
  const t2 = layerIndex === 2 ? 0 : t1 / 3;
  const eb = t1 >= 1 ? 2 * Math.sqrt(t1 - 1) : null;
  const dL = edges / rows;
  const dR = edges / cols;
  const db = dL >= 1 && dR >= 1 ? Math.sqrt(dL - 1) + Math.sqrt(dR - 1) : null;
  const delta = (b: number | null) => (b === null ? null : t2 === 0 ? Infinity : (b - t2) / t2);
  return {
    weighting,
    edges,
    t1,
    t2,
    sigma2: t2,
    t1Multiplicity: 1,
    dL,
    dR,
    weightedDL: sum / rows,
    weightedDR: sum / cols,
    eb,
    db,
    dbWeighted: db === null ? null : db * 0.9,
    deltaS: delta(eb),
    deltaR: delta(db),
    deltaRWeighted: delta(db === null ? null : db * 0.9),
    isolatedL: 0,
    isolatedR: 0,
    components: 1,
    largestComponentL: rows,
    largestComponentR: cols,
    collapsed: isCollapsed({ dL, dR }),
  };
}

export interface StandInOptions {
  /** wait this long in each level (ms), e.g. so a test can kill the process mid-run */
  levelDelayMs?: number;
  /** throw at this level (a failing run) */
  failAtLevel?: number | null;
  /** only runs with this seed fail (at failAtLevel) */
  failSeed?: number | null;
}

/** The loop: runLottery's signature. */
export function standInLoop(options: StandInOptions = {}) {
  return async (config: LotteryConfig, _deps: LoopDeps, opts: LoopOptions): Promise<{ stopReason: string }> => {
    const rewindState = opts.resume ? opts.resume.rewindState : initialState(config.seed);
    let masks: Map<string, Float32Array> = opts.resume
      ? opts.resume.nextMasks
      : new Map(LAYERS.map((l) => [l.name, new Float32Array(l.shape[0] * l.shape[1]).fill(1)]));
    let level = opts.resume ? opts.resume.level + 1 : 0;
    for (;;) {
      if (opts.signal?.aborted) throw new Error('interrupted');
      if (options.failAtLevel === level && (options.failSeed == null || options.failSeed === config.seed)) throw new Error(`stand-in failure at level ${level}`);
      const rand = generator(config.seed * 1_000_003 + level * 17 + 5);
      // "Training": rewound weights under the mask, moved by a seeded step.
      const trained = new Map<string, Float32Array>();
      for (const [name, w] of rewindState) {
        const mask = masks.get(name);
        trained.set(name, Float32Array.from(w, (v, i) => (mask && mask[i] === 0 ? 0 : v + (rand() - 0.5) * 0.1)));
      }
      const iterations = config.training.iterations;
      for (let it = 1; it <= iterations; it += Math.max(1, Math.floor(iterations / 4))) {
        opts.onProgress?.({ level, iteration: it, iterations, loss: 1 / (1 + level + it / iterations) });
      }
      if (options.levelDelayMs) await new Promise((r) => setTimeout(r, options.levelDelayMs));
      else await Promise.resolve();

      let remaining = 0;
      let total = 0;
      const layers: LayerLevelRecord[] = LAYERS.map((l, li) => {
        const mask = masks.get(l.name)!;
        const w = trained.get(l.name)!;
        const kept = mask.reduce((a, b) => a + b, 0);
        remaining += kept;
        total += mask.length;
        const unweighted = metrics('unweighted', w, mask, l.shape[0], l.shape[1], li);
        const weighted = metrics('weighted', w, mask, l.shape[0], l.shape[1], li);
        // Collapsed (average degree < 2): no verdict, as the real analysis.
        const collapsed = unweighted.collapsed;
        const verdicts: LayerVerdicts | null = collapsed ? null : {
          UE: (unweighted.deltaS ?? -1) > 0,
          UD: (unweighted.deltaR ?? -1) > 0,
          WE: (weighted.deltaS ?? -1) > 0,
          WD: (weighted.deltaRWeighted ?? -1) > 0,
          combined: Math.max(unweighted.deltaS ?? -1, unweighted.deltaR ?? -1) > 0,
        };
        return {
          name: l.name,
          kind: l.kind,
          shape: l.shape,
          total: mask.length,
          remaining: kept,
          density: kept / mask.length,
          analysed: !config.evaluation.excludeFromAnalysis.includes(l.name),
          unweighted,
          weighted,
          score: weighted,
          collapsed,
          verdicts,
        };
      });
      const density = remaining / total;

      // Prune by magnitude of the trained weights: the pFc / pOut fraction of what remains.
      const next = new Map<string, Float32Array>();
      const decisions: Algorithm1Decision[] = [];
      LAYERS.forEach((l, li) => {
        const mask = masks.get(l.name)!;
        const w = trained.get(l.name)!;
        const p = li === LAYERS.length - 1 ? config.pruning.pOut : config.pruning.pFc;
        const alive = [...mask.keys()].filter((i) => mask[i] !== 0).sort((a, b) => Math.abs(w[a]) - Math.abs(w[b]) || a - b);
        const count = Math.round(alive.length * p);
        const m = mask.slice();
        for (const i of alive.slice(0, count)) m[i] = 0;
        next.set(l.name, m);
        decisions.push({
          layer: l.name,
          outcome: count > 0 ? 'pruned' : 'held',
          fraction: count > 0 ? p : 0,
          removed: count,
          attempts: [
            { fraction: p, removed: count, check: 'unweighted', dL: layers[li].unweighted.dL, dR: layers[li].unweighted.dR, deltaS: layers[li].unweighted.deltaS, deltaR: null, scoreDeltaS: null, scoreT1: null },
          ],
        });
      });
      const alpha = config.pruning.targetAlpha;
      const stop =
        level >= config.pruning.maxLevels ? 'max levels reached' : alpha !== null && density <= 10 ** -alpha ? 'target density reached' : null;
      const cleanAccuracy = 0.5 + 0.45 * density + rand() * 0.01;
      const record: LevelRecord = {
        level,
        density,
        remaining,
        total,
        layers,
        trainLoss: 1 / (1 + level),
        accuracy: {
          clean: cleanAccuracy,
          noisy: Object.fromEntries(config.evaluation.noiseSigmas.map((s) => [String(s), cleanAccuracy - s / 2])),
        },
        regime: networkRegime(layers.filter((l) => l.analysed).map((l) => l.verdicts), 'combined'),
        criterion: config.evaluation.criterion,
        decisions: config.pruning.bound ? decisions : null,
        timings: { trainMs: 1, evalMs: 1, analyzeMs: 1, scoreMs: 1, pruneMs: 1 },
      };
      const checkpoint: LotteryCheckpoint = { level, nextMasks: next, rewindState, trainedState: trained, finished: stop !== null, stopReason: stop };
      await opts.onLevel(record, checkpoint);
      if (stop) return { stopReason: stop };
      masks = next;
      level++;
    }
  };
}

export function standInEnvironment(options: StandInOptions = {}): RunEnvironment {
  return {
    loop: standInLoop(options),
    prepare: async () => ({ deps: {} as LoopDeps, close: async () => {} }),
  };
}

/** A level record without its wall-clock timings (which differ between runs). */
export function withoutTimings(records: LevelRecord[]): Array<Omit<LevelRecord, 'timings'>> {
  return records.map(({ timings: _t, ...rest }) => rest);
}

/** A run reporter that keeps the run-start, level and run-done events in order (progress dropped). */
export function recorder() {
  const events: Array<RunStartEvent | LevelEvent | RunDoneEvent> = [];
  const reporter: RunReporter = {
    runStart: (e) => void events.push(e),
    level: (e) => void events.push(e),
    progress: () => {},
    runDone: (e) => void events.push(e),
  };
  return { events, reporter };
}
