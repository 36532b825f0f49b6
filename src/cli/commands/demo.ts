/**
 * `ramanujan demo [--workspace DIR] [--fresh] [--json]`: Lenet-300-100 on MNIST, IMP and
 * IMP-Bound side by side on a short protocol (src/experiment/demo.ts), progress while they run,
 * then a summary table per run and the HTML report of both.
 *
 * Progress: on a terminal, one status line per run (level k of K, iteration, last level's density
 * and accuracy, ETA) redrawn in place under the level lines; otherwise one plain line per level
 * (with the ETA). `--json` prints the runs' events as `ramanujan run --json` does, then a
 * `demo-done` event with the report's path.
 *
 * Hidden options (`--iterations`, `--levels`, `--test-subset`, `--workers`) shorten the protocol
 * for the tests and time the worker split; runs made with them are other runs (other configs).
 */
import { Option, type Command } from 'commander';
import { join, resolve } from 'node:path';
import { UserError } from '../../errors.js';
import type { DemoResult, DemoRun } from '../../experiment/demo.js';
import { DEMO_PROTOCOL, DEMO_WORKERS, type DemoProtocol } from '../../experiment/demo-protocol.js';
import { encodeEvent, type LevelEvent, type ProgressUpdate, type RunStartEvent } from '../../experiment/events.js';
import { formatDuration, formatPercent, LevelEta } from '../../experiment/progress.js';
import { DEFAULT_WORKSPACE } from '../../experiment/workspace.js';
import type { SweepReporter, SweepResult } from '../../experiment/sweep.js';
import { levelRegimeText } from '../../prune/records.js';
import type { ReportRun } from '../../report/types.js';
import { deviceOption, interruptSignal, positiveInteger, workspaceOption } from './run.js';
import type { DeviceChoice } from '../../engine/device.js';
import { nameGroups } from './report.js';

/** The demo's report folder inside the workspace. */
export const DEMO_REPORT_DIR = 'demo-report';

export interface DemoCommandDeps {
  /** sweep worker module (tests) */
  sweepWorker?: string;
}

interface DemoCommandOptions {
  workspace: string;
  fresh: boolean;
  json: boolean;
  iterations?: number;
  levels?: number;
  testSubset?: number;
  workers?: number;
  device?: DeviceChoice;
}

// ---------------------------------------------------------------------------------------------
// Progress

/** One run's progress as the display needs it. */
class RunProgress {
  readonly name: string;
  maxLevels = 0;
  iterations = 0;
  /** level being trained and its iteration */
  level = 0;
  iteration = 0;
  last: LevelEvent | null = null;
  state: 'waiting' | 'running' | 'done' | 'failed' = 'waiting';
  /** time left, from the measured pace of the computed levels (src/experiment/progress.ts) */
  private readonly timer = new LevelEta();

  constructor(name: string) {
    this.name = name;
  }

  start(e: RunStartEvent): void {
    this.maxLevels = e.maxLevels;
    this.iterations = e.iterations;
    this.level = e.resumeFrom === null ? 0 : e.resumeFrom + 1;
    this.state = e.mode === 'done' ? 'done' : 'running';
  }

  private fraction(): number {
    return this.iterations > 0 ? this.iteration / this.iterations : 0;
  }

  levelDone(e: LevelEvent): void {
    this.last = e;
    this.timer.levelDone(e.replayed, e.density);
    this.level = e.level + 1;
    this.iteration = 0;
  }

  progress(p: ProgressUpdate): void {
    this.level = p.level;
    this.iteration = p.iteration;
    this.timer.progress(this.fraction());
  }

  /** Time left: this level and every later one (an upper bound for a Bound run, which may stop early). */
  eta(): number {
    return this.timer.remaining(this.fraction(), this.maxLevels - this.level);
  }

  lastText(): string {
    if (!this.last) return '';
    return `level ${this.last.level}: density ${formatPercent(this.last.density)} accuracy ${formatPercent(this.last.accuracy.clean)} ${this.last.regime}`;
  }
}

type Write = (text: string) => void;

function levelLine(name: string, e: LevelEvent, run: RunProgress): string {
  const stored = e.replayed ? ' (stored)' : '';
  const eta = e.replayed || e.level >= run.maxLevels ? '' : `  ETA ${formatDuration(run.eta())}`;
  return `${name.padEnd(9)}  level ${String(e.level).padStart(2)}/${run.maxLevels}  density ${formatPercent(e.density).padStart(7)}  accuracy ${formatPercent(e.accuracy.clean).padStart(7)}  regime ${e.regime}${stored}${eta}`;
}

function startText(e: RunStartEvent): string {
  if (e.mode === 'done') return 'finished earlier, reporting the stored results';
  if (e.mode === 'resume') return `resuming after level ${e.resumeFrom}`;
  return `starting (${e.maxLevels + 1} levels of ${e.iterations} iterations)`;
}

function doneText(r: SweepResult): string {
  if (r.status === 'done') return `done, ${r.levels} levels${r.note ? ` (${r.note})` : ''}`;
  return `${r.status} after ${r.levels} levels${r.note && r.note !== r.status ? `: ${r.note}` : ''}`;
}

