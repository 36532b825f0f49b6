/**
 * Vega-Lite specs of the report's charts, built from grouped runs (./runs.ts). Each chart carries
 * the rows it plots, so the same rows go to the page, the CSV and the tests.
 *
 * Per group (runs that differ only by seed):
 *   deltaChart     Figure 4 top: Delta_S (unweighted, weighted) and Delta_R (unweighted) per layer
 *                  against the remaining-weight %, log x decreasing to the right, zero line marked.
 *   accuracyChart  Figure 4 bottom: clean and noisy test accuracy, error bars over seeds, the
 *                  three regimes shaded behind (fully gray, partially pink, non unshaded).
 *   densityChart   per-layer density by level.
 *   decisionChart  Bound runs: Algorithm 1's decision per layer and level.
 * Across groups:
 *   accuracyVsDensityChart  one line per algorithm, runs on one model and dataset.
 *
 * Delta values that cannot be drawn: +Infinity (t2 = 0, e.g. a dense all-ones mask is rank 1) is
 * drawn at the top of its panel (the largest finite value shown there, at least 1) as a triangle,
 * and its tooltip says "+inf"; undefined values (null: eb with t1 < 1, a collapsed layer) are left
 * out, so the line has a gap there. Both rules are written in the chart's subtitle.
 */
import type { Algorithm1Decision } from '../prune/records.js';
import { type DeltaStat, type RunGroup, type Stat, layerLabel } from './runs.js';

/** A Vega-Lite spec as plain JSON (validated by compiling it: see render.ts and the tests). */
export type VegaLiteSpec = Record<string, unknown>;
export type Cell = string | number | boolean | null;
export type Row = Record<string, Cell>;

export interface Chart {
  /** file-name stem, unique within a report */
  id: string;
  title: string;
  /** shown under the chart in the page */
  caption: string;
  spec: VegaLiteSpec;
  /** the data the chart plots, for the CSV (column order fixed by `columns`) */
  columns: string[];
  rows: Row[];
}

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';
const REGIME_LABEL = { fully: 'fully Ramanujan', partially: 'partially Ramanujan', non: 'non-Ramanujan', collapsed: 'all layers collapsed' } as const;
/** the paper's shading: fully gray, partially pink, non-Ramanujan left white; ours: every analysed layer collapsed, pale yellow */
const REGIME_COLORS = ['#cfcfcf', '#f7c6d9', '#ffffff', '#fbefc0'];

const percent = (x: number) => 100 * x;

/** 4 significant digits, trailing zeros dropped: 0.1234, 12.35, 100 */
export function fmt(x: number | null | undefined): string {
  if (x === null || x === undefined) return 'undefined';
  if (x === Infinity) return '+inf';
  if (x === -Infinity) return '-inf';
  return String(Number(x.toPrecision(4)));
}

function meanPm(s: Stat | null, scale = 1): string {
  if (!s) return 'undefined';
  const m = fmt(s.mean * scale);
  return s.std === null ? m : `${m} ± ${fmt(s.std * scale)}`;
}

/** "3" when every seed agrees, "3-7" otherwise */
function spread(values: number[]): string {
  if (values.length === 0) return '';
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  return lo === hi ? String(lo) : `${lo}-${hi}`;
}

/** 1-2-5 tick values (percent) covering [lo, hi]: readable labels on a narrow log axis */
export function logTicks(lo: number, hi: number): number[] {
  const ticks: number[] = [];
  for (let e = Math.floor(Math.log10(lo)) - 1; e <= Math.ceil(Math.log10(hi)); e++)
    for (const m of [1, 2, 5]) {
      const v = Number((m * 10 ** e).toPrecision(1));
      if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) ticks.push(v);
    }
  return ticks;
}

