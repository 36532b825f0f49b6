/**
 * The layering of src/ (DESIGN.md "Architecture: one direction of flow"): a module imports only
 * modules of its own folder or of a lower layer, and no modules import each other in a cycle.
 * Type-only imports count too: a type is as much a dependency of the design as a value.
 *
 * The layers, lowest first (folders on one line are independent and must not import each other):
 *   src/*.ts, config/, random/               what everything shares: errors.ts, paths.ts (any file
 *                                            directly in src/ but index.ts), config types, the RNG
 *   io/                                      file formats (safetensors, ONNX, atomic writes)
 *   data/, engine/, graph/                   datasets; the compute engine; the Ramanujan analysis
 *   nn/                                      layers, optimisers, training on the engine
 *   models/                                  the model zoo
 *   prune/                                   scores, masks, the lottery loop (uses graph)
 *   experiment/                              configs, runs, sweeps, the store
 *   report/                                  charts, tables, HTML
 *   cli/                                     the commands
 *   index.ts                                 the package's public API
 *
 * Imports are read with regular expressions after comments are stripped, rather than with a
 * parser: the TypeScript 7 compiler this project builds with has no JavaScript API, and import
 * declarations are a small, regular part of the grammar. The parser is tested below so that it
 * cannot pass the layering check by finding nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));

const LAYERS: string[][] = [
  ['src/*.ts', 'config', 'random'],
  ['io'],
  ['data', 'engine', 'graph'],
  ['nn'],
  ['models'],
  ['prune'],
  ['experiment'],
  ['report'],
  ['cli'],
  ['index.ts'],
];

/** The source with comments replaced by spaces (string and template literals kept). */
function stripComments(src: string): string {
  let out = '';
  let i = 0;
  while (i < src.length) {
    const c = src[i];
    if (c === '/' && src[i + 1] === '/') {
      while (i < src.length && src[i] !== '\n') i++;
    } else if (c === '/' && src[i + 1] === '*') {
      const end = src.indexOf('*/', i + 2);
      const stop = end < 0 ? src.length : end + 2;
      out += src.slice(i, stop).replace(/[^\n]/g, ' ');
      i = stop;
    } else if (c === "'" || c === '"' || c === '`') {
      let j = i + 1;
      while (j < src.length && src[j] !== c) j += src[j] === '\\' ? 2 : 1;
      out += src.slice(i, j + 1);
      i = j + 1;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

/** The module specifiers a TypeScript source imports: static, re-exports, side-effect and dynamic. */
function importSpecifiers(src: string): string[] {
  const code = stripComments(src);
  const found: string[] = [];
  const patterns = [
    /(?:^|[;}\n])\s*(?:import|export)\s[^;'"`]*?\bfrom\s*(['"])([^'"]+)\1/g,
    /(?:^|[;}\n])\s*import\s*(['"])([^'"]+)\1/g,
    /\bimport\s*\(\s*(['"])([^'"]+)\1\s*\)/g,
  ];
  for (const re of patterns) for (const m of code.matchAll(re)) found.push(m[2]);
  return found;
}

/** Every .ts file under src/, as paths relative to src/ with forward slashes. */
function sourceFiles(): string[] {
  return readdirSync(SRC, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
    .map((f) => f.split('\\').join('/'))
    .sort();
}

/** module -> the src modules it imports (relative specifiers only; packages are not layers). */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sourceFiles()) {
    const targets: string[] = [];
    for (const spec of importSpecifiers(readFileSync(join(SRC, file), 'utf8'))) {
      if (!spec.startsWith('.')) continue;
      const abs = resolve(dirname(join(SRC, file)), spec).replace(/\.js$/, '.ts');
      assert.ok(existsSync(abs), `${file} imports ${spec}, which is not a file under src/`);
      targets.push(relative(SRC, abs).split('\\').join('/'));
    }
    graph.set(file, targets);
  }
  return graph;
}

/** The folder under src/ a module belongs to; the files directly in src/ are one unit, but index.ts. */
function unitOf(file: string): string {
  if (!file.includes('/')) return file === 'index.ts' ? file : 'src/*.ts';
  return file.split('/')[0];
}

function layerOf(file: string): number {
  const layer = LAYERS.findIndex((units) => units.includes(unitOf(file)));
  assert.ok(layer >= 0, `src/${file} is in no layer: add its folder to LAYERS in test/layering.test.ts`);
  return layer;
}

/** The strongly connected components with more than one module (or a module importing itself). */
function cycles(graph: Map<string, string[]>): string[][] {
  // Tarjan's algorithm (recursive: the module graph is small and shallow)
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, counter);
    low.set(v, counter);
    counter++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(scc.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

test('the import reader finds static, multi-line, type-only, re-export, side-effect and dynamic imports, and none in comments or strings', () => {
  const src = [
    "import { a } from './a.js';",
    'import {',
    '  b,',
    '  type B,',
    "} from '../b.js';",
    "import type { C } from \"./c.js\";",
    "export * from './d.js';",
    "export { e, type E } from './e.js';",
    "import './f.js';",
    "const g = await import('./g.js');",
    "// import { x } from './comment.js';",
    "/* export * from './block.js'; */",
    " * import { y } from './doc.js';",
    "const s = \"from './string.js'\";",
    "const url = 'https://example.org/x'; import { h } from './h.js';",
  ].join('\n');
  assert.deepEqual(importSpecifiers(src).sort(), ['../b.js', './a.js', './c.js', './d.js', './e.js', './f.js', './g.js', './h.js']);
});

test('the checks see the real import graph (so an empty graph cannot pass them)', () => {
  const graph = importGraph();
  const edges = [...graph.values()].reduce((s, t) => s + t.length, 0);
  assert.ok(graph.size > 80, `${graph.size} modules`);
  assert.ok(edges > 200, `${edges} imports`);
  assert.ok(graph.get('prune/lottery.ts')!.includes('nn/sequential.ts'));
  assert.ok(graph.get('data/batches.ts')!.includes('random/rng.ts'));
  // the detector finds a planted cycle and a planted upward import
  assert.deepEqual(cycles(new Map([['a', ['b']], ['b', ['c']], ['c', ['a']], ['d', ['a']]])), [['a', 'b', 'c']]);
  assert.ok(layerOf('nn/optim.ts') < layerOf('prune/config.ts'));
});

test('no module of src/ imports a higher layer or another folder of its own layer', () => {
  const graph = importGraph();
  const violations: string[] = [];
  for (const [file, targets] of graph) {
    for (const target of targets) {
      if (unitOf(target) === unitOf(file)) continue;
      const [from, to] = [layerOf(file), layerOf(target)];
      if (to >= from) violations.push(`src/${file} imports src/${target} (${to > from ? 'a higher layer' : 'a folder of its own layer'})`);
    }
  }
  assert.deepEqual(violations, []);
});

test('no import cycles between the modules of src/', () => {
  assert.deepEqual(cycles(importGraph()), []);
});
