// Compiles the AssemblyScript kernels in assembly/ to WebAssembly (128-bit SIMD, shared memory
// for worker threads) as dist/wasm/engine.wasm. Flags as measured in ENGINE-NOTES.md: the host
// owns the memory (imported, shared), the stub runtime has no allocator of its own.
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const asc = join(dirname(require.resolve('assemblyscript/package.json')), 'bin', 'asc.js');
mkdirSync(join(root, 'dist', 'wasm'), { recursive: true });

execFileSync(process.execPath, [
  asc, join(root, 'assembly', 'index.ts'),
  '--outFile', join(root, 'dist', 'wasm', 'engine.wasm'),
  '--optimizeLevel', '3', '--shrinkLevel', '0', '--noAssert',
  '--runtime', 'stub',
  '--enable', 'simd', '--enable', 'threads',
  '--importMemory', '--sharedMemory', '--initialMemory', '1', '--maximumMemory', '65536',
], { stdio: 'inherit', cwd: root });

// The Lanczos products of src/graph/ (assembly/spectral.ts) as dist/wasm/spectral.wasm: a separate
// small module with its own growable memory (no threads; the host lays out the memory above
// heapBase(), so the stub runtime's allocator is never used).
execFileSync(process.execPath, [
  asc, join(root, 'assembly', 'spectral.ts'),
  '--outFile', join(root, 'dist', 'wasm', 'spectral.wasm'),
  '--optimizeLevel', '3', '--shrinkLevel', '0', '--noAssert',
  '--runtime', 'stub',
  '--enable', 'simd',
  '--initialMemory', '1', '--maximumMemory', '65536',
], { stdio: 'inherit', cwd: root });
