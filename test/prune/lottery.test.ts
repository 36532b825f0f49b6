import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TrainBatches } from '../../src/data/batches.js';
import { referenceKernels } from '../../src/engine/reference.js';
import { UserError } from '../../src/errors.js';
import { createOptimizer } from '../../src/nn/optim.js';
import { Rng } from '../../src/nn/rng.js';
import { trainStep, trainStepAndRead } from '../../src/nn/train.js';
import type { LotteryConfig } from '../../src/prune/config.js';
import { runLottery, type LotteryCheckpoint, type LotteryDeps } from '../../src/prune/lottery.js';
import type { LevelRecord } from '../../src/prune/records.js';
import { countRemaining } from '../../src/prune/select.js';
import { tinyConfig, tinyDataset, tinyModel } from './tiny.js';

const deps: LotteryDeps = { kernels: referenceKernels(), dataset: tinyDataset(), buildModel: tinyModel };

async function run(config: LotteryConfig, resume: LotteryCheckpoint | null = null, stopAfter: number | null = null) {
  const records: LevelRecord[] = [];
  const checkpoints: LotteryCheckpoint[] = [];
  const controller = new AbortController();
  let stopReason: string | null = null;
  try {
    ({ stopReason } = await runLottery(config, deps, {
      resume,
      signal: controller.signal,
      onLevel: (r, c) => {
        records.push(r);
        checkpoints.push(c);
        if (stopAfter !== null && r.level === stopAfter) controller.abort(new Error('interrupted'));
      },
    }));
  } catch (e) {
    if (stopAfter === null || (e as Error).message !== 'interrupted') throw e;
  }
  return { records, checkpoints, stopReason };
}

const SIZES: Record<string, number> = { 'fc1.weight': 192, 'fc2.weight': 96, 'fc3.weight': 24 };

test('layer-wise IMP: exact counts per level, pruned weights exactly 0 after training', async () => {
  const { records, checkpoints, stopReason } = await run(tinyConfig());
  assert.equal(stopReason, 'max-levels');
  assert.deepEqual(records.map((r) => r.level), [0, 1, 2]);
  const expected = { ...SIZES };
  for (const [k, r] of records.entries()) {
    for (const l of r.layers) {
      assert.equal(l.remaining, expected[l.name], `level ${k} ${l.name}`);
      assert.equal(l.total, SIZES[l.name]);
    }
    const remaining = Object.values(expected).reduce((a, b) => a + b, 0);
    assert.equal(r.remaining, remaining);
    assert.equal(r.total, 312);
    assert.equal(r.density, remaining / 312);
    // next level: each layer loses round(p x remaining), p = 0.2 (hidden) or 0.1 (output)
    for (const name of Object.keys(expected)) expected[name] -= Math.round((name === 'fc3.weight' ? 0.1 : 0.2) * expected[name]);
    for (const [name, m] of checkpoints[k].nextMasks) {
      if (k < 2) assert.equal(countRemaining(m), expected[name], `mask for level ${k + 1}, ${name}`);
    }
    assert.ok(r.accuracy.clean >= 0 && r.accuracy.clean <= 1);
    assert.deepEqual(Object.keys(r.accuracy.noisy), ['0.1', '0.3']);
    assert.ok(Number.isFinite(r.trainLoss));
    assert.equal(r.decisions, null);
  }
  // trained weights under a zero mask are exactly 0 (level k trains under level k-1's nextMasks)
  for (let k = 1; k < records.length; k++) {
    let zeros = 0;
    for (const [name, m] of checkpoints[k - 1].nextMasks) {
      const w = checkpoints[k].trainedState.get(name)!;
      for (let i = 0; i < m.length; i++) if (m[i] === 0) { assert.equal(w[i], 0); zeros++; }
    }
    assert.ok(zeros > 50);
  }
  // the last level is not scored
  assert.equal(records[2].layers[0].score, null);
  assert.notEqual(records[1].layers[0].score, null);
  // IMP accuracy on this easy problem is well above chance
  assert.ok(records[0].accuracy.clean > 0.6, String(records[0].accuracy.clean));
});

