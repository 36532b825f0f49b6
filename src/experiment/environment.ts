/**
 * The real environment of a run: the pruning loop of src/prune, the wasm kernels and the dataset
 * named by the config. Tests and benchmarks pass other environments to executeRun.
 */
import { join } from 'node:path';
import type { Dataset } from '../data/types.js';
import { UserError } from '../errors.js';
import { loadDataset } from '../data/index.js';
import { createKernels } from '../engine/index.js';
import { runLottery } from '../prune/lottery.js';
import type { RunEnvironment } from './runner.js';

export interface EnvironmentOptions {
  /** compute threads (default: all cores) */
  threads?: number;
  /** the run's workspace: decoded image folders are cached in <workspace>/cache unless
   *  RAMANUJAN_CACHE_DIR says otherwise */
  workspace?: string;
}

export function realEnvironment(opts: EnvironmentOptions = {}): RunEnvironment {
  return {
    loop: (config, deps, loopOpts) => runLottery(config, deps, loopOpts),
    async prepare(config) {
      const dataset = await loadDataset(config.data.dataset, {
        dataDir: config.data.dataDir,
        cacheDir: opts.workspace && !process.env.RAMANUJAN_CACHE_DIR ? join(opts.workspace, 'cache') : undefined,
        trainSubset: config.data.trainSubset,
        testSubset: config.data.testSubset,
      });
      checkDataset(dataset);
      const kernels = await createKernels({ threads: opts.threads });
      return { deps: { kernels, dataset }, close: () => kernels.close() };
    },
  };
}

/** A run needs images to train on and to test on: an empty split is the dataset's fault, named. */
export function checkDataset(dataset: Dataset): void {
  for (const [split, what] of [['train', 'training'], ['test', 'test']] as const) {
    if (dataset[split].count === 0) {
      throw new UserError(`${dataset.name}: the ${what} split is empty (${dataset.source}); a run needs ${what} images`);
    }
  }
}
