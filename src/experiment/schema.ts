/**
 * The experiment config: one zod schema that is the source of the config's TypeScript type, its
 * validation, the CLI help and the config reference in docs/experiments.md (open_lth style: every
 * knob a typed field with a default and a one-line description, grouped by what it configures).
 *
 * A parsed config is a `LotteryConfig` (src/prune/config.ts, what the pruning loop takes) plus
 * `quick`, the mark that `--quick` scaled it down, and `training.epochs`, which (when set) fixes
 * `training.iterations` from the dataset's size. Parsing is idempotent: parsing a parsed config
 * gives it back unchanged, so the resolved config stored with a run can be read again as a config.
 *
 * Multi-seed experiments are not a run setting: a run has one `seed`, and sweeps and presets list
 * `seeds` (src/experiment/sweep.ts).
 */
import { distance } from 'fastest-levenshtein';
import { z } from 'zod';
import { UserError } from '../errors.js';
import { MODEL_NAMES, type LotteryConfig, type ModelName } from '../config/types.js';
import { BUILTIN_DATASETS, TRAIN_SIZES } from '../data/builtin.js';

export { MODEL_NAMES, BUILTIN_DATASETS, TRAIN_SIZES };
const CRITERIA = ['combined', 'unweighted', 'UE', 'UD', 'WE', 'WD'] as const;

/** Datasets each model is built for. `folder:<path>` datasets are accepted for every model (their
 *  image shape is only known once loaded, and the model checks it then). */
export const MODEL_DATASETS: Record<ModelName, readonly string[]> = {
  // A fully connected net takes any image size; the paper uses MNIST.
  'lenet-300-100': ['mnist', 'fashion-mnist', 'cifar10'],
  // The conv nets are the CIFAR-10 (3x32x32) architectures of Frankle & Carbin.
  conv2: ['cifar10'],
  conv4: ['cifar10'],
  conv6: ['cifar10'],
  vgg19: ['cifar10'],
};

/** The dataset family of a dataset name (`cifar10`, `cifar10:/data/cifar`, `folder:/x`), null if unknown. */
export function datasetKind(name: string): string | null {
  const colon = name.indexOf(':');
  const head = colon < 0 ? name : name.slice(0, colon);
  if (colon >= 0 && colon === name.length - 1) return null;
  if (head === 'folder') return colon < 0 ? null : 'folder';
  return (BUILTIN_DATASETS as readonly string[]).includes(head) ? head : null;
}

// Upper bounds, so that a typo cannot start a run that never ends or allocates what no machine has:
// a batch is batchSize x image floats (65536 x 3x32x32 x 4 bytes = 805 MB); 10 million iterations
// per level is 80 times VGG-19's full schedule; 1000 levels prune any net of the zoo to nothing
// many times over (0.8^1000 < 1e-96), and a level that prunes nothing ends the run anyway.
// SNIP over 10,000 minibatches is 10 epochs of MNIST at batch 60 for one score; 32 noisy test
// sets are 32 more passes over the test set at every level.
export const MAX_BATCH_SIZE = 65536;
export const MAX_ITERATIONS = 10_000_000;
export const MAX_LEVELS = 1000;
export const MAX_SNIP_BATCHES = 10_000;
export const MAX_NOISE_SIGMAS = 32;

const fraction = (dflt: number, what: string) =>
  z.number().gt(0).lt(1).default(dflt).describe(what);
const layerNames = (what: string) => z.array(z.string().min(1)).default([]).describe(what);

const dataSchema = z
  .strictObject({
    dataset: z
      .string()
      .refine((s) => datasetKind(s) !== null, {
        message: `unknown dataset; allowed: ${BUILTIN_DATASETS.join(', ')} (optionally <name>:<folder>) or folder:<path>`,
      })
      .default('mnist')
      .describe('dataset: mnist, fashion-mnist, cifar10 (optionally <name>:<folder>), or folder:<path> (an image folder)'),
    dataDir: z.string().min(1).nullable().default(null).describe('folder holding the dataset files (null: the built-in location)'),
    trainSubset: z.number().int().positive().nullable().default(null).describe('use only N training images, the same share of every class (each class\'s first ones; null: all)'),
    testSubset: z.number().int().positive().nullable().default(null).describe('use only N test images, the same share of every class (each class\'s first ones; null: all)'),
    augment: z.boolean().default(false).describe('random crops and flips while training (CIFAR)'),
  })
  .describe('the dataset and how much of it is used');

