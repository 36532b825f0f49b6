/**
 * The run store's tables: their SQL, the version of that layout, and the column map between the
 * records the pruning loop produces (src/prune/records.ts, src/graph/types.ts) and the columns
 * that hold them. The lists below are checked by the compiler against those record types in both
 * directions, so a field added to a record without a column (or a column naming no field) fails
 * to build instead of being silently dropped from the store.
 */
import type { GraphMetrics, LayerVerdicts } from '../graph/types.js';
import type { Algorithm1Attempt, LayerLevelRecord } from '../prune/records.js';

/** SQLite application_id of this project's databases: "RLTH". */
export const APPLICATION_ID = 0x524c5448;
/**
 * Version of the store's tables, in the header's user_version. 1: the first. 2: `layers.collapsed`
 * (NULL in rows written by version 1; readers derive it from the stored degrees). A store is
 * brought up to date when a writer opens it (`migrate` in store.ts); readers read every version up
 * to this one.
 */
export const SCHEMA_VERSION = 2;
/** The tables a store must have (SCHEMA). */
export const TABLES = ['runs', 'levels', 'noisy_accuracies', 'layers', 'layer_metrics', 'decisions', 'attempts', 'events'];

/** GraphMetrics fields that are numbers held in their own column ('weighting' and 'collapsed' are
 *  stored apart). */
type MetricField = Exclude<keyof GraphMetrics, 'weighting' | 'collapsed'>;

// GraphMetrics fields in column order; nullable ones read back as null, the others as numbers
// (SQLite stores NaN as NULL, so a NULL in a number column reads back as NaN).
export const METRIC_NUMBERS = ['edges', 't1', 't2', 'sigma2', 't1Multiplicity', 'isolatedL', 'isolatedR', 'components', 'largestComponentL', 'largestComponentR'] as const satisfies readonly MetricField[];
export const METRIC_NULLABLES = ['dL', 'dR', 'weightedDL', 'weightedDR', 'eb', 'db', 'dbWeighted', 'deltaS', 'deltaR', 'deltaRWeighted'] as const satisfies readonly MetricField[];
/** The graphs of a layer that have metrics (rows of layer_metrics, by `slot`). */
export const METRIC_SLOTS = ['unweighted', 'weighted', 'score'] as const satisfies ReadonlyArray<keyof LayerLevelRecord>;
/** Algorithm1Attempt fields held in their own column (fraction, removed and check are named in the SQL). */
export const ATTEMPT_FIELDS = ['dL', 'dR', 'deltaS', 'deltaR', 'scoreDeltaS', 'scoreT1'] as const satisfies ReadonlyArray<keyof Algorithm1Attempt>;
export const VERDICTS = ['UE', 'UD', 'WE', 'WD', 'combined'] as const satisfies ReadonlyArray<keyof LayerVerdicts>;

// The other direction: every field of the records has a column. Each line fails to compile when
// a record gains a field that the lists above leave out.
type Unlisted<All, Listed> = [Exclude<All, Listed>] extends [never] ? true : Exclude<All, Listed>;
const everyMetricHasAColumn: Unlisted<MetricField, (typeof METRIC_NUMBERS)[number] | (typeof METRIC_NULLABLES)[number]> = true;
const everyAttemptFieldHasAColumn: Unlisted<keyof Algorithm1Attempt, (typeof ATTEMPT_FIELDS)[number] | 'fraction' | 'removed' | 'check'> = true;
const everyVerdictHasAColumn: Unlisted<keyof LayerVerdicts, (typeof VERDICTS)[number]> = true;
void [everyMetricHasAColumn, everyAttemptFieldHasAColumn, everyVerdictHasAColumn];

