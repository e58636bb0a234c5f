import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn } from 'typeorm';
import type { BenchmarkDefinition } from './benchmark-definition';

@Entity('benchmarks')
export class BenchmarkEntity {
  @PrimaryGeneratedColumn('uuid') id!: string;
  @Column({ type: 'text', unique: true }) slug!: string;
  @Column({ type: 'text' }) title!: string;
  /** The version new submissions go to. */
  @Column({ type: 'uuid', nullable: true }) currentVersionId!: string | null;
  @CreateDateColumn({ type: 'timestamptz' }) createdAt!: Date;
}

@Entity('benchmark_versions')
export class BenchmarkVersionEntity {
  @PrimaryGeneratedColumn('uuid') id!: string;
  @Column({ type: 'uuid' }) benchmarkId!: string;
  @Column({ type: 'int' }) version!: number;
  /** sha256 of the canonical definition. */
  @Column({ type: 'text' }) contentHash!: string;
  @Column({ type: 'jsonb' }) definition!: BenchmarkDefinition;
  @Column({ type: 'uuid' }) cohortVersionId!: string;
  /** 'catalogue' (benchmarks/<slug>/benchmark.yaml) or 'api'. */
  @Column({ type: 'text' }) source!: string;
  @CreateDateColumn({ type: 'timestamptz' }) createdAt!: Date;
}

export type PhaseStatus = 'open' | 'closed';
export type LeaderboardVisibility = 'public' | 'hidden';

/** Mutable state of a phase (the definition itself is in the version). */
@Entity('benchmark_phases')
export class BenchmarkPhaseEntity {
  @PrimaryGeneratedColumn('uuid') id!: string;
  @Column({ type: 'uuid' }) benchmarkVersionId!: string;
  @Column({ type: 'text' }) name!: string;
  @Column({ type: 'text' }) split!: string;
  @Column({ type: 'text' }) status!: PhaseStatus;
  @Column({ type: 'text' }) leaderboardVisibility!: LeaderboardVisibility;
}
