import { Column, Entity, PrimaryColumn } from 'typeorm';
import type { MetricValue } from '../evaluation/evaluation.entity';

/** Materialized after each finished evaluation; read endpoints only read this table. */
@Entity('leaderboard_entries')
export class LeaderboardEntryEntity {
  @PrimaryColumn({ type: 'uuid' }) benchmarkVersionId!: string;
  @PrimaryColumn({ type: 'text' }) phase!: string;
  @PrimaryColumn({ type: 'uuid' }) submissionId!: string;
  @Column({ type: 'uuid' }) runId!: string;
  @Column({ type: 'uuid' }) organisationId!: string;
  @Column({ type: 'text' }) organisationName!: string;
  @Column({ type: 'text' }) submissionName!: string;
  /** 1-based; ties share the lowest rank ("min"). */
  @Column({ type: 'int' }) rank!: number;
  @Column({ type: 'double precision' }) primaryValue!: number;
  @Column({ type: 'jsonb' }) metrics!: Record<string, MetricValue>;
  @Column({ type: 'timestamptz' }) evaluatedAt!: Date;
}
