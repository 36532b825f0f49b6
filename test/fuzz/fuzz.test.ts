// A short, seeded run of the fuzzer (engine.ts) over every kind of input: each mutated file gives
// exit 0 or one line naming the file, within the memory and time bounds. `npm run fuzz` runs
// longer campaigns.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KINDS, runFuzz } from './engine.js';

test('fuzz: 18 seeded mutated inputs (2 of each kind) run clean through the real CLI', async () => {
  const results = await runFuzz({ seed: 20261130, cases: 2 * KINDS.length, concurrency: 2, caseSeconds: 90 });
  assert.equal(results.length, 2 * KINDS.length);
  const failed = results.filter((r) => r.problems.length > 0);
  assert.deepEqual(
    failed.map((r) => `case ${r.index} [${r.kind}] ${r.mutation}: ${r.problems.join('; ')} (exit ${r.exitCode ?? r.signal}: ${r.stderr.trim().slice(0, 300)})`),
    [],
  );
  // the campaign exercised both outcomes: some inputs were refused, some accepted
  assert.ok(results.some((r) => r.exitCode === 0));
  assert.ok(results.some((r) => r.exitCode !== 0));
});

test('fuzz: the same seed gives the same inputs and outcomes', async () => {
  const a = await runFuzz({ seed: 7, cases: 2, kinds: ['safetensors', 'idx'], concurrency: 2 });
  const b = await runFuzz({ seed: 7, cases: 2, kinds: ['safetensors', 'idx'], concurrency: 2 });
  assert.deepEqual(a.map((r) => [r.mutation, r.exitCode, r.stderr.replace(/rlth-fuzz-\w+/g, '')]), b.map((r) => [r.mutation, r.exitCode, r.stderr.replace(/rlth-fuzz-\w+/g, '')]));
});