const trainingSchema = z
  .strictObject({
    optimizer: z.enum(['adam', 'sgd']).default('adam').describe('optimiser'),
    lr: z.number().positive().default(0.0012).describe('learning rate'),
    momentum: z.number().min(0).lt(1).default(0.9).describe('SGD momentum (SGD only)'),
    nesterov: z.boolean().default(false).describe('Nesterov momentum (SGD only)'),
    weightDecay: z.number().min(0).default(0).describe('L2 weight decay'),
    batchSize: z.number().int().positive().max(MAX_BATCH_SIZE).default(60).describe('training minibatch size'),
    iterations: z.number().int().positive().max(MAX_ITERATIONS).default(20000).describe('training iterations per pruning level'),
    epochs: z.number().positive().nullable().default(null).describe('passes over the training set per level instead of iterations (null: use iterations)'),
    schedule: z.enum(['constant', 'cosine', 'step']).default('constant').describe('learning-rate schedule over the iterations of one level'),
    milestones: z.array(z.number().int().positive()).default([]).describe("'step' schedule: iterations at which the lr is multiplied by gamma"),
    gamma: z.number().gt(0).max(1).default(0.1).describe("'step' schedule: lr factor at each milestone"),
  })
  .describe('how each level trains');

const boundSchema = z
  .strictObject({
    criterion: z.enum(CRITERIA).default('combined').describe('property Algorithm 1 keeps: the combined rule or one criterion'),
    maxTries: z.number().int().positive().default(4).describe('K: fractions tried per layer per level (p, p/2, ...)'),
    schedule: z.enum(['text', 'pseudocode']).default('text').describe("fraction schedule: 'text' p, p/2, p/4, ...; 'pseudocode' p/2, p/4, ..."),
    scoreScale: z.enum(['none', 'mean1']).default('none').describe("line 17's score scale: 'none' raw scores (the paper's rule); 'mean1' the candidate layer's scores divided by their mean over its surviving edges (ours)"),
  })
  .describe('Algorithm 1');

const pruningSchema = z
  .strictObject({
    algorithm: z.enum(['imp', 'snip', 'synflow', 'random']).default('imp').describe('pruning score: magnitude (IMP), SNIP, SynFlow or random'),
    scope: z.enum(['layerwise', 'global']).default('layerwise').describe('prune each layer by its own fraction, or rank all weights together'),
    pConv: fraction(0.1, 'layer-wise: fraction of the remaining conv weights pruned per level'),
    pFc: fraction(0.2, 'layer-wise: fraction of the remaining fully connected weights pruned per level'),
    pOut: fraction(0.1, 'layer-wise: fraction of the remaining output-layer weights pruned per level'),
    pGlobal: fraction(0.2, 'global: fraction of all remaining prunable weights pruned per level'),
    rewindIteration: z.number().int().min(0).default(0).describe('iteration of the first training the surviving weights are reset to (0: the original lottery ticket)'),
    targetAlpha: z.number().positive().nullable().default(null).describe('stop once the density is <= 10^-alpha (null: no density target)'),
    targetScope: z.enum(['network', 'layer']).default('network').describe("'network': stop once the network's density is <= 10^-alpha; 'layer': every layer is pruned down to round(10^-alpha x its size) and no further, stop when all are there (Table 2)"),
    maxLevels: z.number().int().min(0).max(MAX_LEVELS).default(50).describe('stop after this many pruning levels (level 0, the dense net, not counted)'),
    excludeFromPruning: layerNames('weights never pruned (PyTorch names, e.g. fc1.weight)'),
    snipBatches: z.number().int().positive().max(MAX_SNIP_BATCHES).default(1).describe('SNIP: minibatches the gradient is averaged over'),
    // `true` switches Algorithm 1 on with its defaults, `false` off: handy with --set.
    bound: z
      .preprocess((v) => (v === true ? {} : v === false ? null : v), boundSchema.nullable())
      .default(null)
      .describe('Algorithm 1 (Ramanujan-preserving pruning) on top of the score: an object, true for the defaults, or null'),
  })
  .describe('scores, fractions, rewinding, when to stop, Algorithm 1');

