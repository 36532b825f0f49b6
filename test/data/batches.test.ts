import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/nn/rng.js';
import { CROP_PADDING, DEFAULT_NOISE_SIGMAS, noiseStd, noisyTestSets, TrainBatches, testBatches, type Dataset } from '../../src/data/index.js';

/** A synthetic dataset: example i has label i % classes and byte (i * 13 + p * 7) % 256 at pixel p. */
function synthetic(train: number, test: number, shape: [number, number, number], classes = 10): Dataset {
  const size = shape[0] * shape[1] * shape[2];
  const split = (n: number, offset: number) => ({
    count: n,
    images: Uint8Array.from({ length: n * size }, (_, k) => ((Math.floor(k / size) + offset) * 13 + (k % size) * 7) % 256),
    labels: Uint8Array.from({ length: n }, (_, i) => (i + offset) % classes),
  });
  const C = shape[0];
  return {
    name: 'synthetic',
    source: 'memory',
    classes: Array.from({ length: classes }, (_, c) => String(c)),
    shape,
    mean: Array.from({ length: C }, (_, c) => 0.3 + 0.1 * c),
    std: Array.from({ length: C }, (_, c) => 0.2 + 0.05 * c),
    train: split(train, 0),
    test: split(test, 500),
  };
}

/** Normalised value of byte v in channel c, computed independently of the lookup table. */
function norm(ds: Dataset, c: number, v: number): number {
  return (v / 255 - ds.mean[c]) / ds.std[c];
}

/** Which training example a normalised image is: matches every pixel against the raw bytes. */
function identify(ds: Dataset, x: Float32Array, b: number): number {
  const size = ds.shape[0] * ds.shape[1] * ds.shape[2];
  const plane = ds.shape[1] * ds.shape[2];
  for (let i = 0; i < ds.train.count; i++) {
    let same = true;
    for (let p = 0; p < size && same; p++) same = Math.abs(x[b * size + p] - norm(ds, Math.floor(p / plane), ds.train.images[i * size + p])) < 1e-5;
    if (same) return i;
  }
  return -1;
}

test('training batches: normalised pixels and labels written in place; each epoch a seeded permutation', () => {
  const ds = synthetic(25, 5, [2, 3, 2]);
  const size = 12;
  const bs = 5;
  const batches = new TrainBatches(ds, { batchSize: bs, seed: 7 });
  const x = new Float32Array(bs * size);
  const labels = new Int32Array(bs);
  const epochs: number[][] = [];
  for (let e = 0; e < 3; e++) {
    const seen: number[] = [];
    for (let k = 0; k < 5; k++) {
      const xBefore = x;
      batches.next(x, labels);
      assert.equal(x, xBefore);
      for (let b = 0; b < bs; b++) {
        const i = identify(ds, x, b);
        assert.ok(i >= 0, 'every row is a training image, exactly normalised');
        assert.equal(labels[b], ds.train.labels[i]);
        seen.push(i);
      }
    }
    assert.deepEqual([...seen].sort((a, b) => a - b), Array.from({ length: 25 }, (_, i) => i), `epoch ${e} visits every example once`);
    epochs.push(seen);
  }
  assert.notDeepEqual(epochs[0], epochs[1]);
  assert.notDeepEqual(epochs[0], Array.from({ length: 25 }, (_, i) => i));
  // the order is exactly the project Rng's shuffle for (seed, epoch)
  for (let e = 0; e < 3; e++) {
    const order = Int32Array.from({ length: 25 }, (_, i) => i);
    new Rng(7).fork('shuffle').fork(e).shuffle(order);
    assert.deepEqual(epochs[e], [...order]);
  }
  // same seed, same stream; other seed, other stream
  const again = new TrainBatches(ds, { batchSize: bs, seed: 7 });
  const other = new TrainBatches(ds, { batchSize: bs, seed: 8 });
  const x2 = new Float32Array(bs * size);
  const x3 = new Float32Array(bs * size);
  const l2 = new Int32Array(bs);
  again.next(x2, l2);
  other.next(x3, l2);
  assert.equal(identify(ds, x2, 0), epochs[0][0]);
  assert.notDeepEqual([...x2], [...x3]);
});