/** x axis shared by the density charts: remaining weights in %, log scale, decreasing to the right */
function densityAxis(densities: number[], field = 'density'): Record<string, unknown> {
  const lo = Math.min(...densities);
  const hi = Math.max(...densities);
  const values = densities.length ? logTicks(lo, hi) : [];
  return {
    field,
    type: 'quantitative',
    scale: { type: 'log', reverse: true, nice: false },
    axis: { title: 'Remaining weights (%)', format: '~g', grid: true, labelFlush: false, ...(values.length >= 2 ? { values } : {}) },
  };
}

export function slug(text: string): string {
  const s = text.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 48);
  return s || 'group';
}

/* ------------------------------------------------------------------ 1. Deltas (Figure 4 top) */

const INF_MARKER = '+inf (t2 = 0)';
/** a collapsed layer (average degree < 2 at every seed): its Delta as computed, but no verdict */
const COLLAPSED_MARKER = 'collapsed (degree < 2)';
const DELTA_PANELS = [
  { key: 'unweightedDeltaS', label: 'ΔS unweighted' },
  { key: 'weightedDeltaS', label: 'ΔS weighted' },
  { key: 'unweightedDeltaR', label: 'ΔR unweighted' },
] as const;

export function deltaChart(group: RunGroup, id: string): Chart {
  const rows: Row[] = [];
  const excluded: string[] = [];
  for (const panel of DELTA_PANELS) {
    const panelRows: Row[] = [];
    for (const level of group.levels) {
      for (const layer of level.layers) {
        const index = group.layerNames.indexOf(layer.name);
        if (!layer.analysed) {
          if (!excluded.includes(layer.name)) excluded.push(layer.name);
          continue;
        }
        const d: DeltaStat = layer[panel.key];
        const n = d.finite ? d.finite.n : 0;
        const isInfinite = d.finite === null && d.infinite > 0;
        if (d.finite === null && !isInfinite) continue; // undefined at every seed: a gap
        const value = d.finite ? d.finite.mean : null;
        const std = d.finite ? d.finite.std : null;
        let display = isInfinite ? '+inf (t2 = 0)' : meanPm(d.finite);
        if (!isInfinite && d.infinite > 0) display += `; +inf at ${d.infinite} of ${level.n} seeds`;
        if (d.undefinedCount > 0) display += `; undefined at ${d.undefinedCount} of ${level.n} seeds`;
        const collapsed = layer.collapsed === level.n;
        if (layer.collapsed > 0) display = `collapsed (average degree < 2, no verdict) at ${layer.collapsed} of ${level.n} seeds; ${display}`;
        panelRows.push({
          panel: panel.label,
          layer: layerLabel(index, layer.name),
          level: level.level,
          density: percent(level.density.mean),
          layerDensity: percent(layer.density.mean),
          value,
          lo: value !== null && std !== null ? value - std : null,
          hi: value !== null && std !== null ? value + std : null,
          seedsFinite: n,
          seedsInfinite: d.infinite,
          seedsUndefined: d.undefinedCount,
          marker: collapsed ? COLLAPSED_MARKER : isInfinite ? INF_MARKER : 'finite',
          collapsedSeeds: layer.collapsed,
          plot: value, // filled below for the infinite ones
          display,
          components: spread(layer.components),
          isolated: `${spread(layer.isolatedL)} / ${spread(layer.isolatedR)}`,
        });
      }
    }
    // +inf is drawn a little above the largest finite value of the panel (and at least at 1)
    const finite = panelRows.flatMap((r) => [r.value, r.hi, r.lo]).filter((v): v is number => typeof v === 'number');
    const top = Math.max(0, ...finite);
    const bottom = Math.min(0, ...finite);
    const cap = Math.max(1, top + 0.12 * (top - bottom));
    for (const r of panelRows) if (r.value === null) r.plot = cap;
    rows.push(...panelRows);
  }
  const layerDomain = group.layerNames
    .map((n, i) => layerLabel(i, n))
    .filter((l, i) => !excluded.includes(group.layerNames[i]!));
  const x = densityAxis(group.levels.map((l) => percent(l.density.mean)));
  const color = { field: 'layer', type: 'nominal', scale: { domain: layerDomain }, legend: { title: 'layer', symbolOpacity: 1, labelLimit: 320 } };
  const subtitle = [
    'Mean over seeds (band: ± 1 std). Above the dashed zero line the layer keeps the bound.',
    '+inf (t2 = 0): triangle at the top of its panel. Undefined (t1 < 1, no edge): left out.',
    'Collapsed layer (average degree < 2, no Ramanujan verdict): cross, off the line.',
  ];
  if (excluded.length) subtitle.push(`Not analysed (excluded from the regime): ${excluded.join(', ')}.`);
  const spec: VegaLiteSpec = {
    $schema: SCHEMA,
    title: { text: `${group.name}: Ramanujan bound differences per layer`, subtitle, anchor: 'start' },
    data: { values: rows },
    facet: { column: { field: 'panel', type: 'nominal', sort: DELTA_PANELS.map((p) => p.label), title: null, header: { labelFontSize: 13 } } },
    spec: {
      width: 220,
      height: 200,
      layer: [
        { mark: { type: 'rule', color: '#333', strokeDash: [5, 3], strokeWidth: 1 }, encoding: { y: { datum: 0 } } },
        // the spread band only where some point has one (an empty layer makes vega warn)
        ...(rows.some((r) => r.lo !== null)
          ? [
              {
                transform: [{ filter: 'datum.lo != null && datum.hi != null' }],
                mark: { type: 'area', opacity: 0.2 },
                encoding: { x, y: { field: 'lo', type: 'quantitative', title: 'Δ' }, y2: { field: 'hi' }, color },
              },
            ]
          : []),
        {
          // finite values only: the line does not run up to a clipped +inf point, nor through a collapsed layer
          transform: [{ filter: `datum.value != null && datum.marker != '${COLLAPSED_MARKER}'` }],
          mark: { type: 'line', strokeWidth: 1.6 },
          encoding: { x, y: { field: 'value', type: 'quantitative', title: 'Δ' }, color },
        },
        {
          mark: { type: 'point', filled: true, size: 36, opacity: 1 },
          encoding: {
            x,
            y: { field: 'plot', type: 'quantitative', title: 'Δ' },
            color,
            shape: {
              field: 'marker',
              type: 'nominal',
              scale: { domain: ['finite', INF_MARKER, COLLAPSED_MARKER], range: ['circle', 'triangle-up', 'cross'] },
              legend: { title: 'value' },
            },
            tooltip: [
              { field: 'layer', title: 'layer' },
              { field: 'panel', title: 'quantity' },
              { field: 'display', title: 'value' },
              { field: 'level', title: 'level' },
              { field: 'density', title: 'remaining (network) %', format: '.4~g' },
              { field: 'layerDensity', title: 'remaining (layer) %', format: '.4~g' },
              { field: 'components', title: 'connected components' },
              { field: 'isolated', title: 'isolated vertices L / R' },
            ],
          },
        },
      ],
    },
    resolve: { scale: { y: 'independent' } },
    config: { view: { stroke: '#888' } },
  };
  return {
    id,
    title: 'Bound differences ΔS, ΔR per layer (Figure 4 top)',
    caption:
      'ΔS = (eb − t2)/t2 for the unweighted and weighted graph and ΔR = (db − t2)/t2 for the unweighted graph of every analysed layer, against the remaining weights of the network. A Δ below zero means the layer lost that Ramanujan bound. At very low density the Δs turn positive again because the graph falls apart (boundary effect): the tooltips give the number of connected components and isolated vertices.',
    spec,
    columns: ['panel', 'layer', 'level', 'density', 'layerDensity', 'value', 'lo', 'hi', 'plot', 'marker', 'seedsFinite', 'seedsInfinite', 'seedsUndefined', 'collapsedSeeds', 'components', 'isolated'],
    rows,
  };
}

