/**
 * Choosing the compute device: `auto | cpu | gpu` (the config's `device`, `--device`).
 * - cpu: the wasm engine.
 * - gpu: the webgpu backend on a hardware adapter; one clear UserError when there is none. The
 *   software adapter (llvmpipe) is taken only when RAMANUJAN_WEBGPU_SOFTWARE=1 (tests, CI).
 * - auto: a hardware GPU adapter when one is present (never a software one), otherwise the wasm
 *   engine. Looking for an adapter loads Dawn (the optional `webgpu` package); where it cannot
 *   load, auto quietly means cpu.
 * Whatever was chosen is described in one line for the run's start and its stored record.
 */
import { UserError } from '../errors.js';
import { createWebGpuKernels, describeAdapter, hardwareProbeSkipped, listAdapters, softwareAllowedByEnv, webgpuLoadError, SOFTWARE_ENV, type AdapterDescription, type WebGpuKernels } from './webgpu/index.js';

export const DEVICE_CHOICES = ['auto', 'cpu', 'gpu'] as const;
export type DeviceChoice = (typeof DEVICE_CHOICES)[number];

export type DeviceDecision =
  | { backend: 'wasm'; adapter: null; why: string }
  | { backend: 'webgpu'; adapter: AdapterDescription; kernels: WebGpuKernels };

/** One line naming the backend and, for webgpu, the adapter (printed at start, stored with runs). */
export function describeDecision(d: DeviceDecision, threads?: number): string {
  if (d.backend === 'webgpu') return `webgpu on ${describeAdapter(d.adapter)}`;
  return `wasm${threads !== undefined ? ` on ${threads} thread${threads === 1 ? '' : 's'}` : ''} (${d.why})`;
}

/**
 * Resolves a device choice. For webgpu the device is opened and its kernels returned (close them
 * when done); for wasm the caller creates the wasm kernels as before.
 */
export async function decideDevice(choice: DeviceChoice, opts: { allowSoftware?: boolean } = {}): Promise<DeviceDecision> {
  if (choice === 'cpu') return { backend: 'wasm', adapter: null, why: 'device cpu' };
  const allowSoftware = choice === 'gpu' ? (opts.allowSoftware ?? softwareAllowedByEnv()) : false;
  const kernels = await createWebGpuKernels({ allowSoftware });
  if (kernels !== null) return { backend: 'webgpu', adapter: kernels.adapter, kernels };
  if (choice === 'auto') {
    const load = webgpuLoadError();
    const skipped = hardwareProbeSkipped();
    return { backend: 'wasm', adapter: null, why: load !== '' ? 'device auto: WebGPU unavailable' : `device auto: no hardware GPU adapter${skipped ? `, ${skipped}` : ''}` };
  }
  throw new UserError(await noGpuMessage());
}

/** The one error of `--device gpu` without a GPU: what was looked for and what was found. */
async function noGpuMessage(): Promise<string> {
  const load = webgpuLoadError();
  const skipped = hardwareProbeSkipped();
  if (skipped !== '') return `device gpu: no hardware GPU adapter (${skipped}); use --device cpu or --device auto`;
  if (load !== '') {
    return `device gpu: WebGPU could not be loaded (${load}); install the optional dependency "webgpu" or use --device cpu`;
  }
  const software = (await listAdapters({ software: false })).filter((a) => a.software);
  const found = software.length > 0 ? `; found only software adapters (${software.map(describeAdapter).join('; ')}), which need ${SOFTWARE_ENV}=1` : '';
  return `device gpu: no hardware GPU adapter found${found}; use --device cpu or --device auto (ramanujan doctor lists the adapters)`;
}

/** What `ramanujan doctor` reports about the GPU side. */
export interface GpuReport {
  /** why Dawn did not load ('' when it did) */
  loadError: string;
  /** why no hardware adapter was looked for ('' when one was) */
  hardwareSkipped: string;
  adapters: AdapterDescription[];
  /** what `auto` picks */
  auto: 'webgpu' | 'wasm';
}

export async function gpuReport(): Promise<GpuReport> {
  const adapters = await listAdapters({ software: true });
  return {
    loadError: webgpuLoadError(),
    hardwareSkipped: hardwareProbeSkipped(),
    adapters,
    auto: adapters.some((a) => !a.software) ? 'webgpu' : 'wasm',
  };
}
