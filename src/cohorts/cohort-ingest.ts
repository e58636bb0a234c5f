import { parse } from 'csv-parse/sync';
import { Type } from 'class-transformer';
import { plainToInstance } from 'class-transformer';
import { IsArray, IsIn, IsInt, IsNumber, IsObject, IsOptional, IsString, Matches, Max, MaxLength, Min, ValidateBy, ValidateIf, ValidateNested, validateSync } from 'class-validator';
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
export class TimeSpecDto {
  @IsString() column!: string;
  @IsIn(['days', 'months', 'years']) unit!: 'days' | 'months' | 'years';
}
export class EventSpecDto {
  @IsString() column!: string;
  /** Cell value meaning the event (e.g. death) happened. */
  @IsString() eventValue!: string;
  /** Cell value meaning the case was censored. */
  @IsString() censoredValue!: string;
}
export class InputSpecDto {
  @Matches(/^[a-z][a-z0-9_]{0,39}$/) name!: string;
  /** 'rest' = every column that is not the id, the outcome or metadata, in file order; or an explicit list. */
  @ValidateBy({
    name: 'isColumnsSpec',
    validator: {
      validate: (v: unknown) => v === 'rest' || (Array.isArray(v) && v.length > 0 && v.every((c) => typeof c === 'string')),
      defaultMessage: () => "columns must be 'rest' or a non-empty list of column names",
    },
  })
  columns!: 'rest' | string[];
}
export class SplitSpecDto {
  @IsInt() @Min(0) @Max(2 ** 31 - 1) seed!: number;
  @IsInt() @Min(2) @Max(10_000_000) sampleSize!: number;
}
export class SubgroupBinDto {
  /** Upper bound (exclusive); the last bin has none. */
  @IsOptional() @IsNumber() @Min(-1e15) @Max(1e15) lt?: number;
  @IsString() label!: string;
}
/** A subgroup attribute derived from a column: copied, mapped, or binned; missing cells get `missing`. */
export class SubgroupRuleDto {
  @Matches(/^[a-z][a-z0-9_]{0,39}$/) name!: string;
  @IsString() column!: string;
  @IsOptional()
  @IsObject()
  @ValidateBy({ name: 'isStringMap', validator: { validate: (v: unknown) => typeof v === 'object' && v !== null && Object.values(v).every((x) => typeof x === 'string'), defaultMessage: () => 'map must map cell values to subgroup labels (strings)' } })
  map?: Record<string, string>;
  @IsOptional() @IsArray() @IsObject({ each: true }) @ValidateNested({ each: true }) @Type(() => SubgroupBinDto) bins?: SubgroupBinDto[];
  @IsOptional() @IsString() missing?: string;
}
export class MissingSpecDto {
  /** Cells equal to one of these are missing: features become null (NaN in ONNX tensors), never imputed here. */
  @IsArray() @IsString({ each: true }) tokens!: string[];
  @IsString() @MaxLength(2000) note!: string;
}
/** cohorts/<slug>/cohort.yaml, or the descriptor part of POST /api/cohorts. */
export class CohortDescriptorDto {
  @Matches(/^[a-z0-9][a-z0-9-]{1,62}$/, { message: 'slug must be lower-case letters, digits and -' }) slug!: string;
  @IsString() @MaxLength(200) title!: string;
  @IsString() @MaxLength(10_000) description!: string;
  @IsString() @MaxLength(5_000) attribution!: string;
  @IsIn(['tabular-binary', 'tabular-survival']) format!: 'tabular-binary' | 'tabular-survival';
  @IsString() source!: string;
  /** Column holding case ids; null = generated from the row order as `<idPrefix>-0001`. */
  @IsOptional() @IsString() idColumn?: string | null;
  @IsOptional() @Matches(/^[A-Z][A-Z0-9]{0,15}$/) idPrefix?: string;
  @ValidateIf((o: CohortDescriptorDto) => o.format === 'tabular-binary') @IsObject() @ValidateNested() @Type(() => LabelSpecDto) label?: LabelSpecDto;
  @ValidateIf((o: CohortDescriptorDto) => o.format === 'tabular-survival') @IsObject() @ValidateNested() @Type(() => TimeSpecDto) time?: TimeSpecDto;
  @ValidateIf((o: CohortDescriptorDto) => o.format === 'tabular-survival') @IsObject() @ValidateNested() @Type(() => EventSpecDto) event?: EventSpecDto;
  @IsObject() @ValidateNested() @Type(() => InputSpecDto) input!: InputSpecDto;
  @IsOptional() @IsObject() @ValidateNested() @Type(() => MissingSpecDto) missing?: MissingSpecDto;
  /** Columns kept only as case metadata (never given to algorithms). */
  @IsArray() @IsString({ each: true }) metadataColumns!: string[];
  @IsOptional() @IsArray() @IsObject({ each: true }) @ValidateNested({ each: true }) @Type(() => SubgroupRuleDto) subgroups?: SubgroupRuleDto[];
  @IsObject() @ValidateNested() @Type(() => SplitSpecDto) split!: SplitSpecDto;
}

