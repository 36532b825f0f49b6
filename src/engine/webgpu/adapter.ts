/// <reference types="@webgpu/types" />
/**
 * Finding a WebGPU adapter and opening a device on it.
 *
 * In Node the WebGPU implementation is Dawn, the npm package `webgpu` (an optional dependency):
 * it is imported lazily, only when a GPU backend is asked for, so CPU users load nothing and an
 * install where Dawn cannot load still trains on the CPU. In a browser `navigator.gpu` is used and
 * nothing here touches a Node API.
 *
 * Adapters
 * - hardware (default): Dawn's default backends (Vulkan on Linux, Metal, D3D12), high-performance
 *   power preference. An adapter that reports itself as a fallback or is named like a software
 *   rasteriser (llvmpipe, lavapipe, SwiftShader, ...) is not hardware.
 * - software: Mesa's llvmpipe through Dawn's OpenGL ES backend (EGL surfaceless, compatibility
 *   feature level), about 2 GFLOPS. Taken only when asked explicitly: `allowSoftware: true` or the
 *   environment variable RAMANUJAN_WEBGPU_SOFTWARE=1, and then only when no hardware adapter is
 *   found. It lets the WGSL kernels be tested on machines without a GPU (CI). `device: auto`
 *   never takes it.
 */

/** Environment variable that lets tests and `doctor` use the software (llvmpipe) adapter. */
export const SOFTWARE_ENV = 'RAMANUJAN_WEBGPU_SOFTWARE';

export interface AdapterDescription {
  /** the device name the driver reports (e.g. "NVIDIA H200", "llvmpipe-llvm-15-...") */
  device: string;
  vendor: string;
  architecture: string;
  description: string;
  /** which Dawn backend found it: 'default' (Vulkan/Metal/D3D12) or 'opengles' */
  backend: 'default' | 'opengles' | 'browser';
  /** a software rasteriser (llvmpipe, SwiftShader, a fallback adapter): never chosen by `auto` */
  software: boolean;
}

export interface WebGpuContext {
  device: GPUDevice;
  adapter: AdapterDescription;
  /** Destroys the device; idempotent. */
  destroy(): void;
}

export interface AcquireOptions {
  /** take the software adapter when no hardware one is found (default: RAMANUJAN_WEBGPU_SOFTWARE=1) */
  allowSoftware?: boolean;
}

/** One line naming an adapter, for logs and the environment record. */
export function describeAdapter(a: AdapterDescription): string {
  const name = a.device || a.description || 'unknown adapter';
  const extra = [a.vendor, a.architecture].filter((s) => s !== '').join(' ');
  return `${name}${extra ? ` (${extra})` : ''} via ${a.backend === 'default' ? 'native backend' : a.backend}${a.software ? ', software' : ''}`;
}

const SOFTWARE_NAMES = /llvmpipe|lavapipe|softpipe|swiftshader|software|basic render/i;

function describe(adapter: GPUAdapter, backend: AdapterDescription['backend']): AdapterDescription {
  const info = adapter.info;
  const d: AdapterDescription = {
    device: info.device ?? '',
    vendor: info.vendor ?? '',
    architecture: info.architecture ?? '',
    description: info.description ?? '',
    backend,
    software: false,
  };
  const fallback = (info as { isFallbackAdapter?: boolean }).isFallbackAdapter === true;
  d.software = fallback || backend === 'opengles' || SOFTWARE_NAMES.test(`${d.device} ${d.description}`);
  return d;
}

type CreateGpu = (options: string[]) => GPU;

function nodeEnv(): Record<string, string | undefined> | null {
  const p = (globalThis as { process?: { env?: Record<string, string | undefined>; versions?: { node?: string } } }).process;
  return p?.versions?.node !== undefined && p.env !== undefined ? p.env : null;
}

let dawnLoad: Promise<CreateGpu | null> | null = null;
let dawnError = '';

/** Loads Dawn once (Node); null where it cannot load (the reason is kept for the error message). */
async function loadDawn(): Promise<CreateGpu | null> {
  dawnLoad ??= (async () => {
    try {
      // a variable specifier keeps bundlers and tsc from resolving the optional package eagerly
      const name = 'webgpu';
      const mod = (await import(name)) as { create: CreateGpu };
      return mod.create;
    } catch (e) {
      dawnError = e instanceof Error ? e.message.split('\n')[0] : String(e);
      return null;
    }
  })();
  return dawnLoad;
}

/** Why no WebGPU implementation could be loaded ('' when one was). */
export function webgpuLoadError(): string {
  return dawnError;
}

const instances: { default?: GPU; opengles?: GPU } = {};
let hardwareSkipped = '';

/** Why the hardware adapter was not looked for ('' when it was). */
export function hardwareProbeSkipped(): string {
  return hardwareSkipped;
}

/**
 * On Linux Dawn reaches a GPU through Vulkan: without the Vulkan loader there is no hardware
 * adapter, and asking Dawn only prints a warning. Checking the usual library folders first keeps
 * CPU machines from loading Dawn at all (and from that warning) when `device: auto` looks.
 */
