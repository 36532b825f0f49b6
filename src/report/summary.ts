/**
 * The terminal summary of one run: per level the density, the clean and noisy test accuracy and
 * the regime (with the analysed layers that collapsed, e.g. "partially, 1/3 collapsed"). Printed at the end of a run and by `ramanujan report`.
 */
import Table from 'cli-table3';
import { levelRegimeText, type LevelRecord } from '../prune/records.js';

export function summaryTable(records: LevelRecord[]): string {
  const sorted = [...records].sort((a, b) => a.level - b.level);
  const sigmas = [...new Set(sorted.flatMap((r) => Object.keys(r.accuracy.noisy)))].sort((a, b) => Number(a) - Number(b));
  const table = new Table({
    head: ['level', 'density %', 'clean %', ...sigmas.map((s) => `σ=${s} %`), 'regime'],
    style: { head: [], border: [], compact: true },
    colAligns: ['right', 'right', 'right', ...sigmas.map(() => 'right' as const), 'left'],
  });
  const pct = (x: number | undefined) => (x === undefined ? '-' : (100 * x).toFixed(2));
  for (const r of sorted) {
    table.push([String(r.level), (100 * r.density).toFixed(2), pct(r.accuracy.clean), ...sigmas.map((s) => pct(r.accuracy.noisy[s])), levelRegimeText(r, true)]);
  }
  return table.toString();
}
