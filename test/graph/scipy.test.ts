/**
 * Reference values from SciPy/NumPy (dense LAPACK SVD, ARPACK svds, csgraph components), made by
 * scripts/scipy_spectra.py and committed in test/fixtures/graph/scipy_spectra.json. The layers
 * are rebuilt here from the same counter hash, so the fixture holds only numbers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { analyzeLayer } from '../../src/graph/index.js';
import { packageRoot } from '../../src/paths.js';
import { hashedLayer, relClose } from './reference.js';

interface Entry { t1: number; t2: number; sigma2: number; multiplicity: number; top: number[] }
interface Case {
  rows: number; cols: number; density: number; seed: number;
  edges: number; dL: number | null; dR: number | null; isolatedL: number; isolatedR: number; components: number;
  unweighted: Entry; weighted: Entry;
}

const fixture = JSON.parse(readFileSync(join(packageRoot(), 'test', 'fixtures', 'graph', 'scipy_spectra.json'), 'utf8')) as { cases: Case[] };

test('the fixture covers shapes from 10x10 to 4608x512 and densities 100% to 0.5%', () => {
  const sizes = fixture.cases.map((c) => c.rows * c.cols);
  assert.equal(Math.min(...sizes), 100);
  assert.equal(Math.max(...sizes), 4608 * 512);
  assert.equal(Math.max(...fixture.cases.map((c) => c.density)), 1);
  assert.equal(Math.min(...fixture.cases.map((c) => c.density)), 0.005);
});

for (const c of fixture.cases) {
  test(`${c.rows}x${c.cols} at density ${c.density}: t1, t2, sigma2, multiplicity, degrees and components as SciPy`, () => {
    const { mask, weight } = hashedLayer(c.rows, c.cols, c.density, c.seed);
    const a = analyzeLayer({ name: 'case', kind: 'linear', shape: [c.rows, c.cols], weight, mask });
    assert.equal(a.edges, c.edges, 'the regenerated mask matches the one SciPy saw');
    for (const [got, ref] of [[a.unweighted, c.unweighted], [a.weighted, c.weighted]] as const) {
      const what = `${got.weighting}: got t1=${got.t1} t2=${got.t2} sigma2=${got.sigma2} mult=${got.t1Multiplicity}; SciPy ${JSON.stringify(ref)}`;
      assert.ok(relClose(got.t1, ref.t1, 1e-6), what);
      assert.ok(relClose(got.t2, ref.t2, 1e-6, 1e-12), what);
      assert.ok(relClose(got.sigma2, ref.sigma2, 1e-6, 1e-12), what);
      assert.equal(got.t1Multiplicity, ref.multiplicity, what);
      assert.equal(got.components, c.components);
      assert.equal(got.isolatedL, c.isolatedL);
      assert.equal(got.isolatedR, c.isolatedR);
      assert.ok(relClose(got.dL!, c.dL!, 1e-14) && relClose(got.dR!, c.dR!, 1e-14));
    }
  });
}
