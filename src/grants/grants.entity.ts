import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn } from 'typeorm';

/**
 * A regulator may read what it was granted: one benchmark (every version, submission, run and the hidden
 * leaderboards) or one submission (its runs with full detail). Exactly one of benchmarkId / submissionId is set.
 */
@Entity('access_grants')
export class AccessGrantEntity {
  @PrimaryGeneratedColumn('uuid') id!: string;
  @Column({ type: 'uuid' }) regulatorUserId!: string;
  @Column({ type: 'uuid', nullable: true }) benchmarkId!: string | null;
  @Column({ type: 'uuid', nullable: true }) submissionId!: string | null;
  @Column({ type: 'uuid' }) grantedBy!: string;
  @Column({ type: 'text', default: '' }) note!: string;
  @CreateDateColumn({ type: 'timestamptz' }) createdAt!: Date;
  @Column({ type: 'timestamptz', nullable: true }) revokedAt!: Date | null;
  @Column({ type: 'uuid', nullable: true }) revokedBy!: string | null;
}
