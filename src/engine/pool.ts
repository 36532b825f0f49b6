/**
 * Worker threads that run wasm kernels on the engine's shared memory.
 *
 * Each worker instantiates the same compiled module on the same WebAssembly.Memory. A kernel split
 * into pieces is posted as a round of tasks (a wasm export + numeric arguments each) in a table in
 * a small control SharedArrayBuffer; the main thread and the workers claim tasks from a shared
 * counter until none is left, so a worker that the operating system has descheduled (another
 * process on the core) simply claims fewer tasks instead of holding everyone up. Results do not
 * depend on which thread ran a task: every task writes its own outputs and uses buffers chosen by
 * task index (src/engine/wasm.ts), so a run is bit-identical to a repeat.
 *
 * Control words (Int32):
 *   COUNTER  round << 16 | next task index   (Atomics.add claims a task)
 *   ROUND_N  round << 16 | number of tasks   (a claim from another round is stale)
 *   COMPLETED tasks finished in this round
 *   FAILED    set when a task threw
 *   SEQ[w]    bumped to wake worker w
 * Idle workers spin for SPIN_MS before sleeping in Atomics.wait: a wait/notify round trip costs
 * ~30-60 us, a spinning hand-off ~1 us (ENGINE-NOTES.md).
 */
import { Worker } from 'node:worker_threads';
import type { WasmMemory, WasmModule } from './wasm-api.js';

export const COUNTER = 0;
export const ROUND_N = 1;
export const COMPLETED = 2;
export const FAILED = 3;
export const EXIT_FLAG = 4;
/** words 16.. are the workers' wake-up sequence numbers */
export const SEQ_BASE = 16;
export const MAX_WORKERS = 48;
export const HEADER_BYTES = (SEQ_BASE + MAX_WORKERS) * 4;
export const MAX_TASKS = 64;
export const MAX_ARGS = 46;
/** per task: fn id and argument count (2 Int32), then MAX_ARGS Float64 */
export const TASK_BYTES = 8 + MAX_ARGS * 8;
export const CONTROL_BYTES = HEADER_BYTES + MAX_TASKS * TASK_BYTES;

/**
 * How long an idle worker keeps spinning before it sleeps in Atomics.wait. Between two parallel
 * kernels the main thread often runs a little serial work (JavaScript glue, small kernels); a
 * worker that fell asleep meanwhile costs a 30-60 us wake-up on the next round.
 */
export const SPIN_MS = 0.5;
/** Atomics.load iterations between two clock reads while spinning. */
export const SPIN_CHECK = 1024;
/** Atomics.load iterations the main thread spins before waiting for the last tasks. */
export const SPIN = 20000;

export interface WorkerInit {
  module: WasmModule;
  memory: WasmMemory;
  control: SharedArrayBuffer;
  slot: number;
  names: string[];
  scratch: number;
  scratchBytes: number;
}

/** One task: a wasm export and its arguments. */
export interface Task {
  fn: string;
  args: number[];
}

/**
 * Claims and runs tasks of the current round until none is left. Used by the main thread and the
 * workers alike; `call(id, args, n)` runs one task. Returns after the last claim failed.
 */
export function claimTasks(
  control: Int32Array, table: DataView, call: (fn: number, args: Float64Array, n: number) => void, args: Float64Array,
): void {
  for (;;) {
    const old = Atomics.add(control, COUNTER, 1);
    const round = old >>> 16;
    const index = old & 0xffff;
    const roundN = Atomics.load(control, ROUND_N);
    if (roundN >>> 16 !== round || index >= (roundN & 0xffff)) return;
    const base = HEADER_BYTES + index * TASK_BYTES;
    const fn = table.getInt32(base, true);
    const n = table.getInt32(base + 4, true);
    for (let i = 0; i < n; i++) args[i] = table.getFloat64(base + 8 + 8 * i, true);
    try {
      call(fn, args, n);
    } catch (error) {
      Atomics.store(control, FAILED, 1);
      process.stderr.write(`engine: task ${index} failed: ${String(error)}\n`);
    }
    Atomics.add(control, COMPLETED, 1);
    Atomics.notify(control, COMPLETED);
  }
}

export class ThreadPool {
  private readonly control: SharedArrayBuffer;
  private readonly words: Int32Array;
  private readonly table: DataView;
  private readonly args = new Float64Array(MAX_ARGS);
  private readonly workers: Worker[] = [];
  private readonly fnIds: Map<string, number>;
  private round = 0;
  private closed = false;

