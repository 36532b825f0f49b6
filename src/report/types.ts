/**
 * Inputs of the report builder. A report is built from plain run descriptions (id, config,
 * level records) so it does not depend on how the experiment store keeps them.
 */
import type { LevelRecord } from '../prune/records.js';

export type ReportFormat = 'html' | 'svg' | 'png' | 'csv';
export const REPORT_FORMATS: readonly ReportFormat[] = ['html', 'svg', 'png', 'csv'];

/** One lottery run as the report sees it. */
export interface ReportRun {
  id: string;
  /** short human name shown in the page */
  label: string;
  /** runs with the same group differ only by seed: they are averaged (mean and spread) */
  group: string;
  /** the run's config (normally a LotteryConfig); shown verbatim, escaped */
  config: unknown;
  /** one record per level, any order (sorted by level here) */
  records: LevelRecord[];
  /** as the store writes it, e.g. 'done', 'running', 'failed' */
  status: string;
  /** The fields below override what is read from `config` (a LotteryConfig) when given. */
  /** 'imp' | 'snip' | 'synflow' | 'random' */
  algorithm?: string;
  /** target density 10^-alpha; null for none */
  alpha?: number | null;
  /** whether the run prunes with Algorithm 1 (the "-Bound" rows of Table 2) */
  bound?: boolean;
  model?: string;
  dataset?: string;
  seed?: number;
}

export interface ReportInput {
  runs: ReportRun[];
  /** created if missing; files already there with the same names are replaced */
  outDir: string;
  formats: ReportFormat[];
  /** page title; default "Ramanujan lottery-ticket report" */
  title?: string;
}

export interface ReportResult {
  /** absolute paths of the files written, in the order written */
  files: string[];
}