/** Plain lines: a start line, a line per level (with the ETA), a done line per run. */
function plainDemoReporter(write: Write, runs: Map<string, RunProgress>): SweepReporter {
  return {
    runStart: (_i, _n, run, e) => {
      const p = runs.get(run.id)!;
      p.start(e);
      write(`${p.name.padEnd(9)}  run ${run.id}: ${startText(e)}\n`);
    },
    level: (run, e) => {
      const p = runs.get(run.id)!;
      p.levelDone(e);
      // Stored levels are in the summary at the end; only new ones are news.
      if (!e.replayed) write(`${levelLine(p.name, e, p)}\n`);
    },
    progress: (run, u) => runs.get(run.id)!.progress(u),
    runDone: (run, r) => {
      const p = runs.get(run.id)!;
      p.state = r.status === 'done' ? 'done' : 'failed';
      write(`${p.name.padEnd(9)}  run ${run.id}: ${doneText(r)}\n`);
    },
  };
}

/** A terminal: the plain lines scroll, with one status line per run redrawn below them. */
function terminalDemoReporter(out: NodeJS.WriteStream, runs: Map<string, RunProgress>): SweepReporter & { stop(): void } {
  let drawn = 0;
  // A pseudo-terminal may report 0 columns: then 120.
  const width = () => Math.max(20, (out.columns > 0 ? out.columns : 120) - 1);
  const statusLine = (p: RunProgress): string => {
    const head = p.name.padEnd(9);
    if (p.state === 'waiting') return `${head}  waiting`;
    if (p.state === 'done') return `${head}  done  ${p.lastText()}`;
    if (p.state === 'failed') return `${head}  stopped  ${p.lastText()}`;
    return [`${head}  level ${p.level}/${p.maxLevels} iteration ${p.iteration}/${p.iterations}`, p.lastText(), `ETA ${formatDuration(p.eta())}`].filter((t) => t !== '').join('  ');
  };
  // Clearing moves up over the status lines and erases to the end of the screen; lines are cut to
  // the terminal's width, so none wraps and the count stays right.
  const clear = () => {
    if (drawn > 0) out.write(`\x1b[${drawn}A\r\x1b[J`);
    drawn = 0;
  };
  const draw = () => {
    const lines = [...runs.values()].map((p) => statusLine(p).slice(0, width()));
    out.write(lines.map((l) => `${l}\n`).join(''));
    drawn = lines.length;
  };
  const plain = plainDemoReporter((s) => {
    clear();
    out.write(s);
    draw();
  }, runs);
  let lastDraw = 0;
  // Redraws every second too, so the ETA moves while a level evaluates.
  const timer = setInterval(() => {
    clear();
    draw();
  }, 1000);
  timer.unref();
  return {
    ...plain,
    progress: (run, u) => {
      plain.progress(run, u);
      const t = Date.now();
      if (t - lastDraw < 250) return;
      lastDraw = t;
      clear();
      draw();
    },
    stop: () => {
      clearInterval(timer);
      clear();
    },
  };
}

/** `--json`: the runs' events as `ramanujan run --json` prints them. */
function jsonDemoReporter(write: Write): SweepReporter {
  return {
    runStart: (_i, _n, _run, e) => write(`${encodeEvent(e)}\n`),
    level: (_run, e) => write(`${encodeEvent(e)}\n`),
    progress: () => {},
    runDone: (run, r, e) =>
      write(`${encodeEvent(e ?? { event: 'run-done', run: run.id, status: r.status, stopReason: null, levels: r.levels, density: r.density, accuracy: r.accuracy, cached: false, error: r.note })}\n`),
  };
}

// ---------------------------------------------------------------------------------------------
// The end: report and summary

/** Builds the HTML report (plus per-chart SVG and CSV) of the demo's runs; returns the page's path. */
export async function demoReport(result: DemoResult, outDir: string): Promise<string> {
  const withLevels = result.outcomes.filter((o) => o.records.length > 0);
  const keyed = withLevels.map((o) => {
    const run: ReportRun = { id: o.run.id, label: o.run.label, group: '', config: o.run.config, records: o.records, status: o.status };
    return { key: o.run.id, run };
  });
  const names = nameGroups(keyed);
  const runs = keyed.map(({ key, run }) => ({ ...run, group: names.get(key)! }));
  const { buildReport } = await import('../../report/index.js');
  const { files } = await buildReport({
    runs,
    outDir,
    formats: ['html', 'svg', 'csv'],
    title: `ramanujan demo: IMP and IMP-Bound, lenet-300-100 on MNIST (${result.plan.protocol.iterations} iterations per level)`,
  });
  const page = files.find((f) => f.endsWith('report.html'));
  if (!page) throw new Error('demo: the report has no HTML page');
  return page;
}

