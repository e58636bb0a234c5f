/**
 * The SYNTHETIC lesion-phantom cohort: a plan (which case gets which scanner and lesion count, balanced by
 * construction), the phantoms, and the files: images/<caseId>.nii.gz, masks/<caseId>.nii.gz, lesions.csv, cases.csv.
 */
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { mulberry32, seededShuffle } from '../common/seeded-random';
import { encodeNifti1, gzipNormalised } from '../volumes/nifti-write';
import { Vec3 } from '../volumes/volume';
import { deriveSeed } from './exact-math';
import { DEFAULT_SIZE, generatePhantom, MAX_LESIONS, Phantom } from './phantom';
import { SCANNERS, ScannerId, scannerById } from './scanners';

/** The seed of the shipped cohort (cohorts/lesion-phantoms). */
export const SHIPPED_SEED = 20261209;
export const SHIPPED_CASES = 30;
export const CASE_PREFIX = 'LP';

export interface CohortOptions {
  readonly seed: number;
  readonly cases: number;
  readonly size?: Vec3;
}

export interface PlannedCase {
  readonly caseId: string;
  readonly seed: number;
  readonly scanner: ScannerId;
  readonly lesionCount: number;
}

export interface CohortCase extends Phantom {
  readonly caseId: string;
}

export function caseId(index: number): string {
  return `${CASE_PREFIX}-${String(index + 1).padStart(4, '0')}`;
}

/**
 * Scanners are dealt round-robin and lesion counts 0..5 likewise, each list then shuffled with the cohort seed: every
 * scanner gets ⌊cases/4⌋ or more cases and (from 6 cases on) some cases are lesion-free, whatever the seed.
 */
export function planCohort(options: CohortOptions): PlannedCase[] {
  if (!Number.isInteger(options.cases) || options.cases < 1) throw new Error('cases must be a positive integer');
  const random = mulberry32(deriveSeed(options.seed, 0));
  const indices = Array.from({ length: options.cases }, (_, n) => n);
  const scanners = seededShuffle(indices.map((n) => (SCANNERS[n % SCANNERS.length] as (typeof SCANNERS)[number]).id), random);
  const counts = seededShuffle(indices.map((n) => n % (MAX_LESIONS + 1)), random);
  return indices.map((n) => ({ caseId: caseId(n), seed: deriveSeed(options.seed, 1, n), scanner: scanners[n] as ScannerId, lesionCount: counts[n] as number }));
}

/** The phantoms one at a time (a 512×512×300 case holds ~240 MB). */
export function* generateCohort(options: CohortOptions): Generator<CohortCase> {
  for (const c of planCohort(options)) {
    yield { caseId: c.caseId, ...generatePhantom({ size: options.size ?? DEFAULT_SIZE, scanner: c.scanner, lesionCount: c.lesionCount }, c.seed) };
  }
}

export const LESIONS_CSV_HEADER = 'case_id,lesion_id,x,y,z,diameter_mm';
export const CASES_CSV_HEADER = 'case_id,site,scanner,sex,age_band,n_lesions,spacing';

/** lesions.csv rows: world LPS mm to 3 decimals; a lesion-free case once, with empty lesion fields. */
export function lesionRows(c: CohortCase): string[] {
  if (c.lesions.length === 0) return [`${c.caseId},,,,,`];
  return c.lesions.map((l) => [c.caseId, l.lesionId, l.x.toFixed(3), l.y.toFixed(3), l.z.toFixed(3), l.diameterMm.toFixed(3)].join(','));
}

export function caseRow(c: CohortCase): string {
  const m = c.metadata;
  return [c.caseId, m.site, m.scanner, m.sex, m.ageBand, String(c.lesions.length), scannerById(m.scanner).spacingLabel].join(',');
}

export interface WrittenCohort {
  /**
   * sha256 per file, relative path → hex. For `.nii.gz` files it is the sha256 of the *uncompressed* NIfTI bytes:
   * those are fixed by the generator, while the deflate stream may differ between zlib builds.
   */
  readonly contentSha256: Record<string, string>;
  readonly cases: number;
  readonly lesions: number;
}

const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

/** Writes the cohort folder; `onCase` is called after each case (for a progress bar). */
export async function writeCohort(options: CohortOptions & { readonly outDir: string; readonly onCase?: (done: number, total: number) => void }): Promise<WrittenCohort> {
  const { outDir } = options;
  await mkdir(join(outDir, 'images'), { recursive: true });
  await mkdir(join(outDir, 'masks'), { recursive: true });
  const hashes: Record<string, string> = {};
  const lesionLines = [LESIONS_CSV_HEADER];
  const caseLines = [CASES_CSV_HEADER];
  let lesions = 0;
  let done = 0;
  for (const c of generateCohort(options)) {
    for (const [folder, volume] of [['images', c.image], ['masks', c.mask]] as const) {
      const rel = `${folder}/${c.caseId}.nii.gz`;
      const nii = encodeNifti1(volume, { description: `SYNTHETIC Assay lesion phantom ${c.caseId} ${folder === 'images' ? 'image' : 'mask'}` });
      hashes[rel] = sha256(nii);
      await writeFile(join(outDir, rel), gzipNormalised(nii));
    }
    lesionLines.push(...lesionRows(c));
    caseLines.push(caseRow(c));
    lesions += c.lesions.length;
    done++;
    options.onCase?.(done, options.cases);
  }
  for (const [rel, lines] of [['lesions.csv', lesionLines], ['cases.csv', caseLines]] as const) {
    const text = lines.join('\n') + '\n';
    hashes[rel] = sha256(text);
    await writeFile(join(outDir, rel), text);
  }
  const sorted = Object.fromEntries(Object.entries(hashes).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return { contentSha256: sorted, cases: done, lesions };
}