/* ------------------------------------------------------------ 2. Accuracy (Figure 4 bottom) */

/** Shaded spans of the regimes along a decreasing list of densities (percent), split halfway on the log scale. */
export function regimeSpans(points: Array<{ density: number; regime: keyof typeof REGIME_LABEL; level: number }>): Row[] {
  const spans: Row[] = [];
  for (let i = 0; i < points.length; i++) {
    const p = points[i]!;
    const left = i === 0 ? p.density : Math.sqrt(points[i - 1]!.density * p.density);
    const right = i === points.length - 1 ? p.density : Math.sqrt(p.density * points[i + 1]!.density);
    const last = spans[spans.length - 1];
    if (last && last.regime === REGIME_LABEL[p.regime]) {
      last.to = right;
      last.lastLevel = p.level;
    } else {
      spans.push({ regime: REGIME_LABEL[p.regime], from: left, to: right, firstLevel: p.level, lastLevel: p.level });
    }
  }
  return spans;
}

export function accuracyChart(group: RunGroup, id: string): Chart {
  const sigmas = [...new Set(group.levels.flatMap((l) => [...l.noisy.keys()]))].sort((a, b) => Number(a) - Number(b));
  const sets = ['clean', ...sigmas.map((s) => `σ = ${s}`)];
  const rows: Row[] = [];
  for (const level of group.levels) {
    const entries: Array<[string, Stat | undefined]> = [['clean', level.clean], ...sigmas.map((s): [string, Stat | undefined] => [`σ = ${s}`, level.noisy.get(s)])];
    for (const [set, s] of entries) {
      if (!s) continue;
      rows.push({
        testSet: set,
        level: level.level,
        density: percent(level.density.mean),
        accuracy: percent(s.mean),
        lo: s.std === null ? null : percent(s.mean - s.std),
        hi: s.std === null ? null : percent(s.mean + s.std),
        seeds: s.n,
        display: `${meanPm(s, 100)} %`,
        regime: REGIME_LABEL[level.regime],
        collapsedLayers: `${spread(level.collapsedLayers)} of ${spread(level.analysedLayers)}`,
      });
    }
  }
  const spans = regimeSpans(group.levels.map((l) => ({ density: percent(l.density.mean), regime: l.regime, level: l.level })));
  const x = densityAxis(group.levels.map((l) => percent(l.density.mean)));
  const color = { field: 'testSet', type: 'nominal', scale: { domain: sets, scheme: 'viridis' }, legend: { title: 'test set' } };
  const criteria = group.criteria.join(', ') || 'unknown';
  const spec: VegaLiteSpec = {
    $schema: SCHEMA,
    title: {
      text: `${group.name}: test accuracy and Ramanujan regimes`,
      subtitle: ['Mean over seeds, error bars ± 1 std.', `Regimes by the run's criterion (${criteria}), over the layers that did not collapse: fully Ramanujan gray, partially pink, non unshaded; every analysed layer collapsed pale yellow.`],
      anchor: 'start',
    },
    width: 560,
    height: 300,
    layer: [
      {
        data: { values: spans },
        mark: { type: 'rect', opacity: 0.75 },
        encoding: {
          x: { field: 'from', type: 'quantitative', scale: { type: 'log', reverse: true, nice: false } },
          x2: { field: 'to' },
          fill: { field: 'regime', type: 'nominal', scale: { domain: Object.values(REGIME_LABEL), range: REGIME_COLORS }, legend: { title: 'regime', symbolStrokeColor: '#999', symbolStrokeWidth: 0.5 } },
          tooltip: [
            { field: 'regime', title: 'regime' },
            { field: 'firstLevel', title: 'from level' },
            { field: 'lastLevel', title: 'to level' },
          ],
        },
      },
      {
        data: { values: rows },
        layer: [
          ...(rows.some((r) => r.lo !== null)
            ? [
                {
                  transform: [{ filter: 'datum.lo != null' }],
                  mark: { type: 'errorbar', ticks: { size: 6 } },
                  encoding: { x, y: { field: 'lo', type: 'quantitative', title: 'Test accuracy (%)' }, y2: { field: 'hi' }, color },
                },
              ]
            : []),
          {
            mark: { type: 'line', point: { filled: true, size: 30 }, strokeWidth: 1.6 },
            encoding: {
              x,
              y: { field: 'accuracy', type: 'quantitative', title: 'Test accuracy (%)', scale: { zero: false } },
              color,
              tooltip: [
                { field: 'testSet', title: 'test set' },
                { field: 'display', title: 'accuracy' },
                { field: 'level', title: 'level' },
                { field: 'density', title: 'remaining %', format: '.4~g' },
                { field: 'seeds', title: 'seeds' },
                { field: 'regime', title: 'regime' },
                { field: 'collapsedLayers', title: 'collapsed layers' },
              ],
            },
          },
        ],
      },
    ],
    resolve: { scale: { color: 'independent' } },
  };
  return {
    id,
    title: 'Test accuracy, clean and noisy, with the regimes (Figure 4 bottom)',
    caption:
      'Test accuracy on the clean test set and on each noisy one (Gaussian pixel noise of standard deviation σ), against the remaining weights. The background shows the regime at each level: fully Ramanujan (every analysed layer keeps the property), partially, or non-Ramanujan (none does). A collapsed layer (average degree below 2 on a side, Algorithm 1\'s collapse test) has no verdict and does not count; the tooltips give how many collapsed, and a level where all did is shaded apart. With several seeds a level takes the regime most seeds have.',
    spec,
    columns: ['testSet', 'level', 'density', 'accuracy', 'lo', 'hi', 'seeds', 'regime', 'collapsedLayers'],
    rows,
  };
}

