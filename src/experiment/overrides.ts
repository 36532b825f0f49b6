/**
 * `--set key.path=value` overrides and the key-path assignments of sweep files.
 *
 * The value is read as a YAML scalar or flow collection (`0.1`, `true`, `null`, `[0.1, 0.2]`,
 * `{criterion: UE}`), so the command line and config files spell values the same way. Whether the
 * key exists and the value fits is the schema's job (src/experiment/schema.ts), which checks the
 * whole config once every override is applied.
 */
import { parse as parseYaml } from 'yaml';
import { UserError } from '../errors.js';

export interface Override {
  /** dotted key path, e.g. `training.lr` */
  key: string;
  value: unknown;
}

/** Parses one `key.path=value` argument of --set. */
export function parseSetOption(text: string): Override {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new UserError(`--set ${text}: expected key.path=value, e.g. --set training.lr=0.001`);
  const key = text.slice(0, eq).trim();
  checkKeyPath(key, `--set ${text}`);
  const raw = text.slice(eq + 1);
  let value: unknown;
  try {
    value = raw.trim() === '' ? '' : parseYaml(raw);
  } catch (err) {
    throw new UserError(`--set ${text}: the value is not valid YAML (${(err as Error).message.split('\n')[0]})`);
  }
  checkReservedKeys(value, `--set ${key}`);
  return { key, value };
}

/**
 * Names no config key may have, anywhere (--set paths, config and sweep files): JavaScript's own
 * object machinery. `__proto__` as a key would change an object's prototype instead of setting a
 * value (prototype pollution), and all three make the schema library fail inside.
 */
export const RESERVED_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

export function reservedKeyProblem(name: string): string {
  return `"${name}" is not allowed as a config key (an internal name of JavaScript objects)`;
}

function checkKeyPath(key: string, where: string): void {
  if (!/^[A-Za-z_][\w-]*(\.[A-Za-z_][\w-]*)*$/.test(key)) {
    throw new UserError(`${where}: "${key}" is not a key path (names separated by dots, e.g. training.lr)`);
  }
  for (const part of key.split('.')) if (RESERVED_KEYS.has(part)) throw new UserError(`${where}: ${reservedKeyProblem(part)}`);
}

/** How deep a config may nest (it needs 3: pruning.bound.criterion; sweeps a few more). */
export const MAX_CONFIG_DEPTH = 32;

/**
 * Throws a UserError naming `source` and the key path if `value` holds a reserved key at any depth
 * (also inside dotted keys, as sweep grids use), or nests deeper than MAX_CONFIG_DEPTH (which
 * would only overflow the stack of whatever reads it next). Iterative, so any depth is safe here.
 */
export function checkReservedKeys(value: unknown, source: string): void {
  const pending: Array<{ value: unknown; path: string; depth: number }> = [{ value, path: '', depth: 0 }];
  while (pending.length > 0) {
    const { value: v, path, depth } = pending.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    if (depth >= MAX_CONFIG_DEPTH) throw new UserError(`${source}: ${path || 'the config'} nests deeper than ${MAX_CONFIG_DEPTH} levels; a config needs a few`);
    if (Array.isArray(v)) {
      v.forEach((item, i) => pending.push({ value: item, path: `${path}[${i}]`, depth: depth + 1 }));
      continue;
    }
    for (const key of Object.keys(v)) {
      const full = path ? `${path}.${key}` : key;
      const bad = key.split('.').find((part) => RESERVED_KEYS.has(part));
      if (bad !== undefined) throw new UserError(`${source}: key "${full}": ${reservedKeyProblem(bad)}`);
      pending.push({ value: (v as Record<string, unknown>)[key], path: full, depth: depth + 1 });
    }
  }
}

/**
 * Returns a deep copy of `config` with every override applied in order. Intermediate groups that
 * are missing or null are created (so `pruning.bound.criterion=UE` switches the bound on).
 */
export function applyOverrides(config: unknown, overrides: readonly Override[], where = '--set'): Record<string, unknown> {
  const root = isPlainObject(config) ? structuredClone(config) : {};
  for (const { key, value } of overrides) {
    checkKeyPath(key, where);
    const parts = key.split('.');
    let node: Record<string, unknown> = root;
    for (let i = 0; i < parts.length - 1; i++) {
      const next = node[parts[i]];
      if (next === undefined || next === null) {
        node[parts[i]] = {};
      } else if (!isPlainObject(next)) {
        const prefix = parts.slice(0, i + 1).join('.');
        throw new UserError(`${where} ${key}: ${prefix} is a value (${JSON.stringify(next)}), not a group of keys`);
      }
      node = node[parts[i]] as Record<string, unknown>;
    }
    node[parts[parts.length - 1]] = structuredClone(value);
  }
  return root;
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
