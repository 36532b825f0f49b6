/**
 * Hostile inputs to the workspace commands (issue 15): export/report outputs that would overwrite
 * the workspace, other files or special files; read-only, damaged and odd workspaces; hostile config
 * keys and values; names with terminal escapes. Every case: a non-zero exit with one line naming the
 * file or field (no stack trace, no "internal error"), and nothing already written lost or changed.
 *
 * The experiment commands run with the stand-in loop (test/experiment/stand-in-cli.ts); report and
 * analyze run as the real CLI. Read-only cases run the CLI as user "nobody" when the tests run as
 * root (root writes through file modes).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { packageRoot } from '../../src/paths.js';
import { readSafetensors, writeSafetensors } from '../../src/io/safetensors.js';
import { DATABASE_FILE } from '../../src/experiment/store.js';

const here = dirname(fileURLToPath(import.meta.url));
const ext = extname(fileURLToPath(import.meta.url));
const standIn = join(here, '..', 'experiment', `stand-in-cli${ext}`);
const realCli = join(packageRoot(), 'bin', 'ramanujan.js');
const tsx = ext === '.ts' ? ['--import', 'tsx'] : [];
const asRoot = process.getuid?.() === 0;

interface Result {
  status: number | null;
  stdout: string;
  stderr: string;
}

function spawn(entry: string, args: string[], opts: { asNobody?: boolean; cwd?: string; timeoutMs?: number } = {}): Result {
  const r = spawnSync(process.execPath, [...tsx, entry, ...args], {
    encoding: 'utf8',
    cwd: opts.cwd,
    timeout: opts.timeoutMs,
    ...(opts.asNobody && asRoot ? { uid: 65534, gid: 65534 } : {}),
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
const cli = (args: string[], opts: { asNobody?: boolean; cwd?: string; timeoutMs?: number } = {}) => spawn(standIn, args, opts);
const real = (args: string[], opts: { asNobody?: boolean; cwd?: string } = {}) => spawn(realCli, args, opts);

const tmp = (name: string) => {
  const dir = mkdtempSync(join(tmpdir(), `rlth-hostile-${name}-`));
  chmodSync(dir, 0o755); // readable by "nobody" in the read-only cases
  return dir;
};
const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

/** A clean refusal: non-zero, one line on stderr naming `names`, no stack trace, no internal error. */
function assertRefused(r: Result, pattern: RegExp, what: string): void {
  assert.notEqual(r.status, 0, `${what}: exit code`);
  assert.equal(r.status === 70, false, `${what}: not an internal error`);
  assert.match(r.stderr, pattern, what);
  assert.doesNotMatch(r.stderr, /internal error|\n\s+at |SqliteError/, `${what}: no stack trace`);
  assert.equal(r.stderr.trim().split('\n').length, 1, `${what}: one line, got:\n${r.stderr}`);
}

const RUN = ['run', 'lenet-mnist', '--set', 'pruning.maxLevels=3', '--set', 'training.iterations=10', '--json'];

/** A workspace with one finished stand-in run; returns its id. */
function workspaceWithRun(ws: string): string {
  const r = cli([...RUN, '--workspace', ws]);
  assert.equal(r.status, 0, r.stderr);
  return (JSON.parse(r.stdout.split('\n')[0]) as { run: string }).run;
}

/** Every file under a folder with its sha256 (to show that nothing changed). */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of readdirSync(dir, { recursive: true, encoding: 'utf8' }).sort()) {
    const p = join(dir, f);
    if (statSync(p).isFile()) out[f] = sha(p);
  }
  return out;
}

