#!/usr/bin/env python3
"""The figures in docs/results.md's "Table 2 at the paper's protocol" that `ramanujan report` does
not print, computed from a workspace that holds the `table2-lenet-mnist` sweep:

1. classes cut off: for each plain row and seed, the rows of the output layer (`fc3.weight`,
   10 x 100) without a single remaining edge at the run's last level;
2. which check of Algorithm 1 accepted each step of the Bound rows (the store's `attempts` table:
   line 12 `unweighted`, line 17 `score-weighted`, `failed`, `collapse-guard`), with the range of
   the score graph's t1 and Delta_S on the attempts that reached line 17 (the same counts as
   `ramanujan report`'s algorithm1-checks.md, read here straight from the SQL table, a check of
   one against the other);
3. the SynFlow score sum R at each SynFlow-Bound run's last level and at level 0 (the sum of the
   logits of the network with every weight and bias replaced by its absolute value, on an all-ones
   input, from the level's trained weights), the quantity NOTES section 8 compares with the
   paper's Table 4 ticket;
4. whether each `bound-mean1` run is the same run as its `bound` row (every tensor of every level's
   checkpoint byte-identical).

Usage: python3 scripts/table2_protocol_extras.py WORKSPACE
Needs Python 3 and NumPy (Debian: python3-numpy). It only reads the workspace (the SQLite store is
opened read-only). Checkpoints are safetensors files: an 8-byte little-endian header length, a JSON
header, then the raw tensors; the reader below is those few lines rather than a dependency on the
`safetensors` package, which Debian does not ship.
"""
import json
import os
import re
import sqlite3
import struct
import sys

import numpy as np

SWEEP = 'table2-lenet-mnist'
LABEL = re.compile(SWEEP + r' (\S+) algorithm=(\S+) seed=(\d+)$')
NAMES = {'imp': 'IMP', 'snip': 'SNIP', 'synflow': 'SynFlow'}


def read_tensors(path):
    """{name: raw bytes} of every tensor in a safetensors file (metadata left out)."""
    with open(path, 'rb') as f:
        blob = f.read()
    (header_len,) = struct.unpack('<Q', blob[:8])
    header = json.loads(blob[8:8 + header_len])
    base = 8 + header_len
    return {name: (blob[base + v['data_offsets'][0]:base + v['data_offsets'][1]], v['shape'], v['dtype'])
            for name, v in header.items() if name != '__metadata__'}


def as_array(entry):
    data, shape, dtype = entry
    if dtype != 'F32':
        raise SystemExit(f'expected F32 tensors in the checkpoints, found {dtype}')
    return np.frombuffer(data, dtype=np.float32).reshape(shape).astype(np.float64)


def checkpoint(workspace, run_id, level):
    return os.path.join(workspace, 'runs', run_id, f'level-{level:04d}.safetensors')


def synflow_sum(tensors):
    """R = 1^T |W3| (|W2| (|W1| 1 + |b1|) + |b2|) + sum |b3|, from the level's trained weights."""
    x = np.ones(784)
    for layer in ('fc1', 'fc2', 'fc3'):
        x = np.abs(as_array(tensors[f'trained/{layer}.weight'])) @ x + np.abs(as_array(tensors[f'trained/{layer}.bias']))
    return float(x.sum())


