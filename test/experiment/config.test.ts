import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UserError } from '../../src/errors.js';
import { applyOverrides, parseSetOption } from '../../src/experiment/overrides.js';
import { PRESETS, QUICK_ITERATIONS, QUICK_MAX_LEVELS, findPreset, quickScale } from '../../src/experiment/presets.js';
import { buildConfig, loadConfigSource, resolveRun } from '../../src/experiment/resolve.js';
import { canonicalJson, runId } from '../../src/experiment/run-id.js';
import { configFields, configKeys, parseExperimentConfig, toLotteryConfig, type ExperimentConfig } from '../../src/experiment/schema.js';
import { planSweep } from '../../src/experiment/sweep.js';
import { presetsMarkdown } from '../../src/cli/commands/presets.js';
import { packageRoot } from '../../src/paths.js';

function userError(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof UserError, `expected a UserError, got ${String(err)}`);
    return err.message;
  }
  assert.fail('expected an error');
}

test('an empty config gets every default, and parsing is idempotent', () => {
  const c = parseExperimentConfig({}, 'x');
  assert.equal(c.model, 'lenet-300-100');
  assert.equal(c.data.dataset, 'mnist');
  assert.equal(c.training.lr, 0.0012);
  assert.equal(c.pruning.pFc, 0.2);
  assert.equal(c.pruning.bound, null);
  assert.deepEqual(c.evaluation.noiseSigmas, [0.1, 0.2, 0.3, 0.4, 0.5]);
  assert.deepEqual(parseExperimentConfig(structuredClone(c), 'again'), c);
  const lottery = toLotteryConfig(c);
  assert.equal('quick' in lottery, false);
  assert.equal(lottery.training.iterations, 20000);
});

test('every field of the schema has a default and a description', () => {
  const fields = configFields().flatMap((g) => g.fields);
  assert.ok(fields.length >= 30);
  for (const f of fields) {
    assert.notEqual(f.description, '', `${f.key} has no description`);
    assert.notEqual(f.default, '', `${f.key} has no default`);
    assert.notEqual(f.allowed, 'any value', `${f.key}: allowed values unknown`);
  }
  assert.ok(configKeys().includes('pruning.bound.maxTries'));
});

test('pruning.bound: true switches Algorithm 1 on with its defaults, false off', () => {
  assert.deepEqual(parseExperimentConfig({ pruning: { bound: true } }, 'x').pruning.bound, { criterion: 'combined', maxTries: 4, schedule: 'text', scoreScale: 'none' });
  assert.equal(parseExperimentConfig({ pruning: { bound: false } }, 'x').pruning.bound, null);
  const c = buildConfig({}, [parseSetOption('pruning.bound.criterion=UE')], false, 'x');
  assert.equal(c.pruning.bound?.criterion, 'UE');
});

