import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  ArrayUnique,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsObject,
  IsNumber,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  ValidateIf,
  ValidateNested,
} from 'class-validator';

/** Task types the schema names; those that can run are the registered ones (src/tasks/registry.ts). */
export const TASK_TYPES = ['binary-classification', 'multiclass-classification', 'segmentation', 'detection', 'survival'] as const;
export type TaskType = (typeof TASK_TYPES)[number];

export class InterfaceInputDto {
  @Matches(/^[a-z][a-z0-9_]{0,39}$/, { message: 'name must be lower-case letters, digits and _' }) name!: string;
  /** vector: tabular features; volume: a 3-D image file per case (canonical NIfTI written by Assay). */
  @IsIn(['vector', 'volume']) kind!: 'vector' | 'volume';
  @ValidateIf((o: InterfaceInputDto) => o.kind === 'vector') @IsInt() @Min(1) @Max(1_000_000) length?: number;
  @ValidateIf((o: InterfaceInputDto) => o.kind === 'vector') @IsIn(['float32']) dtype?: 'float32';
  @ValidateIf((o: InterfaceInputDto) => o.kind === 'volume') @IsIn(['nifti']) format?: 'nifti';
}

export class InterfaceOutputDto {
  @Matches(/^[a-z][a-z0-9_]{0,39}$/, { message: 'name must be lower-case letters, digits and _' }) name!: string;
  /**
   * probability: in [0, 1]; risk: any finite number, higher = worse; mask: /output/masks/<caseId>.nii.gz on the
   * input's grid (1 = lesion); detections: [{x, y, z, score}] in world LPS mm.
   */
  @IsIn(['probability', 'risk', 'mask', 'detections']) kind!: 'probability' | 'risk' | 'mask' | 'detections';
}

export class AlgorithmInterfaceDto {
  @IsArray() @ArrayMinSize(1) @IsObject({ each: true }) @ValidateNested({ each: true }) @Type(() => InterfaceInputDto) inputs!: InterfaceInputDto[];
  @IsArray() @ArrayMinSize(1) @IsObject({ each: true }) @ValidateNested({ each: true }) @Type(() => InterfaceOutputDto) outputs!: InterfaceOutputDto[];
}

export class CohortRefDto {
  @Matches(/^[a-z0-9][a-z0-9-]{1,62}$/, { message: 'slug must be lower-case letters, digits and -' }) slug!: string;
}

export class MetricsSpecDto {
  @IsString() primary!: string;
  @IsArray() @ArrayUnique() @IsString({ each: true }) secondary!: string[];
  /**
   * Locked operating threshold: binary, a case is positive iff probability >= threshold; detection, a candidate
   * counts iff its score >= threshold (sensitivity and FP/scan are reported there).
   */
  @IsOptional() @IsNumber() @Min(0) @Max(1) threshold?: number;
  /** Segmentation: the NSD tolerance τ in mm (per structure, set by clinicians; METRICS.md §2.4). */
  @IsOptional() @IsNumber({ allowNaN: false, allowInfinity: false }) @Min(0) @Max(100) toleranceMm?: number;
  /** Segmentation: cases where both masks are empty are excluded (default) or scored as perfect (METRICS.md §2.5). */
  @IsOptional() @IsIn(['exclude', 'perfect']) bothEmpty?: 'exclude' | 'perfect';
  /**
   * Truncation time τ of Uno's C (survival), in the cohort's time unit: required when c_index_uno is reported; the
   * scorer refuses a τ with censoring survival Ĝ = 0 at an event time before it (METRICS.md §5.2).
   */
  @IsOptional() @IsNumber({ allowNaN: false, allowInfinity: false }) @Min(0) @Max(1e9) tau?: number;
  /** Bootstrap replicates B of every metric CI of this benchmark (default 2000; the offline scorer's --bootstrap). */
  @IsOptional() @IsInt() @Min(200) @Max(100_000) bootstrapReplicates?: number;
}

export class RobustnessSpecDto {
  /** Bootstrap replicates over cases for the rank distribution (challengeR uses 1000). */
  @IsInt() @Min(100) @Max(20_000) replicates!: number;
  @IsInt() @Min(0) @Max(2 ** 31 - 1) seed!: number;
}

export class SubgroupsSpecDto {
  /** Case metadata attributes of the cohort to break every metric down by. */
  @IsArray() @IsString({ each: true }) attributes!: string[];
  /** Subgroups with fewer cases are shown as "n < minSize", never with a value. */
  @IsInt() @Min(1) @Max(1_000_000) minSize!: number;
}

export class RankingSpecDto {
  /** challengeR's schemes; for aggregate metrics (AUROC, C-index) "cases" are bootstrap-resampled, not ranked one by one. */
  @IsIn(['aggregate-then-rank', 'rank-then-aggregate', 'test-then-rank']) method!: 'aggregate-then-rank' | 'rank-then-aggregate' | 'test-then-rank';
  @IsIn(['min']) ties!: 'min';
  /** Which of a vendor's submissions stands for it on the leaderboard. */
  @IsIn(['best', 'latest']) perVendor!: 'best' | 'latest';
  @IsOptional() @IsObject() @ValidateNested() @Type(() => RobustnessSpecDto) robustness?: RobustnessSpecDto;
}