  private constructor(readonly size: number, private readonly names: string[]) {
    if (size > MAX_WORKERS) throw new RangeError(`engine: at most ${MAX_WORKERS + 1} threads`);
    this.control = new SharedArrayBuffer(CONTROL_BYTES);
    this.words = new Int32Array(this.control, 0, HEADER_BYTES / 4);
    this.table = new DataView(this.control);
    this.fnIds = new Map(names.map((name, i) => [name, i]));
  }

  /**
   * Starts `size` workers (the main thread is not counted). `scratch(w)` gives worker w's scratch
   * region [offset, bytes] in the shared memory.
   */
  static async start(
    size: number, module: WasmModule, memory: WasmMemory, names: string[],
    scratch: (w: number) => [number, number],
  ): Promise<ThreadPool> {
    const pool = new ThreadPool(size, names);
    // Run from dist/, the sibling is worker.js. Run from source through tsx, it is worker.ts, and the
    // worker must first register tsx's loader itself (tsx hooks the main thread only).
    const fromSource = import.meta.url.endsWith('.ts');
    const workerUrl = new URL(fromSource ? './worker.ts' : './worker.js', import.meta.url);
    let entry: URL | string = workerUrl;
    if (fromSource) {
      const tsxApi = (import.meta as unknown as { resolve(specifier: string): string }).resolve('tsx/esm/api');
      entry = `import(${JSON.stringify(tsxApi)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(workerUrl.href)}); })`;
    }
    const ready: Promise<void>[] = [];
    for (let w = 0; w < size; w++) {
      const [offset, bytes] = scratch(w);
      const init: WorkerInit = { module, memory, control: pool.control, slot: w, names, scratch: offset, scratchBytes: bytes };
      const worker = new Worker(entry, { workerData: init, eval: fromSource });
      pool.workers.push(worker);
      ready.push(new Promise((resolve, reject) => {
        worker.once('message', () => resolve());
        worker.once('error', reject);
        worker.once('exit', (code) => reject(new Error(`engine worker ${w} exited with code ${code} before it was ready`)));
      }));
    }
    try {
      await Promise.all(ready);
    } catch (error) {
      await pool.close();
      throw error;
    }
    // a forgotten close() must not keep the process alive
    for (const worker of pool.workers) {
      worker.removeAllListeners('exit');
      worker.removeAllListeners('error');
      worker.on('error', () => {});
      worker.unref();
    }
    return pool;
  }

  /**
   * Runs a round of tasks on this thread and the workers; returns when all are done.
   * `call` runs one task on this thread.
   */
  run(tasks: Task[], call: (fn: string, args: Float64Array, n: number) => void): void {
    if (this.closed) throw new Error('engine: the kernels were closed');
    if (tasks.length > MAX_TASKS) throw new Error(`engine: more than ${MAX_TASKS} tasks in one round`);
    const words = this.words;
    for (let t = 0; t < tasks.length; t++) {
      const task = tasks[t];
      const id = this.fnIds.get(task.fn);
      if (id === undefined) throw new Error(`engine: kernel ${task.fn} cannot run on a worker`);
      if (task.args.length > MAX_ARGS) throw new Error(`engine: kernel ${task.fn} has too many arguments`);
      const base = HEADER_BYTES + t * TASK_BYTES;
      this.table.setInt32(base, id, true);
      this.table.setInt32(base + 4, task.args.length, true);
      for (let i = 0; i < task.args.length; i++) this.table.setFloat64(base + 8 + 8 * i, task.args[i], true);
    }
    this.round = (this.round + 1) & 0x7fff;
    Atomics.store(words, COMPLETED, 0);
    Atomics.store(words, ROUND_N, (this.round << 16) | tasks.length);
    Atomics.store(words, COUNTER, this.round << 16);
    for (let w = 0; w < this.size; w++) {
      Atomics.add(words, SEQ_BASE + w, 1);
      Atomics.notify(words, SEQ_BASE + w);
    }
    claimTasks(words, this.table, (fn, args, n) => call(this.names[fn], args, n), this.args);
    let spins = 0;
    for (;;) {
      const done = Atomics.load(words, COMPLETED);
      if (done === tasks.length) break;
      if (++spins > SPIN) Atomics.wait(words, COMPLETED, done, 10);
    }
    if (Atomics.load(words, FAILED) !== 0) {
      Atomics.store(words, FAILED, 0);
      throw new Error('engine: a kernel failed on a worker thread (see the message on stderr)');
    }
  }

  /** Stops the workers; idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    Atomics.store(this.words, EXIT_FLAG, 1);
    for (let w = 0; w < this.size; w++) {
      Atomics.add(this.words, SEQ_BASE + w, 1);
      Atomics.notify(this.words, SEQ_BASE + w);
    }
    await Promise.all(this.workers.map((worker) => worker.terminate()));
  }
}
