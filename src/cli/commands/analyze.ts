/**
 * `ramanujan analyze <model.safetensors|model.onnx> [--mask masks.safetensors] [--layers REGEX]
 *  [--criteria UE,UD,WE,WD] [--json|--csv]`: the per-layer Ramanujan report of a model file.
 *
 * A layer keeps the property when any of the chosen criteria holds (the default UE,UD,WE is the
 * combined rule of Algorithm 1); a collapsed layer (average degree below 2 on a side, Algorithm
 * 1's collapse test) gets no verdict. The network's regime is fully / partially / non-Ramanujan
 * over the analysed layers that did not collapse, with the collapsed ones counted beside it
 * ('collapsed' when all did). --json prints
 *   {"layers":[{"name","kind","shape","edges","density","collapsed","unweighted":{...},
 *    "weighted":{...},"verdicts","ramanujan"}], "criteria", "regime", "collapsedLayers", "regimeText"}
 * with t1, t2, sigma2, dL, dR, eb, db, deltaS, deltaR, ramanujan (and a few more) in each graph
 * object (the raw values also for a collapsed layer, whose verdicts and ramanujan are null);
 * +Infinity is written as the string "Infinity", undefined values as null.
 */
import type { Command } from 'commander';
import { UserError } from '../../errors.js';
import { regimeText } from '../../graph/bounds.js';
import type { Criterion, GraphMetrics, LayerAnalysis, LayerVerdicts, Regime } from '../../graph/types.js';
import { csvSafeCell } from '../../report/csv.js';
import { terminalSafe } from '../../terminal.js';

const ALL_CRITERIA: Criterion[] = ['UE', 'UD', 'WE', 'WD'];
const DEFAULT_CRITERIA = 'UE,UD,WE';

export interface AnalyzeOptions {
  mask?: string;
  layers?: string;
  criteria: string;
  json?: boolean;
  csv?: boolean;
}

export interface ModelReport {
  layers: LayerAnalysis[];
  criteria: Criterion[];
  regime: Regime;
  /** layers that collapsed (no verdict) */
  collapsed: number;
}

export function parseCriteria(text: string): Criterion[] {
  const parts = text.split(',').map((s) => s.trim().toUpperCase()).filter((s) => s.length > 0);
  if (parts.length === 0) throw new UserError(`--criteria: expected a comma-separated list of ${ALL_CRITERIA.join(', ')}`);
  for (const p of parts) {
    if (!ALL_CRITERIA.includes(p as Criterion)) {
      throw new UserError(`--criteria: unknown criterion "${p}" (expected a comma-separated list of ${ALL_CRITERIA.join(', ')})`);
    }
  }
  return [...new Set(parts)] as Criterion[];
}

/** Whether a layer keeps the property under the chosen criteria (any of them); null: collapsed, no verdict. */
export function keepsUnder(v: LayerVerdicts | null, criteria: Criterion[]): boolean | null {
  return v === null ? null : criteria.some((c) => v[c]);
}

/** Analyses every Linear/Conv layer of a model file (optionally filtered by name). */
export async function analyzeModel(modelPath: string, opts: { mask?: string | null; layers?: string | null; criteria: Criterion[] }): Promise<ModelReport> {
  let filter: RegExp | null = null;
  if (opts.layers) {
    try {
      filter = new RegExp(opts.layers);
    } catch (err) {
      throw new UserError(`--layers: "${opts.layers}" is not a valid regular expression (${(err as Error).message})`);
    }
  }
  const [{ analyzeLayer, networkRegime }, { openModelLayers }] = await Promise.all([import('../../graph/index.js'), import('../../io/model.js')]);
  // One layer's values in memory at a time, read into memory reused from layer to layer: on this
  // project's machine, touching 80 MB of fresh memory for a whole vgg19 cost more than analysing
  // it (docs/analysis.md). One thread: starting workers (cold JIT) and copying the layers to them
  // cost more than they saved in the measurements of docs/analysis.md on this 2-core machine.
  const source = await openModelLayers(modelPath, opts.mask ?? null, { reuse: true });
  let layers: LayerAnalysis[];
  try {
    const chosen = filter ? source.layers.filter((l) => filter!.test(l.name)) : source.layers;
    if (chosen.length === 0) {
      throw new UserError(`--layers: "${opts.layers}" matches none of the layers of ${modelPath} (${source.layers.map((l) => l.name).join(', ')})`);
    }
    layers = chosen.map((info) => {
      const l = source.load(info.name);
      return analyzeLayer({ name: l.name, kind: l.kind, shape: l.shape, weight: l.weight, mask: l.mask });
    });
  } finally {
    source.close();
  }
  // networkRegime over the per-layer "any chosen criterion" verdicts, expressed through 'combined'.
  const regime = networkRegime(
    layers.map((a) => (a.verdicts === null ? null : { ...a.verdicts, combined: keepsUnder(a.verdicts, opts.criteria) === true })),
    'combined',
  );
  return { layers, criteria: opts.criteria, regime, collapsed: layers.filter((a) => a.collapsed).length };
}

