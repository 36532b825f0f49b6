/**
 * `ramanujan data info <dataset> [--data-dir DIR] [--cache-dir DIR] [--json]`: loads a dataset
 * and prints where it was found, its sizes, classes, image shape and normalisation constants.
 */
import type { Command } from 'commander';
import type { DatasetInfo } from '../../data/index.js';
import { terminalSafe } from '../../terminal.js';

export interface DataInfoOptions {
  dataDir?: string;
  cacheDir?: string;
  json?: boolean;
}

function formatInfo(info: DatasetInfo): string {
  const fixed = (xs: number[]) => xs.map((v) => v.toFixed(4)).join(', ');
  const rows: Array<[string, string]> = [
    ['name', info.name],
    ['source', info.source],
    ['train', info.train.toLocaleString('en-US')],
    ['test', info.test.toLocaleString('en-US')],
    ['classes', `${info.classes.length}: ${info.classes.join(', ')}`],
    ['shape', info.shape.join('x') + ' (channels x height x width)'],
    ['mean', fixed(info.mean)],
    ['std', fixed(info.std)],
  ];
  // Class names and the source come from folder and file names: no control characters.
  return rows.map(([k, v]) => `${k.padEnd(8)} ${terminalSafe(v)}`).join('\n') + '\n';
}

/** The command's work, callable without spawning a process; returns what it prints. */
export async function dataInfo(dataset: string, opts: DataInfoOptions, progress?: (line: string) => void): Promise<string> {
  const { datasetInfo, loadDataset } = await import('../../data/index.js');
  const ds = await loadDataset(dataset, {
    dataDir: opts.dataDir ?? null,
    cacheDir: opts.cacheDir,
    // a first decode of a large image folder takes a while: a line every 10,000 images
    onProgress: progress ? (p) => (p.done % 10000 === 0 || p.done === p.total) && progress(`decoding images (once, then cached): ${p.done} / ${p.total}`) : undefined,
  });
  const info = datasetInfo(ds);
  return opts.json ? JSON.stringify(info) + '\n' : formatInfo(info);
}

export function register(program: Command): void {
  const data = program.command('data').description('datasets: where they are found and what they hold');
  data
    .command('info')
    .description('print the source, sizes, classes, image shape and normalisation constants of a dataset')
    .argument('<dataset>', 'mnist | fashion-mnist | cifar10 | folder:PATH (or mnist:PATH, fashion-mnist:PATH, cifar10:PATH)')
    .option('--data-dir <dir>', 'where datasets live (default: $RAMANUJAN_DATA_DIR, else ./data)')
    .option('--cache-dir <dir>', 'where decoded image folders are cached (default: $RAMANUJAN_CACHE_DIR, else ./ramanujan-runs/cache)')
    .option('--json', 'print one JSON object: name, source, train, test, classes, shape, mean, std')
    .action(async (dataset: string, opts: DataInfoOptions) => {
      const out = await dataInfo(dataset, opts, (line) => process.stderr.write(line + '\n'));
      process.stdout.write(out);
    });
}
