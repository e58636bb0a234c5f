import { parse } from 'csv-parse/sync';
import { Type } from 'class-transformer';
import { plainToInstance } from 'class-transformer';
import { IsArray, IsIn, IsInt, IsString, Matches, Max, MaxLength, Min, ValidateNested, validateSync } from 'class-validator';
import { DomainError, ErrorCode, FieldProblem } from '../common/domain-error';
import { sha256Hex } from '../common/hashing';
import { mulberry32, seededShuffle } from '../common/seeded-random';
import { flattenValidationErrors } from '../common/validation';
import type { SplitName } from './cohorts.entity';

export class LabelSpecDto {
  @IsString() column!: string;
  @IsString() positive!: string;
  @IsString() negative!: string;
}
export class InputSpecDto {
  @Matches(/^[a-z][a-z0-9_]{0,39}$/) name!: string;
  /** 'rest' = every column that is not the id, the label or metadata, in file order. */
  @IsIn(['rest']) columns!: 'rest';
}
export class SplitSpecDto {
  @IsInt() @Min(0) @Max(2 ** 31 - 1) seed!: number;
  @IsInt() @Min(2) sampleSize!: number;
}
/** cohorts/<slug>/cohort.yaml, or the descriptor part of POST /api/cohorts. */
export class CohortDescriptorDto {
  @Matches(/^[a-z0-9][a-z0-9-]{1,62}$/, { message: 'slug must be lower-case letters, digits and -' }) slug!: string;
  @IsString() @MaxLength(200) title!: string;
  @IsString() @MaxLength(10_000) description!: string;
  @IsString() @MaxLength(5_000) attribution!: string;
  @IsIn(['tabular-binary']) format!: 'tabular-binary';
  @IsString() source!: string;
  @IsString() idColumn!: string;
  @ValidateNested() @Type(() => LabelSpecDto) label!: LabelSpecDto;
  @ValidateNested() @Type(() => InputSpecDto) input!: InputSpecDto;
  @IsArray() @IsString({ each: true }) metadataColumns!: string[];
  @ValidateNested() @Type(() => SplitSpecDto) split!: SplitSpecDto;
}

export function validateCohortDescriptor(raw: unknown): CohortDescriptorDto {
  const dto = plainToInstance(CohortDescriptorDto, raw ?? {});
  const problems = flattenValidationErrors(validateSync(dto, { whitelist: true, forbidNonWhitelisted: true }));
  if (problems.length > 0) {
    throw new DomainError(ErrorCode.ValidationFailed, `invalid cohort descriptor: ${problems.map((p) => `${p.field}: ${p.problem}`).join('; ')}`, problems);
  }
  return dto;
}

export interface PlannedCase {
  caseId: string;
  label: 0 | 1;
  features: number[];
  metadata: Record<string, string>;
  split: SplitName;
}

export interface IngestPlan {
  featureColumns: string[];
  cases: PlannedCase[];
  counts: Record<SplitName, Record<string, number>>;
  sourceSha256: string;
}

/** At most this many bad rows are listed; the message says how many more there were. */
const MAX_LISTED_PROBLEMS = 200;

/**
 * Parses and checks a tabular cohort completely before anything is stored: duplicate ids, missing or unknown labels,
 * wrong column counts and non-numbers are all reported, each with its line number.
 */