/* --------------------------------------------------------------------- 3. Per-layer density */

export function densityChart(group: RunGroup, id: string): Chart {
  const rows: Row[] = [];
  const network = 'all prunable weights';
  for (const level of group.levels) {
    for (const layer of level.layers) {
      rows.push({
        layer: layerLabel(group.layerNames.indexOf(layer.name), layer.name),
        level: level.level,
        density: percent(layer.density.mean),
        display: `${meanPm(layer.density, 100)} %`,
        seeds: layer.density.n,
      });
    }
    rows.push({ layer: network, level: level.level, density: percent(level.density.mean), display: `${meanPm(level.density, 100)} %`, seeds: level.n });
  }
  const domain = [...group.layerNames.map((n, i) => layerLabel(i, n)), network];
  const spec: VegaLiteSpec = {
    $schema: SCHEMA,
    title: { text: `${group.name}: density per layer`, subtitle: ['Remaining weights of each prunable layer (mean over seeds);', 'dashed black: all prunable weights of the network.'], anchor: 'start' },
    width: 560,
    height: 260,
    data: { values: rows },
    mark: { type: 'line', point: { filled: true, size: 30 }, strokeWidth: 1.6 },
    encoding: {
      x: { field: 'level', type: 'quantitative', axis: { title: 'Pruning level', tickMinStep: 1, format: 'd' } },
      y: { field: 'density', type: 'quantitative', scale: { type: 'log' }, axis: { title: 'Remaining weights (%)', format: '~g' } },
      color: { field: 'layer', type: 'nominal', scale: { domain, range: [...domain.slice(0, -1).map((_, i) => TABLEAU[i % TABLEAU.length]!), '#000000'] }, legend: { title: 'layer', labelLimit: 320 } },
      strokeDash: { condition: { test: `datum.layer === ${JSON.stringify(network)}`, value: [5, 3] }, value: [1, 0] },
      tooltip: [
        { field: 'layer', title: 'layer' },
        { field: 'level', title: 'level' },
        { field: 'display', title: 'remaining' },
        { field: 'seeds', title: 'seeds' },
      ],
    },
  };
  return {
    id,
    title: 'Density per layer by level',
    caption: 'How much of each layer is left after each pruning level; layer-wise pruning removes a fixed fraction per layer type, Algorithm 1 may hold a layer.',
    spec,
    columns: ['layer', 'level', 'density', 'seeds'],
    rows,
  };
}

