import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsInt, IsObject, IsOptional, IsString, Length, Matches, Max, MaxLength, Min } from 'class-validator';
import { type IntendedUse, OPERATING_MODES, type OperatingMode, type SubmissionEntity } from './submissions.entity';

/** The vendor's model manifest (manifest.json next to model.onnx). */
export class OnnxManifestDto {
  @ApiProperty({ example: 'wdbc-logreg' }) @Matches(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/, { message: 'name must be 1-100 letters, digits, . _ -' }) name!: string;
  @ApiProperty({ example: '1.0.0' }) @IsString() @Length(1, 50) version!: string;
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(2000) description?: string;
  @ApiProperty({ example: { features: 'input' }, description: 'benchmark input name → ONNX input tensor name' }) @IsObject() inputs!: Record<string, string>;
  @ApiProperty({ example: { probability: 'probability' }, description: 'benchmark output name → ONNX output tensor name' }) @IsObject() outputs!: Record<string, string>;
  // Image models (segmentation, detection): how the facility's runner feeds the volume and reads the output. Checked
  // here for shape; every field is checked in detail, by name, by the runner's own check in the sandbox pre-flight
  // (sandbox-images/onnx-runner/src/imaging/manifest.js; documented in sandbox-images/README.md "Image models").
  @ApiPropertyOptional({ enum: ['NCDHW', 'NCHW'] }) @IsOptional() @IsIn(['NCDHW', 'NCHW']) layout?: 'NCDHW' | 'NCHW';
  @ApiPropertyOptional() @IsOptional() @IsInt() @Min(0) @Max(16) contextSlices?: number;
  @ApiPropertyOptional({ description: '{ window: { center, width } } | { normalize: { mean, std } } | { zscore: {} }' }) @IsOptional() @IsObject() preprocessing?: Record<string, unknown>;
  @ApiPropertyOptional({ description: '{ spacing: [sx, sy, sz] } (mm): the model spacing' }) @IsOptional() @IsObject() resample?: Record<string, unknown>;
  @ApiPropertyOptional({ description: '{ size: [d, h, w], overlap: 0..0.9, blend: gaussian | constant }' }) @IsOptional() @IsObject() tiling?: Record<string, unknown>;
  @ApiPropertyOptional({ description: "{ kind: probabilities | logits, channel, threshold } or { kind: heatmap, threshold, minDistanceMm }" }) @IsOptional() @IsObject() output?: Record<string, unknown>;
}

/** The image-model fields of a manifest, kept as the vendor sent them (the runner validates them). */
export const IMAGE_MODEL_FIELDS = ['layout', 'contextSlices', 'preprocessing', 'resample', 'tiling', 'output'] as const;

/** Longest text of one intended-use field (characters). */
export const INTENDED_USE_FIELD_CHARS = 2000;

/**
 * The intended use a vendor declares with an upload (multipart field `intendedUse`, JSON), for the validation
 * report's section 2. Validated with forbidNonWhitelisted: an unknown key is refused, naming it.
 */
export class IntendedUseDto implements IntendedUse {
  @ApiProperty({ description: 'What the algorithm is for (required when an intended use is given)', maxLength: INTENDED_USE_FIELD_CHARS })
  @IsString()
  @Length(1, INTENDED_USE_FIELD_CHARS)
  purpose!: string;
  @ApiPropertyOptional({ maxLength: INTENDED_USE_FIELD_CHARS }) @IsOptional() @IsString() @MaxLength(INTENDED_USE_FIELD_CHARS) targetCondition?: string;
  @ApiPropertyOptional({ maxLength: INTENDED_USE_FIELD_CHARS }) @IsOptional() @IsString() @MaxLength(INTENDED_USE_FIELD_CHARS) population?: string;
  @ApiPropertyOptional({ description: 'Intended users', maxLength: INTENDED_USE_FIELD_CHARS }) @IsOptional() @IsString() @MaxLength(INTENDED_USE_FIELD_CHARS) users?: string;
  @ApiPropertyOptional({ description: 'Clinical setting', maxLength: INTENDED_USE_FIELD_CHARS }) @IsOptional() @IsString() @MaxLength(INTENDED_USE_FIELD_CHARS) setting?: string;
  @ApiPropertyOptional({ maxLength: INTENDED_USE_FIELD_CHARS }) @IsOptional() @IsString() @MaxLength(INTENDED_USE_FIELD_CHARS) inputConstraints?: string;
  @ApiPropertyOptional({ maxLength: INTENDED_USE_FIELD_CHARS }) @IsOptional() @IsString() @MaxLength(INTENDED_USE_FIELD_CHARS) outputType?: string;
  @ApiPropertyOptional({ enum: OPERATING_MODES }) @IsOptional() @IsIn(OPERATING_MODES as unknown as string[]) operatingMode?: OperatingMode;
}