test('bad configs: one UserError naming the field and what is allowed', () => {
  let m = userError(() => parseExperimentConfig({ training: { lrr: 0.1 } }, 'exp.yaml'));
  assert.match(m, /^exp\.yaml: unknown key "training\.lrr" \(did you mean training\.lr\?\)/);
  assert.match(m, /allowed here: optimizer, lr,/);
  m = userError(() => parseExperimentConfig({ training: { batchSize: 'sixty' } }, 'exp.yaml'));
  assert.match(m, /training\.batchSize: got "sixty"; allowed: integer > 0/);
  m = userError(() => parseExperimentConfig({ pruning: { pFc: 1.2 } }, 'exp.yaml'));
  assert.match(m, /pruning\.pFc: got 1\.2; allowed: number > 0 and < 1/);
  m = userError(() => parseExperimentConfig({ pruning: { pOut: 0 } }, 'exp.yaml'));
  assert.match(m, /pruning\.pOut: got 0; allowed: number > 0 and < 1/);
  m = userError(() => parseExperimentConfig({ pruning: { maxLevels: -3 } }, 'exp.yaml'));
  assert.match(m, /pruning\.maxLevels: got -3; allowed: integer >= 0/);
  m = userError(() => parseExperimentConfig({ model: 'conv4', data: { dataset: 'mnist' } }, 'exp.yaml'));
  assert.match(m, /data\.dataset: model conv4 does not run on mnist; allowed: cifar10/);
  m = userError(() => parseExperimentConfig({ model: 'resnet' }, 'exp.yaml'));
  assert.match(m, /model: got "resnet"; allowed: one of lenet-300-100, conv2, conv4, conv6, vgg19/);
  m = userError(() => parseExperimentConfig({ data: { dataset: 'imagenet' } }, 'exp.yaml'));
  assert.match(m, /data\.dataset: unknown dataset; allowed: mnist, fashion-mnist, cifar10/);
  m = userError(() => parseExperimentConfig({ pruning: { rewindIteration: 500 }, training: { iterations: 100 } }, 'exp.yaml'));
  assert.match(m, /pruning\.rewindIteration: must be at most training\.iterations \(100\)/);
  // the end of level 0's training is a rewind point the pruning loop supports (test/prune/lottery.test.ts)
  assert.equal(parseExperimentConfig({ pruning: { rewindIteration: 100 }, training: { iterations: 100 } }, 'exp.yaml').pruning.rewindIteration, 100);
  m = userError(() => parseExperimentConfig({ seeds: [0, 1] }, 'exp.yaml'));
  assert.match(m, /a run has one seed; list seeds in a sweep/);
  m = userError(() => parseExperimentConfig({ evaluation: { noiseSigmas: [0.1, 'x'] } }, 'exp.yaml'));
  assert.match(m, /evaluation\.noiseSigmas\[1\]: got "x"; allowed: list of numbers > 0/);
  // Several problems: all of them, one per line.
  m = userError(() => parseExperimentConfig({ training: { lr: -1 }, seed: 1.5 }, 'exp.yaml'));
  assert.match(m, /2 problems:\n/);
});

test('--set values are YAML scalars and collections, applied by key path', () => {
  assert.deepEqual(parseSetOption('training.lr=0.001'), { key: 'training.lr', value: 0.001 });
  assert.deepEqual(parseSetOption('pruning.targetAlpha=null'), { key: 'pruning.targetAlpha', value: null });
  assert.deepEqual(parseSetOption('data.augment=true'), { key: 'data.augment', value: true });
  assert.deepEqual(parseSetOption('evaluation.noiseSigmas=[0.1, 0.3]'), { key: 'evaluation.noiseSigmas', value: [0.1, 0.3] });
  assert.deepEqual(parseSetOption('data.dataset=folder:/x/y'), { key: 'data.dataset', value: 'folder:/x/y' });
  assert.match(userError(() => parseSetOption('training.lr')), /expected key\.path=value/);
  assert.match(userError(() => parseSetOption('training..lr=1')), /not a key path/);
  const base = { training: { lr: 1 } };
  const out = applyOverrides(base, [{ key: 'training.lr', value: 2 }, { key: 'pruning.bound.maxTries', value: 3 }]);
  assert.deepEqual(out, { training: { lr: 2 }, pruning: { bound: { maxTries: 3 } } });
  assert.equal(base.training.lr, 1, 'the input is not changed');
  assert.match(userError(() => applyOverrides(base, [{ key: 'training.lr.x', value: 1 }])), /training\.lr is a value/);
  // An unknown key given with --set is caught by the schema, naming it.
  assert.match(userError(() => buildConfig({}, [parseSetOption('training.lrate=1')], false, 'preset x')), /unknown key "training\.lrate"/);
});