const TABLEAU = ['#4c78a8', '#f58518', '#e45756', '#72b7b2', '#54a24b', '#eeca3b', '#b279a2', '#ff9da6', '#9d755d', '#bab0ac'];

/* ------------------------------------------------------------- 4. Algorithm 1 decisions */

const DECISION_LABEL = {
  unweighted: 'pruned: unweighted graph keeps the bound',
  scoreWeighted: 'pruned: score-weighted graph keeps expansion',
  guarded: 'kept: collapse guard (min degree < 2)',
  held: 'kept: no attempt passed',
  skipped: 'skipped: excluded layer',
} as const;
const DECISION_COLORS = ['#54a24b', '#88c4e6', '#f58518', '#e45756', '#bbbbbb'];

function decisionLabel(d: Algorithm1Decision): string {
  if (d.outcome === 'pruned') {
    const last = d.attempts[d.attempts.length - 1];
    return last?.check === 'score-weighted' ? DECISION_LABEL.scoreWeighted : DECISION_LABEL.unweighted;
  }
  if (d.outcome === 'guarded') return DECISION_LABEL.guarded;
  if (d.outcome === 'held') return DECISION_LABEL.held;
  return DECISION_LABEL.skipped;
}

function attemptsText(d: Algorithm1Decision): string {
  if (d.attempts.length === 0) return 'no attempt';
  return d.attempts
    .map((a) => {
      const vals = [`ΔS ${fmt(a.deltaS)}`, `ΔR ${fmt(a.deltaR)}`, `dL ${fmt(a.dL)}`, `dR ${fmt(a.dR)}`];
      if (a.scoreDeltaS !== null || a.scoreT1 !== null) vals.push(`score ΔS ${fmt(a.scoreDeltaS)}`, `score t1 ${fmt(a.scoreT1)}`);
      return `${fmt(100 * a.fraction)}%: ${a.check} (${vals.join(', ')})`;
    })
    .join(' → ');
}

