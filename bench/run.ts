/**
 * `npm run bench -- <suite...> [--json] [--quick]`: runs the named benchmark suites (all when
 * none is named). Suites: engine, data, spectral, prune, experiment, cli.
 * Each suite is a list of modules under bench/ that export `run(ctx)`.
 */
import { createContext, type BenchSuite } from './harness.js';

/**
 * `engine --device gpu` measures the webgpu backend instead of the CPU one; `--device auto` does
 * when a hardware GPU adapter is present (never a software one).
 */
async function engineSuites(device: string | undefined): Promise<BenchSuite[]> {
  let gpu = device === 'gpu';
  if (device === 'auto') {
    const { gpuReport } = await import('../src/engine/device.js');
    gpu = (await gpuReport()).auto === 'webgpu';
  }
  if (gpu) return [(await import('./engine-webgpu.js')).run];
  return [(await import('./engine-kernels.js')).run, (await import('./engine-training.js')).run];
}

let deviceArg: string | undefined;

const suites: Record<string, () => Promise<BenchSuite[]>> = {
  engine: () => engineSuites(deviceArg),
  data: async () => [(await import('./data.js')).run],
  spectral: async () => [(await import('./spectral.js')).run],
  prune: async () => [(await import('./prune.js')).run],
  experiment: async () => [(await import('./experiment.js')).run],
  cli: async () => [(await import('./cli.js')).run],
};

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const d = argv.indexOf('--device');
  if (d >= 0) {
    deviceArg = argv[d + 1];
    if (!['auto', 'cpu', 'gpu'].includes(deviceArg ?? '')) {
      process.stderr.write(`bench: --device takes auto, cpu or gpu, got "${deviceArg ?? ''}"\n`);
      process.exitCode = 2;
      return;
    }
    argv.splice(d, 2);
  }
  const json = argv.includes('--json');
  const quick = argv.includes('--quick');
  const names = argv.filter((a) => !a.startsWith('--') && a in suites);
  const rest = argv.filter((a) => !(a in suites) && a !== '--json' && a !== '--quick');
  const unknown = argv.filter((a) => !a.startsWith('--') && !(a in suites));
  if (unknown.length > 0 && names.length === 0) {
    process.stderr.write(`bench: unknown suite "${unknown[0]}"; suites are: ${Object.keys(suites).join(', ')}\n`);
    process.exitCode = 2;
    return;
  }
  for (const name of names.length > 0 ? names : Object.keys(suites)) {
    const ctx = createContext(name, json, quick, rest);
    for (const run of await suites[name]()) await run(ctx);
  }
}

await main();
