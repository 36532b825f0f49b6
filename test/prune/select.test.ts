import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  countRemaining,
  flooredPruneCount,
  fractionsLandingOn,
  kthSmallest,
  layerFloor,
  layerFraction,
  pruneCount,
  pruneLowest,
  selectGlobal,
  selectLayerwise,
  type SelectionLayer,
} from '../../src/prune/select.js';

/** A small deterministic generator for test data (independent of the project's Rng). */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function randomMask(n: number, density: number, rand: () => number): Float32Array {
  const m = new Float32Array(n);
  for (let i = 0; i < n; i++) m[i] = rand() < density ? 1 : 0;
  return m;
}

/** Reference: sort every surviving (layer, index) by (score, layer, index) and remove the first `count`. */
function referenceRemove(layers: Array<{ mask: Float32Array; score: ArrayLike<number> }>, count: number): Float32Array[] {
  const entries: Array<[number, number, number]> = [];
  layers.forEach((l, li) => {
    for (let i = 0; i < l.mask.length; i++) if (l.mask[i] === 1) entries.push([l.score[i], li, i]);
  });
  entries.sort((a, b) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2]);
  const out = layers.map((l) => Float32Array.from(l.mask));
  for (let j = 0; j < count; j++) out[entries[j][1]][entries[j][2]] = 0;
  return out;
}

test('pruneCount is round(fraction x remaining)', () => {
  assert.equal(pruneCount(0.2, 235200), 47040);
  assert.equal(pruneCount(0.1, 1000), 100);
  assert.equal(pruneCount(0.2, 7), 1); // 1.4
  assert.equal(pruneCount(0.5, 7), 4); // 3.5 rounds up
  assert.equal(pruneCount(0.2, 2), 0); // 0.4
  assert.equal(pruneCount(1, 5), 5);
  assert.throws(() => pruneCount(1.5, 10));
});

test('layerFraction picks pOut for the output layer, else by kind', () => {
  const f = { pConv: 0.1, pFc: 0.2, pOut: 0.05 };
  assert.equal(layerFraction({ kind: 'conv', isOutput: false }, f), 0.1);
  assert.equal(layerFraction({ kind: 'linear', isOutput: false }, f), 0.2);
  assert.equal(layerFraction({ kind: 'linear', isOutput: true }, f), 0.05);
});

test('kthSmallest agrees with a sort, with many ties', () => {
  const rand = lcg(7);
  for (const n of [1, 2, 3, 10, 101, 1000]) {
    const values = new Float64Array(n);
    for (let i = 0; i < n; i++) values[i] = Math.floor(rand() * 5); // heavy ties
    const sorted = Float64Array.from(values).sort();
    for (const k of [0, Math.floor(n / 3), n - 1]) {
      assert.equal(kthSmallest(Float64Array.from(values), k), sorted[k]);
    }
  }
});

test('pruneLowest removes exactly the lowest surviving scores, ties by flat index', () => {
  const mask = Float32Array.from([1, 1, 0, 1, 1, 1, 1, 0]);
  const score = Float64Array.from([5, 1, -10, 3, 1, 1, 9, -10]);
  // survivors sorted (score, index): (1,1) (1,4) (1,5) (3,3) (5,0) (9,6); pruned entries never chosen
  assert.deepEqual([...pruneLowest(mask, score, 2)], [1, 0, 0, 1, 0, 1, 1, 0]);
  assert.deepEqual([...pruneLowest(mask, score, 4)], [1, 0, 0, 0, 0, 0, 1, 0]);
  assert.deepEqual([...pruneLowest(mask, score, 0)], [...mask]);
  assert.deepEqual([...pruneLowest(mask, score, 6)], [0, 0, 0, 0, 0, 0, 0, 0]);
  assert.throws(() => pruneLowest(mask, score, 7));
  // the input mask is not modified
  assert.deepEqual([...mask], [1, 1, 0, 1, 1, 1, 1, 0]);
});

test('pruneLowest matches a stable sort on random layers', () => {
  const rand = lcg(11);
  for (let trial = 0; trial < 20; trial++) {
    const n = 1 + Math.floor(rand() * 500);
    const mask = randomMask(n, 0.3 + 0.7 * rand(), rand);
    const score = new Float32Array(n);
    for (let i = 0; i < n; i++) score[i] = Math.floor(rand() * 20) / 4; // ties
    const remaining = countRemaining(mask);
    const count = Math.floor(rand() * (remaining + 1));
    const got = pruneLowest(mask, score, count);
    assert.deepEqual([...got], [...referenceRemove([{ mask, score }], count)[0]]);
    assert.equal(countRemaining(got), remaining - count);
  }
});

