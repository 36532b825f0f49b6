/**
 * The engine a run computed on is stored with it: the environment's `engine` record becomes an
 * 'engine' event of the run (one per start or resume), and the config's `device` reaches prepare.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runId } from '../../src/experiment/run-id.js';
import { executeRun, type EngineRecord, type RunEnvironment } from '../../src/experiment/runner.js';
import { parseExperimentConfig } from '../../src/experiment/schema.js';
import { openStore } from '../../src/experiment/store.js';
import { standInEnvironment } from './stand-in.js';

test('the engine record is stored as an event of the run, and prepare gets the config\'s device', async () => {
  const base = standInEnvironment();
  const devices: Array<string | undefined> = [];
  const engine: EngineRecord = { device: 'gpu', backend: 'webgpu', adapter: 'Test GPU via native backend', description: 'webgpu on Test GPU via native backend' };
  const env: RunEnvironment = {
    loop: base.loop,
    async prepare(config, opts) {
      devices.push(opts?.device);
      const prepared = await base.prepare(config, opts);
      return { ...prepared, engine };
    },
  };
  const store = openStore(mkdtempSync(join(tmpdir(), 'rlth-engine-')), { create: true });
  const cfg = parseExperimentConfig({ device: 'gpu', training: { iterations: 5 }, pruning: { maxLevels: 1 } }, 'test');
  const reporter = { runStart() {}, level() {}, progress() {}, runDone() {} };
  const done = await executeRun({ config: cfg, label: 't', preset: null }, { store, environment: env, reporter });
  assert.equal(done.status, 'done');
  assert.deepEqual(devices, ['gpu']);
  const events = store.events(runId(cfg)).filter((e) => e.event === 'engine');
  assert.equal(events.length, 1);
  assert.deepEqual(events[0].data, engine);
  store.close();
});
