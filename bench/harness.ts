/**
 * The benchmark harness: every suite reports named figures through `report`, printed as
 * human-readable lines, or with --json as one object per line:
 *   {"suite":"engine","name":"sgemm_60x784x300_1t","value":41.2,"unit":"GFLOPS"}
 * Other tools read these names, so a figure keeps its name once published.
 */
export interface BenchContext {
  /** the suite being run, e.g. "engine" */
  suite: string;
  /** print one figure */
  report(name: string, value: number, unit: string, note?: string): void;
  /** print a free-form line (human mode only) */
  log(line: string): void;
  /** true when --quick was given: fewer repetitions, for smoke runs */
  quick: boolean;
  /** remaining command-line arguments after the suite name */
  args: string[];
}

export type BenchSuite = (ctx: BenchContext) => Promise<void>;

export function createContext(suite: string, json: boolean, quick: boolean, args: string[]): BenchContext {
  return {
    suite,
    quick,
    args,
    report(name, value, unit, note) {
      if (json) {
        process.stdout.write(JSON.stringify({ suite, name, value, unit, ...(note ? { note } : {}) }) + '\n');
      } else {
        const shown = Number.isInteger(value) ? String(value) : value.toPrecision(4);
        process.stdout.write(`${suite.padEnd(9)} ${name.padEnd(34)} ${shown.padStart(12)} ${unit}${note ? `  (${note})` : ''}\n`);
      }
    },
    log(line) {
      if (!json) process.stdout.write(line + '\n');
    },
  };
}

/** Median wall time in milliseconds of `fn` over `reps` runs after `warmup` runs. */
/** As timeMedianMs, for work that downloads from the device (awaits). */
export async function timeMedianMsAsync(fn: () => Promise<unknown>, reps: number, warmup = 1): Promise<number> {
  for (let i = 0; i < warmup; i++) await fn();
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

export function timeMedianMs(fn: () => void, reps: number, warmup = 1): number {
  for (let i = 0; i < warmup; i++) fn();
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    fn();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}