/** `root` prefixes the field paths (the API's body holds the descriptor under "descriptor"). */
export function validateCohortDescriptor(raw: unknown, root = ''): CohortDescriptorDto {
  const dto = plainToInstance(CohortDescriptorDto, raw ?? {});
  const problems = flattenValidationErrors(validateSync(dto, { whitelist: true, forbidNonWhitelisted: true }), root);
  const at = (field: string): string => (root ? `${root}.${field}` : field);
  if (problems.length === 0) {
    if (dto.format === 'tabular-binary' && !dto.idColumn) problems.push({ field: at('idColumn'), problem: 'required for tabular-binary' });
    if (!dto.idColumn && !dto.idPrefix) problems.push({ field: at('idPrefix'), problem: 'required when idColumn is null (ids are generated)' });
  }
  if (problems.length > 0) {
    throw new DomainError(ErrorCode.ValidationFailed, `invalid cohort descriptor: ${problems.map((p) => `${p.field}: ${p.problem}`).join('; ')}`, problems);
  }
  return dto;
}

/** Binary: label 1 = positive. Survival: time (in the descriptor's unit) and event 1 = happened, 0 = censored. */
export type CaseOutcome = { kind: 'binary'; label: 0 | 1 } | { kind: 'survival'; time: number; event: 0 | 1 };

export interface PlannedCase {
  caseId: string;
  outcome: CaseOutcome;
  /** The stratum of the split: the binary label, or the survival event indicator. */
  label: 0 | 1;
  /** null = missing (the cohort's missing-value tokens). */
  features: (number | null)[];
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
  const survival = descriptor.format === 'tabular-survival';
  const idIdx = descriptor.idColumn ? index(descriptor.idColumn) : -1;
  const outcomeIdx = survival ? [index(descriptor.time?.column ?? ''), index(descriptor.event?.column ?? '')] : [index(descriptor.label?.column ?? '')];
  const metaIdx = descriptor.metadataColumns.map(index);
  const ruleIdx = (descriptor.subgroups ?? []).map((r) => index(r.column));
  const reserved = new Set([idIdx, ...outcomeIdx, ...metaIdx]);
  const featureIdx = Array.isArray(descriptor.input.columns) ? descriptor.input.columns.map(index) : header.map((_, i) => i).filter((i) => !reserved.has(i));
  if (problems.length > 0) throw invalid(descriptor, problems, problems.length);
  if (featureIdx.length === 0) throw invalid(descriptor, [{ field: `${descriptor.source}:1`, problem: 'no feature columns' }], 1);
  const missing = new Set(descriptor.missing?.tokens ?? []);

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
    const caseId = idIdx >= 0 ? (row[idIdx] ?? '') : `${descriptor.idPrefix}-${String(r + 1).padStart(4, '0')}`;
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/.test(caseId)) note(line, `case id '${caseId}' must be 1-100 letters, digits, . _ -`);
    const firstLine = seen.get(caseId);
    if (firstLine !== undefined) note(line, `duplicate case id '${caseId}' (first on line ${firstLine})`);
    seen.set(caseId, firstLine ?? line);
    const outcome = survival ? survivalOutcome(descriptor, row, outcomeIdx, (p) => note(line, p)) : binaryOutcome(descriptor, row, outcomeIdx[0] as number, (p) => note(line, p));
    const features = featureIdx.map((i) => {
      const text = row[i] ?? '';
      if (missing.has(text)) return null;
      const value = text === '' ? Number.NaN : Number(text);
      if (!Number.isFinite(value)) note(line, `column '${header[i]}': '${text}' is not a number${missing.size > 0 ? ` nor a missing-value token (${[...missing].join(', ')})` : ''}`);
      return value;
    });
    const metadata: Record<string, string> = Object.fromEntries(descriptor.metadataColumns.map((name, k) => [name, row[metaIdx[k] as number] ?? '']));
    (descriptor.subgroups ?? []).forEach((rule, k) => {
      metadata[rule.name] = deriveSubgroup(rule, row[ruleIdx[k] as number] ?? '', missing);
    });
    cases.push({ caseId, outcome, label: outcome.kind === 'binary' ? outcome.label : outcome.event, features, metadata });
  });
  if (cases.length === 0 && total === 0) note(2, 'no cases');
  if (total > 0) throw invalid(descriptor, problems, total);
  const counted = cases.length;
  if (descriptor.split.sampleSize >= counted) {
    throw invalid(descriptor, [{ field: 'split.sampleSize', problem: `must be smaller than the number of cases (${counted})` }], 1);
  }
  const split = stratifiedSplit(cases, descriptor.split.seed, descriptor.split.sampleSize);
  const [one, zero] = survival ? ['event', 'censored'] : ['positive', 'negative'];
  const counts: IngestPlan['counts'] = { sample: { [one as string]: 0, [zero as string]: 0 }, test: { [one as string]: 0, [zero as string]: 0 } };
  for (const c of split) counts[c.split][(c.label === 1 ? one : zero) as string]! += 1;
  return { featureColumns: featureIdx.map((i) => header[i] as string), cases: split, counts, sourceSha256: sha256Hex(csv) };
}

