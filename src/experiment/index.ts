/** The experiment layer: configs, presets, the run store, runs with resume, sweeps. */
export { experimentSchema, parseExperimentConfig, toLotteryConfig, configFields, configKeys, MODEL_DATASETS, type ExperimentConfig, type ExperimentConfigInput, type ConfigField } from './schema.js';
export { parseSetOption, applyOverrides, type Override } from './overrides.js';
export { PRESETS, findPreset, isSweepPreset, quickScale, QUICK_ITERATIONS, QUICK_MAX_LEVELS, QUICK_TEST_SUBSET, type Preset, type SweepVariant } from './presets.js';
export { resolveRun, buildConfig, loadConfigSource, readConfigFile, type ResolvedRun } from './resolve.js';
export { runId, canonicalJson, RUN_ID_LENGTH } from './run-id.js';
export { openStore, RunStore, DEFAULT_WORKSPACE, DATABASE_FILE, type RunSummary, type RunStatus } from './store.js';
export { writeLevelCheckpoint, readCheckpoint, readLevelTensors, levelFile, REWIND_FILE } from './checkpoints.js';
export { executeRun, type RunEnvironment, type RunReporter, type RunRequest, type RunContext, type LotteryLoop } from './runner.js';
export { realEnvironment } from './environment.js';
export { planSweep, runSweep, serveSweepWorker, sweepSchema, type SweepPlan, type SweepRun, type SweepResult } from './sweep.js';
export { encodeEvent, decodeEvent, levelEvent, type RunStartEvent, type LevelEvent, type RunDoneEvent } from './events.js';
export { jsonReporter, plainReporter, terminalReporter, reporterFor } from './progress.js';
export { mergeWorkspaces, checkWorkspace, type MergeOutcome, type MergeAction } from './merge.js';
export { submitSweep, sweepStatus, batchScript, type SlurmOptions, type SlurmRunState } from './slurm.js';
