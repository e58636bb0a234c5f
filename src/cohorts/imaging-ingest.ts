import { dirname } from 'node:path';
import { parse } from 'csv-parse/sync';
import { Type } from 'class-transformer';
import { plainToInstance } from 'class-transformer';
import { IsArray, IsBoolean, IsIn, IsInt, IsObject, IsOptional, IsString, Matches, Max, MaxLength, Min, ValidateNested, validateSync } from 'class-validator';
import { DomainError, ErrorCode, FieldProblem } from '../common/domain-error';
import { sha256Hex, sha256OfCanonical } from '../common/hashing';
import { flattenValidationErrors } from '../common/validation';
import { encodeNifti1Gz } from '../volumes/nifti-write';
import { checkSameGeometry } from '../volumes/geometry';
import { readVolume, type VolumeInput } from '../volumes/read-volume';
import { VolumeError, type VolumeLimits } from '../volumes/volume-error';
import { type Volume, worldToVoxel } from '../volumes/volume';
import { SplitSpecDto, SubgroupRuleDto, deriveSubgroup, stratifiedSplit } from './cohort-ingest';
import type { SplitName } from './cohorts.entity';

const CASE_PATH = /^(?!.*(^|\/)\.\.(\/|$))[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/;
// Relative, inside the cohort's folder: no leading '/', no '..' segment.
const CASE_PATTERN = /^(?!\/)(?!.*(^|\/)\.\.(\/|$))[A-Za-z0-9._/-]*\{caseId\}[A-Za-z0-9._/-]*$/;

/** The image every case gives the algorithm, e.g. `{ name: ct, kind: volume, format: nifti, path: images/{caseId}.nii.gz }`. */
export class ImagingInputSpecDto {
  @Matches(/^[a-z][a-z0-9_]{0,39}$/) name!: string;
  @IsIn(['volume']) kind!: 'volume';
  /** What the sandbox receives: Assay rewrites every source format (NIfTI, MetaImage, DICOM) as canonical NIfTI. */
  @IsIn(['nifti']) format!: 'nifti';
  @Matches(CASE_PATTERN, { message: 'path must be a relative path containing {caseId}' }) path!: string;
}
export class ImagingTruthSpecDto {
  /** Reference lesion masks (segmentation truth), 1 = lesion, on each image's grid. */
  @IsOptional() @Matches(CASE_PATTERN, { message: 'mask must be a relative path containing {caseId}' }) mask?: string;
  /** Reference lesion centres and diameters, world LPS mm (detection truth): `case_id,lesion_id,x,y,z,diameter_mm`. */
  @IsOptional() @Matches(CASE_PATH, { message: 'lesions must be a relative file path' }) lesions?: string;
}
/** Phantom cohorts are generated on demand from a seed (src/phantoms); the files are checked against expected hashes. */
export class ImagingGeneratorDto {
  @IsIn(['lesion-phantoms']) kind!: 'lesion-phantoms';
  @IsInt() @Min(0) @Max(2 ** 31 - 1) seed!: number;
  @IsInt() @Min(2) @Max(10_000) cases!: number;
  @IsArray() @IsInt({ each: true }) @Min(8, { each: true }) @Max(1024, { each: true }) size!: [number, number, number];
  /** Hashes of the uncompressed content of every generated file (a drift detector for the generator). */
  @Matches(CASE_PATH) expectedSha256!: string;
}
export class ImagingSplitSpecDto extends SplitSpecDto {
  /** A metadata column to stratify the split by (e.g. scanner); default: whether the case has a lesion. */
  @IsOptional() @IsString() stratifyBy?: string;
}

/** cohorts/<slug>/cohort.yaml of an imaging cohort (format `imaging`). */
export class ImagingCohortDescriptorDto {
  @Matches(/^[a-z0-9][a-z0-9-]{1,62}$/, { message: 'slug must be lower-case letters, digits and -' }) slug!: string;
  @IsString() @MaxLength(200) title!: string;
  @IsString() @MaxLength(10_000) description!: string;
  @IsString() @MaxLength(5_000) attribution!: string;
  @IsIn(['imaging']) format!: 'imaging';
  /** Shown next to the cohort wherever it appears. */
  @IsOptional() @IsBoolean() synthetic?: boolean;
  @IsOptional() @IsObject() @ValidateNested() @Type(() => ImagingGeneratorDto) generator?: ImagingGeneratorDto;
  /** One row per case: the id column and metadata columns. */
  @Matches(CASE_PATH, { message: 'cases must be a relative file path' }) cases!: string;
  @IsString() idColumn!: string;
  @IsObject() @ValidateNested() @Type(() => ImagingInputSpecDto) input!: ImagingInputSpecDto;
  @IsObject() @ValidateNested() @Type(() => ImagingTruthSpecDto) truth!: ImagingTruthSpecDto;
  @IsArray() @IsString({ each: true }) metadataColumns!: string[];
  @IsOptional() @IsArray() @IsObject({ each: true }) @ValidateNested({ each: true }) @Type(() => SubgroupRuleDto) subgroups?: SubgroupRuleDto[];
  @IsObject() @ValidateNested() @Type(() => ImagingSplitSpecDto) split!: ImagingSplitSpecDto;
}

export function validateImagingDescriptor(raw: unknown, root = ''): ImagingCohortDescriptorDto {
  const dto = plainToInstance(ImagingCohortDescriptorDto, raw ?? {});
  const problems = flattenValidationErrors(validateSync(dto, { whitelist: true, forbidNonWhitelisted: true }), root);
  const at = (field: string): string => (root ? `${root}.${field}` : field);
  if (problems.length === 0 && !dto.truth.mask && !dto.truth.lesions) problems.push({ field: at('truth'), problem: 'an imaging cohort needs masks, lesions or both (its ground truth)' });
  if (problems.length > 0) throw new DomainError(ErrorCode.ValidationFailed, `invalid cohort descriptor: ${problems.map((p) => `${p.field}: ${p.problem}`).join('; ')}`, problems);
  return dto;
}

/** The cohort's source files by relative path; the caller confines both to the cohort's folder. */
export interface CohortSource {
  read(relativePath: string): Promise<Buffer>;
  /** File names (not paths) in a folder given with a trailing `/`. */
  list(folder: string): Promise<string[]>;
}

export interface ReferenceLesion {
  lesionId: string;
  x: number;
  y: number;
  z: number;
  diameterMm: number;
}

export interface ImagingCase {
  caseId: string;
  split: SplitName;
  metadata: Record<string, string>;
  lesions: ReferenceLesion[];
  /** Canonical NIfTI (.nii.gz) written by Assay: geometry and voxels of the source, nothing else of its header. */
  image: Buffer;
  mask: Buffer | null;
  geometry: { dims: number[]; spacing: number[] };
  /** Lesion voxels in the reference mask (0 when there is no mask). */
  maskVoxels: number;
}

export interface ImagingPlan {
  cases: ImagingCase[];
  counts: Record<SplitName, Record<string, number>>;
  /** Canonical CSV of every lesion, `case_id,lesion_id,x,y,z,diameter_mm` (one empty row per lesion-free case). */
  sourceSha256: string;
}

const MAX_LISTED_PROBLEMS = 200;

/**
 * Reads, checks and canonicalises an imaging cohort case by case, before anything is stored: each image and mask is
 * sniffed by content (not by its name), bounded in size before it is inflated, and the mask must be a 0/1 label map
 * on exactly the image's grid. Lesion centres must lie inside their image. Every problem is reported with the file.
 */
export async function planImagingIngest(
  descriptor: ImagingCohortDescriptorDto,
  source: CohortSource,
  options: { limits?: Partial<VolumeLimits>; onCase?: (done: number, total: number) => void } = {},
): Promise<ImagingPlan> {
  const problems: FieldProblem[] = [];
  let total = 0;
  const note = (field: string, problem: string): void => {
    total++;
    if (problems.length < MAX_LISTED_PROBLEMS) problems.push({ field, problem });
  };
  const rows = readCsv(await source.read(descriptor.cases), descriptor.cases);
  const header = rows[0] ?? [];
  const col = (name: string): number => {
    const i = header.indexOf(name);
    if (i < 0) note(`${descriptor.cases}:1`, `header has no column '${name}'`);
    return i;
  };
  const idIdx = col(descriptor.idColumn);
  const metaIdx = descriptor.metadataColumns.map(col);
  const ruleIdx = (descriptor.subgroups ?? []).map((r) => col(r.column));
  const by = descriptor.split.stratifyBy;
  if (total > 0) throw invalid(descriptor, problems, total);

  const lesionsByCase = descriptor.truth.lesions ? parseLesions(readCsv(await source.read(descriptor.truth.lesions), descriptor.truth.lesions), descriptor.truth.lesions, note) : null;
  const seen = new Set<string>();
  const planned: Omit<ImagingCase, 'split'>[] = [];
  const body = rows.slice(1);
  for (const [r, row] of body.entries()) {
    const line = r + 2;
    const where = `${descriptor.cases}:${line}`;
    const caseId = row[idIdx] ?? '';
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/.test(caseId)) {
      note(where, `case id '${caseId}' must be 1-100 letters, digits, . _ -`);
      continue;
    }
    if (seen.has(caseId)) {
      note(where, `duplicate case id '${caseId}'`);
      continue;
    }
    seen.add(caseId);
    const metadata: Record<string, string> = Object.fromEntries(descriptor.metadataColumns.map((name, k) => [name, row[metaIdx[k] as number] ?? '']));
    (descriptor.subgroups ?? []).forEach((rule, k) => {
      metadata[rule.name] = deriveSubgroup(rule, row[ruleIdx[k] as number] ?? '', new Set());
    });
    const imagePath = descriptor.input.path.replace('{caseId}', caseId);
    const image = await loadVolume(source, imagePath, options.limits, false, note);
    let mask: Volume | null = null;
    if (descriptor.truth.mask) {
      const maskPath = descriptor.truth.mask.replace('{caseId}', caseId);
      mask = await loadVolume(source, maskPath, options.limits, true, note);
      if (image && mask) {
        try {
          checkSameGeometry(image, mask, { image: imagePath, mask: maskPath });
        } catch (error) {
          if (!(error instanceof VolumeError)) throw error;
          note(maskPath, error.message);
          mask = null;
        }
        if (mask) {
          const bad = firstNonBinary(mask);
          if (bad !== null) {
            note(maskPath, `is not a 0/1 lesion mask (voxel ${bad.index} holds ${bad.value})`);
            mask = null;
          }
        }
      }
    }
    const lesions = lesionsByCase?.get(caseId) ?? [];
    if (lesionsByCase && !lesionsByCase.has(caseId)) note(descriptor.truth.lesions as string, `case '${caseId}' has no row (a lesion-free case appears once with empty lesion fields)`);
    if (image) {
      for (const l of lesions) {
        const [i, j, k] = worldToVoxel(image, l.x, l.y, l.z);
        const inside = [i, j, k].every((v, c) => v >= -0.5 && v <= (image.dims[c] as number) - 0.5);
        if (!inside) note(descriptor.truth.lesions as string, `lesion ${caseId}/${l.lesionId} at (${l.x}, ${l.y}, ${l.z}) mm lies outside its image`);
      }
    }
    if (image && (!descriptor.truth.mask || mask)) {
      planned.push({
        caseId,
        metadata,
        lesions,
        image: encodeNifti1Gz(image),
        mask: mask ? encodeNifti1Gz({ ...mask, data: toUint8(mask) }) : null,
        geometry: { dims: [...image.dims], spacing: [...image.spacing] },
        maskVoxels: mask ? countOnes(mask) : 0,
      });
    }
    options.onCase?.(r + 1, body.length);
  }
  if (lesionsByCase) for (const id of lesionsByCase.keys()) if (!seen.has(id)) note(descriptor.truth.lesions as string, `case '${id}' is not in ${descriptor.cases}`);
  if (planned.length === 0 && total === 0) note(descriptor.cases, 'no cases');
  if (total > 0) throw invalid(descriptor, problems, total);
  if (descriptor.split.sampleSize >= planned.length) throw invalid(descriptor, [{ field: 'split.sampleSize', problem: `must be smaller than the number of cases (${planned.length})` }], 1);

  // Stratified by the declared metadata column (e.g. scanner, so that the sample covers every scanner), else by
  // "has a lesion", so that both splits hold lesion-free cases.
  const hasLesion = (c: Omit<ImagingCase, 'split'>): 0 | 1 => (c.lesions.length > 0 || c.maskVoxels > 0 ? 1 : 0);
  const stratum = (c: Omit<ImagingCase, 'split'>): 0 | 1 | string => (by ? (c.metadata[by] ?? '') : hasLesion(c));
  const split = stratifiedSplit(planned.map((c) => ({ ...c, label: stratum(c) })), descriptor.split.seed, descriptor.split.sampleSize);
  const counts: ImagingPlan['counts'] = { sample: { withLesions: 0, lesionFree: 0 }, test: { withLesions: 0, lesionFree: 0 } };
  for (const c of split) counts[c.split][hasLesion(c) === 1 ? 'withLesions' : 'lesionFree']! += 1;
  const cases = split.map(({ label: _label, ...c }) => c);
  const sourceSha256 = sha256OfCanonical(cases.map((c) => ({ caseId: c.caseId, image: sha256Hex(c.image), mask: c.mask ? sha256Hex(c.mask) : null, lesions: c.lesions, metadata: c.metadata })));
  return { cases, counts, sourceSha256 };
}

