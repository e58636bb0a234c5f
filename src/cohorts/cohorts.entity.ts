import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn } from 'typeorm';

export type SplitName = 'sample' | 'test';

@Entity('cohorts')
export class CohortEntity {
  @PrimaryGeneratedColumn('uuid') id!: string;
  @Column({ type: 'text', unique: true }) slug!: string;
  @Column({ type: 'text' }) title!: string;
  @Column({ type: 'text' }) description!: string;
  /** Source, licence and attribution, shown wherever the cohort is. */
  @Column({ type: 'text' }) attribution!: string;
  @CreateDateColumn({ type: 'timestamptz' }) createdAt!: Date;
}

export interface CohortFileRecord {
  bucket: 'inputs' | 'truth';
  key: string;
  sha256: string;
  bytes: number;
}

export interface CohortVersionManifest {
  cohort: string;
  format: string;
  task: string;
  split: { seed: number; sampleSize: number; stratifiedBy: string; counts: Record<SplitName, Record<string, number>> };
  inputSchema: { name: string; kind: string; length: number; dtype: string; columns: string[] }[];
  /** Subgroup attributes every case carries in its metadata. */
  subgroups?: string[];
  /** How missing values were handled (features become null; NaN in ONNX tensors). */
  missing?: { tokens: string[]; note: string; cases: number };
  /** Imaging cohorts: whether synthetic, which truth they carry, and each case's grid. */
  imaging?: { synthetic: boolean; truth: { masks: boolean; lesions: boolean }; cases: { caseId: string; dims: number[]; spacing: number[]; lesions: number }[] };
  files: CohortFileRecord[];
  source: { file: string; sha256: string };
}

/** Immutable once written; identified by the sha256 of its canonical manifest. */
@Entity('cohort_versions')
export class CohortVersionEntity {
  @PrimaryGeneratedColumn('uuid') id!: string;
  @Column({ type: 'uuid' }) cohortId!: string;
  /** 1, 2, … per cohort, in order of ingestion. */
  @Column({ type: 'int' }) version!: number;
  @Column({ type: 'text' }) contentHash!: string;
  @Column({ type: 'jsonb' }) manifest!: CohortVersionManifest;
  @Column({ type: 'int' }) caseCount!: number;
  @CreateDateColumn({ type: 'timestamptz' }) createdAt!: Date;
}

@Entity('cohort_cases')
export class CohortCaseEntity {
  @PrimaryGeneratedColumn('uuid') id!: string;
  @Column({ type: 'uuid' }) cohortVersionId!: string;
  @Column({ type: 'text' }) caseId!: string;
  @Column({ type: 'text' }) split!: SplitName;
  /** Subgroup attributes (site, sex, age band, …); never given to algorithms unless declared as an input. */
  @Column({ type: 'jsonb' }) metadata!: Record<string, string>;
}
