/**
 * `ramanujan export <run-id> --level N --out FILE.safetensors`: the ticket of one level, named and
 * laid out as in PyTorch: every parameter and buffer under its PyTorch name (`fc1.weight`,
 * `features.0.bias`, ...) and each prunable weight's mask as `<weight>_mask` (`fc1.weight_mask`).
 * The weights are the trained ones by default, or (`--weights rewind`) the rewound ones with the
 * mask applied: the lottery ticket to retrain.
 *
 * In PyTorch: `t = safetensors.torch.load_file(FILE)`, then
 * `model.load_state_dict({k: v for k, v in t.items() if not k.endswith('_mask')})`.
 *
 * The output is checked before anything is read (src/io/atomic.ts checkOutputFile): a name ending
 * in .safetensors, not inside the workspace (its store and checkpoints), not a folder, device or
 * link, and not an existing file unless --force. The file is written under a temporary name in its
 * folder and moved into place, so a failed export leaves nothing behind.
 */
import type { Command } from 'commander';
import { Option } from 'commander';
import { existsSync } from 'node:fs';
import { extname, join } from 'node:path';
import { UserError, fileError } from '../../errors.js';
import { checkOutputFile, publishFile } from '../../io/atomic.js';
import { terminalSafe } from '../../terminal.js';
import { workspaceOption } from './run.js';

export interface ExportResult {
  path: string;
  tensors: number;
  masks: number;
}

/** Writes the export file of one level of a run (the library side of the command). */
export async function exportLevel(opts: { workspace: string; run: string; level: number; out: string; weights: 'trained' | 'rewind'; force?: boolean }): Promise<ExportResult> {
  checkOutputFile(opts.out, { force: opts.force, protect: [{ folder: opts.workspace, what: 'workspace' }] });
  if (extname(opts.out).toLowerCase() !== '.safetensors') {
    throw fileError(opts.out, 'export writes safetensors only; give a file name ending in .safetensors');
  }
  const [{ readSafetensors, writeSafetensors }, { levelMasks, readLevelTensors, REWIND_FILE }, { openStore }] = await Promise.all([
    import('../../io/safetensors.js'),
    import('../../experiment/checkpoints.js'),
    import('../../experiment/store.js'),
  ]);
  const store = openStore(opts.workspace, { readonly: true });
  try {
    const id = store.resolveRunId(opts.run);
    const states = store.levelStates(id);
    const state = states.find((s) => s.level === opts.level);
    if (!state) {
      const have = states.length ? `levels 0-${states[states.length - 1].level}` : 'no levels yet';
      throw new UserError(`run ${id}: no level ${opts.level} (stored: ${have})`);
    }
    const level = readLevelTensors(store.workspace, state.checkpoint);
    const checkpointOf = (k: number) => {
      const s = states.find((x) => x.level === k);
      if (!s) throw new UserError(`run ${id}: level ${k} is missing from the store`);
      return s.checkpoint;
    };
    const masks = levelMasks(store.workspace, opts.level, checkpointOf);
    const out = new Map<string, { shape: number[]; data: Float32Array }>();
    // Under the mask every weight is written as +0.0: v * 0 is -0.0 for a negative v (the engine's
    // masked products leave such zeros in the trained weights too), which prints as "-0." and
    // differs bitwise from a zeroed weight.
    const underMask = (name: string, t: { shape: number[]; data: Float32Array | Float64Array }) => {
      const mask = masks.get(name);
      return { shape: t.shape, data: Float32Array.from(t.data, (v, i) => (mask && mask.data[i] === 0 ? 0 : v)) };
    };
    if (opts.weights === 'trained') {
      for (const [name, t] of level.trained) out.set(name, underMask(name, t));
    } else {
      const rewindPath = join(store.workspace, 'runs', id, REWIND_FILE);
      if (!existsSync(rewindPath)) throw new UserError(`${rewindPath}: the rewind checkpoint of this run is missing`);
      for (const [name, t] of readSafetensors(rewindPath).tensors) out.set(name, underMask(name, t));
    }
    for (const [name, m] of masks) out.set(`${name}_mask`, m);
    const record = store.levelRecords(id).find((r) => r.level === opts.level);
    const metadata = {
      format: 'pt',
      run: id,
      level: String(opts.level),
      weights: opts.weights,
      density: String(record?.density ?? ''),
      model: store.getRun(id)?.config.model ?? '',
    };
    publishFile(opts.out, (tmp) => writeSafetensors(tmp, out, metadata), { overwrite: opts.force ?? false });
    return { path: opts.out, tensors: out.size, masks: masks.size };
  } finally {
    store.close();
  }
}

export function register(program: Command): void {
  program
    .command('export')
    .description('write the masks and weights of one level as safetensors, with PyTorch names and layouts (masks as <weight>_mask)')
    .argument('<run-id>', 'a run id or a unique prefix of one (see ramanujan runs)')
    .requiredOption('--level <n>', 'the level to export (0 = dense)', (v: string) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0) throw new UserError(`--level: expected a whole number >= 0, got "${v}"`);
      return n;
    })
    .requiredOption('--out <file>', 'output .safetensors file')
    .addOption(new Option('--weights <which>', 'trained weights, or rewound weights under the mask (the ticket)').choices(['trained', 'rewind']).default('trained'))
    .option('--force', 'replace --out if it exists (never a file of the workspace)', false)
    .addOption(workspaceOption())
    .action(async (run: string, opts: { level: number; out: string; weights: 'trained' | 'rewind'; workspace: string; force: boolean }) => {
      const r = await exportLevel({ workspace: opts.workspace, run, level: opts.level, out: opts.out, weights: opts.weights, force: opts.force });
      process.stdout.write(`wrote ${terminalSafe(r.path)}: ${r.tensors} tensors (${r.masks} masks)\n`);
    });
}
