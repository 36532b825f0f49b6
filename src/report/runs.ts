/**
 * From runs to what the charts plot: each run's identity (algorithm, alpha, bound, model, dataset,
 * seed), runs grouped by `group` (a group = the same experiment over several seeds), and the
 * per-level mean and spread over the seeds of a group.
 *
 * Seeds are matched by level: level k of every seed is averaged with level k of the others. Plain
 * layer-wise runs have the same density at a level whatever the seed; Bound runs may not (and may
 * stop at different levels), so the x position of a level is the mean density over the seeds that
 * reached it, and every point says over how many seeds it is taken (`n`).
 */
import { UserError } from '../errors.js';
import { isCollapsed } from '../graph/bounds.js';
import type { CriterionSet, GraphMetrics, Regime } from '../graph/types.js';
import type { Algorithm1Decision, LevelRecord } from '../prune/records.js';
import type { ReportRun } from './types.js';

/** What a run is, read from the explicit fields of ReportRun or else from its LotteryConfig. */
export interface RunIdentity {
  algorithm: string;
  alpha: number | null;
  bound: boolean;
  /** Algorithm 1's line-17 score scale: 'none' (the paper's rule, also for runs without the key)
   *  or 'mean1' (ours); only meaningful with `bound` */
  scoreScale: 'none' | 'mean1';
  model: string;
  dataset: string;
  seed: number | null;
}

function field(obj: unknown, ...path: string[]): unknown {
  let cur: unknown = obj;
  for (const key of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[key];
  }
  return cur;
}

export function runIdentity(run: ReportRun): RunIdentity {
  const cfg = run.config;
  const algo = run.algorithm ?? field(cfg, 'pruning', 'algorithm');
  const alpha = run.alpha !== undefined ? run.alpha : field(cfg, 'pruning', 'targetAlpha');
  const bound = run.bound ?? (field(cfg, 'pruning', 'bound') != null);
  const model = run.model ?? field(cfg, 'model');
  const dataset = run.dataset ?? field(cfg, 'data', 'dataset');
  const seed = run.seed ?? field(cfg, 'seed');
  const scoreScale = field(cfg, 'pruning', 'bound', 'scoreScale');
  return {
    algorithm: typeof algo === 'string' ? algo : 'unknown',
    alpha: typeof alpha === 'number' ? alpha : null,
    bound: bound === true,
    scoreScale: bound === true && scoreScale === 'mean1' ? 'mean1' : 'none',
    model: typeof model === 'string' ? model : 'unknown model',
    dataset: typeof dataset === 'string' ? dataset : 'unknown dataset',
    seed: typeof seed === 'number' ? seed : null,
  };
}

const ALGORITHM_NAMES: Record<string, string> = { imp: 'IMP', snip: 'SNIP', synflow: 'SynFlow', random: 'Random' };

/** The paper's name of an algorithm: "IMP", "SynFlow-Bound"; our mean-1 score scale of line 17 is
 *  told apart from the paper's rule: "SynFlow-Bound (mean1)". */
export function algorithmLabel(id: RunIdentity): string {
  const name = ALGORITHM_NAMES[id.algorithm] ?? id.algorithm;
  if (!id.bound) return name;
  return id.scoreScale === 'mean1' ? `${name}-Bound (mean1)` : `${name}-Bound`;
}

/** mean, sample standard deviation (null for fewer than 2 values), extremes, count */
export interface Stat {
  mean: number;
  std: number | null;
  min: number;
  max: number;
  n: number;
}

export function stat(values: number[]): Stat | null {
  if (values.length === 0) return null;
  const n = values.length;
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const std = n < 2 ? null : Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1));
  return { mean, std, min: Math.min(...values), max: Math.max(...values), n };
}

/** A Delta over the seeds: mean of the finite values; infinite (t2 = 0) and undefined ones counted. */
export interface DeltaStat {
  finite: Stat | null;
  infinite: number;
  undefinedCount: number;
}