const evaluationSchema = z
  .strictObject({
    noiseSigmas: z.array(z.number().positive()).max(MAX_NOISE_SIGMAS).default([0.1, 0.2, 0.3, 0.4, 0.5]).describe('Gaussian noise sigmas (on the [0,1] pixel scale) of the noisy test sets; our values, the paper prints none'),
    noiseScale: z.enum(['std', 'variance']).default('std').describe("how a sigma is read: 'std' the noise's standard deviation; 'variance' its variance (std = sqrt(sigma)); the paper says variance but gives no values"),
    noiseSeed: z.number().int().min(0).default(0).describe('seed of the test-set noise: fixed across runs and seeds, so every run of a sweep sees the same noisy images'),
    criterion: z.enum(CRITERIA).default('unweighted').describe('property that decides the regime: unweighted (max(DeltaS, DeltaR) > 0 on the mask, Figure 4a), combined (Algorithm 1), or one of UE, UD, WE, WD'),
    excludeFromAnalysis: layerNames('weights left out of the regime (e.g. Conv4 first and last layer)'),
  })
  .describe('noisy test sets and the Ramanujan analysis');

const topSchema = z.strictObject({
  model: z.enum(MODEL_NAMES).default('lenet-300-100').describe('network: lenet-300-100, conv2, conv4, conv6 or vgg19'),
  seed: z.number().int().min(0).default(0).describe('seed of initialisation, data order, noise and scores'),
  quick: z.boolean().default(false).describe('set by --quick: the config was scaled down for a CPU'),
  device: z.enum(['auto', 'cpu', 'gpu']).default('auto').describe('compute device: auto (a hardware GPU when present, else the CPU), cpu or gpu; not in the run id'),
  data: dataSchema.prefault({}),
  training: trainingSchema.prefault({}),
  pruning: pruningSchema.prefault({}),
  evaluation: evaluationSchema.prefault({}),
});

/** `training.epochs` sets `training.iterations`: ceil(epochs x training images / batch size). */
function deriveIterations(cfg: z.output<typeof topSchema>, ctx: z.core.$RefinementCtx<z.output<typeof topSchema>>) {
  const epochs = cfg.training.epochs;
  if (epochs === null) return cfg;
  const size = TRAIN_SIZES[datasetKind(cfg.data.dataset) ?? ''];
  if (size === undefined) {
    ctx.addIssue({ code: 'custom', path: ['training', 'epochs'], message: `the size of ${cfg.data.dataset} is not known before it is loaded: give training.iterations instead` });
    return z.NEVER;
  }
  const images = Math.min(size, cfg.data.trainSubset ?? size);
  const iterations = Math.max(1, Math.ceil((epochs * images) / cfg.training.batchSize));
  if (iterations > MAX_ITERATIONS) {
    ctx.addIssue({ code: 'custom', path: ['training', 'epochs'], message: `gives ${iterations} iterations per level, more than the bound of ${MAX_ITERATIONS} iterations` });
    return z.NEVER;
  }
  return { ...cfg, training: { ...cfg.training, iterations } };
}

/** Checks that involve more than one field. */
export const experimentSchema = topSchema.transform(deriveIterations).superRefine((cfg, ctx) => {
  const allowed = MODEL_DATASETS[cfg.model];
  const kind = datasetKind(cfg.data.dataset);
  if (kind !== null && kind !== 'folder' && !allowed.includes(kind)) {
    ctx.addIssue({
      code: 'custom',
      path: ['data', 'dataset'],
      message: `model ${cfg.model} does not run on ${cfg.data.dataset}; allowed: ${allowed.join(', ')} or folder:<path>`,
    });
  }
  // rewindIteration = iterations rewinds to the end of level 0's training (runLottery supports it)
  if (cfg.pruning.rewindIteration > cfg.training.iterations) {
    ctx.addIssue({
      code: 'custom',
      path: ['pruning', 'rewindIteration'],
      message: `must be at most training.iterations (${cfg.training.iterations})`,
    });
  }
  const ms = cfg.training.milestones;
  for (let i = 0; i < ms.length; i++) {
    if (ms[i] >= cfg.training.iterations || (i > 0 && ms[i] <= ms[i - 1])) {
      ctx.addIssue({
        code: 'custom',
        path: ['training', 'milestones', i],
        message: `milestones must increase and stay below training.iterations (${cfg.training.iterations})`,
      });
      break;
    }
  }
  if (cfg.pruning.targetScope === 'layer') {
    if (cfg.pruning.scope === 'global') {
      ctx.addIssue({
        code: 'custom',
        path: ['pruning', 'targetScope'],
        message: "'layer' (a density floor per layer) needs pruning.scope 'layerwise'; global pruning ranks all layers together, so use targetScope 'network'",
      });
    }
    if (cfg.pruning.targetAlpha === null) {
      ctx.addIssue({ code: 'custom', path: ['pruning', 'targetScope'], message: "'layer' needs pruning.targetAlpha (the per-layer density floor 10^-alpha); got null" });
    }
  }
  const sigmas = cfg.evaluation.noiseSigmas;
  if (new Set(sigmas).size !== sigmas.length) {
    ctx.addIssue({ code: 'custom', path: ['evaluation', 'noiseSigmas'], message: 'sigmas must be distinct' });
  }
});

