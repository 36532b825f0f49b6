import { readFileSync } from 'node:fs';
import { packageRoot } from '../paths.js';
import { join } from 'node:path';

/** The version in package.json, so `ramanujan --version` never drifts from the package. */
export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}
