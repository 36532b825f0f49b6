/**
 * A run's id is a hash of its resolved config (as open_lth names a run's folder by its
 * hyperparameters): running the same config again finds the same run, so a finished run is
 * reported instead of recomputed and an unfinished one resumes. Every field counts, defaults
 * included, since the config is hashed after the schema filled them in; key order does not.
 */
import { createHash } from 'node:crypto';
import type { ExperimentConfig } from './schema.js';

/** Length of a run id in hex digits (64 bits). */
export const RUN_ID_LENGTH = 16;

export function runId(config: ExperimentConfig): string {
  return createHash('sha256').update(canonicalJson(config)).digest('hex').slice(0, RUN_ID_LENGTH);
}

/** JSON with object keys sorted at every depth, so equal configs give equal text. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
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
