import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { writeCohort } from '../phantoms/cohort';
import type { ImagingGeneratorDto } from './imaging-ingest';

interface ExpectedHashes {
  contentSha256: Record<string, string>;
}

/**
 * The folder of a generated (SYNTHETIC) cohort, generating it on first use. Generation is deterministic, so the
 * folder is a cache keyed by the generator's parameters: it is written under a temporary name, checked file by file
 * against the cohort's committed `expected-sha256.json` (a drift detector: a generator or zlib change that alters
 * content fails loudly instead of silently making a new cohort version), and only then renamed into place, so two
 * processes generating at once, or one killed halfway, never leave a half-written cohort that looks complete.
 */
export async function ensureGeneratedCohort(input: { slug: string; cohortDir: string; generator: ImagingGeneratorDto; root: string }): Promise<string> {
  const g = input.generator;
  const dir = join(input.root, `${input.slug}-${g.kind}-s${g.seed}-n${g.cases}-${g.size.join('x')}`);
  if (existsSync(join(dir, '.complete'))) return dir;
  await mkdir(input.root, { recursive: true });
  const staging = `${dir}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    const written = await writeCohort({ seed: g.seed, cases: g.cases, size: g.size, outDir: staging });
    const expected = JSON.parse(await readFile(join(input.cohortDir, g.expectedSha256), 'utf8')) as ExpectedHashes;
    const paths = new Set([...Object.keys(expected.contentSha256), ...Object.keys(written.contentSha256)]);
    const wrong = [...paths].filter((p) => expected.contentSha256[p] !== written.contentSha256[p]);
    if (wrong.length > 0) {
      throw new Error(`generated cohort ${input.slug} differs from ${g.expectedSha256} in ${wrong.length} file(s), e.g. ${wrong.slice(0, 3).join(', ')}: the generator changed; regenerate the hashes deliberately (scripts/make-phantom-cohort.ts --write-hashes)`);
    }
    await writeFile(join(staging, '.complete'), `${new Date().toISOString()}\n`);
    // A folder without the marker is what a killed generation left: it goes.
    if (existsSync(dir) && !existsSync(join(dir, '.complete'))) await rm(dir, { recursive: true, force: true });
    try {
      await rename(staging, dir);
    } catch (error) {
      // Another process finished first: its copy is identical (checked against the same hashes).
      if (!existsSync(join(dir, '.complete'))) throw error;
    }
    return dir;
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}