test('pruneLowest rejects NaN scores under the mask', () => {
  const mask = Float32Array.from([1, 1, 0]);
  assert.throws(() => pruneLowest(mask, Float64Array.from([1, NaN, 0]), 1), /NaN/);
  // a NaN under a pruned connection is never read
  assert.deepEqual([...pruneLowest(mask, Float64Array.from([1, 2, NaN]), 1)], [0, 1, 0]);
});

function makeLayers(rand: () => number): SelectionLayer[] {
  const specs: Array<[string, 'linear' | 'conv', boolean, number]> = [
    ['features.0.weight', 'conv', false, 3 * 4 * 9],
    ['fc1.weight', 'linear', false, 64 * 30],
    ['fc2.weight', 'linear', false, 30 * 20],
    ['fc3.weight', 'linear', true, 20 * 10],
  ];
  return specs.map(([name, kind, isOutput, n]) => {
    const mask = randomMask(n, 0.8, rand);
    const score = new Float64Array(n);
    for (let i = 0; i < n; i++) score[i] = Math.floor(rand() * 50);
    return { name, kind, isOutput, mask, score };
  });
}

test('selectLayerwise: exact counts per layer type, excluded layers untouched', () => {
  const rand = lcg(3);
  const layers = makeLayers(rand);
  const fractions = { pConv: 0.1, pFc: 0.2, pOut: 0.1 };
  const sel = selectLayerwise(layers, fractions, ['fc2.weight']);
  for (const layer of layers) {
    const before = countRemaining(layer.mask);
    const after = countRemaining(sel.masks.get(layer.name)!);
    const expected = layer.name === 'fc2.weight' ? 0 : Math.round(layerFraction(layer, fractions) * before);
    assert.equal(before - after, expected, layer.name);
    assert.equal(sel.removed.get(layer.name), expected, layer.name);
    assert.deepEqual([...sel.masks.get(layer.name)!], [...referenceRemove([layer], expected)[0]], layer.name);
  }
  assert.deepEqual([...sel.masks.keys()], layers.map((l) => l.name));
});

test('selectGlobal: one fraction of all remaining, ranked together, ties by layer then index', () => {
  const rand = lcg(5);
  const layers = makeLayers(rand);
  const ranked = layers.filter((l) => l.name !== 'features.0.weight');
  const total = ranked.reduce((s, l) => s + countRemaining(l.mask), 0);
  const expectedCount = Math.round(0.2 * total);
  const sel = selectGlobal(layers, 0.2, ['features.0.weight']);
  const reference = referenceRemove(ranked, expectedCount);
  let removed = 0;
  ranked.forEach((l, i) => {
    assert.deepEqual([...sel.masks.get(l.name)!], [...reference[i]], l.name);
    removed += sel.removed.get(l.name)!;
  });
  assert.equal(removed, expectedCount);
  assert.deepEqual([...sel.masks.get('features.0.weight')!], [...layers[0].mask]);
  assert.equal(sel.removed.get('features.0.weight'), 0);
  assert.deepEqual([...sel.masks.keys()], layers.map((l) => l.name));
});

