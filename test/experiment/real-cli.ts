/** The real `ramanujan` CLI (src/cli/main.ts), runnable from source or dist, for tests that spawn it. */
import { main } from '../../src/cli/main.js';

process.exitCode = await main(process.argv.slice(2));
