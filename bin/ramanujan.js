#!/usr/bin/env node
// Entry point of the `ramanujan` command: runs the compiled CLI in dist/.
// `ramanujan --version` alone is answered here from package.json, as the CLI would answer it,
// without loading the CLI's modules (a fifth of a second of start-up on a 2-core machine).
import { readFileSync } from 'node:fs';

const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
  process.stdout.write(`${JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version}\n`);
} else {
  const { main, reportCliError } = await import('../dist/src/cli/main.js');
  main(args).then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      // main() reports its own errors; this is for one thrown outside it (an internal error).
      process.exitCode = reportCliError(err);
    },
  );
}
