/**
 * `ramanujan sweep --slurm` without a cluster: the batch script (its sbatch lines, quoting, and
 * which run each array task runs, executed by bash), the option checks, --gpus from the runs'
 * device, and submission, re-submission, `sweep task` and `sweep status` against stand-in sbatch
 * and squeue programs (shell scripts on PATH that record what they were given). The same on a real
 * cluster: cluster.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { UserError } from '../../src/errors.js';
import { parseExperimentConfig, type ExperimentConfig } from '../../src/experiment/schema.js';
import { batchScript, checkSlurmOptions, gpusFor, shellQuote, taskThreads, type SlurmOptions } from '../../src/experiment/slurm.js';
import type { SweepRun } from '../../src/experiment/sweep.js';
import { openStore } from '../../src/experiment/store.js';

const here = dirname(fileURLToPath(import.meta.url));
const entry = join(here, '..', 'experiment', `stand-in-cli${extname(fileURLToPath(import.meta.url))}`);
const nodeArgs = entry.endsWith('.ts') ? ['--import', 'tsx', entry] : [entry];
const tmp = (name: string) => mkdtempSync(join(tmpdir(), `rlth-slurm-${name}-`));

const RUNS = [
  { id: 'aaaaaaaaaaaaaaaa', label: 'lenet-mnist seed=0' },
  { id: 'bbbbbbbbbbbbbbbb', label: 'lenet-mnist seed=1' },
  { id: 'cccccccccccccccc', label: "lenet-mnist it's seed=2" },
];

test('slurm batch script: one array task per run, the sbatch options, and task i runs run i', () => {
  const ws = join(tmp('script'), "a b's ws");
  const options: SlurmOptions = { partition: 'gpu', time: '4:00:00', cpusPerTask: 8, maxParallel: 2, sbatchArgs: ['--account=lab', '--qos=long'] };
  const script = batchScript({ sweep: 'table 2', workspace: ws, runs: RUNS, command: ['/usr/bin/node', '/opt/x y/ramanujan.js'], options, gpus: '1' });
  const sbatch = script.split('\n').filter((l) => l.startsWith('#SBATCH '));
  assert.deepEqual(sbatch, [
    '#SBATCH --job-name=ramanujan-table_2',
    '#SBATCH --array=0-2%2',
    `#SBATCH --output=${ws}/slurm/logs/%A_%a.log`,
    '#SBATCH --partition=gpu',
    '#SBATCH --time=4:00:00',
    '#SBATCH --cpus-per-task=8',
    '#SBATCH --gpus=1',
    '#SBATCH --account=lab',
    '#SBATCH --qos=long',
  ]);
  assert.ok(script.startsWith('#!/bin/bash\n'));
  assert.equal(spawnSync('bash', ['-n'], { input: script }).status, 0, 'bash parses the script');
  // Each task, with the program replaced by echo: prints the run it would run.
  const noOptions = batchScript({ sweep: 's', workspace: ws, runs: RUNS, command: ['echo'], options: {}, gpus: null });
  assert.deepEqual(noOptions.split('\n').filter((l) => l.startsWith('#SBATCH')), ['#SBATCH --job-name=ramanujan-s', '#SBATCH --array=0-2', `#SBATCH --output=${ws}/slurm/logs/%A_%a.log`]);
  RUNS.forEach((run, i) => {
    const r = spawnSync('bash', ['-s'], { input: noOptions, encoding: 'utf8', env: { ...process.env, SLURM_ARRAY_TASK_ID: String(i) } });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, `sweep task ${ws} ${run.id}\n`);
  });
  assert.equal(shellQuote("it's"), `'it'\\''s'`);
  assert.equal(shellQuote('/plain/path-1.js'), '/plain/path-1.js');
});

test('slurm options are checked before anything is submitted', () => {
  const bad: Array<[SlurmOptions, RegExp]> = [
    [{ time: 'two hours' }, /--time "two hours": expected a SLURM time limit/],
    [{ partition: 'a b' }, /--partition "a b": expected a partition name/],
    [{ gpus: 'lots' }, /--gpus "lots": expected a count/],
    [{ sbatchArgs: ['account=lab'] }, /--sbatch-arg "account=lab": expected one sbatch option/],
    [{ sbatchArgs: ['--array=0-9'] }, /--sbatch-arg "--array=0-9": ramanujan sets this option itself/],
    [{ sbatchArgs: ['--output=x'] }, /ramanujan sets this option itself/],
    [{ sbatchArgs: ['--mem=4G\n#SBATCH --x'] }, /one line/],
  ];
  for (const [opts, pattern] of bad) assert.throws(() => checkSlurmOptions(opts), (e: unknown) => e instanceof UserError && pattern.test(e.message), JSON.stringify(opts));
  for (const time of ['90', '30:00', '4:00:00', '2-00', '2-12:00', '1-00:00:00', 'UNLIMITED']) checkSlurmOptions({ time });
  checkSlurmOptions({ gpus: 'a100:2', partition: 'gpu,cpu', sbatchArgs: ['--mem=4G', '-A lab'] });
  assert.throws(() => checkSlurmOptions({ sbatchArgs: ['-a 0-3'] }), /ramanujan sets this option itself/);
  assert.equal(taskThreads({ SLURM_CPUS_PER_TASK: '6' }), 6);
  assert.equal(taskThreads({ SLURM_CPUS_ON_NODE: '3' }), 3);
});

test('slurm --gpus is requested only when a run computes on a GPU (the config\'s device key)', () => {
  const run = (device?: ExperimentConfig['device']): SweepRun => {
    const config = parseExperimentConfig({}, 'x');
    if (device !== undefined) config.device = device;
    return { id: 'x', label: 'x', preset: null, config };
  };
  assert.equal(gpusFor([run(), run()], { gpus: '2' }), null, 'the default device (auto): no GPU asked for');
  assert.equal(gpusFor([run('cpu')], {}), null);
  assert.equal(gpusFor([run('auto')], {}), null);
  assert.equal(gpusFor([run('cpu'), run('gpu')], {}), '1');
  assert.equal(gpusFor([run('gpu')], { gpus: '2' }), '2');
});

/** A folder of stand-in SLURM tools: sbatch keeps each script and prints job ids 1, 2, ...;
 *  squeue prints the lines of the file `queue` ("job|task|STATE"). */
