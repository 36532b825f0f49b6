/**
 * analyzeLayers: analyzeLayer over many layers on worker threads (one layer per task, largest
 * first), for the whole-network analyses (`ramanujan analyze`, the spectral benchmark). Each
 * layer's analysis is single-threaded and identical to analyzeLayer's; only the layers run side
 * by side. Typed arrays are copied to the workers unless they live in a SharedArrayBuffer.
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

export async function analyzeLayers(inputs: LayerInput[], opts: { threads?: number } = {}): Promise<LayerAnalysis[]> {
  const threads = Math.max(1, Math.min(opts.threads ?? availableParallelism(), inputs.length));
  if (threads === 1) return inputs.map((input) => analyzeLayer(input));
  const order = inputs.map((_, i) => i).sort((a, b) => inputs[b].weight.length - inputs[a].weight.length);
  const results: LayerAnalysis[] = new Array(inputs.length);
  let next = 0;
  const workers = Array.from({ length: threads }, () => startWorker());
  try {
    await Promise.all(
      workers.map(
        (worker) =>
          new Promise<void>((resolve, reject) => {
            const give = () => {
              if (next >= order.length) {
                resolve();
                return;
              }
              const index = order[next++];
              worker.postMessage({ index, input: inputs[index] });
            };
            worker.on('message', (msg: { index: number; result?: LayerAnalysis; error?: string }) => {
              if (msg.error !== undefined) {
                reject(new Error(`analyzeLayers(${inputs[msg.index].name}): ${msg.error}`));
                return;
              }
              results[msg.index] = msg.result!;
              give();
            });
            worker.on('error', reject);
            give();
          }),
      ),
    );
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
  return results;
}
