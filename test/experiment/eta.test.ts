/**
 * The ETA of runs and the demo (LevelEta, src/experiment/progress.ts) on a fake clock: a run of
 * levels that get faster as the density falls, with noisy level times, converges to the true
 * time left and counts down steadily instead of wandering.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatDuration, LevelEta } from '../../src/experiment/progress.js';

interface Sample {
  t: number;
  eta: number;
  left: number;
  level: number;
}

/**
 * Simulates `levels` levels, as in the demo: level k has density 0.8^k and takes 3 s + 11 s x its
 * density (the products shrink with the weights, the rest does not), times a noise factor in
 * [1 - noise, 1 + noise] from a fixed sequence (other processes on the cores); 70% training with a
 * progress report every second, then 30% evaluation and analysis without reports; all after
 * `startupMs` of loading. The ETA is read every second; returns the samples with the time left.
 */
function simulate(levels: number, noise: number, startupMs = 5000): Sample[] {
  let t = 0;
  const eta = new LevelEta(() => t);
  const density = (k: number) => 0.8 ** k;
  const durations = Array.from({ length: levels }, (_, k) => {
    const wobble = Math.sin(1.7 * k + 0.3) * noise; // deterministic "noise"
    return (3000 + 11_000 * density(k)) * (1 + wobble);
  });
  const end = startupMs + durations.reduce((a, b) => a + b, 0);
  const samples: Sample[] = [];
  t = startupMs;
  for (let level = 0; level < levels; level++) {
    const levelEnd = t + durations[level];
    const trainEnd = t + 0.7 * durations[level];
    const trainStart = t;
    while (t + 1000 < levelEnd) {
      t += 1000;
      const fraction = Math.min(1, (t - trainStart) / (trainEnd - trainStart));
      if (t <= trainEnd) eta.progress(fraction);
      const ms = eta.remaining(fraction, levels - 1 - level);
      samples.push({ t, eta: ms, left: end - t, level });
    }
    t = levelEnd;
    eta.levelDone(false, density(level));
  }
  return samples;
}

test('the ETA converges to the time left: within 25% once 5 of 22 levels are done, within 10% over the second half', () => {
  const samples = simulate(22, 0.25);
  const later = samples.filter((s) => s.level >= 5 && s.left > 10_000);
  assert.ok(later.length > 40);
  for (const s of later) assert.ok(Math.abs(s.eta - s.left) <= 0.25 * s.left, `at ${formatDuration(s.t)}: ETA ${formatDuration(s.eta)}, left ${formatDuration(s.left)}`);
  const half = samples.filter((s) => s.level >= 11);
  for (const s of half) assert.ok(Math.abs(s.eta - s.left) <= 0.1 * s.left + 2000, `at ${formatDuration(s.t)}: ETA ${formatDuration(s.eta)}, left ${formatDuration(s.left)}`);
});

test('the ETA settles: once 6 levels are done the predicted end moves by at most 6% of the run in 10 s, and the ETA counts down', () => {
  const samples = simulate(22, 0.25);
  const total = samples[samples.length - 1].t;
  const ends = samples.filter((s) => s.level >= 6).map((s) => s.t + s.eta);
  for (let i = 10; i < ends.length; i++) {
    assert.ok(Math.abs(ends[i] - ends[i - 10]) <= 0.06 * total, `predicted end moved ${((ends[i] - ends[i - 10]) / 1000).toFixed(1)} s in 10 s`);
  }
  // from one second to the next the ETA never goes up by more than 2 s
  const later = samples.filter((s) => s.level >= 5);
  for (let i = 1; i < later.length; i++) assert.ok(later[i].eta <= later[i - 1].eta + 2000, `ETA rose from ${formatDuration(later[i - 1].eta)} to ${formatDuration(later[i].eta)}`);
});

test('with steady level times the ETA is right from the second level on', () => {
  let t = 0;
  const eta = new LevelEta(() => t);
  for (let level = 0; level < 10; level++) {
    for (let s = 1; s < 10; s++) {
      t += 1000;
      eta.progress(s / 10);
      if (level >= 1) assert.ok(Math.abs(eta.remaining(s / 10, 9 - level) - ((9 - level) * 10_000 + (10 - s) * 1000)) <= 1000, `level ${level} second ${s}`);
    }
    t += 1000;
    eta.levelDone(false, 1); // the same density: no trend to fit
  }
});

test('before any pace is known the ETA is unknown; the first level is timed from its first progress report', () => {
  let t = 0;
  const eta = new LevelEta(() => t);
  assert.ok(Number.isNaN(eta.remaining(0, 5)));
  t = 60_000; // a minute of loading data: not counted
  eta.progress(0.1);
  assert.ok(Number.isNaN(eta.remaining(0.1, 5)));
  t = 70_000; // 10 s for 10% of the level's iterations: 100 s per level
  eta.progress(0.2);
  assert.equal(eta.remaining(0.2, 5), 0.8 * 100_000 + 5 * 100_000);
  // the level ends 90 s after its first report, which came at 10%: 100 s for the level
  t = 150_000;
  eta.levelDone(false, 1);
  // one level done: 100 s for each of the 5 levels left (the density fit needs 3 levels)
  assert.equal(eta.remaining(0, 4), 5 * 100_000);
});

test('levels taken from the store are not timed', () => {
  let t = 0;
  const eta = new LevelEta(() => t);
  for (let k = 0; k < 3; k++) {
    t += 50_000; // replaying is quick, and the time between them is not a level's time
    eta.levelDone(true, 0.8 ** k);
  }
  assert.ok(Number.isNaN(eta.remaining(0, 10)));
  t += 5000;
  eta.progress(0);
  t += 10_000;
  eta.progress(0.5);
  // 20 s per level from the first computed level's pace: 10 s left of it, 10 more levels
  assert.equal(eta.remaining(0.5, 10), 10_000 + 10 * 20_000);
});