function binaryOutcome(descriptor: CohortDescriptorDto, row: string[], labelIdx: number, note: (problem: string) => void): CaseOutcome {
  const spec = descriptor.label as LabelSpecDto;
  const raw = row[labelIdx] ?? '';
  if (raw === '') note(`missing label in '${spec.column}'`);
  else if (raw === spec.positive) return { kind: 'binary', label: 1 };
  else if (raw !== spec.negative) note(`unknown label '${raw}' (expected ${spec.positive} or ${spec.negative})`);
  return { kind: 'binary', label: 0 };
}

function survivalOutcome(descriptor: CohortDescriptorDto, row: string[], idx: number[], note: (problem: string) => void): CaseOutcome {
  const time = descriptor.time as TimeSpecDto;
  const event = descriptor.event as EventSpecDto;
  const rawTime = row[idx[0] as number] ?? '';
  const t = Number(rawTime);
  if (rawTime === '' || !Number.isFinite(t) || t < 0) note(`column '${time.column}': '${rawTime}' is not a non-negative time`);
  const rawEvent = row[idx[1] as number] ?? '';
  if (rawEvent !== event.eventValue && rawEvent !== event.censoredValue) {
    note(`column '${event.column}': '${rawEvent}' is neither the event value '${event.eventValue}' nor the censored value '${event.censoredValue}'`);
  }
  return { kind: 'survival', time: t, event: rawEvent === event.eventValue ? 1 : 0 };
}

/** Copies, maps or bins one cell into a subgroup label; unmapped values and missing cells are named, not dropped. */
export function deriveSubgroup(rule: SubgroupRuleDto, cell: string, missingTokens: ReadonlySet<string>): string {
  if (cell === '' || missingTokens.has(cell)) return rule.missing ?? 'unknown';
  if (rule.map) return rule.map[cell] ?? `other (${cell})`;
  if (rule.bins) {
    const v = Number(cell);
    if (!Number.isFinite(v)) return rule.missing ?? 'unknown';
    const bin = rule.bins.find((b) => b.lt === undefined || v < b.lt);
    return bin?.label ?? rule.missing ?? 'unknown';
  }
  return cell;
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
 * seeded shuffle of the class's ids in sorted order, so the split depends only on the data and the seed. Binary
 * labels are taken in the order 1, 0; any other strata (e.g. scanner names) in sorted order.
 */
export function stratifiedSplit<T extends { caseId: string; label: 0 | 1 | string }>(cases: T[], seed: number, sampleSize: number): (T & { split: SplitName })[] {
  const strata = [...new Set(cases.map((c) => c.label))];
  const classes: T['label'][] = strata.every((l) => l === 0 || l === 1) ? [1, 0] : strata.map(String).sort();
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
