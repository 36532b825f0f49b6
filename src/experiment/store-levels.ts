/**
 * A level's record (src/prune/records.ts) in the run store's tables and back: one `levels` row,
 * its noisy accuracies, one `layers` row per layer with a `layer_metrics` row per graph, and
 * Algorithm 1's decisions with their attempts. The column map is in store-schema.ts. RunStore
 * (store.ts) calls these inside its transactions and checks who holds the run.
 */
import type Database from 'better-sqlite3';
import { isCollapsed, networkRegime } from '../graph/bounds.js';
import type { GraphMetrics, LayerVerdicts } from '../graph/types.js';
import type { Algorithm1Attempt, Algorithm1Decision, LayerLevelRecord, LevelRecord } from '../prune/records.js';
import { ATTEMPT_FIELDS, column, METRIC_NULLABLES, METRIC_NUMBERS, METRIC_SLOTS, VERDICTS } from './store-schema.js';

/** Where a level's checkpoint is and what the loop had decided when it was written. */
export interface LevelCheckpointState {
  /** the level's checkpoint file, relative to the workspace (written before its rows) */
  checkpoint: string;
  finished: boolean;
  stopReason: string | null;
}

/**
 * Writes one level's rows for a run, replacing any rows of that level or later (a level stored by
 * an earlier attempt that died before its run moved on). Call inside a transaction.
 */