test('export --out: refuses the workspace files, other existing files, folders, special files and other formats', () => {
  const root = tmp('export');
  const ws = join(root, 'ws');
  const id = workspaceWithRun(ws);
  const before = snapshot(ws);
  const checkpoint = readdirSync(join(ws, 'runs', id)).find((f) => f.startsWith('level-'))!;
  symlinkSync(ws, join(root, 'link-to-ws'));
  writeFileSync(join(root, 'existing.safetensors'), 'precious');
  mkdirSync(join(root, 'folder.safetensors'));
  const fifo = join(root, 'fifo.safetensors');
  assert.equal(spawnSync('mkfifo', [fifo]).status, 0, 'mkfifo');
  const exp = (out: string, extra: string[] = []) => cli(['export', id, '--level', '1', '--out', out, '--workspace', ws, ...extra]);

  assertRefused(exp(join(ws, DATABASE_FILE), ['--force']), /inside the workspace/, 'the run store');
  assertRefused(exp(join(ws, 'runs', id, checkpoint), ['--force']), /inside the workspace/, 'a checkpoint');
  assertRefused(exp(join(ws, 'new.safetensors')), /inside the workspace/, 'a new file in the workspace');
  assertRefused(exp(join(root, 'link-to-ws', 'runs', id, checkpoint), ['--force']), /inside the workspace/, 'a checkpoint through a symlink');
  assertRefused(exp(join(root, 'existing.safetensors')), /existing\.safetensors: already exists.*--force/, 'an existing file');
  assertRefused(exp(join(root, 'folder.safetensors'), ['--force']), /folder\.safetensors: is a folder/, 'a folder');
  assertRefused(exp(fifo, ['--force']), /fifo\.safetensors: is not a regular file/, 'a FIFO');
  assertRefused(exp(join(root, 'x.onnx')), /x\.onnx: .*\.safetensors/, 'another format');
  assertRefused(exp(join(root, 'no-such-folder', 'x.safetensors')), /no-such-folder.*does not exist/, 'a missing folder');
  if (asRoot) assertRefused(exp('/dev/full', ['--force']), /\/dev\/full: is not a regular file/, 'a device');

  assert.deepEqual(snapshot(ws), before, 'the workspace is unchanged');
  assert.equal(readFileSync(join(root, 'existing.safetensors'), 'utf8'), 'precious');
  assert.ok(statSync(fifo).isFIFO(), 'the FIFO is still a FIFO');
  assert.ok(statSync(join(root, 'folder.safetensors')).isDirectory());
  if (asRoot) assert.ok(statSync('/dev/full').isCharacterDevice());
  assert.deepEqual(readdirSync(root).filter((f) => f.endsWith('.tmp')), [], 'no temporary file left');

  // A new file, then the same again: refused without --force, replaced with it.
  const out = join(root, 'ticket.safetensors');
  assert.equal(exp(out).status, 0);
  assert.ok(readSafetensors(out).tensors.has('fc1.weight_mask'));
  assertRefused(exp(out), /already exists/, 'the second export');
  const replaced = exp(join(root, 'existing.safetensors'), ['--force']);
  assert.equal(replaced.status, 0, replaced.stderr);
  assert.ok(readSafetensors(join(root, 'existing.safetensors')).tensors.has('fc1.weight_mask'));
  assert.equal(cli(['runs', '--workspace', ws]).status, 0, 'the store still opens');
});

test('report --out: an existing file is refused and left alone', () => {
  const root = tmp('report');
  const ws = join(root, 'ws');
  workspaceWithRun(ws);
  const file = join(root, 'notes.txt');
  writeFileSync(file, 'keep me');
  assertRefused(real(['report', '--all', '--workspace', ws, '--out', file, '--format', 'csv']), /notes\.txt: is a file, expected a folder/, 'report --out FILE');
  assert.equal(readFileSync(file, 'utf8'), 'keep me');
});

