/** The library's public entry point. */
export { UserError } from './errors.js';
export { createKernels, referenceKernels, convOutputSize, DEFAULT_SPARSE_BELOW_DENSITY, type CreateKernelsOptions, type Kernels, type MaskedWeight, type Tensor, hostView, hostViewInt32, type Conv2dGeometry, type FloatArray } from './engine/index.js';
export { createWebGpuKernels, type WebGpuKernels } from './engine/webgpu/index.js';
export { decideDevice, type DeviceChoice } from './engine/device.js';
export { loadDataset, datasetInfo, TrainBatches, testBatches, noisyTestSets, DEFAULT_NOISE_SIGMAS, KNOWN_NORMALIZATION, type Dataset, type Split, type EvalBatchSource, type LoadDatasetOptions, type DatasetInfo } from './data/index.js';
export { Rng, Sequential, createOptimizer, trainStep, trainStepAndRead, computeGradients, evaluate, saveModel, loadModel, type Param, type Optimizer } from './nn/index.js';
export { createModel, buildModel, MODEL_NAMES, countParams, countPrunableWeights, type ModelOptions } from './models/zoo.js';
export { buildReport, summaryTable, REPORT_FORMATS, type ReportInput, type ReportRun, type ReportFormat, type ReportResult } from './report/index.js';
export { runLottery, ramanujanPreservingPrune, magnitudeScores, randomScores, snipScores, synflowScores, selectLayerwise, selectGlobal, pruneLowest, type LotteryCheckpoint, type LotteryConfig, type LevelRecord } from './prune/index.js';
export { openStore, RunStore, executeRun, realEnvironment, parseExperimentConfig, experimentSchema, toLotteryConfig, configFields, PRESETS, findPreset, quickScale, resolveRun, runId, planSweep, runSweep, encodeEvent, decodeEvent, type ExperimentConfig, type RunSummary, type RunEnvironment, type SweepPlan, type SweepResult } from './experiment/index.js';
export { analyzeLayers, createAnalysisPool, type AnalysisPool } from './graph/parallel.js';
export { analyzeLayer, graphMetrics, layerVerdicts, keepsProperty, networkRegime, regimeText, isCollapsed, biadjacencySize, type LayerInput, type GraphMetrics, type LayerAnalysis, type LayerVerdicts, type Regime, type Criterion, type CriterionSet, type Weighting } from './graph/index.js';
export { readSafetensors, writeSafetensors, SafetensorsReader, TensorScratch, type SafetensorsFile, type SafetensorsTensor, type SafetensorsEntry } from './io/safetensors.js';
export { readOnnxWeights, type OnnxWeight } from './io/onnx.js';
export { readModelLayers, openModelLayers, type ModelLayer, type ModelLayerInfo, type ModelLayerSource } from './io/model.js';
