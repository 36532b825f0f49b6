#!/usr/bin/env node
// Entry point of the `ramanujan` command: runs the compiled CLI in dist/.
import { main } from '../dist/src/cli/main.js';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`ramanujan: internal error: ${err && err.stack ? err.stack : err}\n`);
    process.exitCode = 70;
  },
);
