/**
 * An engine worker thread: instantiates the wasm module on the shared memory, then claims and runs
 * the tasks of each round the main thread posts (protocol in src/engine/pool.ts) until told to exit.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { claimTasks, EXIT_FLAG, HEADER_BYTES, MAX_ARGS, SEQ_BASE, SPIN_CHECK, SPIN_MS, type WorkerInit } from './pool.js';
import { WebAssemblyApi } from './wasm-api.js';

const init = workerData as WorkerInit;
const instance = new WebAssemblyApi.Instance(init.module, { env: { memory: init.memory } });
const exports = instance.exports as Record<string, (...args: number[]) => unknown>;
exports.setThreadScratch(init.scratch, init.scratchBytes);
const fns = init.names.map((name) => exports[name]);
const words = new Int32Array(init.control, 0, HEADER_BYTES / 4);
const table = new DataView(init.control);
const args = new Float64Array(MAX_ARGS);
const callArgs: number[] = [];
const SEQ = SEQ_BASE + init.slot;

function call(fn: number, a: Float64Array, n: number): void {
  callArgs.length = n;
  for (let i = 0; i < n; i++) callArgs[i] = a[i];
  fns[fn](...callArgs);
}

// the wake-up number seen last: read before announcing readiness, since the main thread may post
// the first round as soon as it hears 'ready'
let seq = Atomics.load(words, SEQ);
parentPort!.postMessage('ready');

for (;;) {
  let spins = 0;
  let since = performance.now();
  while (Atomics.load(words, SEQ) === seq) {
    if (++spins % SPIN_CHECK !== 0) continue;
    if (performance.now() - since > SPIN_MS) {
      Atomics.wait(words, SEQ, seq);
      since = performance.now();
    }
  }
  seq = Atomics.load(words, SEQ);
  if (Atomics.load(words, EXIT_FLAG) !== 0) break;
  claimTasks(words, table, call, args);
}
