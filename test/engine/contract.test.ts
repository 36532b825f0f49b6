/** The tensor contract's own tests (./contract-suite.ts) on the reference and the wasm backends. */
import { createKernels } from '../../src/engine/index.js';
import { referenceKernels } from '../../src/engine/reference.js';
import { contractSuite } from './contract-suite.js';

contractSuite('reference', async () => referenceKernels());
contractSuite('reference float64', async () => referenceKernels({ float64: true }));
contractSuite('wasm, 1 thread', () => createKernels({ threads: 1 }));
contractSuite('wasm, 2 threads', () => createKernels({ threads: 2 }));