test('config files in YAML and JSON, optionally starting from a preset', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rlth-config-'));
  const yamlFile = join(dir, 'exp.yaml');
  writeFileSync(yamlFile, 'preset: lenet-mnist\ntraining:\n  iterations: 500\npruning:\n  maxLevels: 3\n');
  const jsonFile = join(dir, 'exp.json');
  writeFileSync(jsonFile, JSON.stringify({ model: 'conv2', data: { dataset: 'cifar10' }, training: { lr: 0.01 } }));
  const a = resolveRun(yamlFile, [], false);
  assert.equal(a.config.training.iterations, 500);
  assert.equal(a.config.training.lr, 0.0012, 'from the preset');
  assert.equal(a.config.pruning.maxLevels, 3);
  assert.equal(a.preset, 'lenet-mnist');
  const b = resolveRun(jsonFile, [parseSetOption('training.lr=0.02')], false);
  assert.equal(b.config.model, 'conv2');
  assert.equal(b.config.training.lr, 0.02, '--set wins over the file');
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, 'training: [1, 2\n');
  assert.match(userError(() => loadConfigSource(bad)), /bad\.yaml: not valid YAML/);
  writeFileSync(bad, 'training:\n  lr: -2\n');
  assert.match(userError(() => resolveRun(bad, [], false)), /bad\.yaml: training\.lr: got -2/);
  writeFileSync(bad, 'preset: lenet-mnst\n');
  assert.match(userError(() => loadConfigSource(bad)), /preset: unknown preset "lenet-mnst"; allowed: lenet-mnist/);
  writeFileSync(bad, 'grid:\n  seed: [1, 2]\n');
  assert.match(userError(() => loadConfigSource(bad)), /belongs in a sweep file/);
  assert.match(userError(() => resolveRun('no-such-preset', [], false)), /"no-such-preset" is neither a preset nor a file; presets: lenet-mnist/);
  assert.match(userError(() => resolveRun('table2-lenet-mnist', [], false)), /is a sweep of 12 runs: use ramanujan sweep/);
});

test('run ids: the same resolved config gives the same id, any change another', () => {
  const a = parseExperimentConfig({ training: { lr: 0.001 }, seed: 1 }, 'a');
  const b = parseExperimentConfig({ seed: 1, training: { lr: 0.001, optimizer: 'adam' } }, 'b');
  assert.equal(canonicalJson(a), canonicalJson(b));
  assert.equal(runId(a), runId(b));
  assert.match(runId(a), /^[0-9a-f]{16}$/);
  assert.notEqual(runId(a), runId({ ...a, seed: 2 }));
  assert.notEqual(runId(a), runId(quickScale(a)));
});

