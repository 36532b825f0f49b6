import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UserError } from '../../src/errors.js';
import { tensorShape, type LotteryCheckpoint } from '../../src/experiment/checkpoints.js';
import { referenceKernels } from '../../src/engine/reference.js';
import { createModel } from '../../src/models/zoo.js';
import { exportLevel } from '../../src/cli/commands/export.js';
import { readSafetensors } from '../../src/io/safetensors.js';
import type { LevelEvent, RunStartEvent } from '../../src/experiment/events.js';
import { runId } from '../../src/experiment/run-id.js';
import { executeRun, type RunEnvironment } from '../../src/experiment/runner.js';
import { parseExperimentConfig, type ExperimentConfig } from '../../src/experiment/schema.js';
import { openStore } from '../../src/experiment/store.js';
import { recorder, standInEnvironment, standInLoop, withoutTimings } from './stand-in.js';

const tmp = (name: string) => mkdtempSync(join(tmpdir(), `rlth-${name}-`));

function countingEnvironment(env: RunEnvironment) {
  let calls = 0;
  let resumedFrom: number | null = null;
  const wrapped: RunEnvironment = {
    prepare: env.prepare,
    loop: (config, deps, opts) => {
      calls++;
      resumedFrom = opts.resume ? opts.resume.level : null;
      return env.loop(config, deps, opts);
    },
  };
  return { env: wrapped, calls: () => calls, resumedFrom: () => resumedFrom };
}

const config = (extra: object = {}): ExperimentConfig =>
  parseExperimentConfig({ seed: 3, training: { iterations: 20 }, pruning: { maxLevels: 5, bound: true }, ...extra }, 'test');

async function uninterrupted(cfg: ExperimentConfig) {
  const store = openStore(tmp('reference'), { create: true });
  await executeRun({ config: cfg, label: 'ref', preset: null }, { store, environment: standInEnvironment(), reporter: recorder().reporter });
  const records = store.levelRecords(runId(cfg));
  store.close();
  return records;
}

test('a run stores every level and its checkpoints; rerunning it reports without recomputing', async () => {
  const ws = tmp('run');
  const store = openStore(ws, { create: true });
  const cfg = config();
  const id = runId(cfg);
  const counted = countingEnvironment(standInEnvironment());
  const first = recorder();
  const done = await executeRun({ config: cfg, label: 'x', preset: null }, { store, environment: counted.env, reporter: first.reporter });
  assert.equal(done.status, 'done');
  assert.equal(done.levels, 6);
  assert.equal(done.stopReason, 'max levels reached');
  assert.deepEqual(first.events.map((e) => e.event), ['run-start', 'level', 'level', 'level', 'level', 'level', 'level', 'run-done']);
  assert.equal((first.events[0] as RunStartEvent).mode, 'new');
  const files = readdirSync(join(ws, 'runs', id)).sort();
  assert.deepEqual(files, ['level-0000.safetensors', 'level-0001.safetensors', 'level-0002.safetensors', 'level-0003.safetensors', 'level-0004.safetensors', 'level-0005.safetensors', 'rewind.safetensors']);
  assert.equal(store.getRun(id)!.status, 'done');

  const second = recorder();
  const again = await executeRun({ config: cfg, label: 'x', preset: null }, { store, environment: counted.env, reporter: second.reporter });
  assert.equal(counted.calls(), 1, 'the loop is not run again');
  assert.equal(again.cached, true);
  assert.equal((second.events[0] as RunStartEvent).mode, 'done');
  assert.equal(second.events.filter((e) => e.event === 'level' && e.replayed).length, 6);
  assert.deepEqual(withoutTimings(store.levelRecords(id)), withoutTimings(await uninterrupted(cfg)));
  const events = store.events(id).map((e) => e.event);
  assert.deepEqual(events, ['run-start', 'run-done']);
  store.close();
});

test('an interrupted run resumes from its last level and ends with the uninterrupted records', async () => {
  const cfg = config();
  const ws = tmp('resume');
  const store = openStore(ws, { create: true });
  const controller = new AbortController();
  const base = standInEnvironment();
  // Abort once level 2 is stored: the loop stops at its next check.
  const stopping: RunEnvironment = {
    prepare: base.prepare,
    loop: (c, d, o) =>
      base.loop(c, d, {
        ...o,
        onLevel: async (r, cp) => {
          await o.onLevel(r, cp);
          if (r.level === 2) controller.abort(new Error('interrupted'));
        },
      }),
  };
  await assert.rejects(executeRun({ config: cfg, label: 'x', preset: null }, { store, environment: stopping, reporter: recorder().reporter, signal: controller.signal }), /interrupted/);
  const id = runId(cfg);
  assert.equal(store.getRun(id)!.status, 'interrupted');
  assert.equal(store.levelRecords(id).length, 3);

  // A write cut short by a kill leaves a temporary file; the next holder removes it.
  const stale = join(ws, 'runs', id, '.level-0003.safetensors.12345.abc.tmp');
  writeFileSync(stale, 'partial');
  const counted = countingEnvironment(standInEnvironment());
  const rec = recorder();
  const done = await executeRun({ config: cfg, label: 'x', preset: null }, { store, environment: counted.env, reporter: rec.reporter });
  assert.equal(counted.resumedFrom(), 2, 'resumed from the checkpoint of level 2');
  assert.equal(existsSync(stale), false, 'stale temporary file removed');
  assert.equal((rec.events[0] as RunStartEvent).mode, 'resume');
  assert.deepEqual(
    rec.events.filter((e): e is LevelEvent => e.event === 'level').map((e) => [e.level, e.replayed]),
    [[0, true], [1, true], [2, true], [3, false], [4, false], [5, false]],
  );
  assert.equal(done.status, 'done');
  assert.deepEqual(withoutTimings(store.levelRecords(id)), withoutTimings(await uninterrupted(cfg)));
  store.close();
});

