/**
 * `ramanujan report` on a real experiment store: the fixture runs are stored with the store's own
 * API (as the pruning loop would), then reported by the command.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { main } from '../../src/cli/main.js';
import { nameGroups } from '../../src/cli/commands/report.js';
import { groupKey } from '../../src/experiment/run-id.js';
import { runId } from '../../src/experiment/run-id.js';
import { parseExperimentConfig } from '../../src/experiment/schema.js';
import { openStore } from '../../src/experiment/store.js';
import { loadFixture } from './fixtures.js';

async function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const write = { out: process.stdout.write.bind(process.stdout), err: process.stderr.write.bind(process.stderr) };
  // bytes are the test runner's own reports (written whenever the command awaits): passed through
  process.stdout.write = ((chunk: string | Uint8Array) => (typeof chunk === 'string' ? (out.push(chunk), true) : write.out(chunk))) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array) => (err.push(String(chunk)), true)) as typeof process.stderr.write;
  try {
    const code = await main(args);
    return { code, stdout: out.join(''), stderr: err.join('') };
  } finally {
    process.stdout.write = write.out;
    process.stderr.write = write.err;
  }
}

function makeWorkspace(): { ws: string; ids: string[] } {
  const ws = mkdtempSync(join(tmpdir(), 'ramanujan-report-ws-'));
  const store = openStore(ws, { create: true });
  const ids: string[] = [];
  try {
    for (const [file, label] of [
      ['lenet-imp-seed1.json', 'imp s1'],
      ['lenet-imp-seed2.json', 'imp s2'],
      ['lenet-imp-bound-seed1.json', 'bound s1'],
    ] as const) {
      const fixture = loadFixture(file);
      const config = parseExperimentConfig(fixture.config, file);
      const id = runId(config);
      const claim = store.claimRun({ id, config, label, preset: null });
      assert.equal(claim.kind, 'claimed');
      if (claim.kind !== 'claimed') continue;
      fixture.records.forEach((rec, i) => {
        const last = i === fixture.records.length - 1;
        store.recordLevel(id, claim.token, rec, { checkpoint: `runs/${id}/level-${i}.safetensors`, finished: last, stopReason: last ? 'fixture' : null });
      });
      store.releaseRun(id, claim.token, { status: 'done', stopReason: 'fixture' });
      ids.push(id);
    }
  } finally {
    store.close();
  }
  return { ws, ids };
}

test('ramanujan report --all: groups seeds, writes the page and Table 2, prints the summaries', { timeout: 60_000 }, async () => {
  const { ws, ids } = makeWorkspace();
  try {
    const out = join(ws, 'out');
    const r = await runCli(['report', '--all', '--workspace', ws, '--out', out, '--format', 'html,csv']);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(existsSync(join(out, 'report.html')));
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    assert.ok(html.includes('lenet-300-100 · mnist · IMP α=2'));
    assert.ok(html.includes('lenet-300-100 · mnist · IMP-Bound'));
    const t2 = parse(readFileSync(join(out, 'table2.csv'), 'utf8'), { columns: true }) as Array<Record<string, string>>;
    assert.deepEqual(t2.map((x) => [x.algorithm, x.seeds]), [['Without Pruning', '2'], ['IMP', '2'], ['IMP-Bound', '1']]);
    // the store keeps +inf (t2 = 0 at the dense level): the chart still marks it
    const deltas = parse(readFileSync(join(out, 'charts', '01-lenet-300-100-mnist-imp-2-deltas.csv'), 'utf8'), { columns: true }) as Array<Record<string, string>>;
    assert.equal(deltas.find((x) => x.level === '0' && x.panel === 'ΔS unweighted' && x.layer === 'L1 · fc1.weight')!.seedsInfinite, '2');
    for (const id of ids) assert.ok(r.stdout.includes(`run ${id}`));
    assert.match(r.stdout, /level .*density % .*clean %/);
    assert.match(r.stdout, /files written to/);
  } finally {
    rmSync(ws, { recursive: true, force: true });
  }
});

test('ramanujan report by id prefix; usage errors exit non-zero with one message', { timeout: 60_000 }, async () => {
  const { ws, ids } = makeWorkspace();
  try {
    const out = join(ws, 'one');
    const ok = await runCli(['report', ids[2]!.slice(0, 6), '--workspace', ws, '--out', out, '--format', 'csv']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.ok(existsSync(join(out, 'charts', '01-lenet-300-100-mnist-imp-bound-decisions.csv')));
    assert.ok(!existsSync(join(out, 'report.html')));

    const none = await runCli(['report', '--workspace', ws]);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /name runs by id .* or give --all/);
    const fmt = await runCli(['report', '--all', '--workspace', ws, '--format', 'html,pdf']);
    assert.equal(fmt.code, 1);
    assert.match(fmt.stderr, /--format: unknown format "pdf"/);
    const missing = await runCli(['report', '--all', '--workspace', join(ws, 'nowhere')]);
    assert.equal(missing.code, 1);
    assert.doesNotMatch(missing.stderr, /at .*\.[jt]s:\d+/);
  } finally {
    rmSync(ws, { recursive: true, force: true });
  }
});

test('groups that would share a name are told apart by the config keys where they differ', () => {
  const { config, records } = loadFixture('lenet-imp-seed1.json');
  const pruning = config.pruning as Record<string, unknown>;
  const variants = [config, { ...config, pruning: { ...pruning, pOut: 0.2 } }, { ...config, seed: 7 }];
  const runs = variants.map((c, i) => ({ key: groupKey(c), run: { id: `r${i}`, label: `r${i}`, group: '', config: c, records, status: 'done' } }));
  const names = nameGroups(runs);
  assert.equal(names.size, 2, 'the seed makes no group of its own');
  const [plain, pOut] = [...names.values()];
  assert.notEqual(pruning.pOut, 0.2);
  assert.ok(plain.endsWith(`IMP α=2 (pruning.pOut=${String(pruning.pOut)})`), plain);
  assert.ok(pOut.endsWith('IMP α=2 (pruning.pOut=0.2)'), pOut);
  assert.ok(!/seed/.test(plain + pOut));
});
