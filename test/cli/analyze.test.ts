/**
 * `ramanujan analyze`, run in-process through main() with stdout and stderr captured.
 * Broken files are generated here.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import { main } from '../../src/cli/main.js';
import { writeSafetensors } from '../../src/io/safetensors.js';
import { packageRoot } from '../../src/paths.js';

const fixtures = join(packageRoot(), 'test', 'fixtures', 'models');
const dir = mkdtempSync(join(tmpdir(), 'rlth-analyze-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const out = process.stdout.write;
  const err = process.stderr.write;
  // The command writes strings; bytes are the test runner's own reports (it writes them to stdout
  // whenever the command awaits, e.g. a lazy import()): passed through.
  process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    if (typeof chunk !== 'string') return (out as (...a: unknown[]) => boolean).call(process.stdout, chunk, ...rest);
    stdout += chunk;
    return true;
  }) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array) => {
    stderr += String(chunk);
    return true;
  }) as typeof process.stderr.write;
  try {
    const code = await main(['analyze', ...args]);
    return { code, stdout, stderr };
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
  }
}

const expected = JSON.parse(readFileSync(join(fixtures, 'small_expected.json'), 'utf8')) as {
  layers: Record<string, { shape: number[]; edges: number; unweighted: number[]; weighted: number[] }>;
  onnx_layers: Record<string, { shape: number[]; edges: number; unweighted: number[]; weighted: number[] }>;
};

function rel(a: number, b: number): number {
  return Math.abs(a - b) / Math.abs(b);
}

for (const [file, key] of [['small.safetensors', 'layers'], ['small.onnx', 'onnx_layers']] as const) {
  test(`--json on ${file}: every layer's t1 and t2 as NumPy's dense SVD, the documented keys`, async () => {
    const r = await run([join(fixtures, file), '--json']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.deepEqual(Object.keys(out).sort(), ['collapsedLayers', 'criteria', 'layers', 'regime', 'regimeText']);
    assert.ok(['fully', 'partially', 'non', 'collapsed'].includes(out.regime));
    const ref = expected[key];
    assert.deepEqual(out.layers.map((l: { name: string }) => l.name).sort(), Object.keys(ref).sort());
    for (const layer of out.layers) {
      const e = ref[layer.name];
      for (const k of ['name', 'kind', 'shape', 'edges', 'density', 'collapsed', 'unweighted', 'weighted', 'verdicts', 'ramanujan']) assert.ok(k in layer, k);
      assert.deepEqual(layer.shape, e.shape);
      assert.equal(layer.edges, e.edges);
      for (const g of ['unweighted', 'weighted'] as const) {
        const m = layer[g];
        for (const k of ['t1', 't2', 'sigma2', 'dL', 'dR', 'eb', 'db', 'deltaS', 'deltaR', 'ramanujan']) assert.ok(k in m, `${g}.${k}`);
        assert.ok(rel(m.t1, e[g][0]) < 1e-6, `${layer.name} ${g} t1 ${m.t1} vs ${e[g][0]}`);
        assert.ok(rel(m.t2, e[g][1]) < 1e-6, `${layer.name} ${g} t2 ${m.t2} vs ${e[g][1]}`);
      }
    }
  });
}

test('the table names every layer, both graphs and the regime', async () => {
  const r = await run([join(fixtures, 'small.safetensors')]);
  assert.equal(r.code, 0, r.stderr);
  for (const name of ['conv1.weight', 'conv2.weight', 'fc1.weight', 'fc2.weight']) assert.match(r.stdout, new RegExp(name.replace('.', '\\.')));
  assert.match(r.stdout, /layer\s+graph\s+shape\s+edges\s+density\s+t1\s+t2\s+dL\s+dR\s+eb\s+db\s+DeltaS\s+DeltaR\s+comp/);
  assert.match(r.stdout, /32x256\s+819\s+10\.0%/);
  assert.match(r.stdout, /regime: (fully |partially |non-)Ramanujan \(\d of 4 layers keep the property under UE,UD,WE\)/);
});

test('ONNX layers named onnx::Conv_N (eval-mode export, batch norm folded) get one note saying how to keep the names', async () => {
  const { onnx } = onnxProto;
  const convModel = (file: string, weightName: string) => {
    const node = onnx.NodeProto.create({ opType: 'Conv', input: ['x', weightName], output: ['y'] });
    const init = onnx.TensorProto.create({ name: weightName, dims: [4, 2, 2, 2], dataType: onnx.TensorProto.DataType.FLOAT, floatData: Array.from({ length: 32 }, (_, k) => (k % 3 === 0 ? 0 : 0.1 * (k % 7) - 0.3)) });
    const model = onnx.ModelProto.create({ irVersion: 7, graph: onnx.GraphProto.create({ name: 'g', node: [node], initializer: [init] }) });
    const path = join(dir, file);
    writeFileSync(path, onnx.ModelProto.encode(model).finish());
    return path;
  };
  const folded = convModel('folded.onnx', 'onnx::Conv_193');
  const table = await run([folded]);
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /onnx::Conv_193/);
  const notes = table.stdout.split('\n').filter((l) => l.startsWith('note:'));
  assert.equal(notes.length, 1);
  assert.match(notes[0], /e\.g\. onnx::Conv_193\) was made by PyTorch's ONNX export, which in eval mode folds batch norm/);
  assert.match(notes[0], /training=torch\.onnx\.TrainingMode\.TRAINING, do_constant_folding=False/);
  // --json: stdout stays one JSON document, the note goes to stderr
  const json = await run([folded, '--json']);
  assert.equal(json.code, 0, json.stderr);
  assert.equal(JSON.parse(json.stdout).layers[0].name, 'onnx::Conv_193');
  assert.match(json.stderr, /^note: 1 layer name/);
  // named layers: no note
  const named = await run([convModel('named.onnx', 'conv1.weight')]);
  assert.equal(named.code, 0, named.stderr);
  assert.doesNotMatch(named.stdout, /note:/);
});

test('--csv: a header and one row per layer; --layers filters by regular expression', async () => {
  const r = await run([join(fixtures, 'small.safetensors'), '--csv', '--layers', '^fc']);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 3);
  assert.match(lines[0], /^name,kind,shape,edges,density,collapsed,unweighted_t1,unweighted_t2,/);
  assert.match(lines[1], /^fc1\.weight,linear,32x256,819,/);
  assert.match(lines[2], /^fc2\.weight,linear,10x32,/);
  const header = lines[0].split(',');
  assert.equal(lines[1].split(',').length, header.length);
});

test('--mask applies masks by name; a complete block gives t2 = 0, DeltaS "Infinity"; undefined values are null', async () => {
  // One layer [4, 6] with all-ones mask (K(4, 6)) and small weights (t1 < 1: eb undefined).
  const model = join(dir, 'complete.safetensors');
  writeSafetensors(model, new Map([['layer.weight', { shape: [4, 6], data: new Float32Array(24).fill(0.01) }]]));
  const masks = join(dir, 'complete_masks.safetensors');
  writeSafetensors(masks, new Map([['layer.weight_mask', { shape: [4, 6], data: new Float32Array(24).fill(1) }]]));
  const r = await run([model, '--mask', masks, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const [layer] = JSON.parse(r.stdout).layers;
  assert.equal(layer.unweighted.t2, 0);
  assert.equal(layer.unweighted.deltaS, 'Infinity');
  assert.equal(layer.unweighted.deltaR, 'Infinity');
  assert.ok(Math.abs(layer.unweighted.t1 - Math.sqrt(24)) < 1e-12);
  assert.equal(layer.weighted.eb, null);
  assert.equal(layer.weighted.deltaS, null);
  assert.equal(layer.weighted.ramanujan, false);
  assert.equal(layer.unweighted.ramanujan, true);
  assert.match(r.stdout, /"deltaS": "Infinity"/);
});

test('--criteria: a chosen subset decides the verdicts; an unknown name is an error', async () => {
  const only = await run([join(fixtures, 'small.safetensors'), '--json', '--criteria', 'WD']);
  assert.equal(only.code, 0, only.stderr);
  const out = JSON.parse(only.stdout);
  assert.deepEqual(out.criteria, ['WD']);
  for (const l of out.layers) {
    assert.equal(l.unweighted.ramanujan, null);
    assert.equal(l.ramanujan, l.verdicts.WD);
  }
  const bad = await run([join(fixtures, 'small.safetensors'), '--criteria', 'UE,XX']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /--criteria: unknown criterion "XX"/);
});

/** Writes raw safetensors bytes: header (object or text) + data, optionally lying about the header length. */
function rawSafetensors(name: string, header: unknown, data: Uint8Array, lengthOverride?: bigint): string {
  const h = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(lengthOverride ?? BigInt(h.length));
  const path = join(dir, name);
  writeFileSync(path, Buffer.concat([len, h, data]));
  return path;
}

