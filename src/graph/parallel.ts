/**
 * analyzeLayer over many layers on worker threads (one layer per task, largest first), for
 * whole-network analyses. Each layer's analysis is single-threaded and identical to analyzeLayer's;
 * only the layers run side by side.
 *
 * - analyzeLayers(inputs, { threads }): a one-off pool (workers start cold: their JIT warms up on
 *   the first layers, which is why it rarely pays for a single small model);
 * - createAnalysisPool(threads): a pool kept across calls (e.g. every level of a lottery run, or a
 *   benchmark), closed with close().
 * Typed arrays are copied to the workers unless they live in a SharedArrayBuffer.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { analyzeLayer, type LayerInput } from './index.js';
import type { LayerAnalysis } from './types.js';

/**
 * A worker running the module beside this one: worker.js when built; worker.ts when run from
 * source, where the worker needs tsx's loader too (a development dependency).
 */
function startWorker(): Worker {
  if (import.meta.url.endsWith('.ts')) {
    const url = new URL('./worker.ts', import.meta.url).href;
    const boot = `import('tsx/esm/api').then((api) => { api.register(); return import(${JSON.stringify(url)}); });`;
    return new Worker(boot, { eval: true });
  }
  return new Worker(new URL('./worker.js', import.meta.url));
}

export interface AnalysisPool {
  readonly threads: number;
  /** analyses the layers (results in input order) */
  analyze(inputs: LayerInput[]): Promise<LayerAnalysis[]>;
  /** stops the workers */
  close(): Promise<void>;
}

export function createAnalysisPool(threads: number = availableParallelism()): AnalysisPool {
  const workers = Array.from({ length: Math.max(1, threads) }, () => startWorker());
  let busy = false;
  return {
    threads: workers.length,
    async analyze(inputs) {
      if (busy) throw new Error('AnalysisPool.analyze: one call at a time');
      busy = true;
      try {
        return await runOn(workers, inputs);
      } finally {
        busy = false;
      }
    },
    async close() {
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}

/**
 * The array to post: a view into part of a larger, not shared buffer (e.g. a tensor of a
 * safetensors file read as one buffer) as a copy of the view, since posting a view clones its
 * whole buffer; anything else as it is.
 */
function own<T extends Float32Array | Float64Array | Uint8Array>(a: T): T {
  return a.buffer instanceof SharedArrayBuffer || a.byteLength === a.buffer.byteLength ? a : (a.slice() as T);
}

async function runOn(workers: Worker[], inputs: LayerInput[]): Promise<LayerAnalysis[]> {
  const order = inputs.map((_, i) => i).sort((a, b) => inputs[b].weight.length - inputs[a].weight.length);
  const results: LayerAnalysis[] = new Array(inputs.length);
  let next = 0;
  await Promise.all(
    workers.map(
      (worker) =>
        new Promise<void>((resolve, reject) => {
          const cleanup = () => {
            worker.off('message', onMessage);
            worker.off('error', onError);
          };
          const give = () => {
            if (next >= order.length) {
              cleanup();
              resolve();
              return;
            }
            const index = order[next++];
            const input = inputs[index];
            worker.postMessage({ index, input: { ...input, weight: own(input.weight), mask: input.mask && own(input.mask), score: input.score && own(input.score) } });
          };
          const onMessage = (msg: { index: number; result?: LayerAnalysis; error?: string }) => {
            if (msg.error !== undefined) {
              cleanup();
              reject(new Error(`analyzeLayers(${inputs[msg.index].name}): ${msg.error}`));
              return;
            }
            results[msg.index] = msg.result!;
            give();
          };
          const onError = (err: Error) => {
            cleanup();
            reject(err);
          };
          worker.on('message', onMessage);
          worker.on('error', onError);
          give();
        }),
    ),
  );
  return results;
}

export async function analyzeLayers(inputs: LayerInput[], opts: { threads?: number } = {}): Promise<LayerAnalysis[]> {
  const threads = Math.max(1, Math.min(opts.threads ?? availableParallelism(), inputs.length));
  if (threads === 1) return inputs.map((input) => analyzeLayer(input));
  const pool = createAnalysisPool(threads);
  try {
    return await pool.analyze(inputs);
  } finally {
    await pool.close();
  }
}
