/**
 * Which check of Algorithm 1 decided each attempt, counted over all seeds of every group that ran
 * it (Bound runs): line 12 (the unweighted graph keeps the property), line 17 (the score-weighted
 * graph keeps the expansion property), failed (the fraction is halved) and the collapse guard,
 * with the range of the score graph's t1 and Delta_S on the attempts that reached line 17.
 *
 * Why a table of its own: line 17's verdict depends on the absolute scale of the scores (NOTES
 * section 6), so whether it ever accepts is the first thing to know when comparing Bound rows;
 * the per-layer decisions chart shows each attempt, this table the totals.
 */
import type { Algorithm1Check } from '../prune/records.js';
import type { Cell } from './charts.js';
import type { RunGroup } from './runs.js';

export interface ChecksRow {
  model: string;
  dataset: string;
  group: string;
  /** "IMP-Bound", "SynFlow-Bound (mean1)", ... */
  algorithm: string;
  /** runs (seeds) of the group with decisions */
  runs: number;
  /** attempts decided by each check */
  counts: Record<Algorithm1Check, number>;
  /** min and max of the score graph's t1 over the attempts that reached line 17; null if none did */
  scoreT1: [number, number] | null;
  scoreDeltaS: [number, number] | null;
}

const CHECKS: Algorithm1Check[] = ['unweighted', 'score-weighted', 'failed', 'collapse-guard'];

function widen(range: [number, number] | null, v: number | null): [number, number] | null {
  if (v === null || !Number.isFinite(v)) return range;
  return range === null ? [v, v] : [Math.min(range[0], v), Math.max(range[1], v)];
}

export function checksRows(groups: RunGroup[]): ChecksRow[] {
  const rows: ChecksRow[] = [];
  for (const g of groups) {
    if (g.decisions.length === 0) continue;
    const counts = Object.fromEntries(CHECKS.map((c) => [c, 0])) as Record<Algorithm1Check, number>;
    let scoreT1: [number, number] | null = null;
    let scoreDeltaS: [number, number] | null = null;
    for (const { levels } of g.decisions) {
      for (const { decisions } of levels) {
        for (const d of decisions) {
          for (const a of d.attempts) {
            counts[a.check] += 1;
            scoreT1 = widen(scoreT1, a.scoreT1);
            scoreDeltaS = widen(scoreDeltaS, a.scoreDeltaS);
          }
        }
      }
    }
    rows.push({ model: g.identity.model, dataset: g.identity.dataset, group: g.name, algorithm: g.algorithmLabel, runs: g.decisions.length, counts, scoreT1, scoreDeltaS });
  }
  return rows;
}

const num = (v: number) => (Math.abs(v) >= 100 ? v.toFixed(1) : v.toFixed(2));
const range = (r: [number, number] | null) => (r === null ? '' : r[0] === r[1] ? num(r[0]) : `${num(r[0])} to ${num(r[1])}`);

export const CHECKS_HEADER = ['model', 'dataset', 'algorithm', 'runs', 'line 12 (unweighted)', 'line 17 (score-weighted)', 'failed', 'collapse guard', 'score t1 at line 17', 'score ΔS at line 17'];

/** The table's cells as text, in CHECKS_HEADER order; a group named otherwise than its algorithm is named beside it. */
export function checksCells(r: ChecksRow): string[] {
  const algorithm = r.group === `${r.model} · ${r.dataset} · ${r.algorithm}` ? r.algorithm : `${r.algorithm} (${r.group})`;
  return [r.model, r.dataset, algorithm, String(r.runs), ...CHECKS.map((c) => String(r.counts[c])), range(r.scoreT1), range(r.scoreDeltaS)];
}

export function checksMarkdown(rows: ChecksRow[]): string {
  const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
  const lines = [
    '# Algorithm 1: which check decided each attempt',
    '',
    'Attempts of every layer at every level, over all seeds of a group. Line 12 accepts when the',
    "unweighted graph keeps max(ΔS, ΔR) > 0, line 17 when the score-weighted graph keeps ΔS >= 0",
    'with t1 >= 1; a failed attempt halves the fraction; the collapse guard keeps a layer that would',
    'fall below average degree 2. Line 17 depends on the scale of the scores: the t1 and ΔS columns',
    'show where they lay.',
    '',
    `| ${CHECKS_HEADER.map(cell).join(' | ')} |`,
    `|${CHECKS_HEADER.map((_, i) => (i >= 3 && i <= 7 ? '---:' : '---')).join('|')}|`,
    ...rows.map((r) => `| ${checksCells(r).map(cell).join(' | ')} |`),
    '',
  ];
  return lines.join('\n');
}

export function checksCsvRows(rows: ChecksRow[]): { columns: string[]; rows: Array<Record<string, Cell>> } {
  const columns = ['model', 'dataset', 'algorithm', 'group', 'runs', ...CHECKS, 'score_t1_min', 'score_t1_max', 'score_delta_s_min', 'score_delta_s_max'];
  return {
    columns,
    rows: rows.map((r) => ({
      model: r.model,
      dataset: r.dataset,
      algorithm: r.algorithm,
      group: r.group,
      runs: r.runs,
      ...r.counts,
      score_t1_min: r.scoreT1?.[0] ?? null,
      score_t1_max: r.scoreT1?.[1] ?? null,
      score_delta_s_min: r.scoreDeltaS?.[0] ?? null,
      score_delta_s_max: r.scoreDeltaS?.[1] ?? null,
    })),
  };
}
