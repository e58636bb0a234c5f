import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn } from 'typeorm';

export type SubmissionKind = 'onnx' | 'container';
export type SubmissionStatus = 'validating' | 'accepted' | 'rejected';

export interface OnnxModelManifest {
  name: string;
  version: string;
  description?: string;
  inputs: Record<string, string>;
  outputs: Record<string, string>;
  /** Image models: layout, contextSlices, preprocessing, resample, tiling, output (see sandbox-images/README.md). */
  layout?: 'NCDHW' | 'NCHW';
  contextSlices?: number;
  preprocessing?: Record<string, unknown>;
  resample?: Record<string, unknown>;
  tiling?: Record<string, unknown>;
  output?: Record<string, unknown>;
}

/** What the intake found in a vendor's image; runs are pinned by `imageId` and run as `runAs`, never as root. */
export interface ContainerImageInfo {
  imageId: string;
  tarballSha256: string;
  runAs: { uid: number; gid: number };
  workingDir: string;
  architecture: string;
  unpackedBytes: number;
  repoTags: string[];
}

export interface ContainerManifest {
  name: string;
  version: string;
  description?: string;
  /** Set once the image passed intake. */
  image?: ContainerImageInfo;
}

export type SubmissionManifest = OnnxModelManifest | ContainerManifest;

export const OPERATING_MODES = ['standalone', 'second-reader', 'concurrent', 'triage'] as const;
export type OperatingMode = (typeof OPERATING_MODES)[number];

/**
 * The intended use as the vendor declared it at submission (METRICS.md §9 section 2; the evidence record's
 * `intendedUse`): free text per field, as sent, never edited afterwards.
 */
export interface IntendedUse {
  purpose: string;
  targetCondition?: string;
  population?: string;
  users?: string;
  setting?: string;
  inputConstraints?: string;
  outputType?: string;
  operatingMode?: OperatingMode;
}

@Entity('submissions')
export class SubmissionEntity {
  @PrimaryGeneratedColumn('uuid') id!: string;
  @Column({ type: 'uuid' }) benchmarkVersionId!: string;
  @Column({ type: 'uuid' }) organisationId!: string;
  @Column({ type: 'uuid' }) submittedBy!: string;
  @Column({ type: 'text' }) kind!: SubmissionKind;
  @Column({ type: 'text' }) name!: string;
  @Column({ type: 'jsonb' }) manifest!: SubmissionManifest;
  /** Object key in the submissions bucket. */
  @Column({ type: 'text' }) objectKey!: string;
  /** sha256 of the uploaded file, computed while streaming. */
  @Column({ type: 'text' }) sha256!: string;
  @Column({ type: 'bigint' }) sizeBytes!: string;
  @Column({ type: 'text' }) status!: SubmissionStatus;
  @Column({ type: 'text', nullable: true }) rejectionReason!: string | null;
  /** What the in-sandbox check saw (model inputs/outputs, opset). */
  @Column({ type: 'jsonb', nullable: true }) checkReport!: Record<string, unknown> | null;
  /** The vendor's declared intended use, as validated at upload; immutable; null when none was declared. */
  @Column({ type: 'jsonb', nullable: true }) intendedUse!: IntendedUse | null;
  @CreateDateColumn({ type: 'timestamptz' }) createdAt!: Date;
}
