/**
 * Choosing the device from the command line: `ramanujan doctor` (webgpu adapters, what auto
 * picks) and `--device gpu` without a hardware GPU (one clear error, nothing written). Runs the
 * real CLI in a child process, so the environment (RAMANUJAN_WEBGPU_SOFTWARE) is its own.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gpuReport } from '../../src/engine/device.js';
import { packageRoot } from '../../src/paths.js';

const bin = join(packageRoot(), 'bin', 'ramanujan.js');
const dir = mkdtempSync(join(tmpdir(), 'rlth-device-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

function cli(args: string[], env: Record<string, string | undefined> = {}) {
  const childEnv: Record<string, string | undefined> = { ...process.env, ...env };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete childEnv[k];
  return spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: childEnv as NodeJS.ProcessEnv, timeout: 120_000 });
}

test('doctor --json: Node, threads, the webgpu adapters with their kind, and what auto picks', () => {
  const r = cli(['doctor', '--json']);
  assert.equal(r.status, 0, r.stderr);
  const report = JSON.parse(r.stdout.trim().split('\n')[0]) as {
    node: string; threads: number; adapters: Array<{ device: string; software: boolean; backend: string }>; auto: string;
  };
  assert.equal(report.node, process.version);
  assert.ok(Number.isInteger(report.threads) && report.threads >= 1);
  assert.ok(Array.isArray(report.adapters));
  for (const a of report.adapters) assert.equal(typeof a.software, 'boolean');
  // auto takes a hardware adapter when there is one, never a software one
  assert.equal(report.auto, report.adapters.some((a) => !a.software) ? 'webgpu' : 'wasm');
  const text = cli(['doctor']);
  assert.equal(text.status, 0);
  assert.match(text.stdout, /^node\s+v\d+/m);
  assert.match(text.stdout, /^auto\s+(webgpu|wasm)/m);
});

test('--device gpu without a hardware GPU: one clear error, exit 1, nothing written (webgpu)', async (t) => {
  if ((await gpuReport()).auto === 'webgpu') {
    t.skip('this machine has a hardware GPU adapter: --device gpu would run');
    return;
  }
  const ws = join(dir, 'ws');
  const r = cli(['run', 'lenet-mnist', '--device', 'gpu', '--quick', '--workspace', ws], { RAMANUJAN_WEBGPU_SOFTWARE: undefined });
  assert.equal(r.status, 1, r.stdout);
  const lines = r.stderr.split('\n').filter((l) => l.startsWith('ramanujan:'));
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0], /^ramanujan: device gpu: (no hardware GPU adapter|WebGPU could not be loaded)/);
  assert.equal(existsSync(ws), false, 'the workspace was not created');
  const bad = cli(['run', 'lenet-mnist', '--device', 'tpu', '--workspace', ws]);
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /Allowed choices are auto, cpu, gpu/);
});
