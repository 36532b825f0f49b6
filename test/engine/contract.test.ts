/** The tensor contract's own tests and every kernel against the reference (./contract-suite.ts), on the reference and the wasm backends. */
import { createKernels } from '../../src/engine/index.js';
import { referenceKernels } from '../../src/engine/reference.js';
import { contractSuite, kernelsAgainstReference } from './contract-suite.js';

contractSuite('reference', async () => referenceKernels());
contractSuite('reference float64', async () => referenceKernels({ float64: true }));
contractSuite('wasm, 1 thread', () => createKernels({ threads: 1 }));
contractSuite('wasm, 2 threads', () => createKernels({ threads: 2 }));
kernelsAgainstReference('wasm, 2 threads, dense and sparse as chosen', () => createKernels({ threads: 2 }));
kernelsAgainstReference('wasm, 1 thread, always sparse', () => createKernels({ threads: 1, sparseBelowDensity: 2 }));