test('presets follow the paper protocol (Table 3, NOTES section 7)', () => {
  for (const p of PRESETS) {
    const c = parseExperimentConfig(p.config, p.name);
    assert.ok(p.description.length > 20 && !p.description.includes('\n'), p.name);
    assert.ok(p.seeds.length >= 1, p.name);
    assert.match(p.reproduces, /^(Fig\. \d+(, \d+)*|Table 2(, 4)?)$/, p.name);
    if (p.name.includes('cifar10')) assert.equal(c.data.dataset, 'cifar10');
    // NOTES section 7: Lenet and the Conv nets rewind to 0, VGG19 late (1-2% of training)
    if (c.model === 'vgg19') assert.ok(c.pruning.rewindIteration >= 0.01 * c.training.iterations && c.pruning.rewindIteration <= 0.02 * c.training.iterations, p.name);
    else assert.equal(c.pruning.rewindIteration, 0, p.name);
    // the appendix and figure presets keep the network-wide target
    if (!p.name.startsWith('table2-')) assert.equal(c.pruning.targetScope, 'network', p.name);
  }
  const lenet = parseExperimentConfig(findPreset('lenet-mnist')!.config, 'x');
  assert.deepEqual(
    [lenet.model, lenet.training.optimizer, lenet.training.lr, lenet.training.batchSize, lenet.training.iterations, lenet.pruning.scope, lenet.pruning.pFc, lenet.pruning.pOut, lenet.pruning.maxLevels],
    ['lenet-300-100', 'adam', 0.0012, 60, 20000, 'layerwise', 0.2, 0.1, 50],
  );
  assert.deepEqual(findPreset('lenet-mnist')!.seeds, [0, 1, 2, 3, 4]);
  const global = parseExperimentConfig(findPreset('lenet-mnist-global')!.config, 'x');
  assert.deepEqual([global.pruning.scope, global.pruning.pGlobal], ['global', 0.2]);
  const conv4 = parseExperimentConfig(findPreset('conv4-cifar10')!.config, 'x');
  assert.deepEqual(
    [conv4.training.optimizer, conv4.training.lr, conv4.training.batchSize, conv4.training.iterations, conv4.pruning.pConv, conv4.pruning.pFc, conv4.pruning.pOut],
    ['adam', 0.0003, 60, 25000, 0.1, 0.2, 0.1],
  );
  assert.deepEqual(conv4.evaluation.excludeFromAnalysis, ['features.0.weight', 'classifier.4.weight']);
  for (const name of ['conv2-cifar10', 'conv6-cifar10']) {
    const c = parseExperimentConfig(findPreset(name)!.config, name);
    assert.deepEqual([c.pruning.pConv, c.pruning.pFc, c.pruning.pOut], [0.1, 0.2, 0.1], name);
  }
  const vgg = parseExperimentConfig(findPreset('vgg19-cifar10')!.config, 'x');
  assert.deepEqual([vgg.model, vgg.pruning.scope, vgg.pruning.pGlobal, vgg.training.lr], ['vgg19', 'global', 0.2, 0.01]);
  // appendix presets: Fig. 8 (Lenet p 0.2 everywhere), Fig. 12 (Conv2 global), Fig. 14 / 16 (p_out 0.2)
  const p02 = parseExperimentConfig(findPreset('lenet-mnist-p02')!.config, 'x');
  assert.deepEqual([p02.pruning.scope, p02.pruning.pFc, p02.pruning.pOut], ['layerwise', 0.2, 0.2]);
  const conv2g = parseExperimentConfig(findPreset('conv2-cifar10-global')!.config, 'x');
  assert.deepEqual([conv2g.model, conv2g.pruning.scope, conv2g.pruning.pGlobal], ['conv2', 'global', 0.2]);
  for (const [name, model] of [['conv4-cifar10-pout02', 'conv4'], ['conv6-cifar10-pout02', 'conv6']] as const) {
    const c = parseExperimentConfig(findPreset(name)!.config, name);
    assert.deepEqual([c.model, c.pruning.pConv, c.pruning.pFc, c.pruning.pOut], [model, 0.1, 0.2, 0.2], name);
  }
  // Fig. 4 / 6 keep p_fc 0.2, p_out 0.1 (checked above for lenet-mnist and conv4-cifar10)
  assert.deepEqual(findPreset('lenet-mnist')!.reproduces, 'Fig. 4, 6');
});

test('Table 2 sweeps: IMP, SNIP, SynFlow at two alphas and with the bound (paper rule and mean1), per layer', () => {
  const cell = (r: { config: ExperimentConfig }) =>
    `${r.config.pruning.algorithm}/${r.config.pruning.targetAlpha}/${r.config.pruning.bound ? `bound-${r.config.pruning.bound.scoreScale}` : '-'}`;
  const lenet = planSweep('table2-lenet-mnist');
  assert.equal(lenet.runs.length, 12);
  assert.deepEqual(lenet.runs.map(cell).sort(), ['imp', 'snip', 'synflow'].flatMap((a) => [`${a}/1.5/-`, `${a}/2/-`, `${a}/2/bound-mean1`, `${a}/2/bound-none`]));
  assert.ok(lenet.runs.every((r) => r.config.pruning.scope === 'layerwise' && r.config.pruning.targetScope === 'layer' && r.config.pruning.maxLevels === 60));
  // Lenet: the same fraction on every layer
  assert.ok(lenet.runs.every((r) => r.config.pruning.pFc === 0.2 && r.config.pruning.pOut === 0.2 && r.config.pruning.rewindIteration === 0));
  assert.ok(lenet.runs.every((r) => r.config.pruning.bound === null || r.config.pruning.bound.criterion === 'combined'));
  const labels = lenet.runs.map((r) => r.label);
  assert.ok(labels.some((l) => / bound algorithm=imp/.test(l)) && labels.some((l) => / bound-mean1 algorithm=imp/.test(l)), labels.join('; '));
  const conv4 = planSweep('table2-conv4-cifar10');
  assert.equal(conv4.runs.length, 12);
  assert.deepEqual(conv4.runs.map(cell).sort(), ['imp', 'snip', 'synflow'].flatMap((a) => [`${a}/1/-`, `${a}/2/-`, `${a}/2/bound-mean1`, `${a}/2/bound-none`]));
  assert.ok(conv4.runs.every((r) => r.config.pruning.targetScope === 'layer' && r.config.pruning.pConv === 0.1 && r.config.pruning.pFc === 0.2 && r.config.pruning.pOut === 0.1));
  assert.equal(new Set(conv4.runs.map((r) => r.id)).size, 12, 'distinct runs');
});