export function deltaStat(values: Array<number | null>): DeltaStat {
  const finite: number[] = [];
  let infinite = 0;
  let undefinedCount = 0;
  for (const v of values) {
    if (v === null || Number.isNaN(v)) undefinedCount++;
    else if (v === Infinity || v === -Infinity) infinite++;
    else finite.push(v);
  }
  return { finite: stat(finite), infinite, undefinedCount };
}

/** One prunable layer at one level, over the seeds of a group. */
export interface LayerLevelStats {
  name: string;
  analysed: boolean;
  density: Stat;
  unweightedDeltaS: DeltaStat;
  unweightedDeltaR: DeltaStat;
  weightedDeltaS: DeltaStat;
  /** per-seed graph-shape counts of the unweighted graph (the boundary effect of NOTES section 5) */
  components: number[];
  isolatedL: number[];
  isolatedR: number[];
  /** seeds at which the layer collapsed (average degree < 2: no verdict) */
  collapsed: number;
}

export interface LevelStats {
  level: number;
  /** seeds that reached this level */
  n: number;
  /** remaining fraction of all prunable weights */
  density: Stat;
  clean: Stat;
  /** per noise sigma, keyed as in the records ("0.1") */
  noisy: Map<string, Stat>;
  /** most frequent regime over the seeds (ties go to the weaker regime) and how often each occurred */
  regime: Regime;
  regimeCounts: Record<Regime, number>;
  /** per seed: analysed layers that collapsed, and analysed layers */
  collapsedLayers: number[];
  analysedLayers: number[];
  layers: LayerLevelStats[];
}

export interface RunGroup {
  /** the group key as given */
  name: string;
  runs: ReportRun[];
  identity: RunIdentity;
  algorithmLabel: string;
  /** criteria the records' verdicts and regimes were computed with (normally one) */
  criteria: CriterionSet[];
  /** layer names in the order of the records */
  layerNames: string[];
  levels: LevelStats[];
  /** decisions per seed: run -> level -> decisions (Bound runs only) */
  decisions: Array<{ run: ReportRun; seed: number | null; levels: Array<{ level: number; decisions: Algorithm1Decision[] }> }>;
}

/** Checks what the charts rely on; a bad record is the user's (or the store's) data: UserError. */
export function checkRecords(run: ReportRun): LevelRecord[] {
  if (!Array.isArray(run.records)) throw new UserError(`run ${run.id}: records must be an array of level records`);
  if (run.records.length === 0) throw new UserError(`run ${run.id}: no level records to report (the run has not finished its first level)`);
  const records = [...run.records].sort((a, b) => a.level - b.level);
  const seen = new Set<number>();
  for (const r of records) {
    const where = `run ${run.id}, level ${String(r?.level)}`;
    if (typeof r !== 'object' || r === null || !Number.isInteger(r.level) || r.level < 0)
      throw new UserError(`run ${run.id}: every record needs an integer level >= 0`);
    if (seen.has(r.level)) throw new UserError(`${where}: the level appears twice`);
    seen.add(r.level);
    if (!(r.density > 0 && r.density <= 1))
      throw new UserError(`${where}: density = ${r.density}, expected a fraction in (0, 1]`);
    const accs = [r.accuracy?.clean, ...Object.values(r.accuracy?.noisy ?? {})];
    for (const a of accs) {
      if (typeof a !== 'number' || !(a >= 0 && a <= 1))
        throw new UserError(`${where}: accuracy ${String(a)} is not a fraction in [0, 1]`);
    }
    if (!Array.isArray(r.layers)) throw new UserError(`${where}: layers must be an array`);
  }
  return records;
}

const REGIME_ORDER: Regime[] = ['collapsed', 'non', 'partially', 'fully'];

function modeRegime(counts: Record<Regime, number>): Regime {
  let best: Regime = REGIME_ORDER[0]!;
  for (const r of REGIME_ORDER) if (counts[r] > counts[best]) best = r; // strict: ties keep the weaker
  return best;
}

/** A layer's Delta as computed, also for a collapsed layer (marked apart by the charts). */
function metricDelta(m: GraphMetrics | null | undefined, key: 'deltaS' | 'deltaR'): number | null {
  if (!m) return null;
  return m[key];
}