test('global pruning: one fraction of all remaining weights, excluded layers kept', async () => {
  const config = tinyConfig({ pruning: { scope: 'global', pGlobal: 0.3, excludeFromPruning: ['fc3.weight'] } });
  const { records } = await run(config);
  for (let k = 0; k + 1 < records.length; k++) {
    const ranked = (r: LevelRecord) => r.layers.filter((l) => l.name !== 'fc3.weight').reduce((s, l) => s + l.remaining, 0);
    assert.equal(ranked(records[k]) - ranked(records[k + 1]), Math.round(0.3 * ranked(records[k])));
    assert.equal(records[k + 1].layers[2].remaining, 24);
  }
});

test('rewinding restores the stored values bit for bit', async () => {
  // no training steps: each level's trained state is exactly the rewind state under its mask
  const { checkpoints } = await run(tinyConfig({ training: { iterations: 0 } }));
  for (let k = 1; k < checkpoints.length; k++) {
    const masks = checkpoints[k - 1].nextMasks;
    for (const [name, rewound] of checkpoints[k].rewindState) {
      const trained = checkpoints[k].trainedState.get(name)!;
      const m = masks.get(name);
      for (let i = 0; i < trained.length; i++) assert.equal(trained[i], m && m[i] === 0 ? 0 : rewound[i], `${name}[${i}]`);
    }
  }
  // a rewind point inside the first training is the state after that many steps of level 0
  const config = tinyConfig({ pruning: { rewindIteration: 3, maxLevels: 1 } });
  const { checkpoints: late } = await run(config);
  const model = tinyModel(deps.kernels, { seed: config.seed, inputShape: [1, 4, 4], classes: 3 });
  const optimizer = createOptimizer(model, config.training);
  const batches = new TrainBatches(deps.dataset, { batchSize: 8, seed: new Rng(config.seed).fork('level').fork(0).fork('batches').int(0x7fffffff) });
  const x = new Float32Array(8 * 16);
  const labels = new Int32Array(8);
  for (let i = 0; i < 3; i++) { batches.next(x, labels); trainStep(model, optimizer, x, labels, 8); }
  for (const [name, v] of await model.stateDict()) assert.deepEqual([...late[0].rewindState.get(name)!], [...v], name);
  assert.deepEqual([...late[1].rewindState.get('fc1.weight')!], [...late[0].rewindState.get('fc1.weight')!]);
});

function withoutTimings(r: LevelRecord): unknown {
  return { ...r, timings: null };
}

for (const algorithm of ['imp', 'snip', 'synflow', 'random'] as const) {
  test(`resuming gives exactly the uninterrupted run (${algorithm})`, async () => {
    const config = tinyConfig({ pruning: { algorithm } });
    const straight = await run(config);
    const first = await run(config, null, 0);
    assert.equal(first.records.length, 1);
    const rest = await run(config, first.checkpoints[0]);
    const resumed = [...first.records, ...rest.records];
    assert.equal(rest.stopReason, straight.stopReason);
    assert.deepEqual(resumed.map(withoutTimings), straight.records.map(withoutTimings));
    const a = straight.checkpoints[2], b = rest.checkpoints[1];
    for (const [name, v] of a.trainedState) assert.deepEqual([...b.trainedState.get(name)!], [...v], name);
    for (const [name, v] of a.nextMasks) assert.deepEqual([...b.nextMasks.get(name)!], [...v], name);
    // a finished checkpoint resumes to nothing
    assert.equal((await run(config, a)).records.length, 0);
  });
}

test('Algorithm 1 on top of IMP: decisions recorded and consistent with the masks', async () => {
  const config = tinyConfig({ pruning: { bound: { criterion: 'combined', maxTries: 3, schedule: 'text' }, maxLevels: 4, excludeFromPruning: ['fc3.weight'] } });
  const { records, checkpoints, stopReason } = await run(config);
  assert.ok(stopReason === 'max-levels' || stopReason === 'no-layer-changed');
  for (const [k, r] of records.entries()) {
    if (r.layers[0].score === null) { assert.equal(r.decisions, null); continue; }
    assert.equal(r.decisions!.length, 3);
    assert.equal(r.decisions![2].outcome, 'skipped');
    for (const d of r.decisions!) {
      const before = r.layers.find((l) => l.name === d.layer)!.remaining;
      assert.equal(countRemaining(checkpoints[k].nextMasks.get(d.layer)!), before - d.removed, d.layer);
      if (d.outcome === 'pruned') assert.equal(d.attempts.at(-1)!.check === 'unweighted' || d.attempts.at(-1)!.check === 'score-weighted', true);
    }
  }
  if (stopReason === 'no-layer-changed') assert.ok(records.at(-1)!.decisions!.every((d) => d.removed === 0));
});