/** One node of a federated phase: the node's registered name and the cohort it holds for this benchmark. */
export class PhaseNodeDto {
  @Matches(/^[a-z0-9][a-z0-9-]{0,62}$/, { message: 'node must be a registered node name (lower-case letters, digits and -)' }) node!: string;
  @Matches(/^[a-z0-9][a-z0-9-]{0,62}$/, { message: 'cohort must be a cohort slug (lower-case letters, digits and -)' }) cohort!: string;
  /** Pinned at load from the cohort the node registered (sha256 of its manifest); not written by hand. */
  @IsOptional() @Matches(/^[0-9a-f]{64}$/, { message: 'contentHash must be a sha256 in hex' }) contentHash?: string;
}

/**
 * A phase run on federated nodes (issue 11) instead of the facility: each node runs the algorithm on its own cohort's
 * split and returns only what its policy and `egress` allow; the hub pools (exactly where the statistics allow).
 */
export class PhaseFederationDto {
  @IsArray() @ArrayMinSize(1) @ArrayMaxSize(64) @IsObject({ each: true }) @ValidateNested({ each: true }) @Type(() => PhaseNodeDto) nodes!: PhaseNodeDto[];
  /** The most the benchmark asks to leave a node; a node's own policy may allow less. */
  @IsIn(['aggregates', 'score-distributions', 'per-case-pseudonymised']) egress!: 'aggregates' | 'score-distributions' | 'per-case-pseudonymised';
  /** How long a run waits for an offline node before the evaluator decides (1 h to 30 days). */
  @IsInt() @Min(1) @Max(720) waitForNodeHours!: number;
}

export class PhaseSpecDto {
  @Matches(/^[a-z][a-z0-9-]{0,30}$/, { message: 'name must be lower-case letters, digits and -' }) name!: string;
  @IsIn(['sample', 'test']) split!: 'sample' | 'test';
  @IsIn(['public', 'hidden']) leaderboard!: 'public' | 'hidden';
  @IsOptional() @IsObject() @ValidateNested() @Type(() => PhaseFederationDto) federation?: PhaseFederationDto;
}

export class ResourceLimitsDto {
  @IsNumber() @Min(0.1) @Max(64) cpus!: number;
  @IsInt() @Min(64) @Max(262_144) memoryMiB!: number;
  @IsInt() @Min(0) @Max(8) gpus!: number;
  @IsInt() @Min(1) @Max(86_400) timeoutSeconds!: number;
  @IsInt() @Min(1) @Max(100_000) batchSize!: number;
  @IsInt() @Min(1024) @Max(10 * 1024 * 1024 * 1024) outputBytes!: number;
}

export class LimitsSpecDto {
  @IsInt() @Min(1) @Max(10_000) submissionsPerDay!: number;
  @IsInt() @Min(1) @Max(1_000_000) submissionsTotal!: number;
  /** When true, a new version of the benchmark starts every vendor's count afresh; by default all versions count. */
  @IsOptional() @IsBoolean() resetOnNewVersion?: boolean;
  /** An ONNX model is one protobuf message, which cannot exceed 2 GiB. */
  @IsInt() @Min(1024) @Max(2 * 1024 ** 3) modelBytes!: number;
  @IsObject() @ValidateNested() @Type(() => ResourceLimitsDto) resources!: ResourceLimitsDto;
  /**
   * Determinism check of held-out runs: how many cases (a sample seeded by the run id, at most one batch) are run a
   * second time and compared with the first outputs; 0 turns the check off. Absent means DEFAULT_DETERMINISM_CASES,
   * read where it is used (determinismCasesOf) and never written into the definition, so existing content hashes hold.
   */
  @IsOptional() @IsInt() @Min(0) @Max(1000) determinismCases?: number;
}

export const DEFAULT_DETERMINISM_CASES = 5;

/** The benchmark's determinism sample size (its limits.determinismCases, or the default). */
export function determinismCasesOf(def: Pick<BenchmarkDefinitionDto, 'limits'>): number {
  return def.limits.determinismCases ?? DEFAULT_DETERMINISM_CASES;
}

/**
 * Held-out feedback (docs/held-out-feedback.md): 'round' shows scores rounded to `precision`; 'ladder' is Blum &
 * Hardt's Ladder (ICML 2015) with step η = `step` on the primary metric; 'ladder-parameter-free' its variant whose
 * step is one standard error of the paired per-case losses (needs a per-case loss: brier).
 */
