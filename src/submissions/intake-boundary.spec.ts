import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';

/**
 * One direction of flow (issue 9): upload → store → queue → sandbox → scorer → leaderboard → report. Intake only
 * stores the upload and queues its check; the check, the runs and the sandbox are downstream and must not be reached
 * from here, or the flow runs backwards again (and a module cycle follows).
 */
const SRC = resolve(__dirname, '..');
const FORBIDDEN = ['runs', 'sandbox'].map((dir) => join(SRC, dir));

/** Every module specifier a TypeScript file names: import/export … from, side-effect import, import(), require(). */
export function specifiersOf(source: string): string[] {
  const found: string[] = [];
  const patterns = [/\b(?:import|export)\s[^'";]*?\bfrom\s*['"]([^'"]+)['"]/g, /\bimport\s*['"]([^'"]+)['"]/g, /\b(?:import|require)\s*\(\s*['"]([^'"]+)['"]\s*\)/g];
  for (const pattern of patterns) for (const m of source.matchAll(pattern)) found.push(m[1]!);
  return found;
}

function tsFilesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? tsFilesUnder(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

/** The imports of `file` that resolve into src/runs or src/sandbox, as `file: specifier`. */
function backwardImports(file: string): string[] {
  return specifiersOf(readFileSync(file, 'utf8'))
    .filter((spec) => spec.startsWith('.'))
    .filter((spec) => {
      const target = resolve(file, '..', spec);
      return FORBIDDEN.some((dir) => target === dir || target.startsWith(dir + sep));
    })
    .map((spec) => `${relative(SRC, file)}: ${spec}`);
}

describe('src/submissions (intake) does not import the run machinery', () => {
  it('finds the import forms it looks for', () => {
    const sample = [
      "import { A } from '../runs/a';",
      "import type {\n  B,\n} from \"../sandbox/b\";",
      "export { C } from '../runs/c';",
      "import '../sandbox/d';",
      "const e = require('../runs/e');",
      "const f = await import('../sandbox/f');",
    ].join('\n');
    expect(specifiersOf(sample)).toEqual(expect.arrayContaining(['../runs/a', '../sandbox/b', '../runs/c', '../sandbox/d', '../runs/e', '../sandbox/f']));
  });

  it('no file under src/submissions imports from ../runs or ../sandbox', () => {
    // This spec's own samples above are strings, not imports.
    const files = tsFilesUnder(__dirname).filter((f) => f !== __filename);
    expect(files.length).toBeGreaterThan(5);
    expect(files.flatMap(backwardImports)).toEqual([]);
  });
});
