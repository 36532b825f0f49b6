/**
 * Cost of the experiment layer per level, beside the training it records: storing a level's
 * rows (one transaction), reading a run's records back, and writing a level's checkpoint file
 * (trained weights and next masks) for Lenet-, Conv4- and VGG19-sized states.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { GraphMetrics } from '../src/graph/types.js';
import type { LevelRecord } from '../src/prune/records.js';
import { writeLevelCheckpoint } from '../src/experiment/checkpoints.js';
import { runId } from '../src/experiment/run-id.js';
import { parseExperimentConfig } from '../src/experiment/schema.js';
import { openStore } from '../src/experiment/store.js';
import { timeMedianMs, type BenchContext } from './harness.js';

const metrics = (weighting: GraphMetrics['weighting']): GraphMetrics => ({
  weighting, edges: 1000, t1: 12.5, t2: 3.2, sigma2: 3.2, t1Multiplicity: 1, dL: 10, dR: 4, weightedDL: 1.2, weightedDR: 0.5,
  eb: 6.8, db: 4.7, dbWeighted: 1.1, deltaS: 1.1, deltaR: Infinity, deltaRWeighted: null, isolatedL: 0, isolatedR: 3,
  components: 1, largestComponentL: 100, largestComponentR: 250, collapsed: false,
});

/** A level record with `shapes.length` layers (every metric slot and Algorithm 1 filled in). */
function record(level: number, shapes: number[][]): LevelRecord {
  return {
    level, density: 0.8 ** level, remaining: 1000, total: 2000, trainLoss: 0.1, regime: 'partially', criterion: 'combined',
    accuracy: { clean: 0.97, noisy: { '0.1': 0.95, '0.2': 0.93, '0.3': 0.9, '0.4': 0.85, '0.5': 0.8 } },
    timings: { trainMs: 1, evalMs: 1, analyzeMs: 1, scoreMs: 1, pruneMs: 1 },
    layers: shapes.map((shape, i) => ({
      name: `layer${i}.weight`, kind: shape.length === 4 ? 'conv' : 'linear', shape, total: 2000, remaining: 1000, density: 0.5, analysed: true,
      unweighted: metrics('unweighted'), weighted: metrics('weighted'), score: metrics('score'), collapsed: false,
      verdicts: { UE: true, UD: true, WE: false, WD: true, combined: true },
    })),
    decisions: shapes.map((_, i) => ({
      layer: `layer${i}.weight`, outcome: 'pruned', fraction: 0.2, removed: 100,
      attempts: [{ fraction: 0.2, removed: 100, check: 'unweighted', dL: 10, dR: 4, deltaS: 0.5, deltaR: 0.3, scoreDeltaS: null, scoreT1: null }],
    })),
  };
}

const CONV4 = [[64, 3, 3, 3], [64, 64, 3, 3], [128, 64, 3, 3], [128, 128, 3, 3], [256, 8192], [256, 256], [10, 256]];
const VGG19 = [[64, 3, 3, 3], [64, 64, 3, 3], [128, 64, 3, 3], [128, 128, 3, 3], [256, 128, 3, 3], [256, 256, 3, 3], [256, 256, 3, 3], [256, 256, 3, 3],
  [512, 256, 3, 3], [512, 512, 3, 3], [512, 512, 3, 3], [512, 512, 3, 3], [512, 512, 3, 3], [512, 512, 3, 3], [512, 512, 3, 3], [512, 512, 3, 3], [10, 512]];
const LENET = [[300, 784], [100, 300], [10, 100]];

export async function run(ctx: BenchContext): Promise<void> {
  const ws = mkdtempSync(join(tmpdir(), 'rlth-bench-'));
  try {
    const store = openStore(ws, { create: true });
    const config = parseExperimentConfig({}, 'bench');
    const id = runId(config);
    const claim = store.claimRun({ id, config, label: 'bench', preset: null });
    if (claim.kind !== 'claimed') throw new Error('bench: could not claim the run');
    let level = 0;
    const levels = ctx.quick ? 10 : 50;
    const rowMs = timeMedianMs(() => store.recordLevel(id, claim.token, record(level++, VGG19), { checkpoint: 'x', finished: false, stopReason: null }), levels, 0);
    ctx.report('store_record_level_vgg19', rowMs, 'ms', `${VGG19.length} layers, one transaction, synchronous=FULL`);
    const readMs = timeMedianMs(() => store.levelRecords(id), ctx.quick ? 3 : 10);
    ctx.report('store_level_records_vgg19', readMs / levels, 'ms/level', `${levels} levels read back`);
    store.close();

    for (const [name, shapes] of [['lenet', LENET], ['conv4', CONV4], ['vgg19', VGG19]] as const) {
      const rec = record(1, shapes as number[][]);
      const state = new Map<string, Float32Array>();
      const masks = new Map<string, Float32Array>();
      let weights = 0;
      for (const l of rec.layers) {
        const n = l.shape.reduce((a, b) => a * b, 1);
        weights += n;
        state.set(l.name, new Float32Array(n).fill(0.5));
        masks.set(l.name, new Float32Array(n).fill(1));
      }
      const checkpoint = { level: 1, nextMasks: masks, rewindState: state, trainedState: state, finished: false, stopReason: null };
      const ms = timeMedianMs(() => writeLevelCheckpoint(ws, `${name}-bench`, rec, checkpoint), ctx.quick ? 2 : 5);
      const mb = (2 * weights * 4) / 1e6;
      ctx.report(`checkpoint_write_${name}`, ms, 'ms', `${mb.toFixed(1)} MB per level (trained weights, next masks), fsynced`);
    }
  } finally {
    rmSync(ws, { recursive: true, force: true });
  }
}
