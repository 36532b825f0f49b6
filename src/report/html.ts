/**
 * The report page: one self-contained HTML file. vega, vega-lite and vega-embed are read from
 * node_modules when the page is built and inlined, so the page opens from disk with no network; a
 * Content-Security-Policy forbids every fetch anyway. Every string that comes from a run (config,
 * labels, layer names, statuses) is HTML-escaped; chart specs travel as JSON inside
 * <script type="application/json"> with <, > and & written as \u escapes, so no data can close
 * the script element.
 */
import escapeHtml from 'escape-html';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Chart } from './charts.js';
import { fmt } from './charts.js';
import type { LevelStats, RunGroup, Stat } from './runs.js';
import { runIdentity } from './runs.js';
import { type ChecksRow, CHECKS_HEADER, checksCells } from './checks.js';
import { type Table2Row, table2Cells, table2Header } from './table2.js';

const require = createRequire(import.meta.url);

/** The folder of an installed package (its "exports" hide package.json, so walk up from its main file). */
function packageDir(name: string): string {
  let dir = dirname(require.resolve(name));
  for (;;) {
    const pj = join(dir, 'package.json');
    if (existsSync(pj) && (JSON.parse(readFileSync(pj, 'utf8')) as { name?: string }).name === name) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`report: cannot find the folder of the installed package ${name}`);
    dir = parent;
  }
}

export interface InlineLibrary {
  name: string;
  version: string;
  code: string;
}

/** The browser builds (UMD, globals vega, vegaLite, vegaEmbed) in load order. */
export function browserLibraries(): InlineLibrary[] {
  const files: Array<[string, string]> = [
    ['vega', 'build/vega.min.js'],
    ['vega-lite', 'build/vega-lite.min.js'],
    ['vega-embed', 'build/vega-embed.min.js'],
  ];
  return files.map(([name, file]) => {
    const dir = packageDir(name);
    const version = (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string }).version;
    const code = readFileSync(join(dir, file), 'utf8')
      // no source-map comment: the page must not point at files it does not carry
      .replace(/\n?\/\/# sourceMappingURL=\S+\s*$/, '')
      // a literal "</script" inside the code would end the element early
      .replace(/<\/script/gi, '<\\/script');
    return { name, version, code };
  });
}

/** JSON that is safe inside a <script> element. */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

const e = (s: unknown) => escapeHtml(String(s));

export interface PageChart {
  chart: Chart;
  /** files written for it, relative to the page */
  files: string[];
}

export interface PageGroup {
  group: RunGroup;
  charts: PageChart[];
}

export interface Page {
  title: string;
  generated: string;
  toolVersion: string;
  groups: PageGroup[];
  across: PageChart[];
  table2: Table2Row[];
  table2Files: string[];
  /** Algorithm 1's checks per Bound group (empty: no Bound run) */
  checks: ChecksRow[];
  checksFiles: string[];
}

/** a percentage as "98.19 ± 0.49" (std only with 2 or more seeds) */
function pm(s: Stat | undefined, scale = 100): string {
  if (!s) return '–';
  return s.std === null ? (s.mean * scale).toFixed(2) : `${(s.mean * scale).toFixed(2)} ± ${(s.std * scale).toFixed(2)}`;
}

function mean(s: Stat | undefined, scale = 100): string {
  return s ? (s.mean * scale).toFixed(2) : '–';
}

function regimeCell(l: LevelStats): string {
  const counts = Object.entries(l.regimeCounts).filter(([, c]) => c > 0);
  const mixed = counts.length > 1 ? ` <span class="muted">(${counts.map(([r, c]) => `${e(r)} ${c}`).join(', ')})</span>` : '';
  // collapsed analysed layers (no verdict), per seed: "1 of 3 layers collapsed" (or "1-2 of 3")
  const lo = Math.min(...l.collapsedLayers);
  const hi = Math.max(...l.collapsedLayers);
  const of = Math.max(...l.analysedLayers);
  const collapsed = hi > 0 ? ` <span class="collapsed">${lo === hi ? lo : `${lo}-${hi}`} of ${of} layers collapsed</span>` : '';
  return `<span class="regime regime-${e(l.regime)}">${e(l.regime)}</span>${collapsed}${mixed}`;
}