function graphJson(m: GraphMetrics, ramanujan: boolean | null): Record<string, unknown> {
  return {
    t1: m.t1,
    t2: m.t2,
    sigma2: m.sigma2,
    t1Multiplicity: m.t1Multiplicity,
    dL: m.dL,
    dR: m.dR,
    weightedDL: m.weightedDL,
    weightedDR: m.weightedDR,
    eb: m.eb,
    db: m.db,
    dbWeighted: m.dbWeighted,
    deltaS: m.deltaS,
    deltaR: m.deltaR,
    deltaRWeighted: m.deltaRWeighted,
    components: m.components,
    largestComponentL: m.largestComponentL,
    largestComponentR: m.largestComponentR,
    isolatedL: m.isolatedL,
    isolatedR: m.isolatedR,
    collapsed: m.collapsed,
    ramanujan,
  };
}

/** The verdict of one graph under the chosen criteria of that graph (null when none is chosen). */
function graphVerdict(v: LayerVerdicts | null, criteria: Criterion[], of: Criterion[]): boolean | null {
  const mine = criteria.filter((c) => of.includes(c));
  return mine.length === 0 || v === null ? null : mine.some((c) => v[c]);
}

export function reportJson(r: ModelReport): string {
  const body = {
    layers: r.layers.map((a) => ({
      name: a.name,
      kind: a.kind,
      shape: a.shape,
      edges: a.edges,
      density: a.density,
      collapsed: a.collapsed,
      unweighted: graphJson(a.unweighted, graphVerdict(a.verdicts, r.criteria, ['UE', 'UD'])),
      weighted: graphJson(a.weighted, graphVerdict(a.verdicts, r.criteria, ['WE', 'WD'])),
      verdicts: a.verdicts === null ? null : { UE: a.verdicts.UE, UD: a.verdicts.UD, WE: a.verdicts.WE, WD: a.verdicts.WD },
      ramanujan: keepsUnder(a.verdicts, r.criteria),
    })),
    criteria: r.criteria,
    regime: r.regime,
    collapsedLayers: r.collapsed,
    regimeText: regimeText(r.regime, r.collapsed, r.layers.length),
  };
  return `${JSON.stringify(body, (_k, v) => (v === Infinity ? 'Infinity' : v === -Infinity ? '-Infinity' : v), 1)}\n`;
}

const CSV_GRAPH_KEYS = ['t1', 't2', 'sigma2', 'dL', 'dR', 'eb', 'db', 'deltaS', 'deltaR', 'dbWeighted', 'deltaRWeighted', 'components', 'isolatedL', 'isolatedR'] as const;

