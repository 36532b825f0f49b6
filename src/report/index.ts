/**
 * `buildReport`: the paper's figures and Table 2 for a set of runs, as one self-contained HTML page
 * plus an SVG, a PNG and a CSV per chart (see docs/reports.md for what each chart shows).
 *
 * Layout of `outDir`:
 *   report.html            (format 'html')
 *   table2.md              (always) and table2.csv (format 'csv')
 *   algorithm1-checks.md   (when a Bound run is reported) and .csv (format 'csv')
 *   charts/<id>.svg|png|csv per chart (formats 'svg', 'png', 'csv')
 * Every file is written to a temporary name and renamed, so a failed build leaves no half file.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { UserError } from '../errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { packageRoot } from '../paths.js';
import {
  accuracyChart,
  accuracyVsDensityChart,
  type Cell,
  type Chart,
  decisionChart,
  deltaChart,
  densityChart,
  slug,
} from './charts.js';
import { browserLibraries, type PageChart, type PageGroup, renderPage } from './html.js';
import { chartToSvg, svgToPng, toCsv } from './render.js';
import { groupRuns, type RunGroup } from './runs.js';
import { checksCsvRows, checksMarkdown, checksRows } from './checks.js';
import { table2CsvRows, table2Markdown, table2Rows } from './table2.js';
import { REPORT_FORMATS, type ReportInput, type ReportResult } from './types.js';

export type { ReportFormat, ReportInput, ReportResult, ReportRun } from './types.js';
export { REPORT_FORMATS } from './types.js';
export { summaryTable } from './summary.js';
export { accuracyChart, accuracyVsDensityChart, decisionChart, deltaChart, densityChart, type Chart } from './charts.js';
export { groupRuns, runIdentity, algorithmLabel, type RunGroup } from './runs.js';
export { table2Rows, table2Markdown, type Table2Row } from './table2.js';
export { checksRows, checksMarkdown, type ChecksRow } from './checks.js';
export { chartToSvg, svgToPng, toCsv, compileSpec } from './render.js';

function writeAtomic(path: string, data: string | Buffer): void {
  writeFileAtomic(path, [data]);
}

/** The charts of one group: Figure 4 top and bottom, densities, and Algorithm 1 decisions for Bound runs. */
export function groupCharts(group: RunGroup, index: number): Chart[] {
  const stem = `${String(index + 1).padStart(2, '0')}-${slug(group.name)}`;
  const charts = [deltaChart(group, `${stem}-deltas`), accuracyChart(group, `${stem}-accuracy`), densityChart(group, `${stem}-density`)];
  const decisions = decisionChart(group, `${stem}-decisions`);
  if (decisions) charts.push(decisions);
  return charts;
}

/** Chart 6 for every model and dataset that has runs. */
export function acrossCharts(groups: RunGroup[]): Chart[] {
  const byData = new Map<string, RunGroup[]>();
  for (const g of groups) {
    const key = JSON.stringify([g.identity.model, g.identity.dataset]);
    byData.set(key, [...(byData.get(key) ?? []), g]);
  }
  return [...byData].map(([key, list], i) => {
    const [model, dataset] = JSON.parse(key) as [string, string];
    return accuracyVsDensityChart(list, model, dataset, `accuracy-vs-density-${i + 1}-${slug(`${model}-${dataset}`)}`);
  });
}

export async function buildReport(input: ReportInput): Promise<ReportResult> {
  if (!Array.isArray(input.runs) || input.runs.length === 0) throw new UserError('report: no runs to report');
  for (const f of input.formats)
    if (!REPORT_FORMATS.includes(f)) throw new UserError(`report: unknown format "${String(f)}", expected some of ${REPORT_FORMATS.join(', ')}`);
  const formats = new Set(input.formats);
  const ids = new Set<string>();
  for (const run of input.runs) {
    if (ids.has(run.id)) throw new UserError(`report: run ${run.id} is given twice`);
    ids.add(run.id);
  }

  const groups = groupRuns(input.runs);
  const perGroup = groups.map((g, i) => ({ group: g, charts: groupCharts(g, i) }));
  const across = acrossCharts(groups);
  const table2 = table2Rows(groups);
  const checks = checksRows(groups);

  const outDir = resolve(input.outDir);
  const chartDir = join(outDir, 'charts');
  mkdirSync(chartDir, { recursive: true });
  const files: string[] = [];
  const write = (rel: string, data: string | Buffer) => {
    const path = join(outDir, rel);
    writeAtomic(path, data);
    files.push(path);
  };

  const chartFiles = async (chart: Chart): Promise<PageChart> => {
    const rel: string[] = [];
    if (formats.has('svg') || formats.has('png')) {
      const svg = await chartToSvg(chart.spec);
      if (formats.has('svg')) {
        write(`charts/${chart.id}.svg`, svg);
        rel.push(`charts/${chart.id}.svg`);
      }
      if (formats.has('png')) {
        write(`charts/${chart.id}.png`, svgToPng(svg));
        rel.push(`charts/${chart.id}.png`);
      }
    }
    if (formats.has('csv')) {
      write(`charts/${chart.id}.csv`, toCsv(chart.columns, chart.rows));
      rel.push(`charts/${chart.id}.csv`);
    }
    return { chart, files: rel };
  };

  const pageGroups: PageGroup[] = [];
  for (const { group, charts } of perGroup) {
    const pcs: PageChart[] = [];
    for (const c of charts) pcs.push(await chartFiles(c));
    pageGroups.push({ group, charts: pcs });
  }
  const pageAcross: PageChart[] = [];
  for (const c of across) pageAcross.push(await chartFiles(c));

  // A table as <stem>.md and, with format csv, <stem>.csv; returns the files written (relative).
  const writeTable = (stem: string, markdown: string, csv: () => { columns: string[]; rows: Array<Record<string, Cell>> }): string[] => {
    write(`${stem}.md`, markdown);
    if (!formats.has('csv')) return [`${stem}.md`];
    const t = csv();
    write(`${stem}.csv`, toCsv(t.columns, t.rows));
    return [`${stem}.md`, `${stem}.csv`];
  };
  const table2Files = writeTable('table2', table2Markdown(table2), () => table2CsvRows(table2));
  const checksFiles = checks.length > 0 ? writeTable('algorithm1-checks', checksMarkdown(checks), () => checksCsvRows(checks)) : [];

  if (formats.has('html')) {
    const version = (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
    const html = renderPage(
      {
        title: input.title ?? 'Ramanujan lottery-ticket report',
        generated: new Date().toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC'),
        toolVersion: version,
        groups: pageGroups,
        across: pageAcross,
        table2,
        table2Files,
        checks,
        checksFiles,
      },
      browserLibraries(),
    );
    write('report.html', html);
  }
  return { files };
}
