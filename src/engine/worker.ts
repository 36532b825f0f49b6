/**
 * An engine worker thread: instantiates the wasm module on the shared memory and runs the tasks the
 * main thread posts in its control slot (protocol in src/engine/pool.ts) until told to exit.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { DONE, EXIT, FAILED, FN, NARGS, SEQ, SLOT_BYTES, SLOT_INTS, MAX_ARGS, SPIN_CHECK, SPIN_MS, type WorkerInit } from './pool.js';
import { WebAssemblyApi } from './wasm-api.js';

const init = workerData as WorkerInit;
const instance = new WebAssemblyApi.Instance(init.module, { env: { memory: init.memory } });
const exports = instance.exports as Record<string, (...args: number[]) => unknown>;
exports.setThreadScratch(init.scratch, init.scratchBytes);
const fns = init.names.map((name) => exports[name]);
const slot = new Int32Array(init.control, init.slot * SLOT_BYTES, SLOT_INTS);
const args = new Float64Array(init.control, init.slot * SLOT_BYTES + SLOT_INTS * 4, MAX_ARGS);
const callArgs: number[] = [];

// the sequence number seen last: read before announcing readiness, since the main thread may post
// the first task as soon as it hears 'ready'
let seq = Atomics.load(slot, SEQ);
parentPort!.postMessage('ready');

for (;;) {
  let spins = 0;
  let since = performance.now();
  while (Atomics.load(slot, SEQ) === seq) {
    if (++spins % SPIN_CHECK !== 0) continue;
    const now = performance.now();
    if (now - since > SPIN_MS) {
      Atomics.wait(slot, SEQ, seq);
      since = performance.now();
    }
  }
  seq = Atomics.load(slot, SEQ);
  const fn = slot[FN];
  if (fn === EXIT) break;
  const n = slot[NARGS];
  callArgs.length = n;
  for (let i = 0; i < n; i++) callArgs[i] = args[i];
  try {
    fns[fn](...callArgs);
  } catch (error) {
    process.stderr.write(`engine worker ${init.slot}: ${init.names[fn]} failed: ${String(error)}\n`);
    slot[FAILED] = 1;
  }
  Atomics.store(slot, DONE, seq);
  Atomics.notify(slot, DONE);
}
