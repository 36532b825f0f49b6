/** The real `ramanujan` CLI (src/cli/main.ts), runnable from source (tsx) or dist, for the demo tests to spawn. */
import { main } from '../../src/cli/main.js';

// `node --test dist/test/` also starts every file under test/ with no arguments: nothing to do then.
if (process.argv.length > 2) process.exitCode = await main(process.argv.slice(2));
