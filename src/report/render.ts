/**
 * Chart output without a browser: Vega-Lite -> Vega -> SVG (vega's headless 'none' renderer),
 * SVG -> PNG with resvg at print resolution, and the rows behind a chart as CSV.
 */
import { Resvg } from '@resvg/resvg-js';
import { stringify } from 'csv-stringify/sync';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { Cell, VegaLiteSpec } from './charts.js';
import { csvSafeCell } from './csv.js';

/** PNG resolution: print quality. SVG user units are CSS pixels, 96 per inch. */
export const PNG_DPI = 300;

/** Compiles a Vega-Lite spec; throws with the warnings if vega-lite had anything to say. */
export function compileSpec(spec: VegaLiteSpec): { vega: vega.Spec; warnings: string[] } {
  const warnings: string[] = [];
  const push = (...args: unknown[]) => warnings.push(args.map(String).join(' '));
  let level = 0;
  const logger = {
    level(l?: number) {
      if (l === undefined) return level;
      level = l;
      return logger;
    },
    error: (...a: unknown[]) => (push(...a), logger),
    warn: (...a: unknown[]) => (push(...a), logger),
    info: () => logger,
    debug: () => logger,
  };
  const out = compile(spec as unknown as TopLevelSpec, { logger: logger as never });
  return { vega: out.spec as vega.Spec, warnings };
}

export async function chartToSvg(spec: VegaLiteSpec): Promise<string> {
  const { vega: compiled } = compileSpec(spec);
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

export function svgToPng(svg: string, dpi = PNG_DPI): Buffer {
  const resvg = new Resvg(svg, {
    fitTo: { mode: 'zoom', value: dpi / 96 },
    background: 'white',
    font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans', sansSerifFamily: 'DejaVu Sans' },
  });
  return resvg.render().asPng();
}

/**
 * CSV text (RFC 4180, header line). +-Infinity is written `inf` / `-inf`, null as an empty cell;
 * text cells that would start a spreadsheet formula get a leading quote (src/report/csv.ts).
 */
export function toCsv(columns: string[], rows: Array<Record<string, Cell | undefined>>): string {
  const cell = (v: Cell | undefined): string => {
    if (v === null || v === undefined) return '';
    if (typeof v === 'number') return v === Infinity ? 'inf' : v === -Infinity ? '-inf' : String(v);
    return csvSafeCell(String(v));
  };
  return stringify(
    rows.map((r) => columns.map((c) => cell(r[c]))),
    { header: true, columns },
  );
}
