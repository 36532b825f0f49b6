#!/usr/bin/env node
// Entry point of the `ramanujan` command: runs the compiled CLI in dist/.
import { main, reportCliError } from '../dist/src/cli/main.js';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    // main() reports its own errors; this is for one thrown outside it (an internal error).
    process.exitCode = reportCliError(err);
  },
);
