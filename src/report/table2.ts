/**
 * The paper's Table 2 across runs: per model and dataset, the dense network ("Without Pruning",
 * from level 0), then each algorithm at its target alpha and its -Bound variant, with the density
 * and clean test accuracy of each run's LAST level, as mean ± std over the seeds of a group.
 *
 * Each row also lists every run's own values by seed ("Per seed"), so a reader sees the spread
 * behind a mean and which seed gave what.
 *
 * A run still running has no final level yet: its row is marked with the statuses it has.
 */
import type { LevelRecord } from '../prune/records.js';
import { checkRecords, type RunGroup, runIdentity, stat, type Stat } from './runs.js';
import type { ReportRun } from './types.js';

export interface Table2Row {
  model: string;
  dataset: string;
  /** "Without Pruning", "IMP", "SynFlow-Bound", ... */
  algorithm: string;
  /** target alpha; null for the dense row and Bound rows ("-" in the paper) */
  alpha: number | null;
  /** percent of prunable weights left */
  density: Stat;
  /** clean test accuracy in percent */
  accuracy: Stat;
  /** seeds (runs) the row averages */
  runs: number;
  /** each run's density and accuracy (percent), by seed (null: a run without a seed), in seed order */
  perSeed: SeedValue[];
  /** statuses other than a finished one, e.g. "running" (the row is then not final) */
  unfinished: string[];
  group: string | null;
  /** set when another row has the same model, dataset, algorithm and alpha: which group this is */
  note?: string;
}

export interface SeedValue {
  seed: number | null;
  density: number;
  accuracy: number;
}

/** Values in seed order (runs without a seed last, as given). */
function bySeed(values: SeedValue[]): SeedValue[] {
  return [...values].sort((a, b) => (a.seed ?? Infinity) - (b.seed ?? Infinity));
}

/** statuses that mean the run ended normally (the store's words; anything else is flagged) */
const FINISHED = new Set(['done', 'finished', 'completed', 'complete', 'succeeded', 'success', 'ok']);
const ALGO_ORDER = ['imp', 'snip', 'synflow', 'random'];

function lastRecord(run: ReportRun): LevelRecord | null {
  const records = checkRecords(run);
  return records.length ? records[records.length - 1]! : null;
}

export function table2Rows(groups: RunGroup[]): Table2Row[] {
  const byData = new Map<string, RunGroup[]>();
  for (const g of groups) {
    const key = JSON.stringify([g.identity.model, g.identity.dataset]);
    byData.set(key, [...(byData.get(key) ?? []), g]);
  }
  const rows: Table2Row[] = [];
  for (const [key, list] of byData) {
    const [model, dataset] = JSON.parse(key) as [string, string];
    // Without pruning: level 0 of every run, one per seed (level 0 does not depend on the algorithm)
    const dense = new Map<string, { seed: number | null; rec: LevelRecord }>();
    for (const g of list)
      for (const run of g.runs) {
        const r0 = checkRecords(run).find((r) => r.level === 0);
        const seed = runIdentity(run).seed;
        const seedKey = seed === null ? `run ${run.id}` : `seed ${seed}`;
        if (r0 && !dense.has(seedKey)) dense.set(seedKey, { seed, rec: r0 });
      }
    if (dense.size > 0) {
      const recs = [...dense.values()];
      rows.push({
        model, dataset, algorithm: 'Without Pruning', alpha: 0,
        density: stat(recs.map((r) => 100 * r.rec.density))!,
        accuracy: stat(recs.map((r) => 100 * r.rec.accuracy.clean))!,
        runs: recs.length,
        perSeed: bySeed(recs.map((r) => ({ seed: r.seed, density: 100 * r.rec.density, accuracy: 100 * r.rec.accuracy.clean }))),
        unfinished: [], group: null,
      });
    }
    const sorted = [...list].sort((a, b) => {
      const ia = ALGO_ORDER.indexOf(a.identity.algorithm);
      const ib = ALGO_ORDER.indexOf(b.identity.algorithm);
      if (ia !== ib) return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib) || a.identity.algorithm.localeCompare(b.identity.algorithm);
      if (a.identity.bound !== b.identity.bound) return a.identity.bound ? 1 : -1;
      // the paper's rule first, our mean-1 rows after it
      if (a.identity.scoreScale !== b.identity.scoreScale) return a.identity.scoreScale === 'mean1' ? 1 : -1;
      return (a.identity.alpha ?? Infinity) - (b.identity.alpha ?? Infinity);
    });
    for (const g of sorted) {
      const finals = g.runs.map((run) => ({ run, rec: lastRecord(run) })).filter((x): x is { run: ReportRun; rec: LevelRecord } => x.rec !== null);
      if (finals.length === 0) continue;
      rows.push({
        model, dataset, algorithm: g.algorithmLabel,
        alpha: g.identity.bound ? null : g.identity.alpha,
        density: stat(finals.map((f) => 100 * f.rec.density))!,
        accuracy: stat(finals.map((f) => 100 * f.rec.accuracy.clean))!,
        runs: finals.length,
        perSeed: bySeed(finals.map((f) => ({ seed: runIdentity(f.run).seed, density: 100 * f.rec.density, accuracy: 100 * f.rec.accuracy.clean }))),
        unfinished: [...new Set(finals.map((f) => f.run.status).filter((s) => !FINISHED.has(s.toLowerCase())))],
        group: g.name,
      });
    }
  }
  // rows that would read the same (e.g. two IMP groups without a target alpha) name their group
  const key = (r: Table2Row) => JSON.stringify([r.model, r.dataset, r.algorithm, r.alpha]);
  const counts = new Map<string, number>();
  for (const r of rows) counts.set(key(r), (counts.get(key(r)) ?? 0) + 1);
  for (const r of rows) if (counts.get(key(r))! > 1 && r.group !== null) r.note = `group ${r.group}`;
  return rows;
}

