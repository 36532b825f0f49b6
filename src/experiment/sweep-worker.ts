/**
 * A sweep's worker process (forked by runSweep in sweep.ts): executes one run with the real
 * pruning loop and reports its events to the parent over IPC.
 */
import { realEnvironment } from './environment.js';
import { serveSweepWorker } from './sweep.js';

serveSweepWorker((opts) => realEnvironment(opts));