export function decisionChart(group: RunGroup, id: string): Chart | null {
  if (group.decisions.length === 0) return null;
  const rows: Row[] = [];
  for (const { run, seed, levels } of group.decisions) {
    for (const { level, decisions } of levels) {
      for (const d of decisions) {
        const index = group.layerNames.indexOf(d.layer);
        rows.push({
          run: seed === null ? run.label : `seed ${seed}`,
          level,
          layer: layerLabel(index < 0 ? group.layerNames.length : index, d.layer),
          outcome: d.outcome,
          decision: decisionLabel(d),
          fraction: d.fraction,
          removed: d.removed,
          text: d.outcome === 'pruned' ? `${fmt(100 * d.fraction)}%` : '–',
          attempts: attemptsText(d),
        });
      }
    }
  }
  const layers = [...new Set(rows.map((r) => r.layer as string))];
  const spec: VegaLiteSpec = {
    $schema: SCHEMA,
    title: {
      text: `${group.name}: Algorithm 1 decisions`,
      subtitle: ['Per layer and level: which check let the layer be pruned, or why it was kept.', 'Cell text: fraction of the layer\'s remaining weights removed.'],
      anchor: 'start',
    },
    data: { values: rows },
    facet: { row: { field: 'run', type: 'nominal', title: null } },
    spec: {
      width: { step: 44 },
      height: { step: 26 },
      layer: [
        {
          mark: { type: 'rect', stroke: '#fff', strokeWidth: 1 },
          encoding: {
            x: { field: 'level', type: 'ordinal', axis: { title: 'Pruning level (decision made at its end)', labelAngle: 0 } },
            y: { field: 'layer', type: 'nominal', sort: layers, axis: { title: null } },
            color: { field: 'decision', type: 'nominal', scale: { domain: Object.values(DECISION_LABEL), range: DECISION_COLORS }, legend: { title: 'decision', labelLimit: 400 } },
            tooltip: [
              { field: 'layer', title: 'layer' },
              { field: 'level', title: 'level' },
              { field: 'decision', title: 'decision' },
              { field: 'removed', title: 'weights removed' },
              { field: 'attempts', title: 'attempts' },
            ],
          },
        },
        {
          mark: { type: 'text', fontSize: 10, color: '#111' },
          encoding: {
            x: { field: 'level', type: 'ordinal' },
            y: { field: 'layer', type: 'nominal', sort: layers },
            text: { field: 'text' },
          },
        },
      ],
    },
  };
  return {
    id,
    title: 'Algorithm 1 decisions per layer and level',
    caption:
      'For each layer Algorithm 1 tries fractions p, p/2, ... of its remaining weights: a try is accepted when the unweighted graph keeps max(ΔS, ΔR) > 0, or else when the score-weighted graph keeps ΔS ≥ 0 with t1 ≥ 1; a try that leaves min(dL, dR) < 2 stops the layer (collapse guard). The tooltip lists every attempt with the values that decided it.',
    spec,
    columns: ['run', 'level', 'layer', 'outcome', 'decision', 'fraction', 'removed', 'attempts'],
    rows,
  };
}