/** Truth and sample CSV of lesions, in the offline scorer's format. */
export function lesionsCsv(cases: readonly Pick<ImagingCase, 'caseId' | 'lesions'>[]): string {
  const lines = ['case_id,lesion_id,x,y,z,diameter_mm'];
  for (const c of cases) {
    if (c.lesions.length === 0) lines.push(`${c.caseId},,,,,`);
    for (const l of c.lesions) lines.push(`${c.caseId},${l.lesionId},${l.x},${l.y},${l.z},${l.diameterMm}`);
  }
  return `${lines.join('\n')}\n`;
}

function readCsv(bytes: Buffer, file: string): string[][] {
  try {
    return parse(bytes, { relax_column_count: true, skip_empty_lines: true, bom: true, trim: true }) as string[][];
  } catch (error) {
    throw new DomainError(ErrorCode.InvalidCohort, `${file}: not a readable CSV (${(error as Error).message})`, [{ field: file, problem: 'not a readable CSV' }]);
  }
}

function parseLesions(rows: string[][], file: string, note: (field: string, problem: string) => void): Map<string, ReferenceLesion[]> {
  const expected = ['case_id', 'lesion_id', 'x', 'y', 'z', 'diameter_mm'];
  const header = rows[0] ?? [];
  const out = new Map<string, ReferenceLesion[]>();
  if (header.join(',') !== expected.join(',')) {
    note(`${file}:1`, `header must be ${expected.join(',')}`);
    return out;
  }
  rows.slice(1).forEach((row, r) => {
    const where = `${file}:${r + 2}`;
    const [caseId = '', lesionId = '', ...rest] = row;
    if (row.length !== expected.length) return note(where, `has ${row.length} columns, expected ${expected.length}`);
    const list = out.get(caseId) ?? [];
    out.set(caseId, list);
    if (lesionId === '' && rest.every((v) => v === '')) return undefined;
    const [x, y, z, d] = rest.map(Number) as [number, number, number, number];
    if (![x, y, z].every(Number.isFinite)) return note(where, 'x, y and z must be finite numbers (world mm)');
    if (!(Number.isFinite(d) && d > 0)) return note(where, 'diameter_mm must be a positive number');
    if (list.some((l) => l.lesionId === lesionId)) return note(where, `duplicate lesion id '${lesionId}' in case '${caseId}'`);
    list.push({ lesionId, x, y, z, diameterMm: d });
    return undefined;
  });
  return out;
}

