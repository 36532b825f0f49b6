/**
 * Opening the webgpu backend for tests, with one policy for machines without an adapter.
 *
 * The tests ask for the software adapter explicitly (`allowSoftware`): a hardware GPU is taken
 * when present, otherwise Mesa's llvmpipe through Dawn's OpenGL ES backend (Debian packages
 * libegl1 libegl-mesa0 libgles2 libgl1-mesa-dri, installed by .ci/run).
 *
 * Policy when no adapter can be had (Dawn not installed, or the EGL/Mesa packages missing):
 * - where a WebGPU adapter is required (CI=true, or RAMANUJAN_WEBGPU_REQUIRED=1, which .ci/run
 *   sets) every webgpu test file registers one test that FAILS with the reason;
 * - elsewhere it registers one SKIPPED test whose name says "webgpu: NOT RUN" and why, so the
 *   absence shows in the test output instead of passing silently.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { createWebGpuKernels, webgpuLoadError, type WebGpuKernels } from '../../src/engine/webgpu/index.js';

export function webgpuRequired(): boolean {
  const ci = process.env.CI;
  const required = process.env.RAMANUJAN_WEBGPU_REQUIRED;
  return (ci !== undefined && ci !== '' && ci !== 'false' && ci !== '0') || required === '1';
}

/**
 * The webgpu kernels for a test file, or null after registering the "not run" (or failing) test
 * that says why. Close the kernels in an `after` hook.
 */
export async function webgpuForTests(): Promise<WebGpuKernels | null> {
  let reason: string;
  try {
    const k = await createWebGpuKernels({ allowSoftware: true });
    if (k !== null) return k;
    const load = webgpuLoadError();
    reason = load !== '' ? `the webgpu package did not load: ${load}` : 'no WebGPU adapter found (for llvmpipe: apt-get install libegl1 libegl-mesa0 libgles2 libgl1-mesa-dri)';
  } catch (e) {
    reason = `opening the WebGPU device failed: ${e instanceof Error ? e.message : String(e)}`;
  }
  if (webgpuRequired()) {
    it(`webgpu: adapter required here (CI / RAMANUJAN_WEBGPU_REQUIRED=1) but ${reason}`, () => {
      assert.fail(reason);
    });
  } else {
    it(`webgpu: NOT RUN here: ${reason}`, { skip: 'no WebGPU adapter; set RAMANUJAN_WEBGPU_REQUIRED=1 to make this a failure' }, () => {});
  }
  return null;
}

/** `length` uniform values in [-1, 1) from a seeded generator. */
export function randomFloats(length: number, rand: () => number): Float32Array {
  const a = new Float32Array(length);
  for (let i = 0; i < length; i++) a[i] = 2 * rand() - 1;
  return a;
}

/** A 0/1 mask with about `density` ones. */
export function randomMaskArray(length: number, density: number, rand: () => number): Float32Array {
  const a = new Float32Array(length);
  for (let i = 0; i < length; i++) a[i] = rand() < density ? 1 : 0;
  return a;
}
