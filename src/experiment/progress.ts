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
 * The time left in a run of levels, from the measured rate of completed work, smoothed so that
 * it counts down steadily instead of wandering (the demo's ETA used to say 5m13s, then 6m25s, for
 * a run that took 3m34s: each level was assumed to take as long as the last one, while levels get
 * faster as the density falls).
 *
 * - Completed levels: the wall time of each (from the end of the previous one: training,
 *   evaluation, analysis and pruning; the first computed level from its first progress report,
 *   scaled up by the part of the level that came before it, so loading data and starting workers
 *   are not counted) with its density.
 * - Time of a level: fitted as a + b * density by least squares over the completed levels, the
 *   newer ones weighted more (0.8 per level of age), with a >= 0 and b >= 0, once 3 levels with
 *   differing densities are done; before, an exponentially weighted mean of the level times
 *   (weight 0.3 for the newest). The levels to come have the density of the last one times
 *   the last level-to-level ratio, per level.
 * - Raw estimate: the rest of the current level (its predicted time minus the time spent in it;
 *   before any level completed, the remaining iterations at the measured pace) plus the levels
 *   after it.
 * - Shown: the previous shown value counted down by the elapsed time, moved towards the raw
 *   estimate by 1 - exp(-dt / 10 s), so one slow or fast level does not make it jump.
 * The clock is injectable for tests (test/experiment/eta.test.ts).
 */
export class LevelEta {
  private levelStart: number | null = null;
  private startFraction = 0;
  private readonly levels: Array<{ ms: number; density: number | null }> = [];
  private meanMs: number | null = null;
  private lastDensity: number | null = null;
  private ratio = 1;
  private shown: { at: number; ms: number } | null = null;

  constructor(private readonly now: () => number = Date.now, private readonly settleMs = 10_000) {}

  /** A progress report: the current level is `fraction` (0-1) done. */
  progress(fraction: number): void {
    if (this.levelStart === null) {
      this.levelStart = this.now();
      this.startFraction = fraction;
    }
  }

  /** A level ended with weight density `density` (null: unknown); `replayed`: taken from the store, not timed. */
  levelDone(replayed = false, density: number | null = null): void {
    const t = this.now();
    if (!replayed && this.levelStart !== null) {
      const ms = (t - this.levelStart) / Math.max(0.05, 1 - this.startFraction);
      this.levels.push({ ms, density });
      this.meanMs = this.meanMs === null ? ms : this.meanMs + 0.3 * (ms - this.meanMs);
    }
    if (density !== null && density > 0) {
      if (this.lastDensity !== null) this.ratio = Math.min(1, density / this.lastDensity);
      this.lastDensity = density;
    }
    // The next level starts now; after a replayed one, at its first progress report.
    this.levelStart = replayed ? null : t;
    this.startFraction = 0;
  }

  /** Predicted times of the next `count` levels (the current one first); null before any level completed. */
  private upcoming(count: number): number[] | null {
    if (this.meanMs === null) return null;
    const fit = this.fit();
    const out: number[] = [];
    let d = this.lastDensity ?? 1;
    for (let i = 0; i < count; i++) {
      d *= this.ratio;
      out.push(fit ? fit.a + fit.b * d : this.meanMs);
    }
    return out;
  }

  /** Weighted least squares of level time on density, or null when it is not sound. */
  private fit(): { a: number; b: number } | null {
    const pts = this.levels.filter((l): l is { ms: number; density: number } => l.density !== null);
    if (pts.length < 3 || this.lastDensity === null) return null;
    // weighted sums over the completed levels: x = density, y = time
    let sw = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
    pts.forEach((p, i) => {
      const w = 0.8 ** (pts.length - 1 - i);
      sw += w;
      sx += w * p.density;
      sy += w * p.ms;
      sxx += w * p.density * p.density;
      sxy += w * p.density * p.ms;
    });
    const varX = sxx / sw - (sx / sw) ** 2;
    if (varX < 1e-6) return null;
    const b = (sxy / sw - (sx / sw) * (sy / sw)) / varX;
    const a = sy / sw - b * (sx / sw);
    // Neither part of a level's time can be negative: on the boundary, the best fit with that part 0.
    if (b < 0) return { a: sy / sw, b: 0 };
    if (a < 0) return { a: 0, b: sxy / sxx };
    return { a, b };
  }

  /** Milliseconds left with the current level `fraction` done and `levelsAfter` levels after it; NaN before any pace is known. */
  remaining(fraction: number, levelsAfter: number): number {
    const t = this.now();
    const after = Math.max(0, levelsAfter);
    const elapsed = this.levelStart === null ? 0 : t - this.levelStart;
    let raw: number;
    const next = this.upcoming(1 + after);
    if (next !== null) {
      raw = Math.max(0, next[0] - elapsed) + next.slice(1).reduce((x, y) => x + y, 0);
    } else if (this.levelStart !== null && fraction > this.startFraction && elapsed > 0) {
      const perLevel = elapsed / (fraction - this.startFraction);
      raw = (1 - fraction) * perLevel + after * perLevel;
    } else {
      return Number.NaN;
    }
    if (this.shown === null) {
      this.shown = { at: t, ms: raw };
      return raw;
    }
    const dt = Math.max(0, t - this.shown.at);
    const countdown = Math.max(0, this.shown.ms - dt);
    const ms = countdown + (1 - Math.exp(-dt / this.settleMs)) * (raw - countdown);
    this.shown = { at: t, ms };
    return ms;
  }
}

/** A terminal: one status line redrawn in place, level lines kept above it. */
export function terminalReporter(out: NodeJS.WriteStream): RunReporter {
  let maxLevels = 0;
  let lastAccuracy: number | null = null;
  let lastDraw = 0;
  let drawn = false;
  const eta = new LevelEta();
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
      eta.levelDone(e.replayed, e.density);
      out.write(`${levelLine(e, maxLevels)}\n`);
    },
    progress: (p) => {
      eta.progress(p.iteration / p.iterations);
      const remaining = eta.remaining(p.iteration / p.iterations, maxLevels - p.level);
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
  const eta = new LevelEta();
  return {
    runStart: (e) => {
      maxLevels = e.maxLevels;
      write(`${startLine(e)}\n`);
    },
    level: (e) => {
      eta.levelDone(e.replayed, e.density);
      write(`${levelLine(e, maxLevels)}\n`);
    },
    progress: (p) => {
      eta.progress(p.iteration / p.iterations);
      const remaining = eta.remaining(p.iteration / p.iterations, maxLevels - p.level);
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
