import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyzeLayer, type LayerInput } from '../../src/graph/index.js';
import { analyzeLayers } from '../../src/graph/parallel.js';
import { hashedLayer } from './reference.js';

test('analyzeLayers on two worker threads gives exactly the results of analyzeLayer, in input order', async () => {
  const inputs: LayerInput[] = [];
  let seed = 40;
  for (const [rows, cols, density] of [[30, 40, 0.3], [64, 27, 1], [10, 100, 0.05], [50, 50, 0.02], [5, 5, 0]] as const) {
    const { mask, weight } = hashedLayer(rows, cols, density, seed++);
    inputs.push({ name: `layer${seed}`, kind: 'linear', shape: [rows, cols], weight, mask });
  }
  const parallel = await analyzeLayers(inputs, { threads: 2 });
  assert.equal(parallel.length, inputs.length);
  inputs.forEach((input, i) => assert.deepEqual(parallel[i], analyzeLayer(input)));
  const single = await analyzeLayers(inputs.slice(0, 2), { threads: 1 });
  assert.deepEqual(single, parallel.slice(0, 2));
});

test('analyzeLayers reports a bad layer as an error', async () => {
  await assert.rejects(
    analyzeLayers([
      { name: 'ok', kind: 'linear', shape: [2, 2], weight: new Float32Array(4), mask: null },
      { name: 'bad', kind: 'linear', shape: [2, 3], weight: new Float32Array(5), mask: null },
    ], { threads: 2 }),
    /analyzeLayers\(bad\): .*needs 6/,
  );
});

test('a pool kept across calls gives the same results every time', async () => {
  const { createAnalysisPool } = await import('../../src/graph/parallel.js');
  const pool = createAnalysisPool(2);
  try {
    const inputs: LayerInput[] = [];
    for (const [rows, cols, density, seed] of [[20, 30, 0.2, 1], [40, 10, 0.5, 2], [9, 9, 1, 3]] as const) {
      const { mask, weight } = hashedLayer(rows, cols, density, seed);
      inputs.push({ name: `l${seed}`, kind: 'linear', shape: [rows, cols], weight, mask });
    }
    const first = await pool.analyze(inputs);
    const second = await pool.analyze(inputs.slice().reverse());
    assert.deepEqual(second.slice().reverse(), first);
    inputs.forEach((input, i) => assert.deepEqual(first[i], analyzeLayer(input)));
  } finally {
    await pool.close();
  }
});

test('layers that are views into one larger buffer (a safetensors file read whole) give the same results on worker threads', async () => {
  const shapes = [[30, 40, 0.3], [64, 27, 1], [10, 100, 0.05]] as const;
  const layers = shapes.map(([rows, cols, density], i) => hashedLayer(rows, cols, density, 70 + i));
  // one buffer holding every weight, then every mask, each at an offset (as safetensors does)
  const total = layers.reduce((n, l) => n + 2 * l.weight.length, 0) + 16;
  const file = new Float32Array(total);
  let at = 4;
  const inputs: LayerInput[] = layers.map((l, i) => {
    const weight = file.subarray(at, at + l.weight.length);
    weight.set(l.weight);
    at += l.weight.length;
    const mask = file.subarray(at, at + l.mask.length);
    mask.set(l.mask);
    at += l.mask.length;
    return { name: `view${i}`, kind: 'linear', shape: [shapes[i][0], shapes[i][1]], weight, mask };
  });
  const parallel = await analyzeLayers(inputs, { threads: 2 });
  inputs.forEach((input, i) => assert.deepEqual(parallel[i], analyzeLayer(input)));
});
