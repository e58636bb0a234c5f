import { Column, Entity, PrimaryColumn } from 'typeorm';
import type { SubgroupResult } from '../metrics/subgroups';
import type { MetricValue } from '../runs/evaluation.entity';

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
  /** The primary as the public sees it under the Ladder (the vendor's ladder value); null = no ladder on this phase. */
  @Column({ type: 'double precision', nullable: true }) shownPrimary!: number | null;
  @Column({ type: 'jsonb' }) metrics!: Record<string, MetricValue>;
  @Column({ type: 'timestamptz' }) evaluatedAt!: Date;
  /** Bootstrap robustness of the rank (null when the leaderboard has one entry). */
  @Column({ type: 'double precision', nullable: true }) medianRank!: number | null;
  /** 95% bootstrap rank interval [lo, hi]. */
  @Column({ type: 'jsonb', nullable: true }) rankInterval!: [number, number] | null;
  /** Share of replicates per rank (index 0 = rank 1): the blob plot's data. */
  @Column({ type: 'jsonb', nullable: true }) rankShare!: number[] | null;
  /** A federated run's per-node (site) table, per metric, as scored (suppressed below the minimum size); null otherwise. */
  @Column({ type: 'jsonb', nullable: true }) sites!: Record<string, SubgroupResult[]> | null;
}

/** How a leaderboard was ranked and how stable the ranking is. */
@Entity('leaderboard_snapshots')
export class LeaderboardSnapshotEntity {
  @PrimaryColumn({ type: 'uuid' }) benchmarkVersionId!: string;
  @PrimaryColumn({ type: 'text' }) phase!: string;
  @Column({ type: 'text' }) method!: string;
  @Column({ type: 'jsonb' }) details!: { kendallTau: { median: number; q25: number; q75: number } | null; B: number; seed: number; degenerate: number; entries: number };
  @Column({ type: 'timestamptz' }) computedAt!: Date;
}