/** The multipart field's description in the OpenAPI document (both upload routes). */
export const INTENDED_USE_FIELD_DOC = {
  type: 'string',
  description: `optional JSON: {"purpose" (required), "targetCondition", "population", "users", "setting", "inputConstraints", "outputType", "operatingMode": ${OPERATING_MODES.join(' | ')}}; at most ${INTENDED_USE_FIELD_CHARS} characters per field; immutable after upload`,
  example: '{"purpose":"second opinion on malignancy of breast masses from FNA features","operatingMode":"second-reader"}',
};

export class ImageUploadFieldsDto {
  @Matches(/^[a-z0-9][a-z0-9-]{1,62}$/, { message: 'benchmark must be a benchmark slug' }) benchmark!: string;
  @Matches(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/, { message: 'name must be 1-100 letters, digits, . _ -' }) name!: string;
  @IsString() @Length(1, 50) version!: string;
  @IsOptional() @IsString() @MaxLength(2000) description?: string;
  /** JSON text, parsed and validated as IntendedUseDto. */
  @IsOptional() @IsString() intendedUse?: string;
}

export class UploadFieldsDto {
  @Matches(/^[a-z0-9][a-z0-9-]{1,62}$/, { message: 'benchmark must be a benchmark slug' }) benchmark!: string;
  @IsString() manifest!: string;
  /** JSON text, parsed and validated as IntendedUseDto. */
  @IsOptional() @IsString() intendedUse?: string;
}

/** A run as listed on its submission; built by the runs side (src/runs/run-summary.ts). */
export class RunSummaryResponse {
  @ApiProperty() id!: string;
  @ApiProperty() phase!: string;
  @ApiProperty() status!: string;
  @ApiProperty({ nullable: true, type: String }) failureReason!: string | null;
  @ApiProperty({ nullable: true, type: String, description: 'Shown to vendors only for public (sample) phases' }) failureDetail!: string | null;
  @ApiProperty() casesTotal!: number;
  @ApiProperty() casesDone!: number;
  @ApiProperty({ description: '0..1' }) progress!: number;
  @ApiProperty({ nullable: true, type: Number, description: 'Wall-clock duration so far or in total (ms)' }) durationMs!: number | null;
  @ApiProperty() queuedAt!: string;
  @ApiProperty({ nullable: true, type: String }) finishedAt!: string | null;
}

export class SubmissionResponse {
  @ApiProperty() id!: string;
  @ApiProperty() benchmark!: string;
  @ApiProperty() kind!: string;
  @ApiProperty() name!: string;
  @ApiProperty() sha256!: string;
  @ApiProperty() sizeBytes!: number;
  @ApiProperty({ enum: ['validating', 'accepted', 'rejected'] }) status!: string;
  @ApiProperty({ nullable: true, type: String }) rejectionReason!: string | null;
  @ApiProperty() createdAt!: string;
  @ApiProperty({ nullable: true, type: IntendedUseDto, description: 'The intended use the vendor declared at upload (immutable); null when none was declared' })
  intendedUse!: IntendedUse | null;
  @ApiProperty({ type: [RunSummaryResponse] }) runs!: RunSummaryResponse[];
}

export function toSubmissionResponse(s: SubmissionEntity, benchmark: string, runs: RunSummaryResponse[]): SubmissionResponse {
  return {
    id: s.id,
    benchmark,
    kind: s.kind,
    name: s.name,
    sha256: s.sha256,
    sizeBytes: Number(s.sizeBytes),
    status: s.status,
    rejectionReason: s.rejectionReason,
    createdAt: s.createdAt.toISOString(),
    intendedUse: s.intendedUse ?? null,
    runs,
  };
}

export class QuotaCountResponse {
  @ApiProperty({ description: 'Submissions that count against the limit' }) counted!: number;
  @ApiProperty({ description: "Submissions with a run that failed through Assay's fault (internal): kept, shown, not counted" }) assayFaults!: number;
}

export class QuotaResponse {
  @ApiProperty() benchmark!: string;
  @ApiProperty() limits!: { perDay: number; total: number };
  @ApiProperty({ type: QuotaCountResponse }) total!: QuotaCountResponse;
  @ApiProperty({ type: QuotaCountResponse }) last24h!: QuotaCountResponse;
}