async function hardwareBackendPossible(): Promise<boolean> {
  const p = (globalThis as { process?: { platform?: string; env?: Record<string, string | undefined> } }).process;
  if (p?.platform !== 'linux') return true;
  const { existsSync } = await import('node:fs');
  const dirs = [
    ...(p.env?.LD_LIBRARY_PATH ?? '').split(':').filter((d) => d !== ''),
    '/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/lib/x86_64-linux-gnu', '/lib/aarch64-linux-gnu',
    '/usr/lib64', '/lib64', '/usr/lib', '/lib', '/usr/local/lib',
  ];
  return dirs.some((d) => existsSync(`${d}/libvulkan.so.1`));
}

interface Candidate {
  adapter: GPUAdapter;
  description: AdapterDescription;
}

/** The hardware adapter, if any, then (when `software`) the llvmpipe one. */
async function findAdapters(software: boolean): Promise<Candidate[]> {
  const navigatorGpu = (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
  const env = nodeEnv();
  if (navigatorGpu !== undefined && env === null) {
    const adapter = await navigatorGpu.requestAdapter({ powerPreference: 'high-performance' });
    return adapter ? [{ adapter, description: describe(adapter, 'browser') }] : [];
  }
  const hardwarePossible = await hardwareBackendPossible();
  hardwareSkipped = hardwarePossible ? '' : 'no Vulkan loader (libvulkan.so.1) on this Linux machine';
  // nothing to look for: Dawn is not even loaded
  if (!hardwarePossible && !software) return [];
  const create = await loadDawn();
  if (create === null) return [];
  const found: Candidate[] = [];
  if (hardwarePossible) {
    hardwareSkipped = '';
    // Dawn instances are kept for the process: one collected while another is in use crashed Dawn
    instances.default ??= create([]);
    const hardware = await instances.default.requestAdapter({ powerPreference: 'high-performance' }).catch(() => null);
    if (hardware) found.push({ adapter: hardware, description: describe(hardware, 'default') });
  }
  if (software) {
    // Mesa's EGL needs a platform without a display server; respect one set by the user
    if (env !== null && env.EGL_PLATFORM === undefined) env.EGL_PLATFORM = 'surfaceless';
    instances.opengles ??= create(['backend=opengles']);
    const gles = await instances.opengles.requestAdapter({ featureLevel: 'compatibility' }).catch(() => null);
    if (gles) found.push({ adapter: gles, description: describe(gles, 'opengles') });
  }
  return found;
}

/** Every adapter found (for `ramanujan doctor`); the software one is looked for only when asked. */
export async function listAdapters(opts: { software?: boolean } = {}): Promise<AdapterDescription[]> {
  return (await findAdapters(opts.software ?? softwareAllowedByEnv())).map((c) => c.description);
}

/** True when RAMANUJAN_WEBGPU_SOFTWARE is set to 1/true/yes. */
export function softwareAllowedByEnv(): boolean {
  const v = nodeEnv()?.[SOFTWARE_ENV];
  return v !== undefined && /^(1|true|yes)$/i.test(v);
}

/**
 * Limits the kernels rely on, asked for explicitly (the defaults are lower, notably in the
 * compatibility feature level): 256 invocations per workgroup, 8 storage buffers per stage,
 * 16 KiB of workgroup memory and the largest storage binding the adapter has (128 MiB on llvmpipe).
 */
function requiredLimits(adapter: GPUAdapter): Record<string, number> {
  const l = adapter.limits;
  return {
    maxComputeInvocationsPerWorkgroup: Math.min(256, l.maxComputeInvocationsPerWorkgroup),
    maxComputeWorkgroupSizeX: Math.min(256, l.maxComputeWorkgroupSizeX),
    maxComputeWorkgroupSizeY: Math.min(256, l.maxComputeWorkgroupSizeY),
    maxStorageBuffersPerShaderStage: Math.min(8, l.maxStorageBuffersPerShaderStage),
    maxComputeWorkgroupStorageSize: Math.min(16384, l.maxComputeWorkgroupStorageSize),
    maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
    maxBufferSize: l.maxBufferSize,
  };
}

/**
 * Opens a device on the best adapter allowed: hardware first; the software one only when allowed.
 * Returns null when none is found (the caller decides whether that is an error).
 */
export async function acquireWebGpu(opts: AcquireOptions = {}): Promise<WebGpuContext | null> {
  const software = opts.allowSoftware ?? softwareAllowedByEnv();
  const candidates = (await findAdapters(software)).filter((c) => software || !c.description.software);
  // a hardware adapter beats a software one whatever the order they were found in
  candidates.sort((a, b) => Number(a.description.software) - Number(b.description.software));
  const chosen = candidates[0];
  if (chosen === undefined) return null;
  const limits = requiredLimits(chosen.adapter);
  if (limits.maxComputeInvocationsPerWorkgroup < 256 || limits.maxStorageBuffersPerShaderStage < 8) {
    throw new Error(`webgpu: adapter ${describeAdapter(chosen.description)} lacks the limits the kernels need (256 invocations per workgroup, 8 storage buffers per stage)`);
  }
  const device = await chosen.adapter.requestDevice({ requiredLimits: limits });
  let destroyed = false;
  return {
    device,
    adapter: chosen.description,
    destroy() {
      if (destroyed) return;
      destroyed = true;
      device.destroy();
    },
  };
}
