import { Column, Entity, PrimaryColumn } from 'typeorm';

/** Append-only (the database refuses UPDATE and DELETE); each row's hash covers its content and the previous hash. */
@Entity('audit_log')
export class AuditEntryEntity {
  /** Position in the chain, 1-based, gap-free. */
  @PrimaryColumn({ type: 'bigint' }) seq!: string;
  @Column({ type: 'timestamptz' }) at!: Date;
  @Column({ type: 'uuid', nullable: true }) actorUserId!: string | null;
  @Column({ type: 'text' }) action!: string;
  @Column({ type: 'text' }) entityType!: string;
  @Column({ type: 'text' }) entityId!: string;
  @Column({ type: 'jsonb' }) payload!: Record<string, unknown>;
  /** Hex sha256 of the previous entry ('' for the first). */
  @Column({ type: 'text' }) prevHash!: string;
  @Column({ type: 'text' }) hash!: string;
}