/** A resolved experiment config: what the pruning loop takes, plus the --quick mark. */
export type ExperimentConfig = z.output<typeof experimentSchema>;
/** What a config file may contain (every field optional). */
export type ExperimentConfigInput = z.input<typeof experimentSchema>;

// The schema must produce exactly the loop's config type (checked at compile time both ways).
type Exact<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const _producesLotteryConfig: Exact<Omit<ExperimentConfig, 'quick' | 'device' | 'training'> & { training: Omit<ExperimentConfig['training'], 'epochs'> }, LotteryConfig> = true;
void _producesLotteryConfig;

/** Validates a raw config object (from YAML/JSON plus overrides); `source` names it in errors. */
export function parseExperimentConfig(raw: unknown, source: string): ExperimentConfig {
  const result = experimentSchema.safeParse(raw ?? {}, { reportInput: true });
  if (result.success) return result.data;
  throw new UserError(formatIssues(source, result.error.issues));
}

/** The part of a config the pruning loop takes. */
export function toLotteryConfig(config: ExperimentConfig): LotteryConfig {
  const { quick: _quick, device: _device, training, ...rest } = config;
  const { epochs: _epochs, ...trainingConfig } = training;
  return { ...rest, training: trainingConfig };
}

// ---------------------------------------------------------------------------------------------
// Describing the schema: the config reference (docs, help) and the allowed values in errors.

export interface ConfigField {
  /** dotted key path, e.g. `training.lr` */
  key: string;
  /** what values are allowed, in words, e.g. `number > 0 and < 1` */
  allowed: string;
  /** default value as YAML-ish text */
  default: string;
  description: string;
}

type AnySchema = z.ZodType;

/** Fields whose allowed values the JSON schema cannot say (refinements, preprocessing). */
const ALLOWED_IN_WORDS: Record<string, string> = {
  'data.dataset': `one of ${BUILTIN_DATASETS.join(', ')} (optionally <name>:<folder>) or folder:<path>`,
  'pruning.bound': 'null, true, false or an object with the pruning.bound.* keys',
};

/** The groups of the config, in order, each with its fields. Top-level scalars form group ''. */
export function configFields(): Array<{ group: string; description: string; fields: ConfigField[] }> {
  const groups: Array<{ group: string; description: string; fields: ConfigField[] }> = [
    { group: '', description: 'the model and the seed', fields: [] },
  ];
  for (const [key, field] of Object.entries(topSchema.shape) as Array<[string, AnySchema]>) {
    const inner = unwrapGroup(field);
    if (inner) {
      groups.push({
        group: key,
        description: inner.description ?? key,
        fields: Object.entries(inner.shape as Record<string, AnySchema>).flatMap(([k, f]) => [
          describeField(`${key}.${k}`, f),
          // Algorithm 1's own keys follow pruning.bound.
          ...(`${key}.${k}` === 'pruning.bound'
            ? Object.entries(boundSchema.shape as Record<string, AnySchema>).map(([b, bf]) => describeField(`pruning.bound.${b}`, bf))
            : []),
        ]),
      });
    } else {
      groups[0].fields.push(describeField(key, field));
    }
  }
  return groups;
}

/** Every valid dotted key path of the config (leaves, and `pruning.bound` with its keys). */
export function configKeys(): string[] {
  const keys: string[] = [];
  for (const g of configFields()) for (const f of g.fields) keys.push(f.key);
  return keys;
}

function unwrapGroup(s: AnySchema): z.ZodObject | null {
  const def = (s as unknown as { def: { type: string; innerType?: AnySchema } }).def;
  if (def.type === 'prefault' && def.innerType) return unwrapGroup(def.innerType);
  if (def.type === 'object') return s as unknown as z.ZodObject;
  return null;
}