test('a read-only workspace: reading commands work, writing ones say it is not writable', () => {
  const root = tmp('readonly');
  const ws = join(root, 'ws');
  const id = workspaceWithRun(ws);
  const outDir = join(root, 'out');
  mkdirSync(outDir);
  chmodSync(outDir, 0o777);
  const before = snapshot(ws);
  const freeze = (dir: string) => {
    for (const f of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
      const p = join(dir, f);
      chmodSync(p, statSync(p).isDirectory() ? 0o555 : 0o444);
    }
    chmodSync(dir, 0o555);
  };
  freeze(ws);
  try {
    const runs = cli(['runs', '--workspace', ws], { asNobody: true });
    assert.equal(runs.status, 0, runs.stderr);
    assert.match(runs.stdout, new RegExp(`${id}.*done`));
    const exp = cli(['export', id, '--level', '1', '--out', join(outDir, 't.safetensors'), '--workspace', ws], { asNobody: true });
    assert.equal(exp.status, 0, exp.stderr);
    const rep = real(['report', '--all', '--workspace', ws, '--out', join(outDir, 'report'), '--format', 'csv'], { asNobody: true });
    assert.equal(rep.status, 0, rep.stderr);
    assertRefused(cli([...RUN, '--set', 'seed=1', '--workspace', ws], { asNobody: true }), /workspace .*ws.*not writable/, 'run');
    assertRefused(cli(['runs', '--delete', id, '--workspace', ws], { asNobody: true }), /workspace .*ws.*not writable/, 'runs --delete');
  } finally {
    chmodSync(ws, 0o755);
  }
  assert.deepEqual(snapshot(ws), before, 'the workspace is unchanged');
  assert.equal(existsSync(join(ws, `${DATABASE_FILE}-wal`)), false);
});

test('odd stores: a folder named like the store, a store without tables, a damaged store', () => {
  const root = tmp('stores');
  const folderStore = join(root, 'a');
  mkdirSync(join(folderStore, DATABASE_FILE), { recursive: true });
  assertRefused(cli(['runs', '--workspace', folderStore]), /ramanujan\.sqlite: is a folder, expected the run store file/, 'a folder');
  assertRefused(cli([...RUN, '--workspace', folderStore]), /ramanujan\.sqlite: is a folder/, 'a folder (run)');
  // A FIFO in its place: refused at once (reading its header would wait for a writer forever).
  const fifoStore = join(root, 'fifo');
  mkdirSync(fifoStore);
  assert.equal(spawnSync('mkfifo', [join(fifoStore, DATABASE_FILE)]).status, 0, 'mkfifo');
  assertRefused(cli(['runs', '--workspace', fifoStore], { timeoutMs: 60_000 }), /ramanujan\.sqlite: is not a regular file/, 'a FIFO');

  // The project's application_id but no tables (rollback journal, as a half-made store would be).
  const empty = join(root, 'b');
  mkdirSync(empty);
  const made = spawnSync(process.execPath, ['--input-type=module', '-e', `
    import Database from 'better-sqlite3';
    const db = new Database(${JSON.stringify(join(empty, DATABASE_FILE))});
    db.pragma('application_id = 0x524c5448');
    db.pragma('user_version = 1');
    db.close();`], { cwd: packageRoot(), encoding: 'utf8' });
  assert.equal(made.status, 0, made.stderr);
  const emptyBefore = readFileSync(join(empty, DATABASE_FILE));
  assertRefused(cli(['runs', '--workspace', empty]), /ramanujan\.sqlite: .*no tables|missing table/, 'no tables');
  assertRefused(cli([...RUN, '--workspace', empty]), /ramanujan\.sqlite: .*(no tables|missing table).*left as it is/, 'no tables (run)');
  assert.deepEqual(readFileSync(join(empty, DATABASE_FILE)), emptyBefore, 'left unchanged (not switched to WAL)');
  assert.equal(existsSync(join(empty, `${DATABASE_FILE}-wal`)), false);

  // A store with pages overwritten in the middle: one line, not an integrity dump.
  const damaged = join(root, 'c');
  workspaceWithRun(damaged);
  const dbPath = join(damaged, DATABASE_FILE);
  const bytes = readFileSync(dbPath);
  const pageSize = bytes.readUInt16BE(16);
  for (let p = 1; p < bytes.length / pageSize; p++) bytes.fill(0x5a, p * pageSize + 8, p * pageSize + 200);
  writeFileSync(dbPath, bytes);
  const damagedBefore = sha(dbPath);
  assertRefused(cli(['runs', '--workspace', damaged]), /ramanujan\.sqlite: the database is damaged/, 'damaged');
  assert.equal(sha(dbPath), damagedBefore);
});