export function planTabularIngest(descriptor: CohortDescriptorDto, csv: Buffer): IngestPlan {
  let rows: string[][];
  try {
    rows = parse(csv, { relax_column_count: true, skip_empty_lines: true, bom: true, trim: true }) as string[][];
  } catch (error) {
    throw new DomainError(ErrorCode.InvalidCohort, `${descriptor.source}: not a readable CSV (${(error as Error).message})`, [{ field: descriptor.source, problem: 'not a readable CSV' }]);
  }
  const header = rows[0];
  if (!header) throw new DomainError(ErrorCode.InvalidCohort, `${descriptor.source}: empty file`, [{ field: descriptor.source, problem: 'empty file' }]);
  const problems: FieldProblem[] = [];
  const index = (name: string): number => {
    const i = header.indexOf(name);
    if (i < 0) problems.push({ field: `${descriptor.source}:1`, problem: `header has no column '${name}'` });
    return i;
  };
  const idIdx = index(descriptor.idColumn);
  const labelIdx = index(descriptor.label.column);
  const metaIdx = descriptor.metadataColumns.map(index);
  const reserved = new Set([idIdx, labelIdx, ...metaIdx]);
  const featureIdx = header.map((_, i) => i).filter((i) => !reserved.has(i));
  if (problems.length > 0) throw invalid(descriptor, problems, problems.length);
  if (featureIdx.length === 0) throw invalid(descriptor, [{ field: `${descriptor.source}:1`, problem: 'no feature columns' }], 1);

  const seen = new Map<string, number>();
  const cases: Omit<PlannedCase, 'split'>[] = [];
  let total = 0;
  const note = (line: number, problem: string): void => {
    total++;
    if (problems.length < MAX_LISTED_PROBLEMS) problems.push({ field: `${descriptor.source}:${line}`, problem });
  };
  rows.slice(1).forEach((row, r) => {
    const line = r + 2;
    if (row.length !== header.length) {
      note(line, `has ${row.length} columns, the header has ${header.length}`);
      return;
    }
    const caseId = row[idIdx] ?? '';
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/.test(caseId)) note(line, `case id '${caseId}' must be 1-100 letters, digits, . _ -`);
    const firstLine = seen.get(caseId);
    if (firstLine !== undefined) note(line, `duplicate case id '${caseId}' (first on line ${firstLine})`);
    seen.set(caseId, firstLine ?? line);
    const rawLabel = row[labelIdx] ?? '';
    let label: 0 | 1 = 0;
    if (rawLabel === '') note(line, `missing label in '${descriptor.label.column}'`);
    else if (rawLabel === descriptor.label.positive) label = 1;
    else if (rawLabel !== descriptor.label.negative) {
      note(line, `unknown label '${rawLabel}' (expected ${descriptor.label.positive} or ${descriptor.label.negative})`);
    }
    const features = featureIdx.map((i) => {
      const text = row[i] ?? '';
      const value = text === '' ? Number.NaN : Number(text);
      if (!Number.isFinite(value)) note(line, `column '${header[i]}': '${text}' is not a number`);
      return value;
    });
    const metadata = Object.fromEntries(descriptor.metadataColumns.map((name, k) => [name, row[metaIdx[k] as number] ?? '']));
    cases.push({ caseId, label, features, metadata });
  });
  if (cases.length === 0 && total === 0) note(2, 'no cases');
  if (total > 0) throw invalid(descriptor, problems, total);
  const counted = cases.length;
  if (descriptor.split.sampleSize >= counted) {
    throw invalid(descriptor, [{ field: 'split.sampleSize', problem: `must be smaller than the number of cases (${counted})` }], 1);
  }
  const split = stratifiedSplit(cases, descriptor.split.seed, descriptor.split.sampleSize);
  const counts: IngestPlan['counts'] = { sample: { positive: 0, negative: 0 }, test: { positive: 0, negative: 0 } };
  for (const c of split) counts[c.split][c.label === 1 ? 'positive' : 'negative']! += 1;
  return { featureColumns: featureIdx.map((i) => header[i] as string), cases: split, counts, sourceSha256: sha256Hex(csv) };
}

function invalid(descriptor: CohortDescriptorDto, problems: FieldProblem[], total: number): DomainError {
  const more = total > problems.length ? ` (and ${total - problems.length} more)` : '';
  return new DomainError(
    ErrorCode.InvalidCohort,
    `cohort '${descriptor.slug}' rejected, nothing was stored: ${total} problem(s)${more}: ` +
      problems.slice(0, 20).map((p) => `${p.field}: ${p.problem}`).join('; '),
    problems,
  );
}

/**
 * Stratified by label, seeded: each class gets its share of the sample (largest remainder), the cases drawn by a
 * seeded shuffle of the class's ids in sorted order, so the split depends only on the data and the seed.
 */
export function stratifiedSplit<T extends { caseId: string; label: 0 | 1 }>(cases: T[], seed: number, sampleSize: number): (T & { split: SplitName })[] {
  const classes: (0 | 1)[] = [1, 0];
  const byClass = classes.map((label) => cases.filter((c) => c.label === label).sort((a, b) => (a.caseId < b.caseId ? -1 : 1)));
  const exact = byClass.map((members) => (sampleSize * members.length) / cases.length);
  const quota = exact.map(Math.floor);
  let left = sampleSize - quota.reduce((a, b) => a + b, 0);
  const order = exact.map((x, i) => ({ i, frac: x - Math.floor(x) })).sort((a, b) => b.frac - a.frac || a.i - b.i);
  for (const { i } of order) {
    if (left <= 0) break;
    quota[i] = (quota[i] ?? 0) + 1;
    left--;
  }
  const random = mulberry32(seed);
  const sampled = new Set<string>();
  byClass.forEach((members, k) => {
    for (const c of seededShuffle(members, random).slice(0, quota[k])) sampled.add(c.caseId);
  });
  return cases.map((c) => ({ ...c, split: sampled.has(c.caseId) ? 'sample' : 'test' }));
}
