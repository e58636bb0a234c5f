// Lets a child process (the chaos suite's worker) run the TypeScript sources directly: .ts files are compiled on
// require with the repository's .swcrc settings, as @swc/jest does for the tests. Output is cached by content hash,
// so the worker's later lives start without compiling again.
const { transformSync } = require('@swc/core');
const { createHash } = require('node:crypto');
const { mkdirSync, readFileSync, writeFileSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');

const swcrc = JSON.parse(readFileSync(join(__dirname, '..', '..', '.swcrc'), 'utf8'));
delete swcrc.$schema;
const cacheDir = join(tmpdir(), 'assay-swc-cache');
mkdirSync(cacheDir, { recursive: true });
require.extensions['.ts'] = function compile(module, filename) {
  const source = readFileSync(filename, 'utf8');
  const cached = join(cacheDir, `${createHash('sha256').update(filename).update('\0').update(source).digest('hex')}.js`);
  let code;
  try {
    code = readFileSync(cached, 'utf8');
  } catch {
    code = transformSync(source, { ...swcrc, filename, swcrc: false, configFile: false }).code;
    writeFileSync(cached, code);
  }
  module._compile(code, filename);
};