/* ------------------------------------------------- 6. Accuracy vs density, across algorithms */

export function accuracyVsDensityChart(groups: RunGroup[], model: string, dataset: string, id: string): Chart {
  const rows: Row[] = [];
  for (const g of groups) {
    for (const level of g.levels) {
      rows.push({
        algorithm: g.algorithmLabel,
        group: g.name,
        level: level.level,
        density: percent(level.density.mean),
        accuracy: percent(level.clean.mean),
        lo: level.clean.std === null ? null : percent(level.clean.mean - level.clean.std),
        hi: level.clean.std === null ? null : percent(level.clean.mean + level.clean.std),
        seeds: level.n,
        display: `${meanPm(level.clean, 100)} %`,
      });
    }
  }
  const algorithms = [...new Set(groups.map((g) => g.algorithmLabel))];
  const x = densityAxis(rows.map((r) => r.density as number));
  const color = { field: 'algorithm', type: 'nominal', scale: { domain: algorithms }, legend: { title: 'algorithm' } };
  const spec: VegaLiteSpec = {
    $schema: SCHEMA,
    title: { text: `${model} on ${dataset}: clean test accuracy against density`, subtitle: ['One line per algorithm (per group of seeds);', 'mean over seeds, error bars ± 1 std.'], anchor: 'start' },
    width: 560,
    height: 300,
    data: { values: rows },
    layer: [
      ...(rows.some((r) => r.lo !== null)
        ? [
            {
              transform: [{ filter: 'datum.lo != null' }],
              mark: { type: 'errorbar', ticks: { size: 6 } },
              encoding: { x, y: { field: 'lo', type: 'quantitative', title: 'Clean test accuracy (%)' }, y2: { field: 'hi' }, color, detail: { field: 'group' } },
            },
          ]
        : []),
      {
        mark: { type: 'line', point: { filled: true, size: 30 }, strokeWidth: 1.6 },
        encoding: {
          x,
          y: { field: 'accuracy', type: 'quantitative', title: 'Clean test accuracy (%)', scale: { zero: false } },
          color,
          detail: { field: 'group' },
          tooltip: [
            { field: 'algorithm', title: 'algorithm' },
            { field: 'group', title: 'group' },
            { field: 'display', title: 'accuracy' },
            { field: 'level', title: 'level' },
            { field: 'density', title: 'remaining %', format: '.4~g' },
            { field: 'seeds', title: 'seeds' },
          ],
        },
      },
    ],
  };
  return {
    id,
    title: `Accuracy against density: ${model} on ${dataset}`,
    caption: 'Clean test accuracy of every level of every algorithm run on this model and dataset, for comparing algorithms at equal density.',
    spec,
    columns: ['algorithm', 'group', 'level', 'density', 'accuracy', 'lo', 'hi', 'seeds'],
    rows,
  };
}
