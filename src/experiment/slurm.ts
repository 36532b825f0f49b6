/**
 * Sweeps on a SLURM cluster: a sweep's runs as one job array (`sbatch`), one array task per run.
 *
 * Layout under the sweep's workspace (a folder every node sees, e.g. on NFS):
 *
 *   <ws>/slurm/runs/<run-id>.json      what a task runs: { id, label, preset, config }
 *   <ws>/slurm/jobs.jsonl              one line per submission: { job, submitted, sweep, runs }
 *                                      (runs: run ids by array task index)
 *   <ws>/slurm/job-<job>.sbatch        the batch script submitted as that job
 *   <ws>/slurm/logs/<job>_<task>.log   each task's output
 *   <ws>/shards/<run-id>/              the workspace of one run: its own ramanujan.sqlite and
 *                                      runs/<run-id>/ checkpoints
 *
 * Each task writes only its own shard, so no SQLite database is shared between nodes (SQLite's
 * locking is unreliable over network file systems); `ramanujan merge <ws>/shards/* --into <ws>`
 * gathers them (src/experiment/merge.ts). A run has one shard whichever submission runs it, so a
 * task that was cancelled, killed or timed out leaves its run interrupted there and the next
 * submission resumes it from its last stored level, as a local rerun does.
 *
 * Only the SLURM client commands are used (sbatch, squeue), run as child processes.
 */
import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { availableParallelism, hostname } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { UserError } from '../errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { openStoreReadOnly } from './merge.js';
import { ownerAlive } from './owner.js';
import { runId } from './run-id.js';
import { executeRun, type RunEnvironment, type RunReporter, type RunRequest } from './runner.js';
import type { ExperimentConfig } from './schema.js';
import { DATABASE_FILE, openStore } from './store.js';
import type { SweepPlan, SweepRun } from './sweep.js';

export const SLURM_DIR = 'slurm';
export const SHARDS_DIR = 'shards';

/** The sbatch options a user sets. */
export interface SlurmOptions {
  partition?: string;
  /** time limit per task, in a format sbatch takes (minutes, HH:MM:SS, D-HH:MM ...) */
  time?: string;
  cpusPerTask?: number;
  /** GPUs per task (sbatch --gpus); requested only when the runs' device is a GPU */
  gpus?: string;
  /** at most this many tasks at once (the array's %N) */
  maxParallel?: number;
  /** more sbatch options, each one argument such as --account=lab or --qos=long */
  sbatchArgs?: string[];
}

export function shardWorkspace(workspace: string, id: string): string {
  return join(workspace, SHARDS_DIR, id);
}

function requestFile(workspace: string, id: string): string {
  return join(workspace, SLURM_DIR, 'runs', `${id}.json`);
}

export function logFile(workspace: string, job: string, task: number): string {
  return join(workspace, SLURM_DIR, 'logs', `${job}_${task}.log`);
}

/** Quotes a word for bash (single quotes; a single quote inside becomes '\''). */
export function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** The program a task runs: this node, with its flags, and this CLI's entry script. */
export function currentCommand(): string[] {
  const flags = process.execArgv.filter((a) => !a.startsWith('--inspect') && !a.startsWith('--test'));
  return [process.execPath, ...flags, resolve(process.argv[1])];
}

/** sbatch's --time formats: minutes, M:S, H:M:S, D-H, D-H:M, D-H:M:S, or UNLIMITED. */
const TIME = /^(\d+|\d+:\d{1,2}|\d+:\d{1,2}:\d{1,2}|\d+-\d+|\d+-\d+:\d{1,2}|\d+-\d+:\d{1,2}:\d{1,2}|UNLIMITED|INFINITE)$/i;

/** Checks the options; a bad one is a UserError naming it. */
export function checkSlurmOptions(opts: SlurmOptions): void {
  if (opts.partition !== undefined && !/^[\w.,-]+$/.test(opts.partition)) throw new UserError(`--partition "${opts.partition}": expected a partition name (letters, digits, _ . - and commas)`);
  if (opts.time !== undefined && !TIME.test(opts.time)) throw new UserError(`--time "${opts.time}": expected a SLURM time limit such as 90 (minutes), 4:00:00 or 2-00:00:00`);
  if (opts.gpus !== undefined && !/^([\w-]+:)?\d+$/.test(opts.gpus)) throw new UserError(`--gpus "${opts.gpus}": expected a count such as 1, or type:count such as a100:1`);
  for (const a of opts.sbatchArgs ?? []) {
    if (!a.startsWith('-') || /[\n\r]/.test(a)) throw new UserError(`--sbatch-arg "${a}": expected one sbatch option such as --account=lab (starting with -, one line)`);
    if (/^--?(array|a|output|o|error|e|job-name|J|parsable)(=|$|\s)/.test(a)) throw new UserError(`--sbatch-arg "${a}": ramanujan sets this option itself`);
  }
}