test('a resume from a damaged checkpoint would differ: the stand-in depends on the restored state', async () => {
  // Guards the test above: if the runner resumed from the wrong masks or weights, the records
  // would differ, because the stand-in's levels depend on them.
  const cfg = config();
  const reference = await uninterrupted(cfg);
  const records: typeof reference = [];
  let full: LotteryCheckpoint | null = null;
  await standInLoop()(cfg, {} as never, {
    onLevel: (r, cp) => {
      if (r.level === 2) full = cp;
    },
  });
  assert.ok(full !== null);
  const checkpoint2: LotteryCheckpoint = full;
  const wrongMasks = new Map([...checkpoint2.nextMasks].map(([k, v]) => [k, v.map(() => 1)]));
  await standInLoop()(cfg, {} as never, { resume: { ...checkpoint2, nextMasks: wrongMasks }, onLevel: (r) => void records.push(r) });
  assert.notDeepEqual(withoutTimings(records), withoutTimings(reference.slice(3)));
});

test('a failing run is stored as failed and resumes on the next attempt', async () => {
  const cfg = config({ seed: 11 });
  const ws = tmp('fail');
  const store = openStore(ws, { create: true });
  await assert.rejects(
    executeRun({ config: cfg, label: 'x', preset: null }, { store, environment: standInEnvironment({ failAtLevel: 3 }), reporter: recorder().reporter }),
    /stand-in failure at level 3/,
  );
  const id = runId(cfg);
  const run = store.getRun(id)!;
  assert.equal(run.status, 'failed');
  assert.match(run.error ?? '', /stand-in failure/);
  assert.equal(run.levels, 3);
  const counted = countingEnvironment(standInEnvironment());
  await executeRun({ config: cfg, label: 'x', preset: null }, { store, environment: counted.env, reporter: recorder().reporter });
  assert.equal(counted.resumedFrom(), 2);
  assert.deepEqual(withoutTimings(store.levelRecords(id)), withoutTimings(await uninterrupted(cfg)));
  store.close();
});

test('a second attempt at a run in progress is refused with a clear message', async () => {
  const cfg = config({ seed: 21 });
  const ws = tmp('concurrent-run');
  const storeA = openStore(ws, { create: true });
  const storeB = openStore(ws);
  const slow = executeRun({ config: cfg, label: 'x', preset: null }, { store: storeA, environment: standInEnvironment({ levelDelayMs: 30 }), reporter: recorder().reporter });
  await new Promise((r) => setTimeout(r, 10));
  await assert.rejects(
    executeRun({ config: cfg, label: 'x', preset: null }, { store: storeB, environment: standInEnvironment(), reporter: recorder().reporter }),
    (err: unknown) => err instanceof UserError && /is already running in process \d+; wait for it to finish or stop it/.test(err.message),
  );
  const done = await slow;
  assert.equal(done.status, 'done');
  storeA.close();
  storeB.close();
});