test('hostile config keys and values: one message naming the key, nothing written', () => {
  const root = tmp('config');
  const ws = join(root, 'ws');
  const file = (name: string, text: string) => {
    const p = join(root, name);
    writeFileSync(p, text);
    return p;
  };
  const fifo = (name: string) => {
    const p = join(root, name);
    assert.equal(spawnSync('mkfifo', [p]).status, 0, 'mkfifo');
    return p;
  };
  const cases: Array<[string[], RegExp]> = [
    [['run', 'lenet-mnist', '--set', '__proto__.polluted=1'], /"__proto__" .*not allowed/],
    [['run', 'lenet-mnist', '--set', 'training.constructor=1'], /"constructor" .*not allowed/],
    [['run', 'lenet-mnist', '--set', 'prototype=1'], /"prototype" .*not allowed/],
    [['run', 'lenet-mnist', '--set', 'training={__proto__: {lr: 1}}'], /--set training: key "__proto__": .*not allowed/],
    [['run', file('proto.yaml', 'model: lenet-300-100\n__proto__:\n  polluted: 1\n')], /proto\.yaml: .*"__proto__" .*not allowed/],
    [['run', file('nested.yaml', 'training:\n  constructor:\n    x: 1\n')], /nested\.yaml: .*training\.constructor.*not allowed/],
    [['run', file('proto.json', '{"__proto__": {"polluted": 1}}')], /proto\.json: .*"__proto__" .*not allowed/],
    [['sweep', file('sweep.yaml', 'base: lenet-mnist\ngrid:\n  __proto__.x: [1, 2]\n')], /sweep\.yaml: .*"__proto__" .*not allowed/],
    [['run', file('inf.yaml', 'training:\n  lr: .inf\n')], /training\.lr: got \.inf \(infinity\); allowed: number > 0/],
    [['run', file('nan.yaml', 'training:\n  lr: .nan\n')], /training\.lr: got \.nan \(not a number\); allowed: number > 0/],
    [['run', file('comma.json', '{"model": "lenet-300-100",}')], /comma\.json: not valid JSON/],
    [['run', file('big.yaml', `# ${'x'.repeat(2 << 20)}\nmodel: lenet-300-100\n`)], /big\.yaml: is \d+ bytes; a config or sweep file is at most 1048576 bytes/],
    [['run', file('deep.json', `${'{"a":'.repeat(20000)}1${'}'.repeat(20000)}`)], /deep\.json: .*nests deeper than 32 levels/],
    [['run', file('deep.yaml', `training:\n  milestones: ${'['.repeat(40)}${']'.repeat(40)}\n`)], /deep\.yaml: training\.milestones.*nests deeper than 32 levels/],
    [['run', 'lenet-mnist', '--set', 'training.batchSize=1000000000'], /training\.batchSize: got 1000000000; allowed: integer > 0 and <= 65536/],
    [['run', 'lenet-mnist', '--set', 'training.iterations=1000000000000'], /training\.iterations: got 1000000000000; allowed: integer > 0 and <= 10000000/],
    [['run', 'lenet-mnist', '--set', 'training.epochs=1000000'], /training\.epochs: .*10000000 iterations/],
    [['run', 'lenet-mnist', '--set', 'pruning.maxLevels=100000'], /pruning\.maxLevels: got 100000; allowed: integer >= 0 and <= 1000/],
    [['run', 'lenet-mnist', '--set', 'pruning.snipBatches=100000'], /pruning\.snipBatches: got 100000; allowed: integer > 0 and <= 10000/],
    [['run', 'lenet-mnist', '--set', `evaluation.noiseSigmas=[${Array.from({ length: 33 }, (_, i) => (i + 1) / 100).join(',')}]`], /evaluation\.noiseSigmas: got \[0\.01,.*0\.33\]; allowed: list of numbers > 0, at most 32/],
    [['run', 'lenet-mnist', '--threads', '1000'], /--threads.*at most \d+/],
    [['sweep', 'lenet-mnist', '--workers', '100000'], /--workers.*at most \d+/],
    [['run', 'lenet-mnist', '--set', `data.dataDir=${join(root, 'no-such-data')}`], /data\.dataDir: .*no-such-data does not exist/],
    [['run', fifo('fifo.yaml')], /fifo\.yaml: is not a regular file \(a device, FIFO or socket\)/],
    [['sweep', fifo('sweep-fifo.yaml')], /sweep-fifo\.yaml: is not a regular file/],
  ];
  for (const [args, pattern] of cases) {
    const r = cli([...args, '--workspace', ws]);
    assertRefused(r, pattern, args.join(' '));
    assert.equal(existsSync(ws), false, `${args.join(' ')}: nothing written`);
  }
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});