function fakeSlurm(): { bin: string; queue: (lines: string[]) => void; scripts: () => string[] } {
  const bin = tmp('bin');
  writeFileSync(join(bin, 'sbatch'), `#!/bin/bash\nn=$(ls ${bin}/submitted-* 2>/dev/null | wc -l)\nn=$((n + 1))\ncat > ${bin}/submitted-$n\necho "$*" > ${bin}/args-$n\necho "$n;cluster"\n`);
  writeFileSync(join(bin, 'squeue'), `#!/bin/bash\necho "$*" >> ${bin}/squeue-args\ncat ${bin}/queue 2>/dev/null || true\n`);
  chmodSync(join(bin, 'sbatch'), 0o755);
  chmodSync(join(bin, 'squeue'), 0o755);
  return {
    bin,
    queue: (lines) => writeFileSync(join(bin, 'queue'), lines.map((l) => `${l}\n`).join('')),
    scripts: () => readdirSync(bin).filter((f) => f.startsWith('submitted-')).sort().map((f) => readFileSync(join(bin, f), 'utf8')),
  };
}

test('slurm submission (stand-in sbatch/squeue): re-submitting submits only runs not done or queued; sweep task; sweep status', { timeout: 120_000 }, async () => {
  const fake = fakeSlurm();
  const dir = tmp('submit');
  const file = join(dir, 'sweep.yaml');
  writeFileSync(file, 'base: lenet-mnist\nset:\n  pruning.maxLevels: 3\n  training.iterations: 10\nseeds: [0, 1, 2]\n');
  const ws = join(dir, 'ws');
  const env = { ...process.env, PATH: `${fake.bin}:${process.env.PATH}` };
  const cli = (args: string[], extra: Record<string, string> = {}) => spawnSync(process.execPath, [...nodeArgs, ...args], { encoding: 'utf8', env: { ...env, ...extra } });

  const misuse = cli(['sweep', file, '--partition', 'gpu', '--workspace', ws]);
  assert.equal(misuse.status, 1);
  assert.match(misuse.stderr, /--partition is an option of --slurm/);
  const badTime = cli(['sweep', file, '--slurm', '--time', 'soon', '--workspace', ws]);
  assert.equal(badTime.status, 1);
  assert.match(badTime.stderr, /--time "soon"/);

  const dry = cli(['sweep', file, '--slurm', '--dry-run', '--max-parallel', '2', '--workspace', ws]);
  assert.equal(dry.status, 0, dry.stderr);
  assert.match(dry.stdout, /^#!\/bin\/bash\n#SBATCH --job-name=ramanujan-sweep\n#SBATCH --array=0-2%2\n/);
  assert.equal(existsSync(ws), false, '--dry-run writes nothing');
  assert.deepEqual(fake.scripts(), [], '--dry-run submits nothing');

  const first = cli(['sweep', file, '--slurm', '--max-parallel', '2', '--sbatch-arg=--comment=test', '--workspace', ws]);
  assert.equal(first.status, 0, first.stderr);
  assert.match(first.stdout, /submitted 3 of 3 runs as job array 1 \(tasks 0-2\)/);
  assert.equal(fake.scripts().length, 1);
  assert.equal(fake.scripts()[0], readFileSync(join(ws, 'slurm', 'job-1.sbatch'), 'utf8'), 'the script submitted is kept');
  assert.match(fake.scripts()[0], /#SBATCH --comment=test/);
  const ids = [...fake.scripts()[0].matchAll(/^ {2}([0-9a-f]{16}) /gm)].map((m) => m[1]);
  assert.equal(ids.length, 3);
  assert.deepEqual(JSON.parse(readFileSync(join(ws, 'slurm', 'jobs.jsonl'), 'utf8')).runs, ids);

  // Task 0 runs (here, as SLURM would): done in its shard.
  const t0 = cli(['sweep', 'task', ws, ids[0]]);
  assert.equal(t0.status, 0, t0.stderr);
  assert.match(t0.stdout, new RegExp(`run ${ids[0]} done: 4 levels`));
  const shard = openStore(join(ws, 'shards', ids[0]));
  assert.equal(shard.getRun(ids[0])!.status, 'done');
  assert.equal(shard.getRun(ids[0])!.label, 'lenet-mnist seed=0');
  shard.close();

  // Task 1 is still running, task 2 never ran: re-submitting submits run 2 alone.
  fake.queue(['1|1|RUNNING']);
  const second = cli(['sweep', file, '--slurm', '--workspace', ws]);
  assert.equal(second.status, 0, second.stderr);
  assert.match(second.stdout, new RegExp(`${ids[0]} .*: done, not submitted`));
  assert.match(second.stdout, new RegExp(`${ids[1]} .*: already running as 1_1, not submitted`));
  assert.match(second.stdout, /submitted 1 of 3 runs as job array 2 \(tasks 0-0\)/);
  assert.match(fake.scripts()[1], /#SBATCH --array=0-0\n/);
  assert.match(fake.scripts()[1], new RegExp(`runs=\\(\\n {2}${ids[2]} `));
  assert.match(readFileSync(join(fake.bin, 'squeue-args'), 'utf8'), /--array --jobs=1 /);

  fake.queue(['1|1|RUNNING', '2|0|PENDING']);
  const status = JSON.parse(cli(['sweep', 'status', ws, '--json']).stdout) as Array<{ id: string; status: string; job: string; task: number; levels: number; note: string; logTail: string[] }>;
  assert.deepEqual(status.map((s) => [s.id, s.status, `${s.job}_${s.task}`]), [
    [ids[0], 'done', '1_0'],
    [ids[1], 'running', '1_1'],
    [ids[2], 'pending', '2_0'],
  ]);

  // Task 1 fails (its log is where SLURM would put it); task 2 gets SIGTERM (scancel) after its first level.
  fake.queue([]);
  const t1 = cli(['sweep', 'task', ws, ids[1]], { STANDIN_FAIL_AT_LEVEL: '2' });
  assert.equal(t1.status, 1);
  mkdirSync(join(ws, 'slurm', 'logs'), { recursive: true });
  writeFileSync(join(ws, 'slurm', 'logs', '1_1.log'), t1.stdout + t1.stderr);
  const t2 = spawn(process.execPath, [...nodeArgs, 'sweep', 'task', ws, ids[2]], { env: { ...env, STANDIN_LEVEL_DELAY_MS: '400' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out2 = '';
  t2.stdout.on('data', (c: Buffer) => {
    out2 += c.toString('utf8');
    if (/level 1\//.test(out2)) t2.kill('SIGTERM');
  });
  let err2 = '';
  t2.stderr.on('data', (c: Buffer) => (err2 += c.toString('utf8')));
  const code2 = await new Promise<number | null>((res) => t2.on('exit', (code) => res(code)));
  assert.equal(code2, 130, err2);
  assert.match(err2, /SIGTERM: stopping at the next safe point/);

  const text = cli(['sweep', 'status', ws]);
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, /1 done, 1 failed, 1 interrupted/);
  assert.match(text.stdout, new RegExp(`the end of .*1_1\\.log:\\n(.*\\n)*  ramanujan: run ${ids[1]} failed: stand-in failure at level 2`));
  const after = JSON.parse(cli(['sweep', '--json', 'status', ws]).stdout) as typeof status;
  assert.deepEqual(after.map((s) => s.status), ['done', 'failed', 'interrupted']);
  assert.equal(after[1].logTail.at(-1), `ramanujan: run ${ids[1]} failed: stand-in failure at level 2`);

  // A task on a node that died leaves its run held by a process on another host: still
  // interrupted, re-submitted, and taken over by the next task.
  const shardDb = new Database(join(ws, 'shards', ids[2], 'ramanujan.sqlite'));
  shardDb.prepare("UPDATE runs SET status = 'running', owner_pid = 4242, owner_host = 'node-9', owner_token = 't' WHERE id = ?").run(ids[2]);
  shardDb.close();
  assert.equal((JSON.parse(cli(['sweep', 'status', ws, '--json']).stdout) as typeof status)[2].status, 'interrupted');

  // Re-submitting now submits the failed and the interrupted run; the interrupted one resumes.
  const third = cli(['sweep', file, '--slurm', '--workspace', ws]);
  assert.match(third.stdout, /submitted 2 of 3 runs as job array 3/);
  const resumed = cli(['sweep', 'task', ws, ids[2]]);
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.ok(after[2].levels >= 2 && after[2].levels < 4, `${after[2].levels} levels stored when interrupted`);
  assert.match(resumed.stdout, new RegExp(`resuming after level ${after[2].levels - 1}\n`));

  const noRuns = cli(['sweep', 'status', join(dir, 'elsewhere')]);
  assert.equal(noRuns.status, 1);
  assert.match(noRuns.stderr, /no SLURM submissions here/);
});
