/**
 * The real environment of a run: the pruning loop of src/prune, the kernels of the device the
 * config asks for (src/engine/device.ts: auto, cpu or gpu) and the dataset named by the config.
 * The engine chosen is printed to stderr at start and stored with the run. Tests and benchmarks
 * pass other environments to executeRun.
 */
import { join } from 'node:path';
import type { Dataset } from '../data/types.js';
import { UserError } from '../errors.js';
import { loadDataset } from '../data/index.js';
import { createKernels, type Kernels } from '../engine/index.js';
import { decideDevice, describeDecision, type DeviceChoice } from '../engine/device.js';
import { describeAdapter } from '../engine/webgpu/index.js';
import { runLottery } from '../prune/lottery.js';
import type { EngineRecord, RunEnvironment } from './runner.js';

export interface EnvironmentOptions {
  /** compute threads (default: all cores) */
  threads?: number;
  /** the run's workspace: decoded image folders are cached in <workspace>/cache unless
   *  RAMANUJAN_CACHE_DIR says otherwise */
  workspace?: string;
  /** where a run computes when its config does not say (the config's `device` wins) */
  device?: DeviceChoice;
  /** where the engine line goes (default: stderr) */
  log?: (line: string) => void;
}

/**
 * Fails early, before anything is written, when `device: gpu` cannot be had (the commands call it
 * before claiming runs); auto and cpu always work.
 */
export async function checkDevice(choice: DeviceChoice): Promise<void> {
  if (choice !== 'gpu') return;
  const decision = await decideDevice(choice);
  if (decision.backend === 'webgpu') await decision.kernels.close();
}

export function realEnvironment(opts: EnvironmentOptions = {}): RunEnvironment {
  return {
    loop: (config, deps, loopOpts) => runLottery(config, deps, loopOpts),
    async prepare(config, prepareOpts) {
      const choice = prepareOpts?.device ?? opts.device ?? 'auto';
      // the device first: `--device gpu` without a GPU fails before the dataset is loaded
      const decision = await decideDevice(choice);
      let dataset;
      try {
        dataset = await loadDataset(config.data.dataset, {
          dataDir: config.data.dataDir,
          cacheDir: opts.workspace && !process.env.RAMANUJAN_CACHE_DIR ? join(opts.workspace, 'cache') : undefined,
          trainSubset: config.data.trainSubset,
          testSubset: config.data.testSubset,
        });
        checkDataset(dataset);
      } catch (err) {
        if (decision.backend === 'webgpu') await decision.kernels.close();
        throw err;
      }
      const kernels: Kernels = decision.backend === 'webgpu' ? decision.kernels : await createKernels({ threads: opts.threads });
      const engine: EngineRecord = {
        device: choice,
        backend: decision.backend,
        adapter: decision.backend === 'webgpu' ? describeAdapter(decision.adapter) : null,
        description: describeDecision(decision, kernels.threads),
      };
      (opts.log ?? ((line: string) => void process.stderr.write(`${line}\n`)))(`ramanujan: engine: ${engine.description}`);
      return { deps: { kernels, dataset }, close: () => kernels.close(), engine };
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
