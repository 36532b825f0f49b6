/**
 * `npm run fuzz -- [--seed N] [--seconds S] [--cases N] [--case I] [--case-seconds S]
 *  [--concurrency N] [--kinds a,b] [--keep DIR] [--json]`: a fuzzing campaign of the CLI's file
 * inputs (see engine.ts for what is mutated and checked). Prints one line per case that did not
 * run clean and a summary; exits 1 when any case failed. `--case I` reruns exactly case I of a
 * seed, and `--keep DIR` keeps the inputs of failing cases.
 */
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { KINDS, MEMORY_BASE_BYTES, MEMORY_PER_INPUT_BYTE, runFuzz, type Kind } from './engine.js';

const { values } = parseArgs({
  options: {
    seed: { type: 'string', default: '1' },
    seconds: { type: 'string' },
    cases: { type: 'string' },
    case: { type: 'string' },
    'case-seconds': { type: 'string', default: '60' },
    concurrency: { type: 'string' },
    kinds: { type: 'string' },
    keep: { type: 'string' },
    json: { type: 'boolean', default: false },
  },
});

const num = (s: string | undefined, name: string): number | undefined => {
  if (s === undefined) return undefined;
  const n = Number(s);
  if (!Number.isFinite(n) || n < 0) {
    process.stderr.write(`fuzz: --${name} expects a number >= 0, got "${s}"\n`);
    process.exit(2);
  }
  return n;
};
const kinds = values.kinds?.split(',').map((k) => k.trim()) as Kind[] | undefined;
const unknown = kinds?.filter((k) => !KINDS.includes(k));
if (unknown && unknown.length > 0) {
  process.stderr.write(`fuzz: unknown kind(s) ${unknown.join(', ')}; kinds: ${KINDS.join(', ')}\n`);
  process.exit(2);
}
const seed = num(values.seed, 'seed')!;
let seconds = num(values.seconds, 'seconds');
const cases = num(values.cases, 'cases');
const only = num(values.case, 'case');
if (seconds === undefined && cases === undefined && only === undefined) seconds = 60;
const started = Date.now();
const results = await runFuzz({
  seed,
  seconds,
  cases,
  only,
  caseSeconds: num(values['case-seconds'], 'case-seconds'),
  concurrency: num(values.concurrency, 'concurrency') ?? Math.max(1, Math.min(4, availableParallelism())),
  kinds,
  keepFailures: values.keep,
  onCase: (r) => {
    if (values.json) process.stdout.write(`${JSON.stringify(r)}\n`);
    else if (r.problems.length > 0) {
      process.stdout.write(`FAIL case ${r.index} [${r.kind}] ${r.mutation} of ${r.file}: ${r.problems.join('; ')}\n  exit ${r.exitCode ?? r.signal}, stderr: ${r.stderr.trimEnd().split('\n').slice(0, 3).join(' | ')}\n  rerun: npm run fuzz -- --seed ${seed} --case ${r.index}${values.kinds ? ` --kinds ${values.kinds}` : ''}\n`);
    }
  },
});
const failed = results.filter((r) => r.problems.length > 0);
const byKind = new Map<string, { n: number; ok: number; refused: number; maxMiB: number; maxMs: number }>();
for (const r of results) {
  const k = byKind.get(r.kind) ?? { n: 0, ok: 0, refused: 0, maxMiB: 0, maxMs: 0 };
  k.n++;
  if (r.problems.length === 0) k.ok++;
  if (r.exitCode !== 0) k.refused++;
  k.maxMiB = Math.max(k.maxMiB, (r.maxRssBytes ?? 0) / 2 ** 20);
  k.maxMs = Math.max(k.maxMs, r.wallMs);
  byKind.set(r.kind, k);
}
if (!values.json) {
  process.stdout.write(`\nfuzz seed ${seed}: ${results.length} inputs in ${((Date.now() - started) / 1000).toFixed(0)} s; memory bound ${MEMORY_BASE_BYTES / 2 ** 20} MiB + ${MEMORY_PER_INPUT_BYTE} x input bytes\n`);
  process.stdout.write('kind          inputs  clean  refused  peak MiB  slowest s\n');
  for (const [kind, k] of [...byKind].sort()) {
    process.stdout.write(`${kind.padEnd(12)}  ${String(k.n).padStart(6)}  ${String(k.ok).padStart(5)}  ${String(k.refused).padStart(7)}  ${k.maxMiB.toFixed(0).padStart(8)}  ${(k.maxMs / 1000).toFixed(1).padStart(9)}\n`);
  }
  process.stdout.write(`${results.length - failed.length} passed, ${failed.length} failed\n`);
}
process.exit(failed.length > 0 ? 1 : 0);