test('bad input: one clear error naming the file, exit 1, no stack trace', async () => {
  const good = readFileSync(join(fixtures, 'small.safetensors'));
  const truncated = join(dir, 'truncated.safetensors');
  writeFileSync(truncated, good.subarray(0, good.length - 100));
  const cases: Array<[string[], RegExp]> = [
    [[truncated], /truncated\.safetensors: not a valid safetensors file: tensor ".*": data_offsets .* lie outside the .*-byte data buffer \(truncated\?\)/],
    [[rawSafetensors('hlen.safetensors', '{}', new Uint8Array(0), 4096n)], /hlen\.safetensors: .*header length 4096 runs past the end of the file/],
    [[rawSafetensors('json.safetensors', '{"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]', new Uint8Array(16))], /json\.safetensors: .*header is not valid JSON/],
    [[rawSafetensors('range.safetensors', { w: { dtype: 'F32', shape: [2, 2], data_offsets: [8, 24] } }, new Uint8Array(16))], /range\.safetensors: .*tensor "w": data_offsets \[8, 24\] lie outside the 16-byte data buffer/],
    [[rawSafetensors('overlap.safetensors', { a: { dtype: 'F32', shape: [2, 2], data_offsets: [0, 16] }, b: { dtype: 'F32', shape: [2, 2], data_offsets: [8, 24] } }, new Uint8Array(24))], /overlap\.safetensors: .*tensors "a" \[0, 16\] and "b" \[8, 24\] overlap/],
    [[rawSafetensors('i64.safetensors', { w: { dtype: 'C64', shape: [2, 2], data_offsets: [0, 32] } }, new Uint8Array(32))], /i64\.safetensors: tensor "w": dtype C64 is not supported/],
    [[join(dir, 'garbage.onnx')], /garbage\.onnx: not a valid ONNX model/],
    [[join(fixtures, 'small.safetensors'), '--mask', rawSafetensors('mask.safetensors', { 'fc1.weight_mask': { dtype: 'F32', shape: [32, 255], data_offsets: [0, 32640] } }, new Uint8Array(32640))], /mask\.safetensors: mask "fc1\.weight_mask" has shape \[32, 255\] but the weight "fc1\.weight" .* has shape \[32, 256\]/],
    [[join(fixtures, 'small.safetensors'), '--layers', '(unclosed'], /--layers: "\(unclosed" is not a valid regular expression/],
    [[join(fixtures, 'small.safetensors'), '--layers', 'nothing-like-this'], /--layers: "nothing-like-this" matches none of the layers/],
    [[join(dir, 'does-not-exist.safetensors')], /does-not-exist\.safetensors: cannot read the file \(ENOENT\)/],
    [[join(fixtures, 'small.safetensors'), '--json', '--csv'], /--json and --csv cannot be used together/],
  ];
  writeFileSync(join(dir, 'garbage.onnx'), Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01, 0x02]));
  for (const [args, pattern] of cases) {
    const r = await run(args);
    assert.equal(r.code, 1, `${args.join(' ')}: exit ${r.code}, stderr ${r.stderr}`);
    assert.equal(r.stdout, '', args.join(' '));
    assert.match(r.stderr, pattern);
    assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  }
});

