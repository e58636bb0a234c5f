import { Column, Entity, PrimaryColumn } from 'typeorm';

/**
 * The public halves of the keys that sign validation reports. Published (GET /api/reports/keys) and never deleted:
 * a retired key still verifies the reports it signed. The private halves are files (ReportKeyStore), never rows.
 */
@Entity('report_signing_keys')
export class ReportSigningKeyEntity {
  /** 'ed25519-' + the first 16 hex digits of sha256(raw public key). */
  @PrimaryColumn({ type: 'text' }) keyId!: string;
  /** base64 of the raw 32-byte Ed25519 public key. */
  @Column({ type: 'text' }) publicKey!: string;
  @Column({ type: 'timestamptz' }) createdAt!: Date;
  /** When a newer key took over signing; null for the key that signs now. */
  @Column({ type: 'timestamptz', nullable: true }) retiredAt!: Date | null;
}
