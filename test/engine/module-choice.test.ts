/**
 * Which engine module is loaded: engine-relaxed.wasm (relaxed_madd) where the runtime validates
 * it, else engine.wasm. The other engine tests run on the module this runtime picks; here the
 * fallback is forced (RAMANUJAN_WASM_RELAXED=0) and the kernel tests run again on it in a child
 * process, so both modules are tested on a runtime that has relaxed SIMD.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { wasmPath } from '../../src/engine/wasm.js';
import { packageRoot } from '../../src/paths.js';

const wasmDir = join(packageRoot(), 'dist', 'wasm');
const validate = (globalThis as unknown as { WebAssembly: { validate(b: Uint8Array): boolean } }).WebAssembly.validate;
const relaxedValid = validate(readFileSync(join(wasmDir, 'engine-relaxed.wasm')));

test(`the relaxed-SIMD module is picked exactly when the runtime validates it (here, Node ${process.version}: ${relaxedValid ? 'yes' : 'no'}); RAMANUJAN_WASM_RELAXED=0 forces engine.wasm`, () => {
  assert.equal(validate(readFileSync(join(wasmDir, 'engine.wasm'))), true);
  const saved = process.env.RAMANUJAN_WASM_RELAXED;
  try {
    delete process.env.RAMANUJAN_WASM_RELAXED;
    assert.equal(basename(wasmPath()), relaxedValid ? 'engine-relaxed.wasm' : 'engine.wasm');
    process.env.RAMANUJAN_WASM_RELAXED = '0';
    assert.equal(basename(wasmPath()), 'engine.wasm');
  } finally {
    if (saved === undefined) delete process.env.RAMANUJAN_WASM_RELAXED;
    else process.env.RAMANUJAN_WASM_RELAXED = saved;
  }
});

test(
  'the kernel tests (wasm-vs-reference) pass on the fallback module too (only where the relaxed module is the default)',
  { skip: relaxedValid ? false : `Node ${process.version} has no relaxed SIMD: the suite already runs on engine.wasm` },
  () => {
    const file = join(fileURLToPath(new URL('.', import.meta.url)), 'wasm-vs-reference.test.js');
    const r = spawnSync(process.execPath, ['--test', '--test-reporter=tap', file], {
      env: { ...process.env, RAMANUJAN_WASM_RELAXED: '0' },
      encoding: 'utf8',
      maxBuffer: 1 << 26,
    });
    assert.equal(r.status, 0, `${r.stdout.slice(-4000)}\n${r.stderr.slice(-2000)}`);
    assert.match(r.stdout, /^# pass [1-9]\d*$/m);
    assert.match(r.stdout, /^# fail 0$/m);
  },
);
