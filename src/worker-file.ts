// Where a worker-thread entry point is: next to this file when running compiled (dist/), or the
// compiled copy in dist/ when running from the TypeScript sources (tests, tsx).
import * as fs from 'node:fs';
import * as path from 'node:path';

export function workerFile(relative: string): string {
  const compiled = relative.replace(/\.ts$/, '.js');
  const candidates = [path.join(__dirname, compiled), path.resolve(__dirname, '..', 'dist', compiled)];
  const found = candidates.find((f) => fs.existsSync(f));
  if (!found) throw new Error(`worker entry ${compiled} not found (looked in ${candidates.join(', ')}); run \`npm run build\``);
  return found;
}