test('the run stops at the target density 10^-alpha', async () => {
  // alpha = 0.2: target density 0.631; levels go 1, 0.804, 0.646, 0.522
  const { records, stopReason } = await run(tinyConfig({ pruning: { targetAlpha: 0.2, maxLevels: 10 } }));
  assert.equal(stopReason, 'target-density');
  const last = records.at(-1)!;
  assert.ok(last.density <= 10 ** -0.2);
  assert.ok(records.at(-2)!.density > 10 ** -0.2);
  assert.equal(last.layers[0].score, null);
  // The last pruning step was shortened to land on the target, not at 0.522 below it.
  const target = Math.floor(10 ** -0.2 * last.total);
  assert.ok(last.remaining <= target && last.remaining >= target - last.layers.length, `${last.remaining} vs ${target}`);
});

test('user errors name the field', async () => {
  await assert.rejects(run(tinyConfig({ pruning: { excludeFromPruning: ['fc9.weight'] } })), (e: Error) => e instanceof UserError && /pruning\.excludeFromPruning.*fc9\.weight/.test(e.message));
  await assert.rejects(run(tinyConfig({ pruning: { rewindIteration: 31 } })), (e: Error) => e instanceof UserError && /pruning\.rewindIteration/.test(e.message));
});

test('Algorithm 1 with global scope: base fractions from the global ranking; analysis exclusions', async () => {
  const config = tinyConfig({
    pruning: { scope: 'global', pGlobal: 0.25, bound: { criterion: 'combined', maxTries: 2, schedule: 'pseudocode' }, maxLevels: 1 },
    evaluation: { excludeFromAnalysis: ['fc3.weight'] },
  });
  const { records, checkpoints } = await run(config);
  const r = records[0];
  assert.deepEqual(r.layers.map((l) => l.analysed), [true, true, false]);
  const total = r.layers.reduce((s, l) => s + l.remaining, 0);
  let planned = 0;
  for (const d of r.decisions!) {
    const layer = r.layers.find((l) => l.name === d.layer)!;
    // the pseudocode schedule starts at half the layer's share of the global ranking
    if (d.attempts.length > 0) planned += Math.round(d.attempts[0].fraction * 2 * layer.remaining);
    assert.equal(countRemaining(checkpoints[0].nextMasks.get(d.layer)!), layer.remaining - d.removed);
  }
  assert.ok(Math.abs(planned - Math.round(0.25 * total)) <= 3, `${planned} vs ${Math.round(0.25 * total)}`);
});

test('training statistics come back in blocks of 100 steps: progress losses and the last-100 training loss match a step-by-step replay', async () => {
  // 230 iterations: blocks of 100, 100 and 30 steps; the record's loss is the mean of steps 131-230
  const config = tinyConfig({ training: { iterations: 230 }, pruning: { maxLevels: 0 } });
  const progress: Array<{ iteration: number; loss: number }> = [];
  const records: LevelRecord[] = [];
  await runLottery(config, deps, { onLevel: (r) => { records.push(r); }, onProgress: (p) => progress.push({ iteration: p.iteration, loss: p.loss }) });
  assert.deepEqual(progress.map((p) => p.iteration), [100, 200, 230]);

  const model = tinyModel(deps.kernels, { seed: config.seed, inputShape: [1, 4, 4], classes: 3 });
  const optimizer = createOptimizer(model, config.training);
  const batches = new TrainBatches(deps.dataset, { batchSize: 8, seed: new Rng(config.seed).fork('level').fork(0).fork('batches').int(0x7fffffff) });
  const x = new Float32Array(8 * 16);
  const labels = new Int32Array(8);
  const losses: number[] = [];
  for (let i = 0; i < 230; i++) {
    batches.next(x, labels);
    losses.push((await trainStepAndRead(model, optimizer, x, labels, 8)).loss);
  }
  const close = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) <= 1e-6 * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);
  for (const p of progress) close(p.loss, losses[p.iteration - 1], `progress loss at ${p.iteration}`);
  close(records[0].trainLoss, losses.slice(130).reduce((a, b) => a + b, 0) / 100, 'mean training loss of the last 100 steps');
  optimizer.dispose();
  model.dispose();
});
