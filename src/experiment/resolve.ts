/**
 * From what the user typed to resolved configs: a preset name or a config file (YAML or JSON,
 * optionally starting from a preset with `preset: <name>`), then `--quick`, then `--set`
 * overrides, each step validated by the schema. Everything is checked before anything runs, so a
 * bad input writes nothing to the workspace.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, extname } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { checkNamedDataDir } from '../data/data-dir.js';
import { UserError, fileError } from '../errors.js';
import { checkLayerNames } from './layer-names.js';
import { applyOverrides, checkReservedKeys, isPlainObject, type Override } from './overrides.js';
import { PRESETS, findPreset, quickScale, type Preset } from './presets.js';
import { parseExperimentConfig, type ExperimentConfig } from './schema.js';

export interface ConfigSource {
  /** the raw config (before the schema's defaults) */
  raw: Record<string, unknown>;
  /** the preset it is or starts from */
  preset: Preset | null;
  /** the preset name or file path, for messages */
  source: string;
  /** short name for run labels: the preset name or the file's base name */
  name: string;
}

/** Largest config or sweep file read (they are a few KB; parsing YAML takes many times its size). */
export const MAX_CONFIG_BYTES = 1 << 20;

/** Reads a YAML or JSON file into a plain object. */
export function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    const stat = statSync(path);
    if (stat.isDirectory()) throw fileError(path, 'is a folder, expected a YAML or JSON config file');
    // A FIFO would be waited on forever; a device is no config.
    if (!stat.isFile()) throw fileError(path, 'is not a regular file (a device, FIFO or socket), expected a YAML or JSON config file');
    if (stat.size > MAX_CONFIG_BYTES) throw fileError(path, `is ${stat.size} bytes; a config or sweep file is at most ${MAX_CONFIG_BYTES} bytes (1 MiB)`);
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if (err instanceof UserError) throw err;
    throw fileError(path, `cannot read the file (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  let data: unknown;
  const json = extname(path).toLowerCase() === '.json';
  try {
    // A .json file is read as strict JSON (YAML, a superset, would accept a trailing comma or
    // comments that a JSON tool then rejects); anything else as YAML.
    data = text.trim() === '' ? {} : json ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw fileError(path, `not valid ${json ? 'JSON' : 'YAML'}: ${(err as Error).message.split('\n')[0]}`);
  }
  if (!isPlainObject(data)) throw fileError(path, 'expected a mapping of config keys at the top level');
  checkReservedKeys(data, path);
  return data;
}

/** A preset name or a config file path. */
export function loadConfigSource(arg: string): ConfigSource {
  const preset = findPreset(arg);
  if (preset) return { raw: structuredClone(preset.config) as Record<string, unknown>, preset, source: `preset ${arg}`, name: arg };
  if (!existsSync(arg)) {
    throw new UserError(`"${arg}" is neither a preset nor a file; presets: ${PRESETS.map((p) => p.name).join(', ')}`);
  }
  const data = readConfigFile(arg);
  for (const key of ['grid', 'variants', 'seeds', 'base']) {
    if (key in data) throw fileError(arg, `has "${key}", which belongs in a sweep file: use ramanujan sweep ${arg}`);
  }
  return fromFileData(data, arg);
}

/** A config file's data: `preset: <name>` starts from that preset, the rest is merged over it. */
export function fromFileData(data: Record<string, unknown>, path: string): ConfigSource {
  const name = basename(path, extname(path));
  if (!('preset' in data)) return { raw: data, preset: null, source: path, name };
  const { preset: presetName, ...rest } = data;
  const preset = typeof presetName === 'string' ? findPreset(presetName) : undefined;
  if (!preset) {
    throw fileError(path, `preset: unknown preset ${JSON.stringify(presetName)}; allowed: ${PRESETS.map((p) => p.name).join(', ')}`);
  }
  return { raw: deepMerge(structuredClone(preset.config) as Record<string, unknown>, rest), preset, source: path, name };
}

/** Objects merge key by key; anything else (values, lists) replaces. */
export function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    out[k] = isPlainObject(v) && isPlainObject(out[k]) ? deepMerge(out[k] as Record<string, unknown>, v) : v;
  }
  return out;
}

/**
 * The resolved config of a raw config with overrides, scaled by --quick if asked. Overrides win
 * over --quick (so `--quick --set training.iterations=50` trains 50 iterations).
 */
export function buildConfig(raw: Record<string, unknown>, overrides: readonly Override[], quick: boolean, source: string): ExperimentConfig {
  const where = overrides.length > 0 ? `${source} (with overrides)` : source;
  let config = parseExperimentConfig(applyOverrides(raw, overrides), where);
  if (quick) config = parseExperimentConfig(applyOverrides(quickScale(config), overrides), `${where} with --quick`);
  checkLayerNames(config, where);
  checkDataDir(config, where);
  return config;
}

/**
 * A data.dataDir that does not exist is a mistake (a typo, an unmounted disk), not a request for
 * the default location: refused here, before anything runs, instead of the dataset being looked
 * up elsewhere (for MNIST, the copy bundled with the package). The same for $RAMANUJAN_DATA_DIR
 * where the data folder is searched (a dataset named without a PATH).
 */
function checkDataDir(config: ExperimentConfig, where: string): void {
  const dir = config.data.dataDir;
  if (dir === null && config.data.dataset.includes(':')) return;
  checkNamedDataDir(dir, dir === null ? undefined : `${where}: data.dataDir`);
}

export interface ResolvedRun {
  config: ExperimentConfig;
  /** human label: source name, --quick, overrides */
  label: string;
  preset: string | null;
}

/** `ramanujan run <preset|config> [--set k=v]... [--quick]`: a run preset's first seed. */
export function resolveRun(arg: string, overrides: readonly Override[], quick: boolean): ResolvedRun {
  const src = loadConfigSource(arg);
  if (src.preset && src.source.startsWith('preset ') && (src.preset.variants.length > 0 || Object.keys(src.preset.grid).length > 0)) {
    throw new UserError(`preset ${arg} is a sweep of ${sweepSize(src.preset)} runs: use ramanujan sweep ${arg}`);
  }
  const seeds = src.preset && src.source.startsWith('preset ') ? [{ key: 'seed', value: src.preset.seeds[0] }] : [];
  const config = buildConfig(src.raw, [...seeds, ...overrides], quick, src.source);
  const parts = [src.name, ...overrides.map((o) => `${o.key}=${JSON.stringify(o.value)}`)];
  if (quick) parts.push('quick');
  return { config, label: parts.join(' '), preset: src.preset?.name ?? null };
}

function sweepSize(p: Preset): number {
  const grid = Object.values(p.grid).reduce((n, values) => n * values.length, 1);
  return grid * Math.max(1, p.variants.length) * p.seeds.length;
}
