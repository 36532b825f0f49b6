/**
 * The demo's default protocol, apart from src/experiment/demo.ts so that the `demo` command's
 * definition (its help text) reads it without loading the experiment modules.
 */

/** What the demo shortens: everything else is the preset's. */
export interface DemoProtocol {
  /** training iterations per level (the preset: 20,000) */
  iterations: number;
  /** pruning levels after the dense level 0 (pruning.maxLevels) */
  levels: number;
  /** test images, each evaluated clean and at every noise sigma (null: all 10,000) */
  testSubset: number | null;
}

/**
 * The default protocol. 21 levels: with p_fc 0.2 and p_out 0.1 the plain run's density after 21
 * levels is 0.96% (0.8^21 of the hidden layers' weights, 0.9^21 of the output layer's), the first
 * level below 1%: the plain run passes 5% (the issue's minimum) and goes on to the paper's
 * alpha = 2 density, where plain IMP loses accuracy and the bound run has had levels to hold layers
 * back (at 14 levels, 4.5%, the two runs were still identical). 3,000 iterations per level
 * (3 epochs of MNIST at batch 60, against the paper's 20,000) and the full 10,000-image test set;
 * docs/demo.md has the measured wall time (budget: 10 minutes on the 2-core machine).
 */
export const DEMO_PROTOCOL: Readonly<DemoProtocol> = { iterations: 3000, levels: 21, testSubset: null };

/**
 * Worker processes the demo runs on. Two (one run each, each engine on cores/2 threads) beat one
 * worker running the two runs one after the other on all cores: lenet's products are too small
 * to keep two threads busy, and the noisy test sets are drawn on one thread in any case
 * (docs/demo.md has the measurement).
 */
export const DEMO_WORKERS = 2;