export function writeLevelRows(db: Database.Database, runId: string, record: LevelRecord, state: LevelCheckpointState, createdAt: string): void {
  const insertLevel = db.prepare(
    `INSERT INTO levels (run_id, level, density, remaining, total, train_loss, accuracy, regime, criterion, has_decisions,
       train_ms, eval_ms, analyze_ms, score_ms, prune_ms, checkpoint, finished, stop_reason, created_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const insertNoisy = db.prepare('INSERT INTO noisy_accuracies (run_id, level, position, sigma, accuracy) VALUES (?, ?, ?, ?, ?)');
  const insertLayer = db.prepare(
    `INSERT INTO layers (run_id, level, position, name, kind, shape, total, remaining, density, analysed,
       ${VERDICTS.map((v) => `verdict_${v.toLowerCase()}`).join(', ')}, collapsed)
     VALUES (${new Array(11 + VERDICTS.length).fill('?').join(', ')})`,
  );
  const metricColumns = [...METRIC_NUMBERS, ...METRIC_NULLABLES].map(column);
  const insertMetrics = db.prepare(
    `INSERT INTO layer_metrics (run_id, level, layer, slot, weighting, ${metricColumns.join(', ')}, collapsed)
     VALUES (${new Array(6 + metricColumns.length).fill('?').join(', ')})`,
  );
  const insertDecision = db.prepare('INSERT INTO decisions (run_id, level, position, layer, outcome, fraction, removed) VALUES (?, ?, ?, ?, ?, ?, ?)');
  const insertAttempt = db.prepare(
    `INSERT INTO attempts (run_id, level, decision, position, fraction, removed, check_name, ${ATTEMPT_FIELDS.map(column).join(', ')})
     VALUES (${new Array(7 + ATTEMPT_FIELDS.length).fill('?').join(', ')})`,
  );
  const r = record;
  db.prepare('DELETE FROM levels WHERE run_id = ? AND level >= ?').run(runId, r.level);
  const tm = r.timings;
  insertLevel.run(runId, r.level, r.density, r.remaining, r.total, r.trainLoss, r.accuracy.clean, r.regime, r.criterion, r.decisions ? 1 : 0,
    tm.trainMs, tm.evalMs, tm.analyzeMs, tm.scoreMs, tm.pruneMs, state.checkpoint, state.finished ? 1 : 0, state.stopReason, createdAt);
  Object.entries(r.accuracy.noisy).forEach(([sigma, acc], i) => insertNoisy.run(runId, r.level, i, sigma, acc));
  r.layers.forEach((layer, i) => {
    insertLayer.run(runId, r.level, i, layer.name, layer.kind, JSON.stringify(layer.shape), layer.total, layer.remaining, layer.density,
      layer.analysed ? 1 : 0, ...VERDICTS.map((v) => (layer.verdicts?.[v] ? 1 : 0)), layer.collapsed ? 1 : 0);
    for (const slot of METRIC_SLOTS) {
      const m = layer[slot];
      if (!m) continue;
      insertMetrics.run(runId, r.level, layer.name, slot, m.weighting, ...METRIC_NUMBERS.map((f) => m[f]), ...METRIC_NULLABLES.map((f) => m[f]), m.collapsed ? 1 : 0);
    }
  });
  (r.decisions ?? []).forEach((d, i) => {
    insertDecision.run(runId, r.level, i, d.layer, d.outcome, d.fraction, d.removed);
    d.attempts.forEach((a, j) => insertAttempt.run(runId, r.level, i, j, a.fraction, a.removed, a.check, ...ATTEMPT_FIELDS.map((f) => a[f])));
  });
}

/** The level records of a run, in level order, as the pruning loop produced them. */
export function readLevelRecords(db: Database.Database, runId: string): LevelRecord[] {
  const levels = db.prepare('SELECT * FROM levels WHERE run_id = ? ORDER BY level').all(runId) as Array<Record<string, unknown>>;
  if (levels.length === 0) return [];
  const noisy = groupBy(db.prepare('SELECT * FROM noisy_accuracies WHERE run_id = ? ORDER BY level, position').all(runId) as Array<Record<string, unknown>>);
  const layers = groupBy(db.prepare('SELECT * FROM layers WHERE run_id = ? ORDER BY level, position').all(runId) as Array<Record<string, unknown>>);
  const metrics = new Map<string, Record<string, unknown>>();
  for (const m of db.prepare('SELECT * FROM layer_metrics WHERE run_id = ?').all(runId) as Array<Record<string, unknown>>) {
    metrics.set(`${m.level}\u0000${m.layer}\u0000${m.slot}`, m);
  }
  const decisions = groupBy(db.prepare('SELECT * FROM decisions WHERE run_id = ? ORDER BY level, position').all(runId) as Array<Record<string, unknown>>);
  const attempts = new Map<string, Array<Record<string, unknown>>>();
  for (const a of db.prepare('SELECT * FROM attempts WHERE run_id = ? ORDER BY level, decision, position').all(runId) as Array<Record<string, unknown>>) {
    const key = `${a.level}\u0000${a.decision}`;
    if (!attempts.has(key)) attempts.set(key, []);
    attempts.get(key)!.push(a);
  }
  return levels.map((l): LevelRecord => {
    const level = l.level as number;
    const readMetrics = (name: string, slot: string): GraphMetrics | null => {
      const m = metrics.get(`${level}\u0000${name}\u0000${slot}`);
      if (!m) return null;
      const out: Record<string, unknown> = { weighting: m.weighting };
      for (const f of METRIC_NUMBERS) out[f] = num(m[column(f)]);
      for (const f of METRIC_NULLABLES) out[f] = m[column(f)] ?? null;
      // Derived, not read: version 1 wrote "no edge left" here, since then the degree test.
      out.collapsed = isCollapsed(out as { dL: number | null; dR: number | null });
      return out as unknown as GraphMetrics;
    };
    let legacyCollapse = false;
    const layerRecords = (layers.get(level) ?? []).map((row): LayerLevelRecord => {
      const name = row.name as string;
      const unweighted = readMetrics(name, 'unweighted')!;
      // A row of version 1 has no `collapsed` (NULL, or no column in a store not yet migrated):
      // it is derived from the stored degrees, and the layer's stored verdicts are dropped.
      const stored = row.collapsed;
      const collapsed = stored === null || stored === undefined ? isCollapsed(unweighted) : stored === 1;
      if (collapsed && (stored === null || stored === undefined) && row.analysed === 1) legacyCollapse = true;
      const verdicts = collapsed
        ? null
        : (Object.fromEntries(VERDICTS.map((v) => [v, row[`verdict_${v.toLowerCase()}`] === 1])) as unknown as LayerVerdicts);
      return {
        name,
        kind: row.kind as LayerLevelRecord['kind'],
        shape: JSON.parse(row.shape as string) as number[],
        total: row.total as number,
        remaining: row.remaining as number,
        density: row.density as number,
        analysed: row.analysed === 1,
        unweighted,
        weighted: readMetrics(name, 'weighted')!,
        score: readMetrics(name, 'score'),
        collapsed,
        verdicts,
      };
    });
    const decisionRecords =
      l.has_decisions === 1
        ? (decisions.get(level) ?? []).map((d): Algorithm1Decision => ({
            layer: d.layer as string,
            attempts: (attempts.get(`${level}\u0000${d.position}`) ?? []).map((a): Algorithm1Attempt => {
              const out: Record<string, unknown> = { fraction: a.fraction, removed: a.removed, check: a.check_name };
              for (const f of ATTEMPT_FIELDS) out[f] = a[column(f)] ?? null;
              return out as unknown as Algorithm1Attempt;
            }),
            outcome: d.outcome as Algorithm1Decision['outcome'],
            fraction: d.fraction as number,
            removed: d.removed as number,
          }))
        : null;
    return {
      level,
      density: l.density as number,
      remaining: l.remaining as number,
      total: l.total as number,
      layers: layerRecords,
      trainLoss: num(l.train_loss),
      accuracy: {
        clean: num(l.accuracy),
        noisy: Object.fromEntries((noisy.get(level) ?? []).map((n) => [n.sigma as string, num(n.accuracy)])),
      },
      // Version 1 counted collapsed layers as Ramanujan: such a level's regime is taken again.
      regime: legacyCollapse
        ? networkRegime(layerRecords.filter((x) => x.analysed).map((x) => x.verdicts), l.criterion as LevelRecord['criterion'])
        : (l.regime as LevelRecord['regime']),
      criterion: l.criterion as LevelRecord['criterion'],
      decisions: decisionRecords,
      timings: {
        trainMs: num(l.train_ms),
        evalMs: num(l.eval_ms),
        analyzeMs: num(l.analyze_ms),
        scoreMs: num(l.score_ms),
        pruneMs: num(l.prune_ms),
      },
    };
  });
}

function num(v: unknown): number {
  return v === null || v === undefined ? Number.NaN : (v as number);
}

function groupBy(rows: Array<Record<string, unknown>>): Map<number, Array<Record<string, unknown>>> {
  const out = new Map<number, Array<Record<string, unknown>>>();
  for (const row of rows) {
    const level = row.level as number;
    if (!out.has(level)) out.set(level, []);
    out.get(level)!.push(row);
  }
  return out;
}
