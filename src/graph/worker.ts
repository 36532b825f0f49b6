/** Worker thread of analyzeLayers (parallel.ts): analyses the layers it is sent, one at a time. */
import { parentPort } from 'node:worker_threads';
import { analyzeLayer, type LayerInput } from './index.js';

parentPort!.on('message', (msg: { index: number; input: LayerInput }) => {
  try {
    parentPort!.postMessage({ index: msg.index, result: analyzeLayer(msg.input) });
  } catch (err) {
    parentPort!.postMessage({ index: msg.index, error: err instanceof Error ? err.message : String(err) });
  }
});
