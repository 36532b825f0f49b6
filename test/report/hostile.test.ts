/**
 * CSV written by the report and by `analyze --csv` cannot start a spreadsheet formula (issue 15,
 * OWASP "CSV injection"): a text cell starting with =, +, -, @, tab or carriage return gets a
 * leading single quote; numbers (also negative ones) stay numbers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'csv-parse/sync';
import { toCsv } from '../../src/report/render.js';
import { reportCsv, type ModelReport } from '../../src/cli/commands/analyze.js';
import { csvSafeCell } from '../../src/report/csv.js';

test('csvSafeCell: formula starters in text are neutralised, numbers are kept', () => {
  assert.equal(csvSafeCell('=HYPERLINK("http://x")'), `'=HYPERLINK("http://x")`);
  assert.equal(csvSafeCell('+cmd|calc'), `'+cmd|calc`);
  assert.equal(csvSafeCell('-x'), `'-x`);
  assert.equal(csvSafeCell('@SUM(A1)'), `'@SUM(A1)`);
  assert.equal(csvSafeCell('\tx'), `'\tx`);
  assert.equal(csvSafeCell('-0.5'), '-0.5');
  assert.equal(csvSafeCell('+1e-3'), '+1e-3');
  assert.equal(csvSafeCell('-inf'), '-inf');
  assert.equal(csvSafeCell('fc1.weight'), 'fc1.weight');
});

test('toCsv: text cells are neutralised, number cells are not', () => {
  const text = toCsv(['group', 'value'], [
    { group: '=1+2', value: -0.5 },
    { group: '@evil', value: -Infinity },
    { group: 'lenet', value: 3 },
  ]);
  const rows = parse(text, { columns: true }) as Array<Record<string, string>>;
  assert.deepEqual(rows, [
    { group: "'=1+2", value: '-0.5' },
    { group: "'@evil", value: '-inf' },
    { group: 'lenet', value: '3' },
  ]);
});

test('analyze --csv: a layer named like a formula is neutralised', () => {
  const metrics = {
    weighting: 'unweighted', edges: 4, t1: 2, t2: 1, sigma2: 1, t1Multiplicity: 1, dL: 2, dR: 2, weightedDL: 1, weightedDR: 1,
    eb: 2, db: 2, dbWeighted: 1, deltaS: -0.5, deltaR: 1, deltaRWeighted: 0, isolatedL: 0, isolatedR: 0, components: 1,
    largestComponentL: 2, largestComponentR: 2, collapsed: false,
  };
  const report = {
    layers: [{ name: '=cmd|calc', kind: 'linear', shape: [2, 2], edges: 4, density: 1, unweighted: metrics, weighted: { ...metrics, weighting: 'abs' }, verdicts: { UE: true, UD: true, WE: false, WD: false, combined: true } }],
    criteria: ['UE'],
    regime: 'fully',
  } as unknown as ModelReport;
  const rows = parse(reportCsv(report), { columns: true }) as Array<Record<string, string>>;
  assert.equal(rows[0].name, "'=cmd|calc");
  assert.equal(rows[0].unweighted_deltaS, '-0.5');
});
