// Compute kernels of the engine. Every function takes byte offsets into the shared memory
// (owned by the host, see src/engine/) and sizes.

/** y[i] = max(x[i], 0) for i < n; y may equal x. */
export function reluForward(x: usize, y: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    const v = load<f32>(x + (<usize>i << 2));
    store<f32>(y + (<usize>i << 2), v > 0 ? v : 0);
  }
}