test('a layer of 4 isolated edges is reported as collapsed with no verdict (table, JSON, CSV); the regime counts it apart', async () => {
  // conv [8, 2, 2, 2] -> an 8 x 8 graph with 4 edges, every vertex of degree 1 (t2 = 0, Deltas +inf),
  // beside a dense fc layer [6, 8] that keeps its verdicts.
  const model = join(dir, 'collapsed.safetensors');
  const conv = Float32Array.from({ length: 64 }, (_, k) => (k % 9 === 0 && k < 32 ? 0.5 + k / 100 : 0));
  const fc = Float32Array.from({ length: 48 }, (_, k) => 0.1 + ((k * 7) % 11) / 10);
  writeSafetensors(model, new Map([
    ['conv.weight', { shape: [8, 2, 2, 2], data: conv }],
    ['fc.weight', { shape: [6, 8], data: fc }],
  ]));
  const json = await run([model, '--json']);
  assert.equal(json.code, 0, json.stderr);
  const out = JSON.parse(json.stdout);
  const [c, f] = out.layers;
  assert.equal(c.name, 'conv.weight');
  assert.equal(c.edges, 4);
  assert.equal(c.collapsed, true);
  assert.equal(c.verdicts, null);
  assert.equal(c.ramanujan, null);
  assert.equal(c.unweighted.ramanujan, null);
  // the raw values stay
  assert.equal(c.unweighted.t2, 0);
  assert.equal(c.unweighted.dL, 1);
  assert.equal(c.unweighted.deltaS, 'Infinity');
  assert.equal(c.unweighted.deltaR, 'Infinity');
  assert.equal(f.collapsed, false);
  assert.equal(typeof f.ramanujan, 'boolean');
  assert.equal(out.collapsedLayers, 1);
  assert.ok(['fully', 'non'].includes(out.regime), 'the regime is that of the one layer that did not collapse');
  assert.equal(out.regime, f.ramanujan ? 'fully' : 'non');
  assert.match(out.regimeText, /, 1 of 2 layers collapsed$/);

  const table = await run([model]);
  assert.equal(table.code, 0, table.stderr);
  const convLine = table.stdout.split('\n').find((l) => l.startsWith('conv.weight'))!;
  assert.match(convLine, /collapsed \(average degree < 2\): no verdict$/);
  assert.doesNotMatch(convLine, /UE\+|keeps/);
  assert.match(table.stdout, /regime: (fully Ramanujan|non-Ramanujan), 1 of 2 layers collapsed \([01] of 1 layers that did not collapse keep the property/);

  const csv = await run([model, '--csv']);
  const [header, row] = csv.stdout.trim().split('\n').map((l) => l.split(','));
  const cell = (name: string) => row![header!.indexOf(name)];
  assert.equal(cell('collapsed'), 'true');
  for (const k of ['UE', 'UD', 'WE', 'WD', 'ramanujan']) assert.equal(cell(k), '', k);
  assert.equal(cell('unweighted_deltaS'), 'Infinity');

  // only collapsed layers: the regime is 'collapsed'
  const only = await run([model, '--layers', '^conv', '--json']);
  const o = JSON.parse(only.stdout);
  assert.equal(o.regime, 'collapsed');
  assert.equal(o.regimeText, 'collapsed (all 1 analysed layers; no verdict)');
});
