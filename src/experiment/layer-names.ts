/**
 * Checks the layer names a config lists (weights excluded from pruning or from the analysis)
 * against the model's prunable weights before anything runs, so a typo is a config error that
 * writes nothing, rather than a failed run. The names come from building the model (plain
 * TypeScript kernels, no training); cached per model and input shape.
 */
import { referenceKernels } from '../engine/reference.js';
import { UserError } from '../errors.js';
import { createModel } from '../models/zoo.js';
import type { ModelName } from '../prune/config.js';
import { datasetKind, type ExperimentConfig } from './schema.js';

const INPUT_SHAPES: Record<string, [number, number, number]> = {
  mnist: [1, 28, 28],
  'fashion-mnist': [1, 28, 28],
  cifar10: [3, 32, 32],
};

const cache = new Map<string, string[]>();

/** The prunable weights of a model for an input shape, in layer order. */
export function prunableWeightNames(model: ModelName, inputShape: [number, number, number]): string[] {
  const key = `${model}:${inputShape.join('x')}`;
  let names = cache.get(key);
  if (!names) {
    names = createModel(model, referenceKernels(), { seed: 0, inputShape, classes: 10 })
      .prunableParams()
      .map((p) => p.name);
    cache.set(key, names);
  }
  return names;
}

/** Throws a UserError naming the field and the valid names if a listed layer does not exist.
 *  Image folders are checked when loaded (their image shape is not known before). */
export function checkLayerNames(config: ExperimentConfig, source: string): void {
  const lists: Array<[string, string[]]> = [
    ['pruning.excludeFromPruning', config.pruning.excludeFromPruning],
    ['evaluation.excludeFromAnalysis', config.evaluation.excludeFromAnalysis],
  ];
  if (lists.every(([, list]) => list.length === 0)) return;
  const inputShape = INPUT_SHAPES[datasetKind(config.data.dataset) ?? ''];
  if (!inputShape) return;
  const names = prunableWeightNames(config.model, inputShape);
  for (const [field, list] of lists) {
    for (const name of list) {
      if (!names.includes(name)) {
        throw new UserError(`${source}: ${field}: "${name}" is not a prunable weight of ${config.model}; allowed: ${names.join(', ')}`);
      }
    }
  }
}