def main():
    if len(sys.argv) != 2:
        raise SystemExit('usage: python3 scripts/table2_protocol_extras.py WORKSPACE')
    workspace = sys.argv[1]
    store = os.path.join(workspace, 'ramanujan.sqlite')
    if not os.path.isfile(store):
        raise SystemExit(f'{store}: no store there (expected the workspace of a `ramanujan sweep {SWEEP}`)')
    db = sqlite3.connect(f'file:{store}?mode=ro', uri=True)

    runs = {}  # (variant, algorithm, seed) -> run id, finished runs only
    for run_id, label, status in db.execute('select id, label, status from runs'):
        m = LABEL.match(label or '')
        if m and status == 'done':
            runs[(m[1], m[2], int(m[3]))] = run_id
    if not runs:
        raise SystemExit(f'{store}: no finished run of the sweep {SWEEP}')

    def last_level(run_id):
        return db.execute('select max(level) from levels where run_id = ?', (run_id,)).fetchone()[0]

    def accuracy(run_id, level):
        return 100 * db.execute('select accuracy from levels where run_id = ? and level = ?', (run_id, level)).fetchone()[0]

    def seeds_of(variant, algorithm):
        return sorted(s for (v, a, s) in runs if v == variant and a == algorithm)

    print('## Classes without an output edge at the last level (plain rows)\n')
    print('| algorithm | alpha | output-layer edges | per seed: classes without an edge (clean accuracy) |')
    print('|---|---:|---:|---|')
    for algorithm in NAMES:
        for variant in ('alpha-1.5', 'alpha-2'):
            cells, edges = [], ''
            for seed in seeds_of(variant, algorithm):
                run_id = runs[(variant, algorithm, seed)]
                level = last_level(run_id)
                fc3 = as_array(read_tensors(checkpoint(workspace, run_id, level))['trained/fc3.weight'])  # [10, 100]
                cut = int(((fc3 != 0).sum(axis=1) == 0).sum())
                edges = int((fc3 != 0).sum())
                cells.append(f'{seed}: {cut} ({accuracy(run_id, level):.2f}%)')
            if cells:
                print(f"| {NAMES[algorithm]} | {variant[len('alpha-'):]} | {edges} | {'; '.join(cells)} |")

    print('\n## Which check of Algorithm 1 accepted each step (Bound rows)\n')
    print('| row | runs | line 12 (unweighted) | line 17 (score-weighted) | failed | collapse guard | score-graph t1 (Delta_S) at line 17 |')
    print('|---|---:|---:|---:|---:|---:|---|')
    for variant in ('bound', 'bound-mean1'):
        for algorithm in NAMES:
            ids = [runs[(variant, algorithm, s)] for s in seeds_of(variant, algorithm)]
            if not ids:
                continue
            marks = ','.join('?' * len(ids))
            counts = dict(db.execute(f'select check_name, count(*) from attempts where run_id in ({marks}) group by check_name', ids))
            t1 = db.execute(f'select min(score_t1), max(score_t1) from attempts where run_id in ({marks}) and score_t1 is not null', ids).fetchone()
            ds = db.execute(f'select min(score_delta_s), max(score_delta_s) from attempts where run_id in ({marks}) and score_delta_s is not null', ids).fetchone()
            t1_text = '-' if t1[0] is None else f'{t1[0]:.2f}-{t1[1]:.2f}'
            ds_text = '' if ds[0] is None else f' (Delta_S {ds[0]:.2f} to {ds[1]:.2f})'
            label = f"{NAMES[algorithm]}-Bound{' (mean1)' if variant == 'bound-mean1' else ''}"
            print(f"| {label} | {len(ids)} | {counts.get('unweighted', 0)} | {counts.get('score-weighted', 0)} | "
                  f"{counts.get('failed', 0)} | {counts.get('collapse-guard', 0)} | {t1_text}{ds_text} |")

    print('\n## SynFlow score sum R (SynFlow-Bound)\n')
    print('| seed | last level | density % | R at the last level | R at level 0 (dense, trained) |')
    print('|---:|---:|---:|---:|---:|')
    for seed in seeds_of('bound', 'synflow'):
        run_id = runs[('bound', 'synflow', seed)]
        level = last_level(run_id)
        density = 100 * db.execute('select density from levels where run_id = ? and level = ?', (run_id, level)).fetchone()[0]
        r_last = synflow_sum(read_tensors(checkpoint(workspace, run_id, level)))
        r_dense = synflow_sum(read_tensors(checkpoint(workspace, run_id, 0)))
        print(f'| {seed} | {level} | {density:.2f} | {r_last:,.0f} | {r_dense:,.0f} |')

    print('\n## bound-mean1 against bound: the same run?\n')
    for algorithm in NAMES:
        for seed in seeds_of('bound-mean1', algorithm):
            if ('bound', algorithm, seed) not in runs:
                continue
            a, b = runs[('bound', algorithm, seed)], runs[('bound-mean1', algorithm, seed)]
            files_a = sorted(f for f in os.listdir(os.path.join(workspace, 'runs', a)) if f.startswith('level-'))
            files_b = sorted(f for f in os.listdir(os.path.join(workspace, 'runs', b)) if f.startswith('level-'))
            same = files_a == files_b and all(
                read_tensors(os.path.join(workspace, 'runs', a, f)) == read_tensors(os.path.join(workspace, 'runs', b, f)) for f in files_a)
            print(f"- {NAMES[algorithm]}-Bound seed {seed}: {len(files_a)} and {len(files_b)} level checkpoints, "
                  f"{'byte-identical' if same else 'different'}")


if __name__ == '__main__':
    main()
