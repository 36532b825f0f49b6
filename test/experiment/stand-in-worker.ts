/** A sweep worker process running the stand-in loop (forked by the stand-in CLI's sweeps). */
import { serveSweepWorker } from '../../src/experiment/sweep.js';
import { standInEnvironment } from './stand-in.js';
import { standInOptionsFromEnv } from './stand-in-options.js';

// Only as a forked worker (with an IPC channel); `node --test` also starts this file on its own.
if (process.send) serveSweepWorker(() => standInEnvironment(standInOptionsFromEnv()));
