import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * The project's root (the folder holding package.json), found from this file: the same from src/ (jest, ts-node) and
 * dist/src/ (node), so files that tsc does not copy (templates, styles, browser scripts) are read from where they sit.
 */
export function packageRoot(): string {
  let dir = __dirname;
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'src'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`package root not found above ${__dirname}`);
    dir = up;
  }
}