export class FeedbackSpecDto {
  @IsIn(['round', 'ladder', 'ladder-parameter-free']) mechanism!: 'round' | 'ladder' | 'ladder-parameter-free';
  /** η, in the primary metric's unit; required for 'ladder'. */
  @IsOptional() @IsNumber() @Min(0.0001) @Max(0.5) step?: number;
}

/** The validation report's reference standard (METRICS.md §9.4): how the truth was established. */
export class ReferenceStandardDto {
  @IsString() @MaxLength(4000) definition!: string;
  @IsOptional() @IsString() @MaxLength(2000) annotators?: string;
  @IsOptional() @IsString() @MaxLength(2000) protocol?: string;
  @IsOptional() @IsString() @MaxLength(2000) adjudication?: string;
  @IsOptional() @IsString() @MaxLength(2000) agreement?: string;
  @IsOptional() @IsString() @MaxLength(2000) indeterminate?: string;
}

/** The validation report's description of the test cohort (METRICS.md §9.5) as the benchmark uses it. */
export class ReportCohortDto {
  @IsString() @MaxLength(4000) sources!: string;
  /** true for generated data (e.g. the lesion phantoms): the report then says it is no evidence of clinical performance. */
  @IsBoolean() synthetic!: boolean;
  @IsOptional() @IsString() @MaxLength(2000) inclusion?: string;
  @IsOptional() @IsString() @MaxLength(500) collectionPeriod?: string;
  @IsOptional() @IsString() @MaxLength(2000) sampling?: string;
  /** Independence of the test cases from vendors' training data (attestation, de-duplication). */
  @IsString() @MaxLength(2000) independence!: string;
}

export class AcceptanceCriterionDto {
  @IsString() metric!: string;
  @IsIn(['ci_lower', 'ci_upper', 'estimate']) bound!: 'ci_lower' | 'ci_upper' | 'estimate';
  @IsIn(['>=', '<=']) op!: '>=' | '<=';
  @IsNumber({ allowNaN: false, allowInfinity: false }) value!: number;
}

/** Descriptive content of the validation report that only the benchmark's authors can give (part of the protocol hash). */
export class ReportSpecDto {
  @IsObject() @ValidateNested() @Type(() => ReferenceStandardDto) referenceStandard!: ReferenceStandardDto;
  @IsObject() @ValidateNested() @Type(() => ReportCohortDto) cohort!: ReportCohortDto;
  /** The population the benchmark's cohort stands for (and so what its results can speak to). */
  @IsString() @MaxLength(2000) intendedPopulation!: string;
  @IsArray() @ArrayMinSize(1) @IsString({ each: true }) @MaxLength(2000, { each: true }) limitations!: string[];
  /** Pre-specified acceptance criteria (e.g. AUROC CI lower bound ≥ 0.9); none = the report states that none were set. */
  @IsOptional() @IsArray() @IsObject({ each: true }) @ValidateNested({ each: true }) @Type(() => AcceptanceCriterionDto) acceptanceCriteria?: AcceptanceCriterionDto[];
}

/** The schema of benchmarks/<slug>/benchmark.yaml and of POST /api/benchmarks. */
export class BenchmarkDefinitionDto {
  @Matches(/^[a-z0-9][a-z0-9-]{1,62}$/, { message: 'slug must be lower-case letters, digits and -' }) slug!: string;
  @IsString() @MaxLength(200) title!: string;
  @IsString() @MaxLength(10_000) description!: string;
  @IsIn(TASK_TYPES as unknown as string[]) task!: TaskType;
  @IsObject() @ValidateNested() @Type(() => CohortRefDto) cohort!: CohortRefDto;
  @IsObject() @ValidateNested() @Type(() => AlgorithmInterfaceDto) interface!: AlgorithmInterfaceDto;
  @IsObject() @ValidateNested() @Type(() => MetricsSpecDto) metrics!: MetricsSpecDto;
  @IsObject() @ValidateNested() @Type(() => RankingSpecDto) ranking!: RankingSpecDto;
  @IsArray() @ArrayMinSize(1) @IsObject({ each: true }) @ValidateNested({ each: true }) @Type(() => PhaseSpecDto) phases!: PhaseSpecDto[];
  @IsObject() @ValidateNested() @Type(() => LimitsSpecDto) limits!: LimitsSpecDto;
  @IsOptional() @IsObject() @ValidateNested() @Type(() => SubgroupsSpecDto) subgroups?: SubgroupsSpecDto;
  /** Decimal places of public scores. */
  @IsOptional() @IsInt() @Min(0) @Max(10) precision?: number;
  @IsOptional() @IsObject() @ValidateNested() @Type(() => FeedbackSpecDto) feedback?: FeedbackSpecDto;
  /** Reference standard, cohort description, intended population and limitations for the validation report. */
  @IsOptional() @IsObject() @ValidateNested() @Type(() => ReportSpecDto) report?: ReportSpecDto;
}

export type BenchmarkDefinition = BenchmarkDefinitionDto & { cohort: CohortRefDto & { contentHash?: string } };