/**
 * One image or mask of the source: a single file (NIfTI, MetaImage .mha, or .mhd with its raw file beside it), or a
 * DICOM series when the path ends in `/` (every file of that folder). Read by content, bounded before inflating.
 */
async function loadVolume(
  source: CohortSource,
  path: string,
  limits: Partial<VolumeLimits> | undefined,
  labels: boolean,
  note: (field: string, problem: string) => void,
): Promise<Volume | null> {
  let input: VolumeInput;
  try {
    if (path.endsWith('/')) {
      const names = (await source.list(path)).sort();
      input = { name: path, files: await Promise.all(names.map((n) => source.read(`${path}${n}`))), names };
    } else {
      const bytes = await source.read(path);
      const siblings = new Map<string, Uint8Array>();
      if (path.toLowerCase().endsWith('.mhd')) {
        // The raw file an .mhd names; the reader itself refuses anything but a plain sibling file name.
        const named = /^\s*ElementDataFile\s*=\s*(\S+)\s*$/m.exec(bytes.subarray(0, 64 * 1024).toString('latin1'))?.[1];
        if (named && /^[A-Za-z0-9._-]+$/.test(named) && named !== 'LOCAL') siblings.set(named, await source.read(`${dirname(path)}/${named}`));
      }
      input = { name: path, bytes, siblings };
    }
  } catch (error) {
    note(path, `cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
    return null;
  }
  try {
    return readVolume(input, limits, { labels }).volume;
  } catch (error) {
    if (!(error instanceof VolumeError)) throw error;
    note(path, `${error.code}: ${error.message}`);
    return null;
  }
}

function firstNonBinary(mask: Volume): { index: number; value: number } | null {
  const d = mask.data;
  for (let i = 0; i < d.length; i++) {
    const v = d[i] as number;
    if (v !== 0 && v !== 1) return { index: i, value: v };
  }
  return null;
}

function toUint8(mask: Volume): Uint8Array {
  return mask.data instanceof Uint8Array ? mask.data : Uint8Array.from(mask.data as ArrayLike<number>);
}

function countOnes(mask: Volume): number {
  let n = 0;
  for (let i = 0; i < mask.data.length; i++) if (mask.data[i] === 1) n++;
  return n;
}

function invalid(descriptor: ImagingCohortDescriptorDto, problems: FieldProblem[], total: number): DomainError {
  const more = total > problems.length ? ` (and ${total - problems.length} more)` : '';
  return new DomainError(
    ErrorCode.InvalidCohort,
    `cohort '${descriptor.slug}' rejected, nothing was stored: ${total} problem(s)${more}: ` + problems.slice(0, 20).map((p) => `${p.field}: ${p.problem}`).join('; '),
    problems,
  );
}
