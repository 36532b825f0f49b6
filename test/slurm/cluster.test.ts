/**
 * `ramanujan sweep --slurm` on a real one-node SLURM cluster (scripts/slurm-cluster.sh starts one:
 * needs root and Debian's slurmctld, slurmd, slurm-client and munge, which .ci/run installs):
 * submit a sweep of 3 stand-in runs, cancel one task mid-run with scancel, check `sweep status`,
 * re-submit (only the cancelled run goes, and resumes from its last level), merge the shards, and
 * compare the merged store with a local `ramanujan sweep` of the same file, run by run: records,
 * status and checkpoint files byte for byte.
 *
 * Where the cluster cannot be had the test is skipped, saying why in its name; in CI (CI=true, or
 * RAMANUJAN_SLURM_REQUIRED=1, which .ci/run sets) it runs and fails instead.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openStore } from '../../src/experiment/store.js';
import { packageRoot } from '../../src/paths.js';
import { withoutTimings } from '../experiment/stand-in.js';

const here = dirname(fileURLToPath(import.meta.url));
const entry = join(here, '..', 'experiment', `stand-in-cli${extname(fileURLToPath(import.meta.url))}`);
const nodeArgs = entry.endsWith('.ts') ? ['--import', 'tsx', entry] : [entry];
const script = join(packageRoot(), 'scripts', 'slurm-cluster.sh');
/** Where the cluster is required: CI (CI set, and not false/0) or RAMANUJAN_SLURM_REQUIRED=1 (.ci/run sets it). */
const ci = process.env.CI;
const inCI = (ci !== undefined && ci !== '' && ci !== 'false' && ci !== '0') || process.env.RAMANUJAN_SLURM_REQUIRED === '1';

/** Starts the cluster (or finds it running); the SLURM_CONF to use, or why there is none. */
function cluster(): { conf: string; startedHere: boolean } | { why: string } {
  const running = spawnSync('bash', [script, 'status'], { encoding: 'utf8' }).status === 0;
  const r = spawnSync('bash', [script, 'start'], { encoding: 'utf8', timeout: 90_000 });
  const conf = /^SLURM_CONF=(.+)$/m.exec(r.stdout ?? '')?.[1];
  if (r.status !== 0 || !conf) return { why: (r.stderr || r.error?.message || `exit code ${r.status}`).trim().split('\n').pop()! };
  return { conf, startedHere: !running };
}

const got = cluster();
const available = 'conf' in got;
const name = 'slurm on a real one-node cluster: a 3-run sweep, one task cancelled, re-submitted and resumed, merged, equals a local sweep';

