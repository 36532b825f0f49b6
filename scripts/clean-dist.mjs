// Removes the compiled TypeScript (dist/src, dist/test, dist/bench) before tsc runs, so that a
// renamed or deleted source file leaves no stale .js behind (a stale test would still run).
// dist/wasm, built by build-wasm.mjs, is kept.
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const dist = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist');
for (const sub of ['src', 'test', 'bench']) rmSync(join(dist, sub), { recursive: true, force: true });
