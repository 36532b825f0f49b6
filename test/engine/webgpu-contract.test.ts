/**
 * The contract suites of contract-suite.ts (written for any backend: upload/download with offsets,
 * the small kernels, kernel offsets, device-side loss statistics, every kernel against the
 * reference) run on the webgpu backend, as they do on wasm in contract.test.ts.
 */
import { createWebGpuKernels, type WebGpuKernels } from '../../src/engine/webgpu/index.js';
import { contractSuite, kernelsAgainstReference } from './contract-suite.js';
import { webgpuForTests } from './webgpu-setup.js';

const probe = await webgpuForTests();
if (probe !== null) {
  const adapter = probe.adapter.device || probe.adapter.description;
  await probe.close();
  const make = async (): Promise<WebGpuKernels> => {
    const k = await createWebGpuKernels({ allowSoftware: true });
    if (k === null) throw new Error('webgpu: the adapter found a moment ago is gone');
    return k;
  };
  contractSuite(`webgpu on ${adapter}`, make, 3e-5);
  kernelsAgainstReference(`webgpu on ${adapter}`, make, 3e-5);
}
