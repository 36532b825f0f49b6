/**
 * A short lottery run (2 levels, the tiny model of tiny.ts) on webgpu gives the same masks as on
 * the wasm backend, for IMP, SNIP and SynFlow (whose scores run on the device), and records within
 * float tolerance. The real pruning loop (src/prune/lottery.ts) and the real layers run on both.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createKernels } from '../../src/engine/index.js';
import type { Kernels } from '../../src/engine/kernels.js';
import type { LotteryConfig } from '../../src/prune/config.js';
import { runLottery, type LotteryCheckpoint } from '../../src/prune/lottery.js';
import type { LevelRecord } from '../../src/prune/records.js';
import { webgpuForTests } from '../engine/webgpu-setup.js';
import { tinyConfig, tinyDataset, tinyModel } from './tiny.js';

const gpu = await webgpuForTests();

async function lottery(kernels: Kernels, config: LotteryConfig): Promise<{ records: LevelRecord[]; checkpoints: LotteryCheckpoint[] }> {
  const records: LevelRecord[] = [];
  const checkpoints: LotteryCheckpoint[] = [];
  await runLottery(config, { kernels, dataset: tinyDataset(), buildModel: tinyModel }, {
    resume: null,
    onLevel: (r, c) => {
      records.push(r);
      checkpoints.push(c);
    },
  });
  return { records, checkpoints };
}

if (gpu !== null) {
  let wasm: Kernels;
  after(async () => {
    await gpu.close();
    await wasm?.close();
  });

  describe(`webgpu lottery on ${gpu.adapter.device || gpu.adapter.description}`, () => {
    for (const algorithm of ['imp', 'snip', 'synflow'] as const) {
      it(`webgpu: a 2-level ${algorithm} lottery run gives the masks of the wasm backend`, async () => {
        wasm ??= await createKernels({ threads: 1 });
        const config = tinyConfig({ pruning: { algorithm, maxLevels: 2 } });
        const onGpu = await lottery(gpu, config);
        const onCpu = await lottery(wasm, config);
        assert.equal(onGpu.records.length, 3);
        assert.equal(onCpu.records.length, 3);
        for (let level = 0; level < 3; level++) {
          const [g, c] = [onGpu.checkpoints[level], onCpu.checkpoints[level]];
          for (const [name, mask] of c.nextMasks) {
            const gm = g.nextMasks.get(name);
            assert.ok(gm !== undefined, `level ${level}: no mask for ${name}`);
            let differing = 0;
            for (let i = 0; i < mask.length; i++) if (gm[i] !== mask[i]) differing++;
            assert.equal(differing, 0, `level ${level} ${name}: ${differing} mask entries differ`);
          }
          const [rg, rc] = [onGpu.records[level], onCpu.records[level]];
          assert.equal(rg.remaining, rc.remaining, `level ${level}: remaining weights`);
          assert.ok(Math.abs(rg.accuracy.clean - rc.accuracy.clean) <= 1 / 60 + 1e-9, `level ${level}: accuracy ${rg.accuracy.clean} vs ${rc.accuracy.clean}`);
          assert.ok(Math.abs(rg.trainLoss - rc.trainLoss) <= 1e-3 * Math.abs(rc.trainLoss) + 1e-6, `level ${level}: train loss ${rg.trainLoss} vs ${rc.trainLoss}`);
        }
      });
    }
  });
}