test('fractionsLandingOn shortens the last step to land on the target count', () => {
  const rand = lcg(11);
  const layers: SelectionLayer[] = [
    { name: 'fc1.weight', kind: 'linear', isOutput: false, mask: randomMask(3000, 0.3, rand), score: Float64Array.from({ length: 3000 }, rand) },
    { name: 'fc2.weight', kind: 'linear', isOutput: false, mask: randomMask(500, 0.5, rand), score: Float64Array.from({ length: 500 }, rand) },
    { name: 'fc3.weight', kind: 'linear', isOutput: true, mask: randomMask(100, 0.9, rand), score: Float64Array.from({ length: 100 }, rand) },
  ];
  const full = { pConv: 0.1, pFc: 0.2, pOut: 0.1, pGlobal: 0.2 };
  const now = layers.reduce((s, l) => s + countRemaining(l.mask), 0);
  const surviving = (sel: { masks: Map<string, Float32Array> }) => [...sel.masks.values()].reduce((s, m) => s + countRemaining(m), 0);

  // Layer-wise: a target the full step would overshoot is met to within one weight per layer.
  const target = Math.floor(now * 0.9);
  const f = fractionsLandingOn(layers, 'layerwise', full, target);
  assert.ok(f.pFc < full.pFc && f.pFc > 0);
  assert.ok(Math.abs(f.pFc / full.pFc - f.pOut / full.pOut) < 1e-12, 'one common scale');
  const after = surviving(selectLayerwise(layers, f));
  assert.ok(after <= target && after >= target - layers.length, `${after} vs ${target}`);
  // A target the full step does not reach leaves the fractions alone.
  assert.deepEqual(fractionsLandingOn(layers, 'layerwise', full, Math.floor(now * 0.5)), full);

  // Global: exactly the target.
  const g = fractionsLandingOn(layers, 'global', full, target);
  assert.equal(surviving(selectGlobal(layers, g.pGlobal)), target);
  assert.deepEqual(fractionsLandingOn(layers, 'global', full, Math.floor(now * 0.5)), full);
  // Excluded layers keep their weights and the others make up the difference.
  const gx = fractionsLandingOn(layers, 'global', full, target, ['fc3.weight']);
  assert.equal(surviving(selectGlobal(layers, gx.pGlobal, ['fc3.weight'])), target);
});

test('layerFloor: round(10^-alpha x size), the counts of Table 4 at alpha 2', () => {
  assert.equal(layerFloor(235200, 2), 2352);
  assert.equal(layerFloor(30000, 2), 300);
  assert.equal(layerFloor(1000, 2), 10);
  assert.equal(layerFloor(235200, 1.5), Math.round(235200 / 10 ** 1.5)); // 7,438
  assert.equal(layerFloor(40, 2), 1, 'at least one weight');
  assert.equal(flooredPruneCount(0.2, 100, 90), 10, 'capped at the floor');
  assert.equal(flooredPruneCount(0.2, 100, 50), 20);
  assert.equal(flooredPruneCount(0.2, 50, 50), 0, 'at the floor: nothing');
});

test('selectLayerwise with floors: every layer lands exactly on its floor, never below', () => {
  // Lenet-sized masks (fc1 784x300, fc2 300x100, fc3 100x10), p = 0.2 everywhere, alpha 2
  const rand = lcg(11);
  const sizes: Array<[string, number, boolean]> = [['fc1.weight', 235200, false], ['fc2.weight', 30000, false], ['fc3.weight', 1000, true]];
  let layers: SelectionLayer[] = sizes.map(([name, n, isOutput]) => ({
    name, kind: 'linear', isOutput, mask: new Float32Array(n).fill(1), score: Float64Array.from({ length: n }, () => rand()),
  }));
  const floors = new Map(sizes.map(([name, n]) => [name, layerFloor(n, 2)]));
  assert.deepEqual([...floors.values()], [2352, 300, 10]);
  const expected = new Map(sizes.map(([name, n]) => [name, n]));
  const f = { pConv: 0.2, pFc: 0.2, pOut: 0.2 };
  let levels = 0;
  while (layers.some((l) => countRemaining(l.mask) > floors.get(l.name)!)) {
    const sel = selectLayerwise(layers, f, [], floors);
    levels++;
    layers = layers.map((l) => ({ ...l, mask: sel.masks.get(l.name)! }));
    for (const l of layers) {
      // independent expectation: full step, or down to the floor when the full step passes it
      const before = expected.get(l.name)!;
      const after = Math.max(floors.get(l.name)!, before - Math.round(0.2 * before));
      expected.set(l.name, after);
      assert.equal(countRemaining(l.mask), after, `level ${levels} ${l.name}`);
      assert.ok(after >= floors.get(l.name)!);
    }
    assert.ok(levels < 100);
  }
  for (const l of layers) assert.equal(countRemaining(l.mask), floors.get(l.name), l.name);
  // 0.8^20 = 1.15% > 1% > 0.8^21: the 21st step lands on the floor
  assert.equal(levels, 21);
  // one more step changes nothing
  const again = selectLayerwise(layers, f, [], floors);
  for (const l of layers) assert.equal(again.removed.get(l.name), 0);
});
