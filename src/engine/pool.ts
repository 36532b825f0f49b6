/**
 * Worker threads that run wasm kernels on the engine's shared memory.
 *
 * Each worker instantiates the same compiled module on the same WebAssembly.Memory and then sits in
 * a loop on a small control block (a SharedArrayBuffer, one slot per worker):
 *   SEQ   the main thread bumps it to post a task (function id + arguments in the slot)
 *   DONE  the worker sets it to SEQ when the task is finished
 * Both sides spin briefly on these words before falling back to Atomics.wait: a wait/notify round
 * trip costs ~30 us, a spinning one ~1.3 us (ENGINE-NOTES.md), which is what makes splitting
 * kernels of small layers pay off. No messages go through the event loop after start-up.
 *
 * A task is the call of one wasm export with numeric arguments; the caller decides how a kernel is
 * split (src/engine/wasm.ts), always the same way for the same sizes and thread count, so results
 * are bit-identical from run to run.
 */
import { Worker } from 'node:worker_threads';
import type { WasmMemory, WasmModule } from './wasm-api.js';

export const SLOT_INTS = 16;
export const MAX_ARGS = 48;
export const SLOT_BYTES = SLOT_INTS * 4 + MAX_ARGS * 8;
export const SEQ = 0;
export const DONE = 1;
export const FN = 2;
export const NARGS = 3;
export const FAILED = 4;
/** FN value that tells a worker to leave its loop */
export const EXIT = -1;
/**
 * How long an idle worker keeps spinning before it sleeps in Atomics.wait. Between two parallel
 * kernels the main thread often runs a little serial work (JavaScript glue, small kernels); a
 * worker that fell asleep meanwhile costs a 30-60 us wake-up on the next task, so it keeps
 * spinning through such gaps.
 */
export const SPIN_MS = 0.5;
/** Atomics.load iterations between two clock reads while spinning. */
export const SPIN_CHECK = 1024;
/** Atomics.load iterations the main thread spins before waiting for a worker. */
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

/** One posted task: a wasm export and its arguments. */
export interface Task {
  fn: string;
  args: number[];
}

export class ThreadPool {
  private readonly control: SharedArrayBuffer;
  private readonly workers: Worker[] = [];
  private readonly slots: Int32Array[] = [];
  private readonly argSlots: Float64Array[] = [];
  private readonly fnIds: Map<string, number>;
  private closed = false;

  private constructor(readonly size: number, names: string[]) {
    this.control = new SharedArrayBuffer(Math.max(1, size) * SLOT_BYTES);
    this.fnIds = new Map(names.map((name, i) => [name, i]));
    for (let w = 0; w < size; w++) {
      this.slots.push(new Int32Array(this.control, w * SLOT_BYTES, SLOT_INTS));
      this.argSlots.push(new Float64Array(this.control, w * SLOT_BYTES + SLOT_INTS * 4, MAX_ARGS));
    }
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

  /** Posts task w to worker w (w < size); returns the sequence number to wait for. */
  post(w: number, task: Task): number {
    if (this.closed) throw new Error('engine: the kernels were closed');
    const id = this.fnIds.get(task.fn);
    if (id === undefined) throw new Error(`engine: unknown kernel ${task.fn}`);
    if (task.args.length > MAX_ARGS) throw new Error(`engine: kernel ${task.fn} has too many arguments`);
    const slot = this.slots[w];
    const args = this.argSlots[w];
    for (let i = 0; i < task.args.length; i++) args[i] = task.args[i];
    slot[FN] = id;
    slot[NARGS] = task.args.length;
    const seq = (slot[SEQ] + 1) | 0;
    Atomics.store(slot, SEQ, seq);
    Atomics.notify(slot, SEQ);
    return seq;
  }

  /** Waits until worker w has finished task `seq`. */
  wait(w: number, seq: number): void {
    const slot = this.slots[w];
    let spins = 0;
    for (;;) {
      const done = Atomics.load(slot, DONE);
      if (done === seq) break;
      if (++spins > SPIN) Atomics.wait(slot, DONE, done, 10);
    }
    if (slot[FAILED] !== 0) {
      slot[FAILED] = 0;
      throw new Error(`engine worker ${w} failed in a kernel (see its message on stderr)`);
    }
  }

  /** Stops the workers; idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const slot of this.slots) {
      slot[FN] = EXIT;
      Atomics.store(slot, SEQ, (slot[SEQ] + 1) | 0);
      Atomics.notify(slot, SEQ);
    }
    await Promise.all(this.workers.map((worker) => worker.terminate()));
  }
}