const TABLE2_HEADER = ['Model', 'Dataset', 'Algorithm', 'α', 'Density (%)', 'Test accuracy (%)', 'Seeds', 'Per seed: density / accuracy (%)', 'Note'];

function num(x: number, digits = 2): string {
  return x.toFixed(digits);
}

export function table2Cells(row: Table2Row): string[] {
  const pm = (s: Stat) => (s.std === null ? num(s.mean) : `${num(s.mean)} ± ${num(s.std)}`);
  return [
    row.model,
    row.dataset,
    row.algorithm,
    row.alpha === null ? '-' : num(row.alpha, 1),
    pm(row.density),
    pm(row.accuracy),
    String(row.runs),
    row.perSeed.map((v) => `${v.seed === null ? '?' : v.seed}: ${num(v.density)} / ${num(v.accuracy)}`).join('; '),
    [row.note ?? '', row.unfinished.length ? `not finished: ${row.unfinished.join(', ')}` : ''].filter((x) => x).join('; '),
  ];
}

export function table2Header(): string[] {
  return [...TABLE2_HEADER];
}

/** The table as GitHub Markdown; `|` in a cell is escaped. */
export function table2Markdown(rows: Table2Row[]): string {
  const esc = (s: string) => s.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
  const lines = [
    `| ${TABLE2_HEADER.join(' | ')} |`,
    `|${TABLE2_HEADER.map((_, i) => (i >= 3 && i <= 6 ? ' ---: ' : ' --- ')).join('|')}|`,
    ...rows.map((r) => `| ${table2Cells(r).map(esc).join(' | ')} |`),
  ];
  return lines.join('\n') + '\n';
}

/** Raw numbers for the CSV: means and stds separate, empty where undefined. */
export function table2CsvRows(rows: Table2Row[]): { columns: string[]; rows: Array<Record<string, string | number | null>> } {
  return {
    columns: [
      'model', 'dataset', 'algorithm', 'alpha', 'density_mean', 'density_std', 'accuracy_mean', 'accuracy_std', 'seeds',
      'seed_list', 'density_per_seed', 'accuracy_per_seed', 'unfinished', 'group',
    ],
    rows: rows.map((r) => ({
      model: r.model,
      dataset: r.dataset,
      algorithm: r.algorithm,
      alpha: r.alpha,
      density_mean: r.density.mean,
      density_std: r.density.std,
      accuracy_mean: r.accuracy.mean,
      accuracy_std: r.accuracy.std,
      seeds: r.runs,
      // space-separated, in the same order: the seeds (? for a run without one) and their values
      seed_list: r.perSeed.map((v) => (v.seed === null ? '?' : String(v.seed))).join(' '),
      density_per_seed: r.perSeed.map((v) => String(v.density)).join(' '),
      accuracy_per_seed: r.perSeed.map((v) => String(v.accuracy)).join(' '),
      unfinished: r.unfinished.join(' '),
      group: r.group,
    })),
  };
}
