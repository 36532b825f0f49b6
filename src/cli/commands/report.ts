/**
 * `ramanujan report [RUN-ID...] [--all] [--workspace DIR] [--out DIR] [--format html,svg,png,csv]`:
 * reads runs from the experiment store and builds the report (src/report): the paper's figures
 * per group of seeds, Table 2 and accuracy against density across runs. Runs whose configs are
 * equal but for the seed form one group and are averaged.
 */
import type { Command } from 'commander';
import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../../errors.js';
import type { RunSummary } from '../../experiment/store.js';
import { DEFAULT_WORKSPACE } from '../../experiment/workspace.js';
import { terminalSafe } from '../../terminal.js';
import { algorithmLabel, runIdentity } from '../../report/runs.js';
import { REPORT_FORMATS, type ReportFormat, type ReportRun } from '../../report/types.js';

export function parseFormats(text: string): ReportFormat[] {
  const list = text.split(',').map((s) => s.trim().toLowerCase()).filter((s) => s.length > 0);
  if (list.length === 0) throw new UserError(`--format: empty, expected some of ${REPORT_FORMATS.join(',')}`);
  for (const f of list)
    if (!REPORT_FORMATS.includes(f as ReportFormat)) throw new UserError(`--format: unknown format "${f}", expected some of ${REPORT_FORMATS.join(',')}`);
  return [...new Set(list)] as ReportFormat[];
}


/**
 * Readable group names ("lenet-300-100 · mnist · IMP α=2"). Where two groups would get the same
 * name, each gets the config keys that tell them apart ("... IMP α=2 (pruning.pOut=0.2)"); a
 * short hash of the config only if that list would be empty or too long to read.
 */
export function nameGroups(runs: Array<{ key: string; run: ReportRun }>): Map<string, string> {
  const names = new Map<string, string>();
  const configs = new Map<string, unknown>();
  for (const { key, run } of runs) {
    if (names.has(key)) continue;
    const id = runIdentity(run);
    const alpha = id.alpha === null || id.bound ? '' : ` α=${id.alpha}`;
    names.set(key, `${id.model} · ${id.dataset} · ${algorithmLabel(id)}${alpha}`);
    configs.set(key, run.config);
  }
  const byName = new Map<string, string[]>();
  for (const [key, n] of names) byName.set(n, [...(byName.get(n) ?? []), key]);
  for (const [name, keys] of byName) {
    if (keys.length < 2) continue;
    const flat = keys.map((key) => flatten(configs.get(key)));
    const paths = [...new Set(flat.flatMap((f) => [...f.keys()]))].filter((path) => path !== 'seed').sort();
    const differing = paths.filter((path) => new Set(flat.map((f) => f.get(path) ?? 'null')).size > 1);
    keys.forEach((key, i) => {
      const suffix = differing.map((path) => `${path}=${flat[i].get(path) ?? 'null'}`).join(', ');
      const hash = createHash('sha256').update(key).digest('hex').slice(0, 6);
      names.set(key, `${name} (${suffix.length > 0 && suffix.length <= 80 ? suffix : hash})`);
    });
  }
  return names;
}

/** A config as key path -> value text ("pruning.pOut" -> "0.2"); arrays are one value. */
function flatten(value: unknown, prefix = '', out = new Map<string, string>()): Map<string, string> {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  } else if (prefix) {
    out.set(prefix, typeof value === 'string' ? value : JSON.stringify(value));
  }
  return out;
}

/**
 * The report's --out must be a folder or not exist yet (it is made): an existing file, device or
 * FIFO is refused before anything is read, and left as it is.
 */
export function checkOutputFolder(dir: string): void {
  let isFolder: boolean;
  try {
    isFolder = statSync(dir).isDirectory();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new UserError(`${dir}: cannot be examined (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  if (!isFolder) throw new UserError(`${dir}: is a file, expected a folder for the report (--out names a folder); it was left as it is`);
}

export function register(program: Command): void {
  program
    .command('report')
    .description("the paper's figures and Table 2 for stored runs: an offline HTML page, SVG/PNG charts and CSV")
    .argument('[run-ids...]', 'runs to report, by id or a unique prefix of it (see ramanujan runs)')
    .option('--all', 'report every run in the workspace')
    .option('--workspace <dir>', 'workspace holding the run store', DEFAULT_WORKSPACE)
    .option('--out <dir>', 'output folder (default: <workspace>/report)')
    .option('--format <list>', `comma-separated output formats: ${REPORT_FORMATS.join(',')}`, REPORT_FORMATS.join(','))
    .option('--title <text>', 'title of the page')
    .action(async (ids: string[], opts: { all?: boolean; workspace: string; out?: string; format: string; title?: string }) => {
      const formats = parseFormats(opts.format);
      if (!opts.all && ids.length === 0) throw new UserError('report: name runs by id (see ramanujan runs) or give --all');
      if (opts.all && ids.length > 0) throw new UserError('report: give run ids or --all, not both');
      const outDir = opts.out ?? join(opts.workspace, 'report');
      checkOutputFolder(outDir);
      const [{ openStore }, { buildReport, summaryTable }, { groupKey }] = await Promise.all([
        import('../../experiment/store.js'),
        import('../../report/index.js'),
        import('../../experiment/run-id.js'),
      ]);
      const store = openStore(opts.workspace, { readonly: true });
      let summaries: RunSummary[];
      const records = new Map<string, ReturnType<typeof store.levelRecords>>();
      try {
        if (opts.all) summaries = store.listRuns();
        else {
          const wanted = [...new Set(ids.map((p) => store.resolveRunId(p)))];
          summaries = wanted.map((id) => store.getRun(id)!);
        }
        for (const s of summaries) records.set(s.id, store.levelRecords(s.id));
      } finally {
        store.close();
      }
      const withLevels = summaries.filter((s) => (records.get(s.id)?.length ?? 0) > 0);
      for (const s of summaries)
        if (!withLevels.includes(s)) process.stderr.write(`ramanujan report: run ${s.id} (${terminalSafe(s.label)}) has no level yet; left out\n`);
      if (withLevels.length === 0) throw new UserError(`report: no run with a stored level in ${opts.workspace}`);

      const keyed = withLevels.map((s) => {
        const run: ReportRun = { id: s.id, label: s.label, group: '', config: s.config, records: records.get(s.id)!, status: s.status };
        return { key: groupKey(s.config), run };
      });
      const names = nameGroups(keyed);
      const runs = keyed.map(({ key, run }) => ({ ...run, group: names.get(key)! }));

      const { files } = await buildReport({ runs, outDir, formats, title: opts.title });

      for (const run of runs) {
        process.stdout.write(`\nrun ${run.id}  ${terminalSafe(run.label)}  [${terminalSafe(run.group)}]  ${run.status}\n`);
        process.stdout.write(`${summaryTable(run.records)}\n`);
      }
      const page = files.find((f) => f.endsWith('report.html'));
      process.stdout.write(terminalSafe(`\n${files.length} files written to ${outDir}${page ? `; open ${page}` : ''}\n`, { keepNewlines: true }));
    });
}