test('a batch that crosses the end of an epoch continues with the next epoch', () => {
  const ds = synthetic(7, 2, [1, 2, 2]);
  const bs = 3;
  const batches = new TrainBatches(ds, { batchSize: bs, seed: 1 });
  const x = new Float32Array(bs * 4);
  const labels = new Int32Array(bs);
  const seen: number[] = [];
  for (let k = 0; k < 7; k++) {
    batches.next(x, labels);
    for (let b = 0; b < bs; b++) seen.push(identify(ds, x, b));
  }
  assert.equal(batches.epoch, 2);
  for (let e = 0; e < 3; e++) {
    const order = Int32Array.from({ length: 7 }, (_, i) => i);
    new Rng(1).fork('shuffle').fork(e).shuffle(order);
    assert.deepEqual(seen.slice(7 * e, 7 * e + 7), [...order]);
  }
});

test('buffers that are too small are refused', () => {
  const ds = synthetic(10, 2, [1, 2, 2]);
  const batches = new TrainBatches(ds, { batchSize: 4, seed: 0 });
  assert.throws(() => batches.next(new Float32Array(15), new Int32Array(4)), /x holds 15 floats/);
  assert.throws(() => batches.next(new Float32Array(16), new Int32Array(3)), /labels holds 3/);
  assert.throws(() => new TrainBatches(ds, { batchSize: 0, seed: 0 }), /batchSize/);
});

test('augmentation: every image is a zero-padded 4-pixel crop of its source, flipped or not; seeded', () => {
  const shape: [number, number, number] = [3, 8, 8];
  const ds = synthetic(40, 2, shape);
  const [C, H, W] = shape;
  const size = C * H * W;
  const bs = 20;
  const run = (seed: number) => {
    const batches = new TrainBatches(ds, { batchSize: bs, seed, augment: true });
    const x = new Float32Array(bs * size);
    const labels = new Int32Array(bs);
    const out: Float32Array[] = [];
    for (let k = 0; k < 4; k++) {
      batches.next(x, labels);
      out.push(Float32Array.from(x));
    }
    return out;
  };
  // the unaugmented order of the same seed tells which example each row is
  const plain = new TrainBatches(ds, { batchSize: bs, seed: 3 });
  const px = new Float32Array(bs * size);
  const pl = new Int32Array(bs);
  const sources: number[] = [];
  for (let k = 0; k < 4; k++) {
    plain.next(px, pl);
    for (let b = 0; b < bs; b++) sources.push(identify(ds, px, b));
  }
  const augmented = run(3);
  const transforms = new Set<string>();
  let flips = 0;
  for (let k = 0; k < 4; k++) {
    for (let b = 0; b < bs; b++) {
      const i = sources[k * bs + b];
      // find (dy, dx, flip) that reproduces the row, from the definition
      let match: string | null = null;
      for (let dy = -CROP_PADDING; dy <= CROP_PADDING && !match; dy++) {
        for (let dx = -CROP_PADDING; dx <= CROP_PADDING && !match; dx++) {
          for (const flip of [false, true]) {
            let ok = true;
            for (let c = 0; c < C && ok; c++) {
              for (let y = 0; y < H && ok; y++) {
                for (let xo = 0; xo < W && ok; xo++) {
                  const sy = y + dy;
                  const sx = (flip ? W - 1 - xo : xo) + dx;
                  const byte = sy < 0 || sy >= H || sx < 0 || sx >= W ? 0 : ds.train.images[i * size + c * H * W + sy * W + sx];
                  ok = Math.abs(augmented[k][b * size + c * H * W + y * W + xo] - norm(ds, c, byte)) < 1e-5;
                }
              }
            }
            if (ok) {
              match = `${dy},${dx},${flip}`;
              if (flip) flips++;
              break;
            }
          }
        }
      }
      assert.ok(match, `row ${b} of batch ${k} is a crop/flip of example ${i}`);
      transforms.add(match);
    }
  }
  assert.ok(transforms.size > 20, 'crops and flips vary');
  assert.ok(flips > 10 && flips < 70, `about half flipped (${flips} of 80)`);
  // deterministic from the seed
  assert.deepEqual(run(3).map((a) => [...a]), augmented.map((a) => [...a]));
  assert.notDeepEqual([...run(4)[0]], [...augmented[0]]);
});

