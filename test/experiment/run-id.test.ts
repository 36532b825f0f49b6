/**
 * Run ids (src/experiment/run-id.ts): the ids version 1 gave are kept, keys added later are
 * neutral at the default they came with, device/threads never count, and every schema key is
 * registered in one of the rule's lists.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ID_EXCLUDED_KEYS, KEYS_ADDED_AFTER_V1, V1_KEYS, canonicalJson, idJson, readStoredConfig, runId } from '../../src/experiment/run-id.js';
import { configKeys, parseExperimentConfig, type ExperimentConfig } from '../../src/experiment/schema.js';

const FIXTURE = new URL('../../../test/fixtures/stores/v1-run-ids.json', import.meta.url);
const v1Ids = JSON.parse(readFileSync(FIXTURE, 'utf8')) as Array<{ label: string; id: string; config: string }>;

test('every id of version 1 (each preset run, quick or not, and configs with overrides) is kept', () => {
  assert.ok(v1Ids.length > 50);
  for (const { label, id, config } of v1Ids) {
    // As stored (version 1's keys only) and as today's schema resolves it (new keys at defaults).
    assert.equal(runId(JSON.parse(config) as ExperimentConfig), id, label);
    assert.equal(runId(readStoredConfig(config)), id, `${label} (re-parsed)`);
  }
  assert.equal(new Set(v1Ids.map((r) => r.id)).size, v1Ids.length, 'the fixture ids are distinct');
});

/** A copy of `config` with `value` at the dotted `path`. */
function withKey(config: unknown, path: string, value: unknown): ExperimentConfig {
  const out = structuredClone(config) as Record<string, unknown>;
  const parts = path.split('.');
  let cur = out;
  for (const p of parts.slice(0, -1)) cur = (cur[p] ??= {}) as Record<string, unknown>;
  cur[parts[parts.length - 1]] = value;
  return out as unknown as ExperimentConfig;
}

test('a key added after version 1 counts only when it differs from its introducing default', () => {
  const base = parseExperimentConfig({ pruning: { bound: true }, training: { iterations: 50 } }, 'test');
  const id = runId(base);
  assert.ok(Object.keys(KEYS_ADDED_AFTER_V1).length >= 3);
  for (const [key, dflt] of Object.entries(KEYS_ADDED_AFTER_V1)) {
    assert.equal(runId(withKey(base, key, dflt)), id, `${key} at its default`);
    assert.notEqual(runId(withKey(base, key, `${String(dflt)}-other`)), id, `${key} at another value`);
  }
  // All at their defaults at once, in a different key order.
  let all = base;
  for (const [key, dflt] of Object.entries(KEYS_ADDED_AFTER_V1).reverse()) all = withKey(all, key, dflt);
  assert.equal(runId(all), id);
  // A registered key under pruning.bound is absent when Algorithm 1 is off: nothing to drop, same id.
  const off = parseExperimentConfig({ training: { iterations: 50 } }, 'test');
  assert.equal(runId(withKey(off, 'pruning.targetScope', 'network')), runId(off));
});

test('device and threads never enter the id', () => {
  const base = parseExperimentConfig({}, 'test');
  for (const key of ID_EXCLUDED_KEYS)
    for (const value of ['auto', 'cpu', 'gpu', 4]) assert.equal(runId(withKey(base, key, value)), runId(base), `${key}=${value}`);
  assert.ok(ID_EXCLUDED_KEYS.includes('device'));
});

test('a version 1 key always counts, defaults included', () => {
  const base = parseExperimentConfig({}, 'test');
  assert.notEqual(runId(withKey(base, 'data.dataDir', '/data')), runId(base));
  const text = idJson(base);
  for (const key of V1_KEYS.filter((k) => !k.startsWith('pruning.bound.'))) {
    const last = key.split('.').pop()!;
    assert.ok(text.includes(`"${last}":`), `${key} is hashed`);
  }
  // the same config with only version 1's keys (as a store of version 1 holds it) hashes the same
  assert.equal(idJson(base), canonicalJson(onlyKeys(base, V1_KEYS)), 'a config of version 1 keys hashes as version 1 did');
  assert.equal(idJson(onlyKeys(base, V1_KEYS)), idJson(base));
});

/** `value` with only the dotted `keys` (and the groups above them). */
function onlyKeys(value: unknown, keys: readonly string[], prefix = ''): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    const path = prefix ? `${prefix}.${k}` : k;
    if (keys.includes(path) || ['data', 'training', 'pruning', 'evaluation'].includes(path)) out[k] = onlyKeys(v, keys, path);
  }
  return out;
}

/** Dotted paths of every leaf of a resolved config (and pruning.bound itself). */
function leafPaths(value: unknown, prefix = '', out: string[] = []): string[] {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    if (prefix) out.push(prefix);
    for (const [k, v] of Object.entries(value)) leafPaths(v, prefix ? `${prefix}.${k}` : k, out);
  } else out.push(prefix);
  return out;
}

test('every schema key is a version 1 key, registered with its introducing default, or excluded from ids', () => {
  const groups = new Set(['data', 'training', 'pruning', 'evaluation']);
  const keys = new Set([...configKeys(), ...leafPaths(parseExperimentConfig({ pruning: { bound: true } }, 'test'))]);
  const known = new Set([...V1_KEYS, ...Object.keys(KEYS_ADDED_AFTER_V1), ...ID_EXCLUDED_KEYS]);
  const unregistered = [...keys].filter((k) => !groups.has(k) && !known.has(k));
  assert.deepEqual(unregistered, [], `register these keys in src/experiment/run-id.ts (KEYS_ADDED_AFTER_V1 with the default they come with, or ID_EXCLUDED_KEYS): ${unregistered.join(', ')}`);
  for (const key of Object.keys(KEYS_ADDED_AFTER_V1)) assert.ok(!V1_KEYS.includes(key), `${key} is a version 1 key`);
  for (const key of ID_EXCLUDED_KEYS) assert.ok(!V1_KEYS.includes(key), `${key} is a version 1 key: excluding it would change old ids`);
  // Every version 1 key is still in the schema (removing one would change what old ids mean).
  for (const key of V1_KEYS) assert.ok(keys.has(key), `${key} left the schema`);
  // A registered key that the schema has must accept its introducing default.
  for (const [key, dflt] of Object.entries(KEYS_ADDED_AFTER_V1)) {
    if (!keys.has(key)) continue;
    assert.doesNotThrow(() => parseExperimentConfig(withKey({ pruning: { bound: {} } }, key, dflt), 'test'), key);
  }
});