test('export writes PyTorch names and layouts, masks as <weight>_mask', async () => {
  const cfg = config({ seed: 5 });
  const ws = tmp('export');
  const store = openStore(ws, { create: true });
  await executeRun({ config: cfg, label: 'x', preset: null }, { store, environment: standInEnvironment(), reporter: recorder().reporter });
  const id = runId(cfg);
  const records = store.levelRecords(id);
  store.close();
  // The export goes outside the workspace (inside it is refused: test/cli/hostile.test.ts).
  const outDir = tmp('export-out');
  const out = join(outDir, 'ticket.safetensors');
  const r = await exportLevel({ workspace: ws, run: id.slice(0, 6), level: 2, out, weights: 'trained' });
  assert.equal(r.masks, 3);
  const file = readSafetensors(out);
  assert.deepEqual([...file.tensors.keys()].sort(), ['fc1.bias', 'fc1.weight', 'fc1.weight_mask', 'fc2.bias', 'fc2.weight', 'fc2.weight_mask', 'fc3.bias', 'fc3.weight', 'fc3.weight_mask']);
  assert.deepEqual(file.tensors.get('fc1.weight')!.shape, [8, 12]);
  assert.deepEqual(file.tensors.get('fc1.weight_mask')!.shape, [8, 12]);
  assert.deepEqual(file.tensors.get('fc1.bias')!.shape, [8]);
  assert.equal(file.metadata.format, 'pt');
  assert.equal(file.metadata.level, '2');
  // The mask has the level's density, and pruned weights are zero in the trained weights.
  const level2 = records[2];
  for (const layer of level2.layers) {
    const mask = file.tensors.get(`${layer.name}_mask`)!.data;
    const weight = file.tensors.get(layer.name)!.data;
    assert.equal(Array.from(mask).reduce((a, b) => a + b, 0), layer.remaining, layer.name);
    // pruned weights are +0.0, never -0.0 (assert.equal is Object.is: it tells them apart)
    for (let i = 0; i < mask.length; i++) if (mask[i] === 0) assert.equal(weight[i], 0);
  }
  // Level 0 is dense.
  await exportLevel({ workspace: ws, run: id, level: 0, out, weights: 'rewind', force: true });
  const dense = readSafetensors(out);
  assert.ok(dense.tensors.get('fc2.weight_mask')!.data.every((v) => v === 1));
  // The rewound ticket at level 3: rewind weights under level 3's mask.
  await exportLevel({ workspace: ws, run: id, level: 3, out, weights: 'rewind', force: true });
  const ticket = readSafetensors(out);
  const m = ticket.tensors.get('fc1.weight_mask')!.data;
  const w = ticket.tensors.get('fc1.weight')!.data;
  const rewind = readSafetensors(join(ws, 'runs', id, 'rewind.safetensors')).tensors.get('fc1.weight')!.data;
  // the rewound weight where kept, +0.0 (not -0.0) where pruned, also under negative rewind weights
  let negativePruned = 0;
  for (let i = 0; i < m.length; i++) {
    assert.equal(w[i], m[i] === 0 ? 0 : rewind[i]);
    if (m[i] === 0 && rewind[i] < 0) negativePruned++;
  }
  assert.ok(negativePruned > 0, 'the test needs pruned weights whose rewind value is negative');
  await assert.rejects(exportLevel({ workspace: ws, run: id, level: 9, out, weights: 'trained', force: true }), /no level 9 \(stored: levels 0-5\)/);
  await assert.rejects(exportLevel({ workspace: ws, run: id, level: 1, out: join(outDir, 'no', 'such', 'dir.safetensors'), weights: 'trained' }), UserError);
  assert.equal(existsSync(join(outDir, 'no')), false);
});

test('checkpoint and export shapes are the PyTorch shapes of every zoo model (conv, BN buffers)', async () => {
  const kernels = referenceKernels();
  for (const name of ['lenet-300-100', 'conv4', 'vgg19'] as const) {
    const inputShape: [number, number, number] = name === 'lenet-300-100' ? [1, 28, 28] : [3, 32, 32];
    const model = createModel(name, kernels, { seed: 0, inputShape, classes: 10 });
    // What the checkpoint writer knows: the weights' shapes from the level record's layers.
    const weightShapes = new Map(model.prunableParams().map((p) => [p.name, p.shape]));
    const expected = model.stateShapes();
    for (const [tensor, data] of await model.stateDict()) {
      assert.deepEqual(tensorShape(tensor, data.length, weightShapes), expected.get(tensor), `${name} ${tensor}`);
    }
  }
});

test('deleteRun removes a run\'s rows and checkpoints, and refuses while the run is held', async () => {
  const ws = tmp('delete');
  const store = openStore(ws, { create: true });
  const keep = config({ seed: 31 });
  const drop = config({ seed: 32 });
  for (const cfg of [keep, drop]) await executeRun({ config: cfg, label: 'x', preset: null }, { store, environment: standInEnvironment(), reporter: recorder().reporter });
  assert.equal(store.deleteRun(runId(drop)), true);
  assert.equal(store.getRun(runId(drop)), null);
  assert.deepEqual(store.levelRecords(runId(drop)), []);
  assert.deepEqual(store.events(runId(drop)), []);
  assert.equal(existsSync(join(ws, 'runs', runId(drop))), false);
  assert.equal(store.deleteRun(runId(drop)), false, 'already gone');
  assert.equal(store.levelRecords(runId(keep)).length, 6, 'the other run is untouched');
  assert.ok(existsSync(join(ws, 'runs', runId(keep), 'level-0005.safetensors')));
  // Held by a live process (this one): refused.
  const held = config({ seed: 33 });
  store.claimRun({ id: runId(held), config: held, label: 'h', preset: null });
  assert.throws(() => store.deleteRun(runId(held)), (err: unknown) => err instanceof UserError && /is running in process \d+/.test(err.message));
  store.close();
});
