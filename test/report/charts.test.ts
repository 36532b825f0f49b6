/**
 * The report's chart specs plot the numbers in the records: each check recomputes the expected
 * value straight from the fixture files (independently of src/report/runs.ts) and compares.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  accuracyChart,
  accuracyVsDensityChart,
  decisionChart,
  deltaChart,
  densityChart,
} from '../../src/report/charts.js';
import { regimeSpans } from '../../src/report/charts.js';
import { isCollapsed } from '../../src/graph/bounds.js';
import { chartToSvg, compileSpec, svgToPng } from '../../src/report/render.js';
import { groupRuns } from '../../src/report/runs.js';
import { UserError } from '../../src/errors.js';
import type { LevelRecord } from '../../src/prune/records.js';
import { clone, fixtureRuns, loadFixture } from './fixtures.js';

const close = (a: unknown, b: number, what: string) => {
  assert.equal(typeof a, 'number', `${what}: not a number (${String(a)})`);
  assert.ok(Math.abs((a as number) - b) <= 1e-9 * Math.max(1, Math.abs(b)), `${what}: ${String(a)} != ${b}`);
};
const sampleStd = (xs: number[]) => {
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  return Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1));
};

const seed1 = loadFixture('lenet-imp-seed1.json').records;
const seed2 = loadFixture('lenet-imp-seed2.json').records;
const bound = loadFixture('lenet-imp-bound-seed1.json').records;
const [impGroup, boundGroup] = groupRuns(fixtureRuns());

test('fixtures: two groups, the IMP one over two seeds', () => {
  assert.equal(impGroup!.runs.length, 2);
  assert.equal(boundGroup!.runs.length, 1);
  assert.equal(impGroup!.levels.length, seed1.length);
  assert.equal(boundGroup!.levels.length, bound.length);
  assert.deepEqual(impGroup!.layerNames, ['fc1.weight', 'fc2.weight', 'fc3.weight']);
  assert.equal(impGroup!.algorithmLabel, 'IMP');
  assert.equal(boundGroup!.algorithmLabel, 'IMP-Bound');
});

test('Delta chart: mean and spread over seeds of each layer, panel and level', () => {
  const chart = deltaChart(impGroup!, 'd');
  const panels: Array<[string, (r: LevelRecord, i: number) => number | null]> = [
    ['ΔS unweighted', (r, i) => r.layers[i]!.unweighted.deltaS],
    ['ΔS weighted', (r, i) => r.layers[i]!.weighted.deltaS],
    ['ΔR unweighted', (r, i) => r.layers[i]!.unweighted.deltaR],
  ];
  let expectedRows = 0;
  for (const [panel, get] of panels) {
    for (let level = 0; level < seed1.length; level++) {
      for (let i = 0; i < 3; i++) {
        const a = get(seed1[level]!, i);
        const b = get(seed2[level]!, i);
        const row = chart.rows.find((r) => r.panel === panel && r.level === level && r.layer === `L${i + 1} · fc${i + 1}.weight`);
        const what = `${panel} level ${level} layer ${i}`;
        if (a === null && b === null) {
          assert.equal(row, undefined, `${what}: undefined at both seeds, must be left out`);
          continue;
        }
        expectedRows++;
        assert.ok(row, `${what}: missing`);
        close(row.density, 100 * ((seed1[level]!.density + seed2[level]!.density) / 2), `${what} density`);
        if (a === Infinity && b === Infinity) {
          assert.equal(row.value, null);
          assert.equal(row.seedsInfinite, 2);
          assert.equal(row.marker, '+inf (t2 = 0)');
          continue;
        }
        assert.equal(typeof a, 'number', 'the fixtures have no half-undefined points');
        close(row.value, ((a as number) + (b as number)) / 2, `${what} mean`);
        close(row.hi, ((a as number) + (b as number)) / 2 + sampleStd([a as number, b as number]), `${what} mean + std`);
        close(row.plot, row.value as number, `${what} plotted`);
        const comps = [seed1[level]!.layers[i]!.unweighted.components, seed2[level]!.layers[i]!.unweighted.components];
        assert.equal(row.components, comps[0] === comps[1] ? String(comps[0]) : `${Math.min(...comps)}-${Math.max(...comps)}`);
      }
    }
  }
  assert.equal(chart.rows.length, expectedRows);
  // the dense level is rank 1 (t2 = 0, Delta = +inf) in every layer and panel but the weighted one
  const infinite = chart.rows.filter((r) => r.marker === '+inf (t2 = 0)');
  assert.equal(infinite.length, 6);
  for (const r of infinite) {
    assert.equal(r.level, 0);
    const finiteInPanel = chart.rows.filter((x) => x.panel === r.panel && typeof x.value === 'number').map((x) => Math.max(x.value as number, (x.hi as number | null) ?? -Infinity));
    assert.ok((r.plot as number) > Math.max(...finiteInPanel), 'a clipped +inf is drawn above every finite value of its panel');
  }
  // the weighted Delta_S of fc2 is undefined (t1 < 1) at the last two levels: a gap
  assert.equal(chart.rows.filter((r) => r.panel === 'ΔS weighted' && r.layer === 'L2 · fc2.weight' && (r.level as number) >= 7).length, 0);
  // the chart plots exactly these rows
  assert.deepEqual((chart.spec.data as { values: unknown[] }).values, chart.rows);
});

test('Delta chart: +inf at one seed only is counted, the mean is over the finite seeds', () => {
  const runs = fixtureRuns().slice(0, 2);
  runs[1]!.records = clone(runs[1]!.records);
  runs[1]!.records[3]!.layers[0]!.unweighted.deltaS = Infinity;
  runs[1]!.records[4]!.layers[0]!.unweighted.deltaS = null;
  const [g] = groupRuns(runs);
  const rows = deltaChart(g!, 'd').rows.filter((r) => r.panel === 'ΔS unweighted' && r.layer === 'L1 · fc1.weight');
  const l3 = rows.find((r) => r.level === 3)!;
  close(l3.value, seed1[3]!.layers[0]!.unweighted.deltaS as number, 'mean over the finite seed');
  assert.equal(l3.seedsInfinite, 1);
  assert.equal(l3.lo, null, 'no spread from one seed');
  assert.match(l3.display as string, /\+inf at 1 of 2 seeds/);
  const l4 = rows.find((r) => r.level === 4)!;
  assert.equal(l4.seedsUndefined, 1);
  assert.match(l4.display as string, /undefined at 1 of 2 seeds/);
});

test('Delta chart leaves out layers excluded from the analysis and says so', () => {
  const runs = fixtureRuns().slice(0, 1);
  runs[0]!.records = clone(runs[0]!.records);
  for (const r of runs[0]!.records) r.layers[2]!.analysed = false;
  const chart = deltaChart(groupRuns(runs)[0]!, 'd');
  assert.equal(chart.rows.filter((r) => (r.layer as string).includes('fc3')).length, 0);
  assert.match(JSON.stringify(chart.spec.title), /Not analysed \(excluded from the regime\): fc3\.weight/);
});

test('accuracy chart: clean and noisy mean ± std over seeds, regimes shaded', () => {
  const chart = accuracyChart(impGroup!, 'a');
  assert.equal(chart.rows.length, seed1.length * 4);
  for (let level = 0; level < seed1.length; level++) {
    const sets: Array<[string, number, number]> = [
      ['clean', seed1[level]!.accuracy.clean, seed2[level]!.accuracy.clean],
      ...['0.1', '0.2', '0.3'].map((s): [string, number, number] => [`σ = ${s}`, seed1[level]!.accuracy.noisy[s]!, seed2[level]!.accuracy.noisy[s]!]),
    ];
    for (const [set, a, b] of sets) {
      const row = chart.rows.find((r) => r.testSet === set && r.level === level)!;
      close(row.accuracy, (100 * (a + b)) / 2, `${set} level ${level}`);
      close(row.lo, (100 * (a + b)) / 2 - 100 * sampleStd([a, b]), `${set} level ${level} lo`);
      assert.equal(row.seeds, 2);
    }
  }
  // fixture regimes: fully at levels 0-5, partially at 6-8 (both seeds)
  assert.deepEqual(seed1.map((r) => r.regime), seed2.map((r) => r.regime));
  const layers = chart.spec.layer as Array<{ data: { values: Array<Record<string, unknown>> } }>;
  const spans = layers[0]!.data.values;
  assert.equal(spans.length, 2);
  assert.equal(spans[0]!.regime, 'fully Ramanujan');
  assert.equal(spans[1]!.regime, 'partially Ramanujan');
  close(spans[0]!.from, 100, 'shading starts at the dense network');
  close(spans[0]!.to, 100 * Math.sqrt(seed1[5]!.density * seed1[6]!.density), 'boundary halfway (log) between levels 5 and 6');
  close(spans[1]!.to, 100 * seed1[8]!.density, 'shading ends at the last level');
});

test('regime spans: a non-Ramanujan stretch is its own (unshaded) span', () => {
  const spans = regimeSpans([
    { density: 100, regime: 'fully', level: 0 },
    { density: 10, regime: 'partially', level: 1 },
    { density: 1, regime: 'non', level: 2 },
    { density: 0.1, regime: 'non', level: 3 },
  ]);
  assert.deepEqual(spans.map((s) => [s.regime, s.firstLevel, s.lastLevel]), [
    ['fully Ramanujan', 0, 0],
    ['partially Ramanujan', 1, 1],
    ['non-Ramanujan', 2, 3],
  ]);
  close(spans[1]!.from, Math.sqrt(1000), 'geometric midpoint');
});

test('seeds that disagree on the regime: the majority, ties to the weaker regime', () => {
  const runs = fixtureRuns().slice(0, 2);
  runs[1]!.records = clone(runs[1]!.records);
  runs[1]!.records[5]!.regime = 'non';
  const [g] = groupRuns(runs);
  assert.equal(g!.levels[5]!.regime, 'non');
  assert.deepEqual(g!.levels[5]!.regimeCounts, { fully: 1, partially: 0, non: 1, collapsed: 0 });
});

test('density chart: per layer and the whole network, every level', () => {
  const chart = densityChart(impGroup!, 'n');
  assert.equal(chart.rows.length, seed1.length * 4);
  for (let level = 0; level < seed1.length; level++) {
    for (let i = 0; i < 3; i++) {
      const row = chart.rows.find((r) => r.level === level && r.layer === `L${i + 1} · fc${i + 1}.weight`)!;
      close(row.density, (100 * (seed1[level]!.layers[i]!.density + seed2[level]!.layers[i]!.density)) / 2, `layer ${i} level ${level}`);
    }
    const net = chart.rows.find((r) => r.level === level && r.layer === 'all prunable weights')!;
    close(net.density, (100 * (seed1[level]!.density + seed2[level]!.density)) / 2, `network level ${level}`);
  }
});

test('decision chart: one cell per layer and level of the Bound run, with the deciding check', () => {
  assert.equal(decisionChart(impGroup!, 'x'), null, 'no decisions without the bound');
  const chart = decisionChart(boundGroup!, 'x')!;
  const expected = bound.flatMap((r) => r.decisions ?? []);
  assert.equal(chart.rows.length, expected.length);
  for (const r of bound) {
    for (const d of r.decisions ?? []) {
      const row = chart.rows.find((x) => x.level === r.level && (x.layer as string).endsWith(d.layer))!;
      assert.equal(row.outcome, d.outcome);
      assert.equal(row.fraction, d.fraction);
      assert.equal(row.removed, d.removed);
      const last = d.attempts[d.attempts.length - 1]!;
      const want =
        d.outcome === 'pruned'
          ? last.check === 'score-weighted' ? 'pruned: score-weighted graph keeps expansion' : 'pruned: unweighted graph keeps the bound'
          : d.outcome === 'guarded' ? 'kept: collapse guard (min degree < 2)' : 'kept: no attempt passed';
      assert.equal(row.decision, want);
      assert.equal((row.attempts as string).split(' → ').length, d.attempts.length);
    }
  }
  // level 6, fc1: two failed tries, then the score-weighted check accepted 12.5%
  const cell = chart.rows.find((x) => x.level === 6 && (x.layer as string).endsWith('fc1.weight'))!;
  assert.equal(cell.text, '12.5%');
  assert.match(cell.attempts as string, /^50%: failed .* → 25%: failed .* → 12\.5%: score-weighted/);
});

test('accuracy vs density: one line per group, the clean mean over seeds', () => {
  const chart = accuracyVsDensityChart([impGroup!, boundGroup!], 'lenet-300-100', 'mnist', 'c');
  assert.equal(chart.rows.length, seed1.length + bound.length);
  const b7 = chart.rows.find((r) => r.algorithm === 'IMP-Bound' && r.level === 7)!;
  close(b7.accuracy, 100 * bound[7]!.accuracy.clean, 'bound level 7');
  close(b7.density, 100 * bound[7]!.density, 'bound level 7 density');
  assert.equal(b7.lo, null);
});

test('every spec compiles without a vega-lite warning and renders to SVG and PNG', async () => {
  const charts = [
    deltaChart(impGroup!, 'a'), accuracyChart(impGroup!, 'b'), densityChart(impGroup!, 'c'),
    deltaChart(boundGroup!, 'd'), accuracyChart(boundGroup!, 'e'), decisionChart(boundGroup!, 'f')!,
    accuracyVsDensityChart([impGroup!, boundGroup!], 'm', 'd', 'g'),
  ];
  for (const c of charts) {
    assert.deepEqual(compileSpec(c.spec).warnings, [], c.id);
  }
  const svg = await chartToSvg(charts[0]!.spec);
  assert.match(svg, /^<svg /);
  for (const text of ['ΔS unweighted', 'ΔS weighted', 'ΔR unweighted', 'L1 · fc1.weight', 'Remaining weights (%)']) assert.ok(svg.includes(text), text);
  const width = Number(/width="(\d+)"/.exec(svg)![1]);
  const png = svgToPng(svg);
  assert.deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47]); // "PNG"
  const pngWidth = png.readUInt32BE(16);
  assert.ok(Math.abs(pngWidth - (width * 300) / 96) <= 2, `PNG ${pngWidth} px wide for a ${width} px SVG at 300 dpi`);
});

test('bad records are the user\'s error, named by run and level', () => {
  const runs = fixtureRuns().slice(0, 1);
  runs[0]!.records = clone(runs[0]!.records);
  runs[0]!.records[2]!.accuracy.clean = 97.2; // a percentage where a fraction belongs
  assert.throws(() => groupRuns(runs), (e: unknown) => e instanceof UserError && /run run-imp-s1, level 2: accuracy 97\.2 is not a fraction/.test(e.message));
});

test('log axis ticks: 1-2-5 values inside the plotted range', async () => {
  const { logTicks } = await import('../../src/report/charts.js');
  assert.deepEqual(logTicks(0.41, 100), [0.5, 1, 2, 5, 10, 20, 50, 100]);
  assert.deepEqual(logTicks(1.62, 100), [2, 5, 10, 20, 50, 100]);
});

test('collapsed layers (average degree < 2) are marked in the Delta chart, off the line, and counted beside the regime', () => {
  const chart = deltaChart(impGroup!, 'd');
  const collapsedRows = chart.rows.filter((r) => r.marker === 'collapsed (degree < 2)');
  let expected = 0;
  for (let level = 0; level < seed1.length; level++) {
    for (let i = 0; i < 3; i++) {
      const both = [seed1[level]!, seed2[level]!].every((r) => isCollapsed(r.layers[i]!.unweighted));
      const rows = chart.rows.filter((r) => r.level === level && r.layer === `L${i + 1} · fc${i + 1}.weight`);
      for (const r of rows) {
        assert.equal(r.marker === 'collapsed (degree < 2)', both, `level ${level} layer ${i} ${String(r.panel)}`);
        if (both) assert.match(String(r.display), /^collapsed \(average degree < 2, no verdict\) at 2 of 2 seeds/);
      }
      if (both) expected += rows.length;
    }
  }
  assert.ok(expected > 0, 'the fixtures have collapsed layers at their last levels');
  assert.equal(collapsedRows.length, expected);
  const spec = JSON.stringify(chart.spec);
  assert.ok(spec.includes("datum.marker != 'collapsed (degree < 2)'"), 'the line leaves collapsed points out');
  // the level stats count them per seed
  const last = impGroup!.levels[impGroup!.levels.length - 1]!;
  const counts = [seed1, seed2].map((s) => s[s.length - 1]!.layers.filter((l) => l.analysed && isCollapsed(l.unweighted)).length);
  assert.deepEqual(last.collapsedLayers, counts);
  assert.ok(counts[0]! > 0);
});

test('a level where every analysed layer collapsed has the regime "collapsed", shaded apart', () => {
  const runs = fixtureRuns().slice(0, 1);
  runs[0]!.records = clone(runs[0]!.records);
  const last = runs[0]!.records[runs[0]!.records.length - 1]!;
  last.regime = 'collapsed';
  for (const l of last.layers) l.collapsed = true;
  const [g] = groupRuns(runs);
  const level = g!.levels[g!.levels.length - 1]!;
  assert.equal(level.regime, 'collapsed');
  assert.deepEqual(level.collapsedLayers, [3]);
  const spans = regimeSpans(g!.levels.map((l) => ({ density: 100 * l.density.mean, regime: l.regime, level: l.level })));
  assert.equal(spans[spans.length - 1]!.regime, 'all layers collapsed');
});