/** Groups runs by `group` (in order of first appearance) and aggregates their levels over seeds. */
export function groupRuns(runs: ReportRun[]): RunGroup[] {
  const byName = new Map<string, ReportRun[]>();
  for (const run of runs) {
    const list = byName.get(run.group) ?? [];
    list.push(run);
    byName.set(run.group, list);
  }
  const groups: RunGroup[] = [];
  for (const [name, members] of byName) {
    const sorted = members.map((run) => ({ run, records: checkRecords(run) }));
    const identity = runIdentity(members[0]!);
    const layerNames: string[] = [];
    for (const { records } of sorted)
      for (const r of records) for (const l of r.layers) if (!layerNames.includes(l.name)) layerNames.push(l.name);
    const maxLevel = Math.max(-1, ...sorted.flatMap(({ records }) => records.map((r) => r.level)));
    const levels: LevelStats[] = [];
    for (let level = 0; level <= maxLevel; level++) {
      const recs = sorted.map(({ records }) => records.find((r) => r.level === level)).filter((r): r is LevelRecord => !!r);
      if (recs.length === 0) continue;
      const sigmas = [...new Set(recs.flatMap((r) => Object.keys(r.accuracy.noisy)))].sort((a, b) => Number(a) - Number(b));
      const noisy = new Map<string, Stat>();
      for (const s of sigmas) {
        const st = stat(recs.map((r) => r.accuracy.noisy[s]).filter((v): v is number => typeof v === 'number'));
        if (st) noisy.set(s, st);
      }
      const regimeCounts: Record<Regime, number> = { fully: 0, partially: 0, non: 0, collapsed: 0 };
      for (const r of recs) regimeCounts[r.regime]++;
      const layers: LayerLevelStats[] = [];
      for (const lname of layerNames) {
        const ls = recs.map((r) => r.layers.find((l) => l.name === lname)).filter((l) => !!l);
        if (ls.length === 0) continue;
        layers.push({
          name: lname,
          analysed: ls.every((l) => l.analysed),
          density: stat(ls.map((l) => l.density))!,
          unweightedDeltaS: deltaStat(ls.map((l) => metricDelta(l.unweighted, 'deltaS'))),
          unweightedDeltaR: deltaStat(ls.map((l) => metricDelta(l.unweighted, 'deltaR'))),
          weightedDeltaS: deltaStat(ls.map((l) => metricDelta(l.weighted, 'deltaS'))),
          components: ls.map((l) => l.unweighted.components),
          isolatedL: ls.map((l) => l.unweighted.isolatedL),
          isolatedR: ls.map((l) => l.unweighted.isolatedR),
          // records of older versions may lack the flag: the degree test then (src/graph/bounds.ts)
          collapsed: ls.filter((l) => l.collapsed ?? isCollapsed(l.unweighted)).length,
        });
      }
      levels.push({
        level,
        n: recs.length,
        density: stat(recs.map((r) => r.density))!,
        clean: stat(recs.map((r) => r.accuracy.clean))!,
        noisy,
        regime: modeRegime(regimeCounts),
        regimeCounts,
        collapsedLayers: recs.map((r) => r.layers.filter((l) => l.analysed && (l.collapsed ?? isCollapsed(l.unweighted))).length),
        analysedLayers: recs.map((r) => r.layers.filter((l) => l.analysed).length),
        layers,
      });
    }
    const decisions = sorted
      .map(({ run, records }) => ({
        run,
        seed: runIdentity(run).seed,
        levels: records
          .filter((r) => Array.isArray(r.decisions))
          .map((r) => ({ level: r.level, decisions: r.decisions as Algorithm1Decision[] })),
      }))
      .filter((d) => d.levels.length > 0);
    const criteria = [...new Set(sorted.flatMap(({ records }) => records.map((r) => r.criterion)))];
    groups.push({ name, runs: members, identity, algorithmLabel: algorithmLabel(identity), criteria, layerNames, levels, decisions });
  }
  return groups;
}

/** "L1 · fc1.weight": the paper numbers layers L1, L2, ... */
export function layerLabel(index: number, name: string): string {
  return `L${index + 1} · ${name}`;
}
