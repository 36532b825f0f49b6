/**
 * How a run shows itself: a live status line on a terminal (run, level k of K, iteration, loss,
 * accuracy, ETA), plain lines when the output is not a terminal (logs, CI), or one JSON event per
 * line for other programs (`--json`, keys fixed in events.ts).
 *
 * The status line is a few lines of ANSI (carriage return, erase line) rather than a progress-bar
 * package: the level lines must scroll above it and the same events must also render as plain
 * lines and JSON, which those packages do not do.
 */
import type { LevelEvent, ProgressUpdate, RunDoneEvent, RunStartEvent } from './events.js';
import { encodeEvent } from './events.js';
import { levelRegimeText } from '../prune/records.js';
import { terminalSafe } from '../terminal.js';
import type { RunReporter } from './runner.js';

type Write = (text: string) => void;

/** `--json`: every event as one line; progress is left out (it is not a fixed event). */
export function jsonReporter(write: Write): RunReporter {
  return {
    runStart: (e) => write(`${encodeEvent(e)}\n`),
    level: (e) => write(`${encodeEvent(e)}\n`),
    progress: () => {},
    runDone: (e) => write(`${encodeEvent(e)}\n`),
  };
}

export function formatPercent(x: number | null | undefined): string {
  return x === null || x === undefined || Number.isNaN(x) ? '-' : `${(100 * x).toFixed(2)}%`;
}

export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '?';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

function levelLine(e: LevelEvent, maxLevels: number): string {
  const noisy = Object.entries(e.accuracy.noisy)
    .map(([sigma, acc]) => `${sigma}:${formatPercent(acc)}`)
    .join(' ');
  const tag = e.replayed ? ' (stored)' : '';
  return `level ${e.level}/${maxLevels} density ${formatPercent(e.density)} accuracy ${formatPercent(e.accuracy.clean)}${noisy ? ` noisy ${noisy}` : ''} regime ${levelRegimeText(e, true)}${tag}`;
}

function startLine(e: RunStartEvent): string {
  const what = e.mode === 'done' ? 'finished earlier, reporting the stored results' : e.mode === 'resume' ? `resuming after level ${e.resumeFrom}` : 'starting';
  return `run ${e.run} (${terminalSafe(e.label)}): ${what}`;
}

function doneLine(e: RunDoneEvent): string {
  if (e.status === 'done') {
    return `run ${e.run} done: ${e.levels} levels, density ${formatPercent(e.density)}, accuracy ${formatPercent(e.accuracy)}${e.stopReason ? ` (${e.stopReason})` : ''}`;
  }
  return `run ${e.run} ${e.status} after ${e.levels} levels${e.error ? `: ${terminalSafe(e.error)}` : ''}`;
}

/**
 * Estimates the time left: the current level's remaining iterations at the measured pace, plus
 * the remaining levels at the measured time per level (training and the rest).
 */
class Eta {
  private levelStart = Date.now();
  private lastLevelMs: number | null = null;
  private iterationMs: number | null = null;
  private lastIteration = 0;
  private lastTime = Date.now();

  levelDone(): void {
    const t = Date.now();
    this.lastLevelMs = t - this.levelStart;
    this.levelStart = t;
    this.lastIteration = 0;
    this.lastTime = t;
  }

  update(p: ProgressUpdate, maxLevels: number): number {
    const t = Date.now();
    if (p.iteration > this.lastIteration) {
      const ms = (t - this.lastTime) / (p.iteration - this.lastIteration);
      this.iterationMs = this.iterationMs === null ? ms : 0.7 * this.iterationMs + 0.3 * ms;
    }
    this.lastIteration = p.iteration;
    this.lastTime = t;
    const current = (p.iterations - p.iteration) * (this.iterationMs ?? Number.NaN);
    const perLevel = this.lastLevelMs ?? p.iterations * (this.iterationMs ?? Number.NaN);
    return current + Math.max(0, maxLevels - p.level) * perLevel;
  }
}

/** A terminal: one status line redrawn in place, level lines kept above it. */
export function terminalReporter(out: NodeJS.WriteStream): RunReporter {
  let maxLevels = 0;
  let lastAccuracy: number | null = null;
  let lastDraw = 0;
  let drawn = false;
  const eta = new Eta();
  const clear = () => {
    if (drawn) out.write('\r\x1b[2K');
    drawn = false;
  };
  return {
    runStart: (e) => {
      maxLevels = e.maxLevels;
      out.write(`${startLine(e)}\n`);
    },
    level: (e) => {
      clear();
      lastAccuracy = e.accuracy.clean;
      if (!e.replayed) eta.levelDone();
      out.write(`${levelLine(e, maxLevels)}\n`);
    },
    progress: (p) => {
      const remaining = eta.update(p, maxLevels);
      const t = Date.now();
      if (t - lastDraw < 200 && p.iteration < p.iterations) return;
      lastDraw = t;
      const line = `run ${p.run.slice(0, 8)} level ${p.level}/${maxLevels} iteration ${p.iteration}/${p.iterations} loss ${p.loss.toFixed(4)} accuracy ${formatPercent(lastAccuracy)} ETA ${formatDuration(remaining)}`;
      out.write(`\r\x1b[2K${line.slice(0, Math.max(20, (out.columns ?? 120) - 1))}`);
      drawn = true;
    },
    runDone: (e) => {
      clear();
      out.write(`${doneLine(e)}\n`);
    },
  };
}

/** Not a terminal: whole lines only, a progress line at most every `everyMs`. */
export function plainReporter(write: Write, everyMs = 30_000): RunReporter {
  let maxLevels = 0;
  let lastLine = Date.now();
  const eta = new Eta();
  return {
    runStart: (e) => {
      maxLevels = e.maxLevels;
      write(`${startLine(e)}\n`);
    },
    level: (e) => {
      if (!e.replayed) eta.levelDone();
      write(`${levelLine(e, maxLevels)}\n`);
    },
    progress: (p) => {
      const remaining = eta.update(p, maxLevels);
      const t = Date.now();
      if (t - lastLine < everyMs) return;
      lastLine = t;
      write(`level ${p.level}/${maxLevels} iteration ${p.iteration}/${p.iterations} loss ${p.loss.toFixed(4)} ETA ${formatDuration(remaining)}\n`);
    },
    runDone: (e) => write(`${doneLine(e)}\n`),
  };
}

/** The reporter for the CLI's output stream. */
export function reporterFor(opts: { json: boolean }, out: NodeJS.WriteStream = process.stdout): RunReporter {
  if (opts.json) return jsonReporter((s) => out.write(s));
  if (out.isTTY) return terminalReporter(out);
  return plainReporter((s) => out.write(s));
}