function describeField(key: string, s: AnySchema): ConfigField {
  const json = z.toJSONSchema(s, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  return {
    key,
    allowed: ALLOWED_IN_WORDS[key] ?? allowedFromJson(json),
    default: key === 'pruning.bound' ? 'null' : 'default' in json ? formatValue(json.default) : '',
    description: s.description ?? '',
  };
}

/** The allowed values of a JSON-schema leaf, in words. */
function allowedFromJson(j: Record<string, unknown>): string {
  if (Array.isArray(j.anyOf)) {
    return (j.anyOf as Array<Record<string, unknown>>).map(allowedFromJson).join(' or ');
  }
  if (Array.isArray(j.enum)) return `one of ${(j.enum as unknown[]).map(String).join(', ')}`;
  switch (j.type) {
    case 'null':
      return 'null';
    case 'boolean':
      return 'true or false';
    case 'string':
      return 'text';
    case 'array': {
      const most = typeof j.maxItems === 'number' ? `, at most ${j.maxItems}` : '';
      return `list of ${plural(allowedFromJson((j.items ?? {}) as Record<string, unknown>))}${most}`;
    }
    case 'integer':
    case 'number': {
      const name = j.type === 'integer' ? 'integer' : 'number';
      const bounds: string[] = [];
      if (typeof j.exclusiveMinimum === 'number') bounds.push(`> ${j.exclusiveMinimum}`);
      if (typeof j.minimum === 'number' && j.minimum > -Number.MAX_SAFE_INTEGER) bounds.push(`>= ${j.minimum}`);
      if (typeof j.exclusiveMaximum === 'number') bounds.push(`< ${j.exclusiveMaximum}`);
      if (typeof j.maximum === 'number' && j.maximum < Number.MAX_SAFE_INTEGER) bounds.push(`<= ${j.maximum}`);
      return bounds.length ? `${name} ${bounds.join(' and ')}` : name;
    }
    default:
      return 'any value';
  }
}

function plural(s: string): string {
  return s.replace(/^(integer|number|text)/, (m) => (m === 'text' ? 'texts' : `${m}s`)).replace(/^one of/, 'values among');
}

export function formatValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return `[${v.map(formatValue).join(', ')}]`;
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

// ---------------------------------------------------------------------------------------------
// Errors: one message naming every field at fault and what it allows.

function formatIssues(source: string, issues: readonly z.core.$ZodIssue[]): string {
  const fields = new Map(configFields().flatMap((g) => g.fields.map((f) => [f.key, f] as const)));
  const lines = issues.map((issue) => {
    const path = issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '');
    if (issue.code === 'unrecognized_keys') {
      return issue.keys
        .map((k) => {
          const full = path ? `${path}.${k}` : k;
          if (full === 'seeds') return 'unknown key "seeds": a run has one seed; list seeds in a sweep (ramanujan sweep)';
          return `unknown key "${full}"${suggest(full)}; allowed here: ${keysUnder(path).join(', ')}`;
        })
        .join('\n');
    }
    const leafPath = issue.path.filter((p) => typeof p === 'string').join('.');
    const field = fields.get(leafPath);
    const allowed = field ? `; allowed: ${field.allowed}` : '';
    if (issue.code === 'custom') return `${path || '(config)'}: ${issue.message}`;
    if (!field) return `${path || '(config)'}: ${issue.message.replace(/^Invalid input: /, '')}${allowed}`;
    const got = 'input' in issue && issue.input !== undefined ? `got ${describeInput(issue.input)}` : 'missing';
    return `${path}: ${got}${allowed}`;
  });
  const body = lines.join('\n');
  return lines.length === 1 ? `${source}: ${body}` : `${source}: ${lines.length} problems:\n${body}`;
}

/** A rejected value as the user wrote it: YAML's .inf and .nan (which JSON would print as null) by name. */
function describeInput(v: unknown): string {
  if (typeof v === 'number' && !Number.isFinite(v)) return Number.isNaN(v) ? '.nan (not a number)' : v > 0 ? '.inf (infinity)' : '-.inf (minus infinity)';
  return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'number' && !Number.isFinite(x) ? String(x) : x)) ?? String(v);
}

function keysUnder(path: string): string[] {
  const prefix = path ? `${path}.` : '';
  const names = new Set<string>();
  for (const key of configKeys()) {
    if (!key.startsWith(prefix)) continue;
    names.add(key.slice(prefix.length).split('.')[0]);
  }
  return [...names];
}

/** " (did you mean x?)" for a key path close to a valid one. */
function suggest(key: string): string {
  let best: string | null = null;
  let bestDistance = Infinity;
  const groups = configFields().map((g) => g.group).filter((g) => g !== '');
  for (const candidate of [...configKeys(), ...groups, 'pruning.bound']) {
    const d = distance(key.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      bestDistance = d;
      best = candidate;
    }
  }
  return best !== null && bestDistance <= Math.max(2, Math.floor(key.length / 4)) ? ` (did you mean ${best}?)` : '';
}