after(() => {
  if ('conf' in got && got.startedHere) spawnSync('bash', [script, 'stop']);
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function dump(ws: string, id: string) {
  const store = openStore(ws);
  try {
    const run = store.getRun(id);
    assert.ok(run, `run ${id} in ${ws}`);
    const files: Record<string, string> = Object.fromEntries(store.levelStates(id).map((s) => [s.checkpoint, readFileSync(join(ws, s.checkpoint)).toString('base64')]));
    files.rewind = readFileSync(join(ws, 'runs', id, 'rewind.safetensors')).toString('base64');
    return { status: run.status, label: run.label, stopReason: run.stopReason, levels: run.levels, records: withoutTimings(store.levelRecords(id)), files };
  } finally {
    store.close();
  }
}

test(available || inCI ? name : `${name} SKIPPED: no SLURM cluster here (${'why' in got ? got.why : ''}); CI runs it`, { skip: !available && !inCI, timeout: 300_000 }, async () => {
  if (!('conf' in got)) assert.fail(`the SLURM cluster cannot be started (scripts/slurm-cluster.sh start): ${got.why}`);
  const env = { ...process.env, SLURM_CONF: got.conf, STANDIN_LEVEL_DELAY_MS: '2000' };
  const cli = (args: string[], extra: Record<string, string> = {}) => spawnSync(process.execPath, [...nodeArgs, ...args], { encoding: 'utf8', env: { ...env, ...extra } });
  const status = () => {
    const r = cli(['sweep', 'status', ws, '--json']);
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout) as Array<{ id: string; status: string; job: string; task: number; levels: number; note: string; logTail: string[] }>;
  };
  const waitUntil = async (what: string, ok: () => boolean, ms = 120_000) => {
    const end = Date.now() + ms;
    while (!ok()) {
      if (Date.now() > end) assert.fail(`timed out waiting for ${what}: ${JSON.stringify(status())}`);
      await sleep(500);
    }
  };
  const dir = mkdtempSync(join(tmpdir(), 'rlth-slurm-cluster-'));
  const file = join(dir, 'tiny.yaml');
  writeFileSync(file, 'base: lenet-mnist\nset:\n  pruning.maxLevels: 5\n  training.iterations: 10\n  pruning.bound: true\nseeds: [0, 1, 2]\n');
  const ws = join(dir, 'ws');

  // 1. Submit; cancel task 0 once it has stored a level.
  const first = cli(['sweep', file, '--slurm', '--max-parallel', '2', '--cpus-per-task', '1', '--time', '10', '--workspace', ws]);
  assert.equal(first.status, 0, first.stderr);
  const job = /as job array (\d+) \(tasks 0-2\)/.exec(first.stdout)?.[1];
  assert.ok(job, first.stdout);
  const log0 = join(ws, 'slurm', 'logs', `${job}_0.log`);
  await waitUntil('task 0 to store a level', () => existsSync(log0) && /^level 1\//m.test(readFileSync(log0, 'utf8')));
  const during = status();
  assert.equal(during[0].status, 'running', JSON.stringify(during));
  assert.equal(`${during[0].job}_${during[0].task}`, `${job}_0`);
  const cancel = spawnSync('scancel', [`${job}_0`], { encoding: 'utf8', env });
  assert.equal(cancel.status, 0, cancel.stderr);
  await waitUntil('every task to end', () => status().every((s) => s.status !== 'running' && s.status !== 'pending'));
  const ended = status();
  assert.deepEqual(ended.map((s) => s.status), ['interrupted', 'done', 'done'], JSON.stringify(ended));
  assert.ok(ended[0].levels >= 2 && ended[0].levels < 6, `${ended[0].levels} levels stored when cancelled`);
  assert.match(readFileSync(log0, 'utf8'), /CANCELLED/);

  // 2. Re-submit: only the cancelled run goes, and it resumes after its last stored level.
  const second = cli(['sweep', file, '--slurm', '--workspace', ws]);
  assert.equal(second.status, 0, second.stderr);
  const job2 = /submitted 1 of 3 runs as job array (\d+) \(tasks 0-0\)/.exec(second.stdout)?.[1];
  assert.ok(job2, second.stdout);
  await waitUntil('the re-submitted run to finish', () => status()[0].status === 'done');
  assert.match(readFileSync(join(ws, 'slurm', 'logs', `${job2}_0.log`), 'utf8'), new RegExp(`resuming after level ${ended[0].levels - 1}\\n`));
  const nothing = cli(['sweep', file, '--slurm', '--workspace', ws]);
  assert.match(nothing.stdout, /nothing to submit/);

  // 3. Merge the shards; the same sweep run here; equal run by run.
  const ids = ended.map((s) => s.id);
  const merge = cli(['merge', ...ids.map((id) => join(ws, 'shards', id)), '--into', ws]);
  assert.equal(merge.status, 0, merge.stderr);
  assert.match(merge.stdout, /3 added/);
  const local = join(dir, 'local');
  const sweep = cli(['sweep', file, '--workers', '2', '--workspace', local], { STANDIN_LEVEL_DELAY_MS: '0' });
  assert.equal(sweep.status, 0, sweep.stderr);
  for (const id of ids) {
    const merged = dump(ws, id);
    assert.equal(merged.status, 'done');
    assert.equal(merged.levels, 6);
    assert.deepEqual(merged, dump(local, id), `run ${id}`);
  }
});
