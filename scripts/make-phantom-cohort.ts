// Writes the SYNTHETIC lesion-phantom cohort (issue 9): <out>/images/<caseId>.nii.gz, <out>/masks/<caseId>.nii.gz,
// <out>/lesions.csv, <out>/cases.csv. Defaults give the shipped cohort (cohorts/lesion-phantoms: seed 20261209,
// 30 cases, 128x128x64); --verify checks the written files against its expected-sha256.json.
// Usage (after `npx tsc -p tsconfig.build.json`):
//   node dist/scripts/make-phantom-cohort.js --out <dir> [--seed N] [--cases N] [--size 512x512x300]
//        [--verify cohorts/lesion-phantoms/expected-sha256.json] [--write-hashes <file>] [--no-progress]

import { readFile, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { SingleBar, Presets } from 'cli-progress';
import { SHIPPED_CASES, SHIPPED_SEED, writeCohort } from '../src/phantoms/cohort';
import { Vec3 } from '../src/volumes/volume';

export interface ExpectedHashes {
  readonly note: string;
  readonly seed: number;
  readonly cases: number;
  readonly size: string;
  readonly contentSha256: Record<string, string>;
}

export function parseSize(text: string): Vec3 {
  const m = /^(\d+)x(\d+)x(\d+)$/.exec(text);
  if (!m) throw new Error(`--size must look like 128x128x64, got ${text}`);
  return [Number(m[1]), Number(m[2]), Number(m[3])];
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      out: { type: 'string' },
      seed: { type: 'string', default: String(SHIPPED_SEED) },
      cases: { type: 'string', default: String(SHIPPED_CASES) },
      size: { type: 'string', default: '128x128x64' },
      verify: { type: 'string' },
      'write-hashes': { type: 'string' },
      'no-progress': { type: 'boolean', default: false },
    },
  });
  if (!values.out) throw new Error('--out <dir> is required');
  const seed = Number(values.seed);
  const cases = Number(values.cases);
  const sizeText = values.size as string;
  const size = parseSize(sizeText);
  const bar = values['no-progress'] || !process.stderr.isTTY ? null : new SingleBar({ format: 'phantoms {bar} {value}/{total} cases | {duration}s', stream: process.stderr }, Presets.shades_classic);
  bar?.start(cases, 0);
  const started = Date.now();
  const written = await writeCohort({ seed, cases, size, outDir: values.out, onCase: (done) => bar?.update(done) });
  bar?.stop();
  process.stderr.write(`wrote ${written.cases} SYNTHETIC cases (${written.lesions} lesions, ${sizeText}) to ${values.out} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  if (values['write-hashes']) {
    const doc: ExpectedHashes = {
      note: 'sha256 of each file of the SYNTHETIC lesion-phantom cohort; for .nii.gz files, of the uncompressed NIfTI bytes (gzip streams may differ between zlib builds). Written by scripts/make-phantom-cohort.ts --write-hashes.',
      seed,
      cases,
      size: sizeText,
      contentSha256: written.contentSha256,
    };
    await writeFile(values['write-hashes'], JSON.stringify(doc, null, 2) + '\n');
  }
  if (values.verify) {
    const expected = JSON.parse(await readFile(values.verify, 'utf8')) as ExpectedHashes;
    const paths = new Set([...Object.keys(expected.contentSha256), ...Object.keys(written.contentSha256)]);
    const wrong = [...paths].filter((p) => expected.contentSha256[p] !== written.contentSha256[p]);
    if (wrong.length > 0) {
      process.stderr.write(`MISMATCH against ${values.verify}: ${wrong.length} file(s), e.g. ${wrong.slice(0, 5).join(', ')}\n`);
      return 1;
    }
    process.stderr.write(`all ${paths.size} files match ${values.verify}\n`);
  }
  return 0;
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(2);
    },
  );
}
