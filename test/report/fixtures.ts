/**
 * Loads the LevelRecord fixtures of test/fixtures/records (written by make_records.py there: the
 * graph metrics are computed from real masks, the accuracies are made up). JSON has no Infinity,
 * so the files write it as the string "Infinity"; the reviver turns it back into a number.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../src/paths.js';
import type { LevelRecord } from '../../src/prune/records.js';
import type { ReportRun } from '../../src/report/types.js';

export const fixtureDir = join(packageRoot(), 'test', 'fixtures', 'records');

export function loadFixture(file: string): { config: Record<string, unknown>; records: LevelRecord[] } {
  const text = readFileSync(join(fixtureDir, file), 'utf8');
  return JSON.parse(text, (_key, value: unknown) =>
    value === 'Infinity' ? Infinity : value === '-Infinity' ? -Infinity : value,
  ) as { config: Record<string, unknown>; records: LevelRecord[] };
}

/** The three fixture runs: IMP on Lenet with seeds 1 and 2 (one group), and IMP-Bound (seed 1). */
export function fixtureRuns(): ReportRun[] {
  const imp1 = loadFixture('lenet-imp-seed1.json');
  const imp2 = loadFixture('lenet-imp-seed2.json');
  const bound = loadFixture('lenet-imp-bound-seed1.json');
  return [
    { id: 'run-imp-s1', label: 'IMP seed 1', group: 'lenet-mnist-imp', config: imp1.config, records: imp1.records, status: 'done' },
    { id: 'run-imp-s2', label: 'IMP seed 2', group: 'lenet-mnist-imp', config: imp2.config, records: imp2.records, status: 'done' },
    { id: 'run-bound-s1', label: 'IMP-Bound seed 1', group: 'lenet-mnist-imp-bound', config: bound.config, records: bound.records, status: 'done' },
  ];
}

/** A deep copy (Infinity kept), for tests that edit records. */
export function clone<T>(x: T): T {
  return structuredClone(x);
}
