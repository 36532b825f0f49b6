// Runs the compiled test suite: every dist/test/**/*.test.js file, and nothing else (helper
// modules under test/ are not test files; Node 20's `node --test DIR` would run them too).
// Extra arguments are passed to `node --test` (e.g. --test-name-pattern).
import { readdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const files = readdirSync(join(root, 'dist', 'test'), { recursive: true, encoding: 'utf8' })
  .filter((f) => f.endsWith('.test.js'))
  .map((f) => relative(root, join(root, 'dist', 'test', f)))
  .sort();
if (files.length === 0) {
  process.stderr.write('run-tests: no test files under dist/test (did the build run?)\n');
  process.exit(1);
}
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=2', ...process.argv.slice(2), ...files], {
  cwd: root,
  stdio: 'inherit',
});
process.exit(r.status ?? 1);
