/**
 * Pruning: scores, mask selection, Algorithm 1 (Ramanujan-preserving) and the lottery loop.
 * See docs/pruning.md.
 */
export type { LotteryConfig, TrainingConfig, PruningConfig, BoundConfig, DataConfig, EvaluationConfig, ModelName, PruneAlgorithm } from './config.js';
export type { LevelRecord, LayerLevelRecord, Algorithm1Decision, Algorithm1Attempt, Algorithm1Check, PhaseTimings } from './records.js';
export { runLottery, type LotteryCheckpoint, type LotteryDeps, type LotteryOptions, type LotteryProgress, type GraphApi } from './lottery.js';
export { ramanujanPreservingPrune, attemptFraction, skippedDecision, scaleToMeanOne, type Algorithm1Layer, type Algorithm1Result, type GraphMetricsFn } from './algorithm1.js';
export { magnitudeScores, randomScores, snipScores, synflowScores, type LayerScores, type MinibatchSource } from './scores.js';
export {
  countRemaining, pruneCount, layerFraction, layerFloor, flooredPruneCount, pruneLowest, selectLayerwise, selectGlobal, kthSmallest,
  type ScoreArray, type LayerFractions, type SelectionLayer, type Selection,
} from './select.js';