test('evaluation batches: in order, last batch shorter, buffers reused', () => {
  const ds = synthetic(4, 11, [1, 2, 3]);
  const source = testBatches(ds, { batchSize: 4 });
  assert.equal(source.count, 11);
  const ns: number[] = [];
  const xs: Float32Array[] = [];
  let index = 0;
  for (const { x, labels, n } of source.batches()) {
    ns.push(n);
    xs.push(x);
    assert.equal(x.length, n * 6);
    assert.equal(labels.length, n);
    for (let b = 0; b < n; b++, index++) {
      assert.equal(labels[b], ds.test.labels[index]);
      for (let p = 0; p < 6; p++) assert.ok(Math.abs(x[b * 6 + p] - norm(ds, 0, ds.test.images[index * 6 + p])) < 1e-6);
    }
  }
  assert.deepEqual(ns, [4, 4, 3]);
  assert.equal(xs[0], xs[1], 'the same buffer is reused');
  assert.equal(xs[2].buffer, xs[0].buffer);
  assert.throws(() => testBatches(ds, { batchSize: 4, split: 'validation' }), /no validation split/);
  assert.equal(testBatches(ds, { batchSize: 4, split: 'train' }).count, 4);
});

/** All normalised values of an evaluation source, concatenated. */
function collect(source: ReturnType<typeof testBatches>): number[] {
  const out: number[] = [];
  for (const { x } of source.batches()) out.push(...x);
  return out;
}