test('a RAMANUJAN_DATA_DIR that does not exist: run and sweep refuse it in one line before anything is written', () => {
  const root = tmp('env-data');
  const ws = join(root, 'ws');
  const saved = process.env.RAMANUJAN_DATA_DIR;
  process.env.RAMANUJAN_DATA_DIR = join(root, 'unmounted');
  try {
    for (const args of [['run', 'lenet-mnist'], ['sweep', 'table2-lenet-mnist', '--quick']]) {
      const r = cli([...args, '--workspace', ws]);
      assertRefused(r, /^ramanujan: RAMANUJAN_DATA_DIR: .*unmounted does not exist/, args.join(' '));
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.equal(existsSync(ws), false, `${args.join(' ')}: nothing written`);
    }
    // A dataset given with its PATH does not look in the data folder: the variable is not consulted.
    const r = cli(['run', 'lenet-mnist', '--set', `data.dataset=mnist:${join(root, 'nothing-here')}`, '--workspace', ws]);
    assert.doesNotMatch(r.stderr, /RAMANUJAN_DATA_DIR/);
  } finally {
    if (saved === undefined) delete process.env.RAMANUJAN_DATA_DIR;
    else process.env.RAMANUJAN_DATA_DIR = saved;
  }
});

test('names with terminal escape sequences are printed without them', () => {
  const root = tmp('escapes');
  const ws = join(root, 'ws');
  const evil = join(root, 'evil\u001b]0;owned\u0007\u001b[31m.yaml');
  writeFileSync(evil, 'pruning:\n  maxLevels: 1\ntraining:\n  iterations: 10\n');
  const r = cli(['run', evil, '--workspace', ws]);
  assert.equal(r.status, 0, r.stderr);
  const runs = cli(['runs', '--workspace', ws]);
  assert.equal(runs.status, 0, runs.stderr);
  assert.match(runs.stdout, /evil/);
  assert.doesNotMatch(runs.stdout, /[\u0000-\u0008\u000b-\u001f\u007f]/, 'runs: no control characters');
  const missing = cli(['run', join(root, 'gone\u001b[2J.yaml'), '--workspace', ws]);
  assertRefused(missing, /gone.*\.yaml/, 'a missing file with an escape in its name');
  assert.doesNotMatch(missing.stderr, /\u001b/);

  const model = join(root, 'model.safetensors');
  const w = new Float32Array(64).map((_, i) => ((i * 7) % 11) - 5);
  writeSafetensors(model, new Map([['fc\u001b[2J\u001b[31m.weight', { shape: [8, 8], data: w }]]));
  const analyze = real(['analyze', model]);
  assert.equal(analyze.status, 0, analyze.stderr);
  assert.match(analyze.stdout, /fc.*weight/);
  assert.doesNotMatch(analyze.stdout, /\u001b/, 'analyze: no escape sequence');
});

test('a usage error of the real CLI is one line and a pointer to --help, not the whole help', () => {
  for (const args of [['run', 'lenet-mnist', '--threads', '1000'], ['run', 'lenet-mnist', '--set', '__proto__.x=1'], ['export', 'abcd']]) {
    const r = real(args);
    assert.equal(r.status, 1, args.join(' '));
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 2, `${args.join(' ')}:\n${r.stderr}`);
    assert.match(lines[0], /^error: /);
    assert.match(lines[1], /--help/);
  }
});
