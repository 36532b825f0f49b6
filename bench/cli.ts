/**
 * `npm run bench -- cli [--json] [--quick]`: the `ramanujan` command as a user meets it, each
 * figure the median wall time of 5 whole processes (3 with --quick), start-up included:
 * - node_bare_s: `node -e ""`, the floor every command stands on;
 * - version_s: `ramanujan --version` (target <= 0.2 s on an idle 2-core machine);
 * - analyze_help_s: `ramanujan analyze --help` (target <= 0.3 s);
 * - analyze_vgg19_d5_s: `ramanujan analyze MODEL --json` of a safetensors file written here with
 *   vgg19's 17 prunable layers (CIFAR shapes, bench/spectral.ts's Kaiming-normal weights) at 5%
 *   density (pruned weights are exact zeros), unweighted and weighted;
 * - scipy_svds_vgg19_d5_s: the same file through `python3 scripts/scipy_spectra.py --svds-file`
 *   (reads the tensors with NumPy, svds(k=2) of the mask and of |W| per layer, one BLAS thread), and
 *   analyze_vs_scipy_x, how many times faster `analyze` is (target >= 3). Only when python3 with
 *   SciPy is installed (Debian: python3-scipy); otherwise a line says it was left out.
 * Each figure also comes as CPU time (`<name>_cpu_s`, user + system of the process and its
 * threads), which waiting for a core does not inflate; wall times on a shared machine are, and
 * their notes give the load average.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchContext } from './harness.js';
import { writeSafetensors } from '../src/io/safetensors.js';
import { packageRoot } from '../src/paths.js';
import { syntheticLayer, VGG19_SHAPES } from './spectral.js';

/**
 * Median wall time and median CPU time (user + system, all threads) in seconds of `reps` runs of
 * a process; fails loudly if one exits non-zero. The CPU time comes from bash's `times` (the
 * children's totals) and is not inflated by waiting for a core the way wall time is on a busy
 * machine.
 */
function processSeconds(cmd: string, args: string[], reps: number, env: NodeJS.ProcessEnv = process.env): { wall: number; cpu: number } {
  const walls: number[] = [];
  const cpus: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    const r = spawnSync('bash', ['-c', '"$@" > /dev/null || exit $?; times', 'bash', cmd, ...args], { cwd: packageRoot(), env, encoding: 'utf8', maxBuffer: 1 << 26 });
    walls.push((performance.now() - t0) / 1000);
    if (r.status !== 0) throw new Error(`bench cli: ${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr.slice(0, 500)}`);
    // `times` prints the shell's own user/system times, then its children's: "0m0.123s 0m0.045s"
    const children = r.stdout.trim().split('\n').pop() ?? '';
    const secs = [...children.matchAll(/(\d+)m([\d.]+)s/g)].map((m) => 60 * Number(m[1]) + Number(m[2]));
    if (secs.length !== 2) throw new Error(`bench cli: cannot read the CPU times from "${children}"`);
    cpus.push(secs[0] + secs[1]);
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  return { wall: median(walls), cpu: median(cpus) };
}

/** vgg19's prunable layers at `density` as a PyTorch-style state dict: features.<i>.weight [out, in, 3, 3], classifier.weight [10, 512]. */
function writeVgg19(path: string, density: number): void {
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  let conv = 0;
  for (const { shape, count } of VGG19_SHAPES) {
    const { weight, mask } = syntheticLayer(shape, density, shape.reduce((a, b) => a + b, 0));
    const data = Float32Array.from(weight, (w, k) => (mask[k] === 0 ? 0 : w));
    for (let c = 0; c < count; c++) tensors.set(shape.length === 4 ? `features.${conv++}.weight` : 'classifier.weight', { shape, data });
  }
  writeSafetensors(path, tensors);
}

function hasScipy(): boolean {
  const r = spawnSync('python3', ['-c', 'import scipy.sparse.linalg, numpy'], { stdio: 'ignore' });
  return r.status === 0;
}

export async function run(ctx: BenchContext): Promise<void> {
  const reps = ctx.quick ? 3 : 5;
  const load = () => `median of ${reps}; load average ${loadavg()[0].toFixed(1)} at the start`;
  const bin = join(packageRoot(), 'bin', 'ramanujan.js');
  const node = process.execPath;

  const report = (name: string, t: { wall: number; cpu: number }, note: string) => {
    ctx.report(name, t.wall, 's', `wall; ${note}`);
    ctx.report(`${name.replace(/_s$/, '')}_cpu_s`, t.cpu, 's', 'CPU time, user + system');
  };
  let note = load();
  report('node_bare_s', processSeconds(node, ['-e', ''], reps), note);
  note = load();
  report('version_s', processSeconds(node, [bin, '--version'], reps), `target <= 0.2 idle; ${note}`);
  note = load();
  report('analyze_help_s', processSeconds(node, [bin, 'analyze', '--help'], reps), `target <= 0.3 idle; ${note}`);

  const dir = mkdtempSync(join(tmpdir(), 'rlth-bench-cli-'));
  try {
    const model = join(dir, 'vgg19-d5.safetensors');
    writeVgg19(model, 0.05);
    note = load();
    const ours = processSeconds(node, [bin, 'analyze', model, '--json'], reps);
    report('analyze_vgg19_d5_s', ours, `17 layers, unweighted + weighted, whole process; ${note}`);
    if (!hasScipy()) {
      ctx.log('cli       scipy_svds_vgg19_d5_s left out: python3 with SciPy and NumPy not found (Debian: apt-get install python3-scipy)');
      return;
    }
    note = load();
    // one BLAS thread, as `analyze` uses one thread (and idle BLAS threads would spin on CPU time)
    const oneThread = { ...process.env, OPENBLAS_NUM_THREADS: '1', OMP_NUM_THREADS: '1', MKL_NUM_THREADS: '1' };
    const scipy = processSeconds('python3', [join(packageRoot(), 'scripts', 'scipy_spectra.py'), '--svds-file', model], reps, oneThread);
    report('scipy_svds_vgg19_d5_s', scipy, `svds(k=2) of mask and |W| per layer, whole process; ${note}`);
    ctx.report('analyze_vs_scipy_x', scipy.wall / ours.wall, 'x', 'wall time; target >= 3');
    ctx.report('analyze_vs_scipy_cpu_x', scipy.cpu / ours.cpu, 'x', 'CPU time');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
