/**
 * Runs the real CLI (bin/ramanujan.js) with the given arguments and, when the process exits,
 * writes its peak resident memory (process.resourceUsage().maxRSS, in KiB) to a file: a parent's
 * spawn reports no resource usage of its child. Not a test file; the fuzzer (engine.ts) spawns it:
 *
 *   node dist/test/fuzz/child.js REPORT_FILE CLI_ARGS...
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { packageRoot } from '../../src/paths.js';

const [report, ...args] = process.argv.slice(2);
const bin = join(packageRoot(), 'bin', 'ramanujan.js');
process.on('exit', () => {
  try {
    writeFileSync(report, String(process.resourceUsage().maxRSS));
  } catch {
    // the fuzzer then reports the memory as unknown
  }
});
process.argv = [process.argv[0], bin, ...args];
await import(pathToFileURL(bin).href);