function summaryText(result: DemoResult, summaryTable: (records: DemoResult['outcomes'][number]['records']) => string): string {
  const parts: string[] = [];
  for (const o of result.outcomes) {
    const last = o.records[o.records.length - 1];
    const head = `${o.run.variant.name} (run ${o.run.id}, ${o.run.label}): ${doneText(o.result)}`;
    const lastText = last ? `; level ${last.level}: density ${formatPercent(last.density)}, accuracy ${formatPercent(last.accuracy.clean)}, ${levelRegimeText(last)}` : '';
    parts.push(`${head}${lastText}`);
    if (o.records.length > 0) parts.push(summaryTable(o.records));
    parts.push('');
  }
  return parts.join('\n');
}

export function register(program: Command, deps: DemoCommandDeps = {}): void {
  const hidden = (flags: string, description: string) => new Option(flags, description).argParser(positiveInteger).hideHelp();
  program
    .command('demo')
    .description(
      `Lenet-300-100 on MNIST: IMP and IMP-Bound (Algorithm 1) side by side, ${DEMO_PROTOCOL.levels + 1} levels of ` +
        `${DEMO_PROTOCOL.iterations} iterations, then a summary and an HTML report; a rerun reports the stored runs`,
    )
    .addOption(workspaceOption())
    .option('--fresh', "delete the demo's two runs (nothing else) and start over", false)
    .option('--json', "print the runs' JSON events, one per line, then a demo-done event", false)
    .addOption(hidden('--iterations <n>', 'training iterations per level'))
    .addOption(hidden('--levels <n>', 'pruning levels after the dense one'))
    .addOption(hidden('--test-subset <n>', 'test images'))
    .addOption(hidden('--workers <n>', `worker processes (default ${DEMO_WORKERS})`))
    .addOption(deviceOption())
    .action(async (opts: DemoCommandOptions) => {
      const protocol: Partial<DemoProtocol> = { iterations: opts.iterations, levels: opts.levels, ...(opts.testSubset !== undefined ? { testSubset: opts.testSubset } : {}) };
      const out = process.stdout;
      const write: Write = (s) => void out.write(s);
      const started = Date.now();
      const [{ demoPlan, runDemo }, { summaryTable }] = await Promise.all([import('../../experiment/demo.js'), import('../../report/summary.js')]);
      // The display needs each run's name; runDemo makes the same (pure) plan again.
      const plan = demoPlan(protocol, opts.device);
      if (!deps.sweepWorker) await (await import('../../experiment/environment.js')).checkDevice(opts.device ?? 'auto');
      const progress = new Map(plan.runs.map((r: DemoRun) => [r.id, new RunProgress(r.variant.name)]));
      const terminal = !opts.json && out.isTTY ? terminalDemoReporter(out, progress) : null;
      const reporter = opts.json ? jsonDemoReporter(write) : (terminal ?? plainDemoReporter(write, progress));
      if (!opts.json) {
        const p = plan.protocol;
        write(
          `ramanujan demo: lenet-300-100 on MNIST, IMP and IMP-Bound side by side; ${p.levels + 1} levels of ${p.iterations} iterations, ` +
            `${p.testSubset ?? 'all 10,000'} test images; workspace ${opts.workspace}${opts.fresh ? ' (fresh)' : ''}\n`,
        );
      }
      const interrupt = interruptSignal();
      let result: DemoResult;
      try {
        result = await runDemo({ workspace: opts.workspace, protocol, fresh: opts.fresh, workers: opts.workers, reporter, workerModule: deps.sweepWorker, signal: interrupt.signal, device: opts.device });
      } finally {
        terminal?.stop();
        interrupt.dispose();
      }
      if (interrupt.signal.aborted) throw new UserError('demo interrupted; run ramanujan demo again to resume', 130);
      const failed = result.outcomes.filter((o) => o.result.status !== 'done');
      const page = result.outcomes.some((o) => o.records.length > 0) ? await demoReport(result, join(opts.workspace, DEMO_REPORT_DIR)) : null;
      const wallMs = Date.now() - started;
      if (opts.json) {
        write(
          `${encodeEvent({
            event: 'demo-done',
            runs: result.outcomes.map((o) => ({ run: o.run.id, name: o.run.variant.name, status: o.result.status, levels: o.records.length, density: o.result.density, accuracy: o.result.accuracy, cached: o.result.cached })),
            report: page === null ? null : resolve(page),
            workspace: resolve(opts.workspace),
            wallMs,
          })}\n`,
        );
      } else {
        write(`\n${summaryText(result, summaryTable)}`);
        const cached = result.outcomes.every((o) => o.result.cached);
        write(`${cached ? 'reported the stored runs' : 'done'} in ${formatDuration(wallMs)} (${result.workers} worker process${result.workers === 1 ? '' : 'es'}, ${result.threads} thread${result.threads === 1 ? '' : 's'} each)\n`);
        if (page) write(`report: ${resolve(page)}\n`);
        const ws = opts.workspace === DEFAULT_WORKSPACE ? '' : ` --workspace ${opts.workspace}`;
        write(`more: ramanujan runs${ws}; ramanujan report ${result.plan.runs.map((r) => r.id.slice(0, 8)).join(' ')}${ws}; docs/demo.md\n`);
      }
      if (failed.length > 0) throw new UserError(`demo: ${failed.map((o) => `${o.run.variant.name} ${o.result.status} (${o.result.note})`).join('; ')}`);
    });
}