test("pruning.targetScope 'layer' is refused with global scope or without a target alpha", () => {
  assert.match(userError(() => parseExperimentConfig({ pruning: { scope: 'global', targetAlpha: 2, targetScope: 'layer' } }, 'c.yaml')), /c\.yaml: pruning\.targetScope: 'layer' .*needs pruning\.scope 'layerwise'/);
  assert.match(userError(() => parseExperimentConfig({ pruning: { targetScope: 'layer' } }, 'c.yaml')), /pruning\.targetScope: 'layer' needs pruning\.targetAlpha/);
  const c = parseExperimentConfig({}, 'x');
  assert.deepEqual([c.pruning.targetScope, c.evaluation.noiseScale], ['network', 'std']);
  assert.equal(parseExperimentConfig({ pruning: { bound: true } }, 'x').pruning.bound!.scoreScale, 'none');
});

test('--quick scales iterations and levels down, marks the config, and --set still wins', () => {
  const full = resolveRun('conv4-cifar10', [], false).config;
  const quick = resolveRun('conv4-cifar10', [], true).config;
  assert.equal(quick.quick, true);
  assert.equal(quick.training.iterations, QUICK_ITERATIONS.conv4);
  assert.equal(quick.pruning.maxLevels, Math.min(full.pruning.maxLevels, QUICK_MAX_LEVELS));
  assert.ok(quick.data.testSubset !== null && quick.data.testSubset <= 2000);
  assert.notEqual(runId(full), runId(quick));
  const set = resolveRun('conv4-cifar10', [parseSetOption('training.iterations=50')], true).config;
  assert.equal(set.training.iterations, 50);
  assert.equal(set.quick, true);
  const stepped = quickScale(parseExperimentConfig({ training: { iterations: 20000, schedule: 'step', milestones: [10000, 15000] }, pruning: { rewindIteration: 2000 } }, 'x'));
  assert.deepEqual(stepped.training.milestones, [500, 750]);
  assert.equal(stepped.pruning.rewindIteration, 100);
});

