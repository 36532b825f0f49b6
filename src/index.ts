/** The library's public entry point. */
export { UserError } from './errors.js';
export { loadDataset, datasetInfo, TrainBatches, testBatches, noisyTestSets, DEFAULT_NOISE_SIGMAS, KNOWN_NORMALIZATION, type Dataset, type Split, type EvalBatchSource, type LoadDatasetOptions, type DatasetInfo } from './data/index.js';
