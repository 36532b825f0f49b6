/** Stand-in options for child processes, from the environment (set by the tests that spawn them). */
import type { StandInOptions } from './stand-in.js';

export function standInOptionsFromEnv(): StandInOptions {
  const num = (v: string | undefined) => (v === undefined || v === '' ? null : Number(v));
  return {
    levelDelayMs: num(process.env.STANDIN_LEVEL_DELAY_MS) ?? 0,
    failAtLevel: num(process.env.STANDIN_FAIL_AT_LEVEL),
    failSeed: num(process.env.STANDIN_FAIL_SEED),
  };
}
