/**
 * Checks the layer names a config lists (weights excluded from pruning or from the analysis)
 * against the model's prunable weights before anything runs, so a typo is a config error that
 * writes nothing, rather than a failed run. The names come from the zoo's shape pass
 * (`prunableWeightShapes`): no model is built and no weights are allocated.
 */
import type { ModelName } from '../config/types.js';
import { INPUT_SHAPES } from '../data/builtin.js';
import { UserError } from '../errors.js';
import { prunableWeightShapes } from '../models/zoo.js';
import { datasetKind, type ExperimentConfig } from './schema.js';

/** The prunable weights of a model for an input shape, in layer order. */
export function prunableWeightNames(model: ModelName, inputShape: [number, number, number]): string[] {
  return prunableWeightShapes(model, inputShape, 10).map((w) => w.name); // names do not depend on the class count
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
