import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/nn/rng.js';

test('same seed gives the same stream, different seeds differ', () => {
  const a = new Rng(42);
  const b = new Rng(42);
  const c = new Rng(43);
  const sa = Array.from({ length: 20 }, () => a.nextUint32());
  const sb = Array.from({ length: 20 }, () => b.nextUint32());
  const sc = Array.from({ length: 20 }, () => c.nextUint32());
  assert.deepEqual(sa, sb);
  assert.notDeepEqual(sa, sc);
});

test('next() is uniform on [0, 1): mean, variance and range', () => {
  const r = new Rng(1);
  const n = 200_000;
  let sum = 0;
  let sq = 0;
  let min = 1;
  let max = 0;
  for (let i = 0; i < n; i++) {
    const u = r.next();
    sum += u;
    sq += u * u;
    min = Math.min(min, u);
    max = Math.max(max, u);
  }
  assert.ok(min >= 0 && max < 1);
  assert.ok(Math.abs(sum / n - 0.5) < 0.005);
  assert.ok(Math.abs(sq / n - (sum / n) ** 2 - 1 / 12) < 0.002);
});

test('normal() has mean 0, variance 1 and the right tail mass', () => {
  const r = new Rng(2);
  const n = 200_000;
  let sum = 0;
  let sq = 0;
  let beyond2 = 0;
  for (let i = 0; i < n; i++) {
    const z = r.normal();
    sum += z;
    sq += z * z;
    if (Math.abs(z) > 2) beyond2++;
  }
  assert.ok(Math.abs(sum / n) < 0.01);
  assert.ok(Math.abs(sq / n - 1) < 0.015);
  assert.ok(Math.abs(beyond2 / n - 0.0455) < 0.003, `P(|z|>2) = ${beyond2 / n}`);
});

test('int(n) covers 0..n-1 evenly; shuffle is a permutation', () => {
  const r = new Rng(3);
  const counts = new Array(7).fill(0);
  for (let i = 0; i < 70_000; i++) counts[r.int(7)]++;
  for (const c of counts) assert.ok(Math.abs(c - 10_000) < 400, `counts ${counts}`);
  const a = Array.from({ length: 100 }, (_, i) => i);
  r.shuffle(a);
  assert.notDeepEqual(a, Array.from({ length: 100 }, (_, i) => i));
  assert.deepEqual([...a].sort((x, y) => x - y), Array.from({ length: 100 }, (_, i) => i));
  assert.throws(() => r.int(0), RangeError);
  assert.throws(() => new Rng(1.5), RangeError);
});

test('fork depends only on the seed and the labels, not on what the parent drew; labels give independent streams', () => {
  const fresh = new Rng(9).fork('level').fork(3);
  const used = new Rng(9);
  for (let i = 0; i < 1000; i++) used.next();
  const level = used.fork('level');
  level.fork(0).next();
  const again = level.fork(3);
  const s1 = Array.from({ length: 10 }, () => fresh.nextUint32());
  const s2 = Array.from({ length: 10 }, () => again.nextUint32());
  assert.deepEqual(s1, s2);
  // forking does not advance the parent
  const p = new Rng(5);
  const q = new Rng(5);
  p.fork('x');
  assert.equal(p.nextUint32(), q.nextUint32());
  // siblings and parent differ, and are uncorrelated
  const a = new Rng(5).fork('a');
  const b = new Rng(5).fork('b');
  const n = 50_000;
  let cov = 0;
  for (let i = 0; i < n; i++) cov += (a.next() - 0.5) * (b.next() - 0.5);
  assert.ok(Math.abs(cov / n) < 0.002, `covariance ${cov / n}`);
  assert.notEqual(new Rng(5).fork('a').nextUint32(), new Rng(5).nextUint32());
  assert.equal(new Rng(5).fork(1).nextUint32(), new Rng(5).fork('1').nextUint32());
});
