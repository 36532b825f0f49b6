/**
 * A run's id is a hash of what determines its results (as open_lth names a run's folder by its
 * hyperparameters): running the same config again finds the same run, so a finished run is
 * reported instead of recomputed and an unfinished one resumes. Key order does not count.
 *
 * The rule (docs/experiments.md, "Run ids"), so that adding an option never orphans a store:
 * - every key of schema version 1 (`V1_KEYS`) is hashed with its value, defaults included, exactly
 *   as version 1 hashed it, so the ids of stores written then stay what they were;
 * - a key added later is registered in `KEYS_ADDED_AFTER_V1` with the default it came with, and is
 *   left out of the hash while it has that value (a config that never heard of it and one that
 *   states the default are the same run); any other value is hashed;
 * - the keys in `ID_EXCLUDED_KEYS` never enter the hash: they choose how a run computes (device,
 *   threads), not what it computes (results differ only within float tolerance).
 * test/experiment/run-id.test.ts fails when a schema key is in none of these lists.
 */
import { createHash } from 'node:crypto';
import { experimentSchema, type ExperimentConfig } from './schema.js';

/** Length of a run id in hex digits (64 bits). */
export const RUN_ID_LENGTH = 16;

/** The config keys of schema version 1 (dotted paths of the leaves, and Algorithm 1's keys). Frozen: never edit. */
export const V1_KEYS: readonly string[] = Object.freeze([
  'model', 'seed', 'quick',
  'data.dataset', 'data.dataDir', 'data.trainSubset', 'data.testSubset', 'data.augment',
  'training.optimizer', 'training.lr', 'training.momentum', 'training.nesterov', 'training.weightDecay', 'training.batchSize',
  'training.iterations', 'training.epochs', 'training.schedule', 'training.milestones', 'training.gamma',
  'pruning.algorithm', 'pruning.scope', 'pruning.pConv', 'pruning.pFc', 'pruning.pOut', 'pruning.pGlobal',
  'pruning.rewindIteration', 'pruning.targetAlpha', 'pruning.maxLevels', 'pruning.excludeFromPruning', 'pruning.snipBatches',
  'pruning.bound', 'pruning.bound.criterion', 'pruning.bound.maxTries', 'pruning.bound.schedule',
  'evaluation.noiseSigmas', 'evaluation.noiseSeed', 'evaluation.criterion', 'evaluation.excludeFromAnalysis',
]);

/** The groups of version 1 (objects that are kept in the hash even when empty). */
const V1_GROUPS = new Set(['data', 'training', 'pruning', 'evaluation', 'pruning.bound']);

/**
 * Keys added after version 1, each with the default it was introduced with: at that value the key
 * is left out of the id. Register a key here in the same change that adds it to the schema, with
 * the default it has then (never change an entry afterwards: that would change ids).
 */
export const KEYS_ADDED_AFTER_V1: Readonly<Record<string, unknown>> = Object.freeze({
  // Table 2's per-layer protocol (issue 13): the density target applies to the network as a whole.
  'pruning.targetScope': 'network',
  // Algorithm 1 line 17 on raw scores, the paper's rule (NOTES section 6).
  'pruning.bound.scoreScale': 'none',
  // sigma is a standard deviation on the [0,1] pixel scale.
  'evaluation.noiseScale': 'std',
});

/** Keys that never enter the id: where and how fast a run computes, not what it computes. */
export const ID_EXCLUDED_KEYS: readonly string[] = Object.freeze(['device', 'threads']);

/** The part of a config that decides its run id (see the rule above), as a plain object. */
export function idView(config: unknown): unknown {
  return viewOf(config, '');
}

function viewOf(value: unknown, path: string): unknown {
  if (!isPlainObject(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    const full = path ? `${path}.${key}` : key;
    if (ID_EXCLUDED_KEYS.includes(full)) continue;
    if (Object.hasOwn(KEYS_ADDED_AFTER_V1, full) && canonicalJson(v) === canonicalJson(KEYS_ADDED_AFTER_V1[full])) continue;
    const inner = viewOf(v, full);
    // A group added after version 1 whose keys are all at their defaults leaves no trace.
    if (isPlainObject(inner) && Object.keys(inner).length === 0 && !V1_GROUPS.has(full) && isPlainObject(v) && Object.keys(v).length > 0) continue;
    out[key] = inner;
  }
  return out;
}

/** The text a run id hashes (also what tells two stored configs are the same run). */
export function idJson(config: unknown): string {
  return canonicalJson(idView(config));
}

export function runId(config: ExperimentConfig): string {
  return createHash('sha256').update(idJson(config)).digest('hex').slice(0, RUN_ID_LENGTH);
}

/**
 * A config as stored with a run, with the keys added since it was stored filled in with their
 * defaults (so every reader sees today's shape); the stored object as it is when it no longer
 * validates.
 */
export function readStoredConfig(text: string): ExperimentConfig {
  const raw = JSON.parse(text) as unknown;
  const parsed = experimentSchema.safeParse(raw);
  return parsed.success ? parsed.data : (raw as ExperimentConfig);
}

/** JSON with object keys sorted at every depth, so equal configs give equal text. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) out[key] = sortKeys((value as Record<string, unknown>)[key]);
    return out;
  }
  return value;
}

/** Key of a run's group in a report: what its run id hashes, without the seed. */
export function groupKey(config: unknown): string {
  const rest = config !== null && typeof config === 'object' ? { ...(config as Record<string, unknown>) } : config;
  if (rest !== null && typeof rest === 'object') delete (rest as Record<string, unknown>).seed;
  return idJson(rest);
}