test('noisy test sets: Gaussian noise of std sigma on the [0,1] scale, unclipped, the same on every call', () => {
  const shape: [number, number, number] = [3, 16, 16];
  const ds = synthetic(2, 300, shape);
  const [C, H, W] = shape;
  const size = C * H * W;
  const sigma = 0.3;
  const noisy = collect(testBatches(ds, { batchSize: 64, noiseSigma: sigma, noiseSeed: 11 }));
  // back to the [0,1] scale: noise = x * std + mean - byte / 255
  let sum = 0;
  let sumSquares = 0;
  let beyond = 0;
  for (let i = 0; i < ds.test.count; i++) {
    for (let p = 0; p < size; p++) {
      const c = Math.floor(p / (H * W));
      const value = noisy[i * size + p] * ds.std[c] + ds.mean[c];
      const noise = value - ds.test.images[i * size + p] / 255;
      sum += noise;
      sumSquares += noise * noise;
      if (value < 0 || value > 1) beyond++;
    }
  }
  const n = ds.test.count * size;
  const mean = sum / n;
  const std = Math.sqrt(sumSquares / n - mean * mean);
  assert.ok(Math.abs(mean) < 0.003, `noise mean ${mean}`);
  assert.ok(Math.abs(std - sigma) < 0.003, `noise std ${std}`);
  assert.ok(beyond > n * 0.05, 'values are not clipped to [0, 1]');
  // the same images on every call, whatever the batch size or the order of the calls
  const other = testBatches(ds, { batchSize: 7, noiseSigma: 0.1, noiseSeed: 11 });
  collect(other);
  assert.deepEqual(collect(testBatches(ds, { batchSize: 7, noiseSigma: sigma, noiseSeed: 11 })), noisy);
  // 0.1 * 3 gives the images of 0.3 (up to the last bit of float32)
  const almost = collect(testBatches(ds, { batchSize: 64, noiseSigma: 0.1 * 3, noiseSeed: 11 }));
  assert.ok(almost.every((v, k) => Math.abs(v - noisy[k]) <= 1e-6 * Math.max(1, Math.abs(v))));
  // another seed: other noise; sigma 0: clean
  assert.notDeepEqual(collect(testBatches(ds, { batchSize: 64, noiseSigma: sigma, noiseSeed: 12 })), noisy);
  const clean = collect(testBatches(ds, { batchSize: 64 }));
  assert.deepEqual(collect(testBatches(ds, { batchSize: 64, noiseSigma: 0 })), clean);
  // another sigma: the same standard-normal draws scaled (common random numbers)
  const other2 = collect(testBatches(ds, { batchSize: 64, noiseSigma: 0.2, noiseSeed: 11 }));
  for (let k = 0; k < 200; k++) {
    const expected = ((noisy[k] - clean[k]) * 2) / 3;
    assert.ok(Math.abs(other2[k] - clean[k] - expected) < 1e-4, `pixel ${k}`);
  }
  // example i's noise is from (noiseSeed, sigma, i): the first 10 examples of a subset match
  const head: Dataset = { ...ds, test: { count: 10, images: ds.test.images.subarray(0, 10 * size), labels: ds.test.labels.subarray(0, 10) } };
  assert.deepEqual(collect(testBatches(head, { batchSize: 3, noiseSigma: sigma, noiseSeed: 11 })), noisy.slice(0, 10 * size));
  // and it is the documented stream: sigma * normal() per pixel of new Rng(seed).fork('noise').fork(i)
  const rng = new Rng(11).fork('noise').fork(5);
  for (let p = 0; p < 20; p++) {
    const c = Math.floor(p / (H * W));
    const expected = norm(ds, c, ds.test.images[5 * size + p]) + (sigma / ds.std[c]) * rng.normal();
    assert.ok(Math.abs(noisy[5 * size + p] - expected) < 1e-5);
  }
});

test('noisyTestSets: one source per default sigma 0.1 .. 0.5', () => {
  const ds = synthetic(2, 5, [1, 2, 2]);
  const sets = noisyTestSets(ds, { batchSize: 2, noiseSeed: 3 });
  assert.deepEqual(sets.map((s) => s.sigma), [0.1, 0.2, 0.3, 0.4, 0.5]);
  assert.deepEqual([...DEFAULT_NOISE_SIGMAS], [0.1, 0.2, 0.3, 0.4, 0.5]);
  assert.deepEqual(collect(sets[1].source), collect(testBatches(ds, { batchSize: 5, noiseSigma: 0.2, noiseSeed: 3 })));
  assert.throws(() => testBatches(ds, { batchSize: 2, noiseSigma: -1 }), /noiseSigma/);
});

test("noiseScale 'variance': sigma 0.04 gives the images of std 0.2", () => {
  const ds = synthetic(2, 20, [3, 4, 4]);
  const asStd = collect(testBatches(ds, { batchSize: 6, noiseSigma: 0.2, noiseSeed: 5 }));
  assert.deepEqual(collect(testBatches(ds, { batchSize: 6, noiseSigma: 0.04, noiseScale: 'variance', noiseSeed: 5 })), asStd);
  assert.deepEqual(collect(testBatches(ds, { batchSize: 6, noiseSigma: 0.2, noiseScale: 'std', noiseSeed: 5 })), asStd);
  // read as a std, 0.04 is other (weaker) noise
  assert.notDeepEqual(collect(testBatches(ds, { batchSize: 6, noiseSigma: 0.04, noiseSeed: 5 })), asStd);
  assert.equal(noiseStd(0.25, 'variance'), 0.5);
  assert.equal(noiseStd(0.25), 0.25);
});