/**
 * Whether the runs compute on a GPU: the config's `device` key, where the config has one, names
 * a GPU backend (webgpu, gpu, cuda). Configs without the key run on the CPU.
 */
export function runsOnGpu(config: ExperimentConfig): boolean {
  // 'auto' takes a GPU only where the node has one: SLURM is asked for one only on an explicit 'gpu'
  return config.device === 'gpu';
}

/** --gpus for a plan: the user's count (default 1) when a run's device is a GPU, else none. */
export function gpusFor(runs: readonly SweepRun[], opts: SlurmOptions): string | null {
  return runs.some((r) => runsOnGpu(r.config)) ? (opts.gpus ?? '1') : null;
}

export interface BatchScriptInput {
  sweep: string;
  /** absolute path of the sweep's workspace */
  workspace: string;
  runs: ReadonlyArray<{ id: string; label: string }>;
  /** the program and its arguments before `sweep task` (currentCommand()) */
  command: string[];
  options: SlurmOptions;
  /** --gpus value, or null for none (gpusFor) */
  gpus: string | null;
}

/** The batch script of one submission: an array of runs.length tasks, task i runs runs[i]. */
export function batchScript(input: BatchScriptInput): string {
  const { workspace, runs, options } = input;
  if (!isAbsolute(workspace)) throw new Error('batchScript: the workspace must be an absolute path');
  const sbatch: string[] = [
    `--job-name=${`ramanujan-${input.sweep}`.replace(/[^\w.-]/g, '_')}`,
    `--array=0-${runs.length - 1}${options.maxParallel ? `%${options.maxParallel}` : ''}`,
    `--output=${join(workspace, SLURM_DIR, 'logs', '%A_%a.log')}`,
  ];
  if (options.partition) sbatch.push(`--partition=${options.partition}`);
  if (options.time) sbatch.push(`--time=${options.time}`);
  if (options.cpusPerTask) sbatch.push(`--cpus-per-task=${options.cpusPerTask}`);
  if (input.gpus) sbatch.push(`--gpus=${input.gpus}`);
  sbatch.push(...(options.sbatchArgs ?? []));
  const width = Math.max(...runs.map((r) => r.id.length));
  return [
    '#!/bin/bash',
    ...sbatch.map((o) => `#SBATCH ${o}`),
    `# ramanujan sweep ${input.sweep}: one array task per run. Task i runs runs[i] in its own`,
    `# workspace, ${join(workspace, SHARDS_DIR, '<run-id>')}; gather them with`,
    `#   ramanujan merge ${join(workspace, SHARDS_DIR)}/* --into ${workspace}`,
    '# A cancelled or failed task leaves its run interrupted; submitting the sweep again resumes it.',
    'set -eu',
    'runs=(',
    ...runs.map((r) => `  ${r.id.padEnd(width)}  # ${r.label.replace(/[\n\r]/g, ' ')}`),
    ')',
    'run=${runs[$SLURM_ARRAY_TASK_ID]}',
    `exec ${[...input.command, 'sweep', 'task', workspace].map(shellQuote).join(' ')} "$run"`,
    '',
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------
// The queue and the submissions.

export interface Submission {
  job: string;
  submitted: string;
  sweep: string;
  /** run ids by array task index */
  runs: string[];
}

export function readSubmissions(workspace: string): Submission[] {
  const file = join(workspace, SLURM_DIR, 'jobs.jsonl');
  if (!existsSync(file)) return [];
  const out: Submission[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    try {
      out.push(JSON.parse(line) as Submission);
    } catch {
      // a line cut short by a crash while appending: that submission's ids are lost, not the rest
    }
  }
  return out;
}

export interface QueuedTask {
  job: string;
  task: number;
  /** squeue's state: PENDING, RUNNING, COMPLETING, ... */
  state: string;
}

function runTool(tool: string, args: string[], input?: string): { stdout: string; stderr: string; status: number | null } {
  const r = spawnSync(tool, args, { encoding: 'utf8', input, timeout: 60_000 });
  if (r.error) {
    const code = (r.error as NodeJS.ErrnoException).code;
    throw new UserError(code === 'ENOENT' ? `${tool} not found: run this on a machine with the SLURM client commands (sbatch, squeue)` : `${tool}: ${r.error.message}`);
  }
  return { stdout: r.stdout, stderr: r.stderr, status: r.status };
}

/** The array tasks of these jobs that are still in the queue (pending, running, completing). */
export function queuedTasks(jobs: readonly string[]): QueuedTask[] {
  if (jobs.length === 0) return [];
  const r = runTool('squeue', ['--noheader', '--array', `--jobs=${jobs.join(',')}`, '--format=%F|%K|%T']);
  if (r.status !== 0) {
    // squeue fails on a job id it no longer knows when asked for that one alone.
    if (/Invalid job id/i.test(r.stderr)) return jobs.length === 1 ? [] : jobs.flatMap((j) => queuedTasks([j]));
    throw new UserError(`squeue failed: ${r.stderr.trim() || `exit code ${r.status}`}`);
  }
  const out: QueuedTask[] = [];
  for (const line of r.stdout.split('\n')) {
    const [job, task, state] = line.trim().split('|');
    if (!job || task === undefined || !/^\d+$/.test(task)) continue;
    out.push({ job, task: Number(task), state });
  }
  return out;
}

/** Which run each queued task runs: run id -> its queued task. */
function queuedRuns(submissions: readonly Submission[], queue: readonly QueuedTask[]): Map<string, QueuedTask> {
  const byJob = new Map(submissions.map((s) => [s.job, s]));
  const out = new Map<string, QueuedTask>();
  for (const t of queue) {
    const id = byJob.get(t.job)?.runs[t.task];
    if (id) out.set(id, t);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// What is stored.

interface StoredRun {
  status: string;
  levels: number;
  error: string | null;
  stopReason: string | null;
  /** the row says running and its holder is a live process on this host (a holder on another host
   *  that SLURM does not run any more is a task whose node failed: not held) */
  held: boolean;
}

function storedRun(workspace: string, id: string): StoredRun | null {
  if (!existsSync(join(workspace, DATABASE_FILE))) return null;
  const db = openStoreReadOnly(workspace);
  try {
    const row = db
      .prepare('SELECT status, error, stop_reason, owner_pid, owner_host, owner_start, (SELECT COUNT(*) FROM levels l WHERE l.run_id = r.id) AS levels FROM runs r WHERE id = ?')
      .get(id) as { status: string; error: string | null; stop_reason: string | null; owner_pid: number | null; owner_host: string | null; owner_start: string | null; levels: number } | undefined;
    if (!row) return null;
    const held = row.status === 'running' && row.owner_pid !== null && row.owner_host === hostname() && ownerAlive({ pid: row.owner_pid, host: row.owner_host, start: row.owner_start });
    return { status: row.status, levels: row.levels, error: row.error, stopReason: row.stop_reason, held };
  } finally {
    db.close();
  }
}

/** The run's state in the sweep's workspace (merged) and its shard: the copy that got further. */
function bestStored(workspace: string, id: string): StoredRun | null {
  const copies = [storedRun(workspace, id), storedRun(shardWorkspace(workspace, id), id)].filter((c): c is StoredRun => c !== null);
  if (copies.length === 0) return null;
  return copies.find((c) => c.status === 'done') ?? copies.sort((a, b) => b.levels - a.levels)[0];
}

function levelFilesWritten(workspace: string, id: string): number {
  const dir = join(shardWorkspace(workspace, id), 'runs', id);
  return existsSync(dir) ? readdirSync(dir).filter((f) => /^level-\d+\.safetensors$/.test(f)).length : 0;
}

function tail(file: string, lines: number): string[] {
  if (!existsSync(file)) return [];
  const text = readFileSync(file, 'utf8').replace(/\r/g, '\n').trimEnd();
  return text ? text.split('\n').slice(-lines) : [];
}

export type SlurmRunStatus = 'pending' | 'running' | 'done' | 'failed' | 'interrupted';

export interface SlurmRunState {
  id: string;
  label: string;
  status: SlurmRunStatus;
  /** the array job and task of the run's latest submission (null if never submitted) */
  job: string | null;
  task: number | null;
  /** levels stored (for a running run: level checkpoints written so far) */
  levels: number;
  note: string;
  log: string | null;
  /** the last lines of the log of a failed run */
  logTail: string[];
}

/**
 * Every run submitted from this workspace, with its state: pending (queued, or not started),
 * running (with its job and task from squeue), done, failed (with the last lines of its log),
 * interrupted. A run's shard is only opened when SLURM does not run the run, so this never reads
 * a database another node is writing.
 */
export function sweepStatus(workspaceArg: string, opts: { tailLines?: number } = {}): SlurmRunState[] {
  const workspace = resolve(workspaceArg);
  const submissions = readSubmissions(workspace);
  if (submissions.length === 0) throw new UserError(`${workspaceArg}: no SLURM submissions here (${join(SLURM_DIR, 'jobs.jsonl')}); submit with ramanujan sweep <sweep> --slurm --workspace ${workspaceArg}`);
  const queued = queuedRuns(submissions, queuedTasks([...new Set(submissions.map((s) => s.job))]));
  const latest = new Map<string, { job: string; task: number }>();
  for (const s of submissions) s.runs.forEach((id, task) => latest.set(id, { job: s.job, task }));
  const out: SlurmRunState[] = [];
  for (const [id, where] of latest) {
    const label = readRequest(workspace, id)?.label ?? '';
    const q = queued.get(id);
    const job = q?.job ?? where.job;
    const task = q?.task ?? where.task;
    const log = logFile(workspace, job, task);
    const base = { id, label, job, task, log: existsSync(log) ? log : null, logTail: [] as string[] };
    if (q) {
      const running = q.state !== 'PENDING';
      out.push({ ...base, status: running ? 'running' : 'pending', levels: running ? levelFilesWritten(workspace, id) : 0, note: running ? `${q.state.toLowerCase()} as ${q.job}_${q.task}` : `queued as ${q.job}_${q.task}` });
      continue;
    }
    const stored = bestStored(workspace, id);
    const logTail = tail(log, opts.tailLines ?? 5);
    if (!stored) {
      if (logTail.length > 0) out.push({ ...base, status: 'failed', levels: 0, note: 'the task ended before the run started', logTail });
      else out.push({ ...base, status: 'pending', levels: 0, note: 'not in the queue and never started; submit the sweep again' });
      continue;
    }
    if (stored.held) out.push({ ...base, status: 'running', levels: stored.levels, note: 'running here outside SLURM (ramanujan run or sweep)' });
    else if (stored.status === 'done') out.push({ ...base, status: 'done', levels: stored.levels, note: stored.stopReason ?? '' });
    else if (stored.status === 'failed') out.push({ ...base, status: 'failed', levels: stored.levels, note: stored.error ?? '', logTail });
    else out.push({ ...base, status: 'interrupted', levels: stored.levels, note: 'cancelled, killed or timed out; submitting the sweep again resumes it', logTail: [] });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Submitting.

export interface SubmitResult {
  script: string | null;
  job: string | null;
  submitted: SweepRun[];
  /** runs left out, with why (done, already queued) */
  skipped: Array<{ run: SweepRun; why: string }>;
}

/**
 * Submits the runs of a plan that are not done and not already queued, as one job array. With
 * `dryRun` nothing is written or submitted and the script is returned. `command` is the program
 * the tasks run (default: this one).
 */
export function submitSweep(plan: SweepPlan, opts: { workspace: string; slurm: SlurmOptions; dryRun?: boolean; command?: string[] }): SubmitResult {
  checkSlurmOptions(opts.slurm);
  const workspace = resolve(opts.workspace);
  const submissions = readSubmissions(workspace);
  const queued = opts.dryRun && submissions.length === 0 ? new Map<string, QueuedTask>() : queuedRuns(submissions, queuedTasks([...new Set(submissions.map((s) => s.job))]));
  const toSubmit: SweepRun[] = [];
  const skipped: SubmitResult['skipped'] = [];
  for (const run of plan.runs) {
    const q = queued.get(run.id);
    if (q) {
      skipped.push({ run, why: `already ${q.state.toLowerCase()} as ${q.job}_${q.task}` });
      continue;
    }
    const stored = bestStored(workspace, run.id);
    if (stored?.status === 'done') skipped.push({ run, why: 'done' });
    else if (stored?.held) skipped.push({ run, why: 'running here outside SLURM (ramanujan run or sweep)' });
    else toSubmit.push(run);
  }
  if (toSubmit.length === 0) return { script: null, job: null, submitted: [], skipped };
  const script = batchScript({ sweep: plan.name, workspace, runs: toSubmit, command: opts.command ?? currentCommand(), options: opts.slurm, gpus: gpusFor(toSubmit, opts.slurm) });
  if (opts.dryRun) return { script, job: null, submitted: toSubmit, skipped };

  mkdirSync(join(workspace, SLURM_DIR, 'runs'), { recursive: true });
  mkdirSync(join(workspace, SLURM_DIR, 'logs'), { recursive: true });
  mkdirSync(join(workspace, SHARDS_DIR), { recursive: true });
  for (const run of toSubmit) {
    const request = { id: run.id, label: run.label, preset: run.preset, config: run.config };
    writeFileAtomic(requestFile(workspace, run.id), [`${JSON.stringify(request, null, 2)}\n`]);
  }
  const r = runTool('sbatch', ['--parsable'], script);
  if (r.status !== 0) throw new UserError(`sbatch refused the job: ${r.stderr.trim() || r.stdout.trim() || `exit code ${r.status}`}`);
  const job = r.stdout.trim().split(';')[0];
  if (!/^\d+$/.test(job)) throw new UserError(`sbatch printed "${r.stdout.trim()}", expected a job id`);
  writeFileAtomic(join(workspace, SLURM_DIR, `job-${job}.sbatch`), [script]);
  const line: Submission = { job, submitted: new Date().toISOString(), sweep: plan.name, runs: toSubmit.map((t) => t.id) };
  appendFileSync(join(workspace, SLURM_DIR, 'jobs.jsonl'), `${JSON.stringify(line)}\n`);
  return { script, job, submitted: toSubmit, skipped };
}

// ---------------------------------------------------------------------------------------------
// One array task.

function readRequest(workspace: string, id: string): (RunRequest & { id: string }) | null {
  const file = requestFile(workspace, id);
  if (!existsSync(file)) return null;
  return JSON.parse(readFileSync(file, 'utf8')) as RunRequest & { id: string };
}

/** CPUs SLURM gave this task (cpus-per-task, else the job's CPUs on this node), else the machine's. */
export function taskThreads(env: NodeJS.ProcessEnv = process.env): number {
  for (const v of [env.SLURM_CPUS_PER_TASK, env.SLURM_CPUS_ON_NODE]) {
    const n = Number(v);
    if (v && Number.isInteger(n) && n > 0) return n;
  }
  return availableParallelism();
}

/**
 * Runs one run of a submitted sweep in its shard (what `ramanujan sweep task` does in an array
 * task). The run is taken over from a holder on another host (a task of an earlier submission on
 * a node that failed): the submitter submits a run only while no task of it is queued.
 */
export async function executeSlurmTask(
  workspaceArg: string,
  id: string,
  ctx: { environment: (opts: { threads: number; workspace: string }) => RunEnvironment; reporter: RunReporter; signal?: AbortSignal },
) {
  const workspace = resolve(workspaceArg);
  if (!/^[0-9a-f]+$/.test(id)) throw new UserError(`run id "${id}": expected hex digits`);
  const request = readRequest(workspace, id);
  if (!request) throw new UserError(`${requestFile(workspace, id)}: missing; submit the sweep with ramanujan sweep --slurm`);
  if (runId(request.config) !== id) throw new UserError(`${requestFile(workspace, id)}: its config has the run id ${runId(request.config)}, not ${id} (written by another version?); submit the sweep again`);
  const store = openStore(shardWorkspace(workspace, id), { create: true });
  try {
    const owner = store.getRun(id)?.owner ?? null;
    const force = owner !== null && owner.host !== hostname();
    return await executeRun(
      { config: request.config, label: request.label, preset: request.preset },
      { store, environment: ctx.environment({ threads: taskThreads(), workspace }), reporter: ctx.reporter, signal: ctx.signal, force },
    );
  } finally {
    store.close();
  }
}