test('sweep files: grid x variants x seeds, relative base file, duplicates dropped', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rlth-sweep-'));
  writeFileSync(join(dir, 'base.yaml'), 'training:\n  iterations: 100\npruning:\n  maxLevels: 2\n');
  const file = join(dir, 'sweep.yaml');
  writeFileSync(
    file,
    [
      'base: base.yaml',
      'set: { training.lr: 0.01 }',
      'grid:',
      '  pruning.algorithm: [imp, synflow]',
      'variants:',
      '  - { label: a2, set: { pruning.targetAlpha: 2 } }',
      '  - { label: bound, set: { pruning.bound: true } }',
      'seeds: [0, 1, 2]',
    ].join('\n'),
  );
  const plan = planSweep(file);
  assert.equal(plan.runs.length, 12);
  assert.ok(plan.runs.every((r) => r.config.training.lr === 0.01 && r.config.training.iterations === 100));
  assert.equal(plan.runs[0].label, 'base a2 algorithm=imp seed=0');
  const same = planSweep(file, { overrides: [parseSetOption('pruning.algorithm=imp')] });
  assert.equal(same.runs.length, 6, 'a --set over a grid key makes combinations equal');
  assert.equal(same.duplicates.length, 6);
  assert.equal(planSweep(file, { seeds: [7] }).runs.length, 4);
  writeFileSync(file, 'grid:\n  pruning.pFc: [0.5, 1.5]\n');
  assert.match(userError(() => planSweep(file)), /pruning\.pFc: got 1\.5; allowed: number > 0 and < 1/);
  writeFileSync(file, 'grids: {}\n');
  assert.match(userError(() => planSweep(file)), /unknown key "grids"; a sweep file has base, set, grid, variants, seeds/);
});

test('docs/experiments.md carries the generated presets and config reference', async () => {
  const doc = readFileSync(join(packageRoot(), 'docs', 'experiments.md'), 'utf8');
  const start = '<!-- generated by `ramanujan presets --markdown`: start -->\n';
  const end = '<!-- generated: end -->';
  assert.ok(doc.includes(start) && doc.includes(end), 'markers present');
  const generated = doc.slice(doc.indexOf(start) + start.length, doc.indexOf(end));
  assert.equal(generated, await presetsMarkdown(), 'regenerate with: ramanujan presets --markdown');
});

test('layer names in the exclude lists are checked against the model before anything runs', () => {
  const m = userError(() => resolveRun('conv4-cifar10', [parseSetOption('evaluation.excludeFromAnalysis=[features.1.weight]')], false));
  assert.match(m, /evaluation\.excludeFromAnalysis: "features\.1\.weight" is not a prunable weight of conv4; allowed: features\.0\.weight, features\.2\.weight, features\.5\.weight, features\.7\.weight, classifier\.0\.weight, classifier\.2\.weight, classifier\.4\.weight/);
  assert.match(userError(() => resolveRun('lenet-mnist', [parseSetOption('pruning.excludeFromPruning=[fc4.weight]')], false)), /pruning\.excludeFromPruning: "fc4\.weight" is not a prunable weight of lenet-300-100/);
  // The presets' own names are right (conv4: first and last layer).
  assert.deepEqual(resolveRun('conv4-cifar10', [], false).config.evaluation.excludeFromAnalysis, ['features.0.weight', 'classifier.4.weight']);
  assert.equal(resolveRun('lenet-mnist', [parseSetOption('pruning.excludeFromPruning=[fc3.weight]')], false).config.pruning.excludeFromPruning[0], 'fc3.weight');
});

test('training.epochs sets the iterations from the dataset size; --quick replaces it', () => {
  const c = parseExperimentConfig({ training: { epochs: 2, batchSize: 60 } }, 'x');
  assert.equal(c.training.iterations, 2000, '2 x 60000 / 60');
  assert.equal(parseExperimentConfig({ training: { epochs: 1, batchSize: 64 }, data: { trainSubset: 1000 } }, 'x').training.iterations, 16);
  assert.equal(parseExperimentConfig({ model: 'conv4', data: { dataset: 'cifar10' }, training: { epochs: 0.5, batchSize: 50 } }, 'x').training.iterations, 500);
  assert.deepEqual(parseExperimentConfig(structuredClone(c), 'again'), c);
  assert.equal('epochs' in toLotteryConfig(c).training, false);
  assert.match(userError(() => parseExperimentConfig({ data: { dataset: 'folder:/x' }, training: { epochs: 1 } }, 'x')), /training\.epochs: the size of folder:\/x is not known before it is loaded/);
  const quick = buildConfig({ training: { epochs: 10 } }, [], true, 'x');
  assert.deepEqual([quick.training.iterations, quick.training.epochs], [QUICK_ITERATIONS['lenet-300-100'], null]);
});
