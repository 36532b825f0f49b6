/**
 * buildReport writes the page, the chart files and Table 2; the CSVs hold the charts' numbers;
 * strings from runs are escaped in the page; the terminal summary prints every level.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { UserError } from '../../src/errors.js';
import { buildReport, checksMarkdown, checksRows, groupRuns, summaryTable, table2Markdown, table2Rows } from '../../src/report/index.js';
import { deltaChart } from '../../src/report/charts.js';
import { jsonForScript } from '../../src/report/html.js';
import { isCollapsed } from '../../src/graph/bounds.js';
import { clone, fixtureRuns, loadFixture } from './fixtures.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'ramanujan-report-'));
const seed1 = loadFixture('lenet-imp-seed1.json').records;
const seed2 = loadFixture('lenet-imp-seed2.json').records;
const bound = loadFixture('lenet-imp-bound-seed1.json').records;

test('Table 2: the dense row, IMP at its alpha, IMP-Bound where the rule stopped (mean ± std over seeds)', () => {
  const rows = table2Rows(groupRuns(fixtureRuns()));
  assert.deepEqual(rows.map((r) => [r.algorithm, r.alpha, r.runs]), [
    ['Without Pruning', 0, 2], // level 0 of seeds 1 and 2 (the Bound run's seed 1 is the same dense net)
    ['IMP', 2, 2],
    ['IMP-Bound', null, 1],
  ]);
  const mean = (a: number, b: number) => (a + b) / 2;
  const [dense, imp, b] = rows;
  assert.ok(Math.abs(dense!.accuracy.mean - 100 * mean(seed1[0]!.accuracy.clean, seed2[0]!.accuracy.clean)) < 1e-9);
  assert.ok(Math.abs(imp!.density.mean - 100 * mean(seed1[8]!.density, seed2[8]!.density)) < 1e-9);
  const s = Math.abs(seed1[8]!.accuracy.clean - seed2[8]!.accuracy.clean) / Math.SQRT2;
  assert.ok(Math.abs(imp!.accuracy.std! - 100 * s) < 1e-9, 'sample std of two values');
  assert.ok(Math.abs(b!.accuracy.mean - 100 * bound[bound.length - 1]!.accuracy.clean) < 1e-9);
  assert.equal(b!.accuracy.std, null);

  const md = table2Markdown(rows).trim().split('\n');
  assert.equal(md.length, 2 + rows.length);
  assert.match(md[0]!, /^\| Model \| Dataset \| Algorithm \| α \| Density \(%\) \| Test accuracy \(%\) \|/);
  assert.equal(md[4], `| lenet-300-100 | mnist | IMP-Bound | - | ${b!.density.mean.toFixed(2)} | ${b!.accuracy.mean.toFixed(2)} | 1 | 1: ${b!.density.mean.toFixed(2)} / ${b!.accuracy.mean.toFixed(2)} |  |`);
  // per seed: each run's own last level, in seed order
  assert.deepEqual(imp!.perSeed.map((v) => v.seed), [1, 2]);
  assert.deepEqual(imp!.perSeed.map((v) => v.accuracy), [100 * seed1[8]!.accuracy.clean, 100 * seed2[8]!.accuracy.clean]);
  assert.deepEqual(dense!.perSeed.map((v) => [v.seed, v.accuracy]), [[1, 100 * seed1[0]!.accuracy.clean], [2, 100 * seed2[0]!.accuracy.clean]]);
  assert.equal(md[3]!.split(' | ')[7], `1: ${(100 * seed1[8]!.density).toFixed(2)} / ${(100 * seed1[8]!.accuracy.clean).toFixed(2)}; 2: ${(100 * seed2[8]!.density).toFixed(2)} / ${(100 * seed2[8]!.accuracy.clean).toFixed(2)}`);
});

test('Table 2 tells the mean1 bound rows (ours) apart from the paper-rule bound rows', () => {
  const runs = fixtureRuns();
  const b = runs[2]!;
  const cfg = clone(b.config) as { pruning: { bound: Record<string, unknown> } };
  cfg.pruning.bound = { ...cfg.pruning.bound, scoreScale: 'mean1' };
  const mean1 = { ...clone(b), id: 'run-bound-mean1-s1', group: 'lenet-mnist-imp-bound-mean1', config: cfg };
  // the mean1 group first in the input: the paper's row still comes first
  const rows = table2Rows(groupRuns([runs[0]!, runs[1]!, mean1, b]));
  assert.deepEqual(rows.map((r) => [r.algorithm, r.alpha, r.group]), [
    ['Without Pruning', 0, null],
    ['IMP', 2, 'lenet-mnist-imp'],
    ['IMP-Bound', null, 'lenet-mnist-imp-bound'],
    ['IMP-Bound (mean1)', null, 'lenet-mnist-imp-bound-mean1'],
  ]);
  // an explicit 'none' reads as the paper's rule
  const none = clone(b.config) as { pruning: { bound: Record<string, unknown> } };
  none.pruning.bound = { ...none.pruning.bound, scoreScale: 'none' };
  assert.equal(groupRuns([{ ...b, config: none }])[0]!.algorithmLabel, 'IMP-Bound');
});

test('Table 2 flags rows whose runs have not finished', () => {
  const runs = fixtureRuns();
  runs[2]!.status = 'running';
  const rows = table2Rows(groupRuns(runs));
  assert.deepEqual(rows[2]!.unfinished, ['running']);
  assert.match(table2Markdown(rows), /not finished: running/);
});

test('buildReport writes the page, SVG + PNG + CSV per chart and Table 2', { timeout: 60_000 }, async () => {
  const out = tmp();
  try {
    const { files } = await buildReport({ runs: fixtureRuns(), outDir: out, formats: ['html', 'svg', 'png', 'csv'] });
    const names = files.map((f) => f.slice(out.length + 1)).sort();
    const stems = [
      '01-lenet-mnist-imp-deltas', '01-lenet-mnist-imp-accuracy', '01-lenet-mnist-imp-density',
      '02-lenet-mnist-imp-bound-deltas', '02-lenet-mnist-imp-bound-accuracy', '02-lenet-mnist-imp-bound-density', '02-lenet-mnist-imp-bound-decisions',
      'accuracy-vs-density-1-lenet-300-100-mnist',
    ];
    const expected = [...stems.flatMap((s) => ['svg', 'png', 'csv'].map((x) => `charts/${s}.${x}`)), 'report.html', 'table2.csv', 'table2.md', 'algorithm1-checks.md', 'algorithm1-checks.csv'].sort();
    assert.deepEqual(names, expected);
    for (const f of files) assert.ok(readFileSync(f).length > 100, f);
    assert.deepEqual(readdirSync(join(out, 'charts')).filter((f) => f.includes('.tmp')), [], 'no temporary file left');

    // the Delta CSV holds the chart's rows; +inf as "inf" would only appear in value columns, the
    // infinite points have an empty value and a marker
    const csv = parse(readFileSync(join(out, 'charts', '01-lenet-mnist-imp-deltas.csv'), 'utf8'), { columns: true }) as Array<Record<string, string>>;
    const chart = deltaChart(groupRuns(fixtureRuns())[0]!, 'x');
    assert.equal(csv.length, chart.rows.length);
    const row = csv.find((r) => r.panel === 'ΔR unweighted' && r.level === '5' && r.layer === 'L2 · fc2.weight')!;
    const want = (seed1[5]!.layers[1]!.unweighted.deltaR! + seed2[5]!.layers[1]!.unweighted.deltaR!) / 2;
    assert.ok(Math.abs(Number(row.value) - want) < 1e-12);
    const inf = csv.find((r) => r.panel === 'ΔS unweighted' && r.level === '0' && r.layer === 'L1 · fc1.weight')!;
    assert.equal(inf.value, '');
    assert.equal(inf.seedsInfinite, '2');

    const t2 = parse(readFileSync(join(out, 'table2.csv'), 'utf8'), { columns: true }) as Array<Record<string, string>>;
    assert.deepEqual(t2.map((r) => r.algorithm), ['Without Pruning', 'IMP', 'IMP-Bound']);
    assert.equal(t2[2]!.alpha, '');
    assert.equal(t2[2]!.accuracy_std, '');
    assert.equal(t2[1]!.seed_list, '1 2');
    assert.deepEqual(t2[1]!.accuracy_per_seed!.split(' ').map(Number), [100 * seed1[8]!.accuracy.clean, 100 * seed2[8]!.accuracy.clean]);

    const checks = parse(readFileSync(join(out, 'algorithm1-checks.csv'), 'utf8'), { columns: true }) as Array<Record<string, string>>;
    assert.deepEqual(checks.map((r) => r.algorithm), ['IMP-Bound'], 'one row, for the Bound group only');

    const html = readFileSync(join(out, 'report.html'), 'utf8');
    assert.match(html, /<caption>Algorithm 1: which check decided each attempt/);
    assert.equal((html.match(/<div class="chart" /g) ?? []).length, 8);
    assert.equal((html.match(/data-chart="chart-/g) ?? []).length, 8);
    for (const lib of ['vega@', 'vega-lite@', 'vega-embed@']) assert.ok(html.includes(`data-library="${lib}`), lib);
    // the summary table counts the collapsed layers beside the regime (the fixtures' last levels have some)
    assert.match(html, /<span class="collapsed">\d+ of 3 layers collapsed<\/span>/);
    assert.doesNotMatch(html, /sourceMappingURL/);
    assert.doesNotMatch(html, /<script[^>]+src=/, 'nothing is loaded from elsewhere');
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test('formats: only what was asked for; an unknown format is a UserError', { timeout: 60_000 }, async () => {
  const out = tmp();
  try {
    const { files } = await buildReport({ runs: fixtureRuns().slice(0, 1), outDir: out, formats: ['csv'] });
    assert.ok(files.every((f) => f.endsWith('.csv') || f.endsWith('table2.md')));
    assert.ok(!existsSync(join(out, 'report.html')));
    await assert.rejects(buildReport({ runs: fixtureRuns(), outDir: out, formats: ['pdf' as never] }), (e: unknown) => e instanceof UserError && /unknown format "pdf"/.test(e.message));
    await assert.rejects(buildReport({ runs: [], outDir: out, formats: ['html'] }), UserError);
    const empty = fixtureRuns().slice(0, 1);
    empty[0]!.records = [];
    await assert.rejects(buildReport({ runs: empty, outDir: out, formats: ['html'] }), (e: unknown) => e instanceof UserError && /run run-imp-s1: no level records/.test(e.message));
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test('strings from runs are escaped in the page: a layer named <script> is text', { timeout: 60_000 }, async () => {
  const out = tmp();
  const evil = '<script>alert(1)</script>';
  try {
    const runs = fixtureRuns().slice(0, 1);
    runs[0]!.records = clone(runs[0]!.records);
    for (const r of runs[0]!.records) r.layers[0]!.name = evil;
    runs[0]!.label = evil;
    runs[0]!.group = `g ${evil} & "q"`;
    (runs[0]!.config as Record<string, unknown>).model = evil;
    await buildReport({ runs, outDir: out, formats: ['html'] });
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    assert.ok(!html.includes(evil), 'never raw');
    assert.ok(html.includes('&lt;script&gt;alert(1)&lt;/script&gt;'), 'escaped in the HTML text');
    assert.ok(html.includes('\\u003cscript\\u003ealert(1)\\u003c/script\\u003e'), 'escaped in the spec JSON');
    // every <script> tag is ours: 3 libraries, 1 spec per chart, the boot script
    assert.equal((html.match(/<script/gi) ?? []).length, 3 + 4 + 1);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test('jsonForScript round-trips and cannot close a script element', () => {
  const value = { a: '</script><!-- & \u2028', b: [1, null, 'x'] };
  const text = jsonForScript(value);
  assert.doesNotMatch(text, /[<>&\u2028]/);
  assert.deepEqual(JSON.parse(text), value);
});

test('a failed build leaves no half-written page', { timeout: 60_000 }, async () => {
  const out = tmp();
  try {
    writeFileSync(join(out, 'report.html'), 'previous report');
    const runs = fixtureRuns().slice(0, 1);
    runs[0]!.records = clone(runs[0]!.records);
    runs[0]!.records[1]!.density = 3; // not a fraction: rejected before anything is written
    await assert.rejects(buildReport({ runs, outDir: out, formats: ['html'] }), (e: unknown) => e instanceof UserError && /level 1: density = 3/.test(e.message));
    assert.equal(readFileSync(join(out, 'report.html'), 'utf8'), 'previous report');
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test('summaryTable: one line per level with density, clean and noisy accuracy and regime', () => {
  const text = summaryTable(seed1);
  const lines = text.split('\n');
  assert.match(lines.find((l) => l.includes('level'))!, /level.*density %.*clean %.*σ=0\.1 %.*σ=0\.2 %.*σ=0\.3 %.*regime/);
  for (const r of seed1) {
    const line = lines.find((l) => new RegExp(`^\\S\\s+${r.level} \\S`).test(l));
    assert.ok(line, `level ${r.level}`);
    assert.ok(line.includes((100 * r.density).toFixed(2)));
    assert.ok(line.includes((100 * r.accuracy.clean).toFixed(2)));
    assert.ok(line.includes((100 * r.accuracy.noisy['0.3']!).toFixed(2)));
    assert.ok(line.includes(r.regime));
    const collapsed = r.layers.filter((l) => l.analysed && isCollapsed(l.unweighted)).length;
    if (collapsed > 0) assert.ok(line.includes(`${r.regime}, ${collapsed}/3 collapsed`), `level ${r.level}: ${line}`);
    else assert.doesNotMatch(line, /collapsed/);
  }
  assert.ok(seed1.some((r) => r.layers.some((l) => isCollapsed(l.unweighted))), 'the fixture has collapsed layers');
  assert.doesNotMatch(text, /\u001b\[/, 'no colour codes');
});

test('Table 2 rows that would read the same name their group', () => {
  const runs = fixtureRuns();
  const copy = { ...runs[0]!, id: 'other', group: 'imp-other' };
  const rows = table2Rows(groupRuns([...runs, copy]));
  const imp = rows.filter((r) => r.algorithm === 'IMP');
  assert.deepEqual(imp.map((r) => r.note), ['group lenet-mnist-imp', 'group imp-other']);
  assert.equal(rows.find((r) => r.algorithm === 'IMP-Bound')!.note, undefined);
  assert.match(table2Markdown(rows), /\| group imp-other \|/);
});

test('Algorithm 1 checks: every attempt of a Bound group counted by the check that decided it, with the score ranges at line 17', () => {
  const twoSeeds = fixtureRuns().filter((r) => r.id.includes('bound'));
  assert.equal(twoSeeds.length, 1);
  const second = clone(twoSeeds[0]!);
  second.id = 'run-bound-s2';
  second.config = { ...(second.config as Record<string, unknown>), seed: 2 };
  const rows = checksRows(groupRuns([...fixtureRuns(), second]));
  assert.equal(rows.length, 1, 'plain groups have no row');
  const [row] = rows;
  // counted by hand from the records, twice (the same records under two seeds)
  const counts: Record<string, number> = { unweighted: 0, 'score-weighted': 0, failed: 0, 'collapse-guard': 0 };
  let t1: number[] = [];
  for (const r of bound) for (const d of r.decisions ?? []) for (const a of d.attempts) {
    counts[a.check]! += 2;
    if (a.scoreT1 !== null) t1.push(a.scoreT1);
  }
  assert.ok(Object.values(counts).reduce((a, b) => a + b, 0) > 0, 'the fixture has attempts');
  assert.equal(row!.runs, 2);
  assert.deepEqual(row!.counts, counts);
  t1 = t1.filter(Number.isFinite);
  assert.deepEqual(row!.scoreT1, t1.length ? [Math.min(...t1), Math.max(...t1)] : null);
  const md = checksMarkdown(rows).trim().split('\n');
  assert.match(md[md.length - 1]!, new RegExp(`^\\| lenet-300-100 \\| mnist \\| IMP-Bound \\(lenet-mnist-imp-bound\\) \\| 2 \\| ${counts.unweighted} \\| ${counts['score-weighted']} \\| ${counts.failed} \\| ${counts['collapse-guard']} \\|`));
});