function summaryHtml(group: RunGroup): string {
  const sigmas = [...new Set(group.levels.flatMap((l) => [...l.noisy.keys()]))].sort((a, b) => Number(a) - Number(b));
  const head = ['level', 'density %', 'clean %', ...sigmas.map((s) => `σ=${s} %`), 'regime'];
  const rows = group.levels.map(
    (l) =>
      `<tr><td>${l.level}</td><td>${e(fmt(100 * l.density.mean))}</td><td>${e(pm(l.clean))}</td>${sigmas
        .map((s) => `<td>${e(mean(l.noisy.get(s)))}</td>`)
        .join('')}<td>${regimeCell(l)}</td></tr>`,
  );
  return `<table class="summary"><thead><tr>${head.map((h) => `<th>${e(h)}</th>`).join('')}</tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

function runsHtml(group: RunGroup): string {
  const rows = group.runs.map((run) => {
    const id = runIdentity(run);
    return `<tr><td><code>${e(run.id)}</code></td><td>${e(run.label)}</td><td>${id.seed === null ? '–' : e(id.seed)}</td><td>${e(run.status)}</td><td>${run.records.length}</td></tr>`;
  });
  return `<table class="runs"><thead><tr><th>run</th><th>label</th><th>seed</th><th>status</th><th>levels</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

/** The configs of a group, seed left out; normally one (runs of a group differ only by seed). */
function configsHtml(group: RunGroup): string {
  const seen = new Map<string, string[]>();
  for (const run of group.runs) {
    const cfg = run.config !== null && typeof run.config === 'object' && !Array.isArray(run.config) ? { ...(run.config as Record<string, unknown>) } : run.config;
    if (cfg !== null && typeof cfg === 'object' && 'seed' in cfg) delete (cfg as Record<string, unknown>).seed;
    const text = JSON.stringify(cfg ?? null, null, 2) ?? 'null';
    seen.set(text, [...(seen.get(text) ?? []), run.id]);
  }
  const note = seen.size > 1 ? '<p class="warn">These runs differ by more than the seed.</p>' : '';
  return (
    note +
    [...seen]
      .map(([text, ids]) => `<details open><summary>config${seen.size > 1 ? ` of ${e(ids.join(', '))}` : ' (seed left out)'}</summary><pre class="config">${e(text)}</pre></details>`)
      .join('')
  );
}

/** `specs` collects the chart specs of the page; a chart's number is its place there. */
function figureHtml(pc: PageChart, specs: string[]): string {
  const n = specs.length;
  specs.push(`<script type="application/json" data-chart="chart-${n}">${jsonForScript(pc.chart.spec)}</script>`);
  const links = pc.files.map((f) => `<a href="${e(f)}">${e(f.split('.').pop()!.toUpperCase())}</a>`).join(' · ');
  return `<figure class="chart-figure">
<div class="chart" id="chart-${n}" data-chart-id="${e(pc.chart.id)}"></div>
<figcaption><strong>${e(pc.chart.title)}.</strong> ${e(pc.chart.caption)}${links ? ` <span class="files">${links}</span>` : ''}</figcaption>
</figure>`;
}

function table2Html(rows: Table2Row[], files: string[]): string {
  if (rows.length === 0) return '<p class="muted">No run has a level record yet.</p>';
  const head = table2Header();
  const body = rows
    .map((r) => `<tr class="${r.algorithm.endsWith('-Bound') ? 'bound' : ''}">${table2Cells(r).map((c, i) => `<td${i >= 3 && i <= 6 ? ' class="num"' : ''}>${e(c)}</td>`).join('')}</tr>`)
    .join('\n');
  const links = files.map((f) => `<a href="${e(f)}">${e(f)}</a>`).join(' · ');
  return `<table class="table2"><caption>Table 2: density and clean test accuracy at each run's last level (mean ± std over seeds); the dense network from level 0. ${links}</caption>
<thead><tr>${head.map((h) => `<th>${e(h)}</th>`).join('')}</tr></thead><tbody>
${body}
</tbody></table>`;
}

function checksHtml(rows: ChecksRow[], files: string[]): string {
  if (rows.length === 0) return '';
  const links = files.map((f) => `<a href="${e(f)}">${e(f)}</a>`).join(' · ');
  const body = rows.map((r) => `<tr>${checksCells(r).map((c, i) => `<td${i >= 3 && i <= 7 ? ' class="num"' : ''}>${e(c)}</td>`).join('')}</tr>`).join('\n');
  return `<table class="table2"><caption>Algorithm 1: which check decided each attempt, over all seeds of each Bound group. Line 12: the unweighted graph keeps max(ΔS, ΔR) &gt; 0; line 17: the score-weighted graph keeps ΔS ≥ 0 with t1 ≥ 1, which depends on the scale of the scores (their t1 and ΔS ranges at line 17 are the last columns). ${links}</caption>
<thead><tr>${CHECKS_HEADER.map((h) => `<th>${e(h)}</th>`).join('')}</tr></thead><tbody>
${body}
</tbody></table>`;
}

const STYLE = `
:root { --ink: #1d1d1f; --muted: #6b6b70; --line: #dcdce0; --gray: #cfcfcf; --pink: #f7c6d9; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 "DejaVu Sans", system-ui, sans-serif; color: var(--ink); background: #fafafa; }
header { padding: 20px 28px 8px; background: #fff; border-bottom: 1px solid var(--line); }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 0 0 12px; }
h2 .algo { font-weight: normal; color: var(--muted); font-size: 15px; margin-left: 8px; }
nav { margin-top: 8px; font-size: 13px; }
nav a { margin-right: 14px; }
section { margin: 18px 28px; padding: 18px 20px; background: #fff; border: 1px solid var(--line); border-radius: 6px; }
.grid { display: grid; grid-template-columns: minmax(0, 1fr) 430px; gap: 22px; align-items: start; }
.charts, .scroll { overflow-x: auto; }
aside { font-size: 12.5px; }
aside h3 { font-size: 13px; margin: 14px 0 6px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); }
figure { margin: 0 0 26px; }
figcaption { font-size: 12.5px; color: var(--muted); max-width: 900px; margin-top: 4px; }
figcaption .files a { margin-left: 4px; }
table { border-collapse: collapse; font-size: 12.5px; }
th, td { border-bottom: 1px solid var(--line); padding: 3px 8px; text-align: left; }
td.num, .summary td { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.summary th, .summary td { padding: 2px 5px; }
table.table2 { margin-bottom: 16px; }
table.table2 caption { caption-side: top; text-align: left; color: var(--muted); padding-bottom: 6px; }
tr.bound td { font-weight: bold; }
.regime { padding: 0 5px; border-radius: 3px; }
.regime-fully { background: var(--gray); }
.regime-partially { background: var(--pink); }
.regime-collapsed, .collapsed { background: #fbefc0; }
.muted { color: var(--muted); }
.warn { color: #a40000; }
pre.config { background: #f4f4f6; padding: 8px; max-height: 360px; overflow: auto; font-size: 11.5px; white-space: pre-wrap; word-break: break-word; }
@media (max-width: 1400px) { .grid { grid-template-columns: 1fr; } }
`;

const BOOT = `
(function () {
  var opts = { renderer: 'svg', actions: { export: true, source: false, compiled: false, editor: false } };
  var jobs = [];
  document.querySelectorAll('script[data-chart]').forEach(function (el) {
    var target = document.getElementById(el.getAttribute('data-chart'));
    var spec = JSON.parse(el.textContent);
    jobs.push(vegaEmbed(target, spec, opts).then(function () {
      target.setAttribute('data-rendered', 'true');
    }, function (err) {
      target.setAttribute('data-rendered', 'error');
      target.textContent = 'This chart failed to render: ' + (err && err.message);
      console.error(err);
    }));
  });
  Promise.all(jobs).then(function () { document.body.setAttribute('data-charts-done', String(jobs.length)); });
})();
`;

/** Content-Security-Policy: no request of any kind; vega compiles expressions with Function(). */
const CSP = "default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; img-src data: blob:; font-src data:";

export function renderPage(page: Page, libraries: InlineLibrary[]): string {
  const specs: string[] = [];
  const groupIds = page.groups.map((_, i) => `group-${i + 1}`);
  const nav = [
    `<a href="#across">Across runs</a>`,
    ...page.groups.map((g, i) => `<a href="#${groupIds[i]}">${e(g.group.name)}</a>`),
  ].join('');
  const across = `<section id="across"><h2>Across runs</h2>
${table2Html(page.table2, page.table2Files)}
${checksHtml(page.checks, page.checksFiles)}
${page.across.map((pc) => figureHtml(pc, specs)).join('\n')}
</section>`;
  const groups = page.groups
    .map(
      (pg, i) => `<section class="group" id="${groupIds[i]}">
<h2>${e(pg.group.name)}<span class="algo">${e(pg.group.algorithmLabel)} · ${e(pg.group.identity.model)} on ${e(pg.group.identity.dataset)} · ${pg.group.runs.length} seed${pg.group.runs.length === 1 ? '' : 's'}</span></h2>
<div class="grid">
<div class="charts">
${pg.charts.map((pc) => figureHtml(pc, specs)).join('\n')}
</div>
<aside>
<h3>Runs</h3>${runsHtml(pg.group)}
<h3>Summary per level (mean over seeds; clean ± std)</h3><div class="scroll">${summaryHtml(pg.group)}</div>
<h3>Config</h3>${configsHtml(pg.group)}
</aside>
</div>
</section>`,
    )
    .join('\n');
  const libs = libraries.map((l) => `<script data-library="${e(l.name)}@${e(l.version)}">${l.code}</script>`).join('\n');
  const versions = libraries.map((l) => `${e(l.name)} ${e(l.version)}`).join(', ');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${e(page.title)}</title>
<style>${STYLE}</style>
</head>
<body>
<header>
<h1>${e(page.title)}</h1>
<div class="muted">Generated ${e(page.generated)} by ramanujan-lth ${e(page.toolVersion)} · ${page.groups.reduce((a, g) => a + g.group.runs.length, 0)} runs in ${page.groups.length} groups · charts by ${versions}, inlined (works offline)</div>
<nav>${nav}</nav>
</header>
${across}
${groups}
${libs}
${specs.join('\n')}
<script>${BOOT}</script>
</body>
</html>
`;
}