function csvValue(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (v === Infinity) return 'Infinity';
  if (v === -Infinity) return '-Infinity';
  // Text (a layer name from the file) cannot start a spreadsheet formula; numbers stay numbers.
  const s = typeof v === 'string' ? csvSafeCell(v) : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function reportCsv(r: ModelReport): string {
  const header = ['name', 'kind', 'shape', 'edges', 'density', 'collapsed'];
  for (const g of ['unweighted', 'weighted']) for (const k of CSV_GRAPH_KEYS) header.push(`${g}_${k}`);
  header.push('UE', 'UD', 'WE', 'WD', 'ramanujan');
  const lines = [header.join(',')];
  for (const a of r.layers) {
    const row: unknown[] = [a.name, a.kind, a.shape.join('x'), a.edges, a.density, a.collapsed];
    for (const m of [a.unweighted, a.weighted]) for (const k of CSV_GRAPH_KEYS) row.push(m[k]);
    // A collapsed layer's verdict cells are empty: it has none.
    const v = a.verdicts;
    row.push(v?.UE, v?.UD, v?.WE, v?.WD, keepsUnder(v, r.criteria));
    lines.push(row.map(csvValue).join(','));
  }
  return `${lines.join('\n')}\n`;
}

function num(v: number | null): string {
  if (v === null) return '-';
  if (v === Infinity) return 'inf';
  if (v === 0) return '0';
  const a = Math.abs(v);
  return a >= 1e5 || a < 1e-3 ? v.toExponential(2) : v.toPrecision(4).replace(/\.?0+$/, (m) => (m.includes('.') ? '' : m));
}

export function reportTable(r: ModelReport): string {
  const head = ['layer', 'graph', 'shape', 'edges', 'density', 't1', 't2', 'dL', 'dR', 'eb', 'db', 'DeltaS', 'DeltaR', 'comp', 'isolated L/R', 'verdicts'];
  const rows: string[][] = [];
  for (const a of r.layers) {
    const v = a.verdicts;
    const verdicts =
      v === null
        ? 'collapsed (average degree < 2): no verdict'
        : `${(['UE', 'UD', 'WE', 'WD'] as Criterion[]).map((c) => `${c}${v[c] ? '+' : '-'}`).join(' ')}  => ${keepsUnder(v, r.criteria) ? 'keeps' : 'lost'}`;
    for (const [label, m] of [['U', a.unweighted], ['W', a.weighted]] as const) {
      rows.push([
        label === 'U' ? terminalSafe(a.name) : '',
        label,
        label === 'U' ? a.shape.join('x') : '',
        label === 'U' ? String(a.edges) : '',
        label === 'U' ? `${(100 * a.density).toPrecision(3)}%` : '',
        num(m.t1),
        num(m.t2),
        num(m.dL),
        num(m.dR),
        num(m.eb),
        label === 'U' ? num(m.db) : num(m.dbWeighted),
        num(m.deltaS),
        label === 'U' ? num(m.deltaR) : num(m.deltaRWeighted),
        String(m.components),
        `${m.isolatedL}/${m.isolatedR}`,
        label === 'U' ? verdicts : '',
      ]);
    }
  }
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < 2 || i === cells.length - 1 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd();
  const keep = r.layers.filter((a) => keepsUnder(a.verdicts, r.criteria) === true).length;
  const judged = r.layers.length - r.collapsed;
  return [
    line(head),
    ...rows.map(line),
    '',
    'U: unweighted graph (the mask); W: weighted by |W| (db and DeltaR from the weighted degrees).',
    ...(r.collapsed > 0 ? ['collapsed: average degree below 2 on a side (Algorithm 1\'s collapse test): no verdict, left out of the regime.'] : []),
    r.regime === 'collapsed'
      ? `regime: ${regimeText(r.regime, r.collapsed, r.layers.length)}`
      : `regime: ${regimeText(r.regime, r.collapsed, r.layers.length)} (${keep} of ${judged} ${r.collapsed > 0 ? 'layers that did not collapse' : 'layers'} keep the property under ${r.criteria.join(',')})`,
    '',
  ].join('\n');
}

/**
 * A note when layer names are ONNX-generated ("onnx::Conv_193"): PyTorch's eval-mode ONNX export
 * folds batch norm into the convolutions (so their weights are scaled per output channel) and
 * names the folded tensors this way. null when no name looks like that.
 */
export function exportNamesNote(names: string[]): string | null {
  const generated = names.filter((n) => n.startsWith('onnx::'));
  if (generated.length === 0) return null;
  return (
    `note: ${generated.length} layer name${generated.length === 1 ? '' : 's'} (e.g. ${generated[0]}) ${generated.length === 1 ? 'was' : 'were'} made by PyTorch's ONNX export, ` +
    'which in eval mode folds batch norm into the convolutions and drops the parameter names; export with ' +
    'torch.onnx.export(..., training=torch.onnx.TrainingMode.TRAINING, do_constant_folding=False) to keep the names and the unfolded weights (docs/analysis.md)'
  );
}

export function register(program: Command): void {
  program
    .command('analyze')
    .description('the Ramanujan analysis of every Linear/Conv layer of a model file (safetensors or ONNX)')
    .argument('<model>', 'model file: .safetensors (e.g. a PyTorch state dict) or .onnx')
    .option('--mask <file>', 'masks as safetensors, named "<weight>_mask" (PyTorch\'s weight_mask) or "<weight>"; without it, exact zeros count as pruned')
    .option('--layers <regex>', 'analyse only the layers whose name matches this regular expression')
    .option('--criteria <list>', 'criteria of the verdict, any of UE,UD,WE,WD (a layer keeps the property when one holds)', DEFAULT_CRITERIA)
    .option('--json', 'print JSON')
    .option('--csv', 'print CSV, one row per layer')
    .action(async (model: string, opts: AnalyzeOptions) => {
      if (opts.json && opts.csv) throw new UserError('--json and --csv cannot be used together');
      const criteria = parseCriteria(opts.criteria);
      const report = await analyzeModel(model, { mask: opts.mask ?? null, layers: opts.layers ?? null, criteria });
      process.stdout.write(opts.json ? reportJson(report) : opts.csv ? reportCsv(report) : reportTable(report));
      // beside --json / --csv on stderr, so that stdout stays one document
      const note = exportNamesNote(report.layers.map((l) => l.name));
      if (note) (opts.json || opts.csv ? process.stderr : process.stdout).write(`${note}\n`);
    });
}
