/** `ramanujan presets [--markdown]`: the paper's experiments, one line each; --markdown prints the
 *  presets and the config reference as docs/experiments.md carries them. */
import type { Command } from 'commander';

/** Table cell text: no HTML, no column breaks. */
function cell(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\|/g, '\\|');
}

/** The generated part of docs/experiments.md: presets, --quick and the config reference. */
export async function presetsMarkdown(): Promise<string> {
  const [{ PRESETS, isSweepPreset, QUICK_ITERATIONS, QUICK_MAX_LEVELS, QUICK_TEST_SUBSET }, { configFields }] = await Promise.all([
    import('../../experiment/presets.js'),
    import('../../experiment/schema.js'),
  ]);
  const out: string[] = [];
  out.push('### Presets', '', '| preset | reproduces | kind | seeds | what |', '| --- | --- | --- | --- | --- |');
  for (const p of PRESETS) {
    const kind = isSweepPreset(p) ? `sweep (${Object.values(p.grid).reduce((n, v) => n * v.length, 1) * p.variants.length} variants)` : 'run';
    out.push(`| \`${p.name}\` | ${cell(p.reproduces)} | ${kind} | ${p.seeds.join(', ')} | ${cell(p.description)} |`);
  }
  out.push('', '### --quick', '', `Iterations per level at most: ${Object.entries(QUICK_ITERATIONS).map(([m, n]) => `${m} ${n}`).join(', ')}; at most ${QUICK_MAX_LEVELS} levels; at most ${QUICK_TEST_SUBSET} test images. The rewind iteration and lr milestones scale with the iterations; \`quick: true\` is recorded in the config (so the run id differs).`);
  out.push('', '### Config reference', '');
  for (const group of configFields()) {
    out.push(`#### ${group.group ? `\`${group.group}\`` : 'top level'}: ${group.description}`, '', '| key | allowed | default | description |', '| --- | --- | --- | --- |');
    for (const f of group.fields) out.push(`| \`${f.key}\` | ${cell(f.allowed)} | \`${f.default}\` | ${cell(f.description)} |`);
    out.push('');
  }
  return `${out.join('\n').trimEnd()}\n`;
}

export function register(program: Command): void {
  program
    .command('presets')
    .description('list the presets (every experiment of the paper), one line each')
    .option('--markdown', 'print the presets and the config reference as Markdown', false)
    .action(async (opts: { markdown: boolean }) => {
      if (opts.markdown) {
        process.stdout.write(await presetsMarkdown());
        return;
      }
      const { PRESETS } = await import('../../experiment/presets.js');
      const width = Math.max(...PRESETS.map((p) => p.name.length));
      const rwidth = Math.max(...PRESETS.map((p) => p.reproduces.length));
      for (const p of PRESETS) process.stdout.write(`${p.name.padEnd(width)}  ${p.reproduces.padEnd(rwidth)}  ${p.description}\n`);
    });
}