/** The column of a record field: camelCase to snake_case (`deltaRWeighted` -> `delta_r_weighted`). */
export const column = (field: string) => field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** The tables of a new store (version SCHEMA_VERSION). */
export const SCHEMA = `
CREATE TABLE runs (
  id TEXT PRIMARY KEY,
  label TEXT NOT NULL,
  preset TEXT,
  config TEXT NOT NULL,
  quick INTEGER NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('running', 'interrupted', 'failed', 'done')),
  stop_reason TEXT,
  error TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  finished_at TEXT,
  owner_pid INTEGER,
  owner_host TEXT,
  owner_start TEXT,
  owner_token TEXT
);
CREATE TABLE levels (
  run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  level INTEGER NOT NULL,
  density REAL NOT NULL,
  remaining INTEGER NOT NULL,
  total INTEGER NOT NULL,
  train_loss REAL,
  accuracy REAL,
  regime TEXT NOT NULL,
  criterion TEXT NOT NULL,
  has_decisions INTEGER NOT NULL,
  train_ms REAL, eval_ms REAL, analyze_ms REAL, score_ms REAL, prune_ms REAL,
  checkpoint TEXT NOT NULL,
  finished INTEGER NOT NULL,
  stop_reason TEXT,
  created_at TEXT NOT NULL,
  PRIMARY KEY (run_id, level)
);
CREATE TABLE noisy_accuracies (
  run_id TEXT NOT NULL, level INTEGER NOT NULL, position INTEGER NOT NULL,
  sigma TEXT NOT NULL, accuracy REAL,
  PRIMARY KEY (run_id, level, position),
  FOREIGN KEY (run_id, level) REFERENCES levels(run_id, level) ON DELETE CASCADE
);
CREATE TABLE layers (
  run_id TEXT NOT NULL, level INTEGER NOT NULL, position INTEGER NOT NULL,
  name TEXT NOT NULL, kind TEXT NOT NULL, shape TEXT NOT NULL,
  total INTEGER NOT NULL, remaining INTEGER NOT NULL, density REAL NOT NULL, analysed INTEGER NOT NULL,
  ${VERDICTS.map((v) => `verdict_${v.toLowerCase()} INTEGER NOT NULL`).join(', ')},
  collapsed INTEGER,
  PRIMARY KEY (run_id, level, position),
  FOREIGN KEY (run_id, level) REFERENCES levels(run_id, level) ON DELETE CASCADE
);
CREATE TABLE layer_metrics (
  run_id TEXT NOT NULL, level INTEGER NOT NULL, layer TEXT NOT NULL,
  slot TEXT NOT NULL CHECK (slot IN ('unweighted', 'weighted', 'score')),
  weighting TEXT NOT NULL,
  ${METRIC_NUMBERS.map((f) => `${column(f)} REAL`).join(', ')},
  ${METRIC_NULLABLES.map((f) => `${column(f)} REAL`).join(', ')},
  collapsed INTEGER NOT NULL,
  PRIMARY KEY (run_id, level, layer, slot),
  FOREIGN KEY (run_id, level) REFERENCES levels(run_id, level) ON DELETE CASCADE
);
CREATE TABLE decisions (
  run_id TEXT NOT NULL, level INTEGER NOT NULL, position INTEGER NOT NULL,
  layer TEXT NOT NULL, outcome TEXT NOT NULL, fraction REAL NOT NULL, removed INTEGER NOT NULL,
  PRIMARY KEY (run_id, level, position),
  FOREIGN KEY (run_id, level) REFERENCES levels(run_id, level) ON DELETE CASCADE
);
CREATE TABLE attempts (
  run_id TEXT NOT NULL, level INTEGER NOT NULL, decision INTEGER NOT NULL, position INTEGER NOT NULL,
  fraction REAL NOT NULL, removed INTEGER NOT NULL, check_name TEXT NOT NULL,
  ${ATTEMPT_FIELDS.map((f) => `${column(f)} REAL`).join(', ')},
  PRIMARY KEY (run_id, level, decision, position),
  FOREIGN KEY (run_id, level) REFERENCES levels(run_id, level) ON DELETE CASCADE
);
CREATE TABLE events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  run_id TEXT,
  time TEXT NOT NULL,
  event TEXT NOT NULL,
  data TEXT NOT NULL
);
CREATE INDEX events_by_run ON events(run_id, id);
`;
