/**
 * The default workspace folder, apart from store.ts (which loads better-sqlite3) so that the CLI's
 * command definitions (the --workspace default) read it without loading the store.
 */
export const DEFAULT_WORKSPACE = './ramanujan-runs';
