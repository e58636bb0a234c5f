import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';
import type { ReportAudience, SignedEvidence } from './evidence';

/**
 * One validation report per (submission, benchmark version, phase, audience): the signed evidence record and where
 * its renderings are. Upserted by reportId, so regenerating (after a crash, or on request) keeps one row.
 */
@Entity('validation_reports')
export class ValidationReportEntity {
  /** reportIdOf(): first 32 hex digits of sha256(submissionId:benchmarkVersionId:phase:audience). */
  @PrimaryColumn({ type: 'text' }) id!: string;
  @Column({ type: 'uuid' }) runId!: string;
  @Column({ type: 'uuid' }) submissionId!: string;
  @Column({ type: 'uuid' }) benchmarkVersionId!: string;
  @Column({ type: 'text' }) phase!: string;
  @Column({ type: 'text' }) audience!: ReportAudience;
  /** sha256 hex of the canonical (RFC 8785) bytes of the evidence record. */
  @Column({ type: 'text' }) evidenceSha256!: string;
  /** Id of the Ed25519 key that signed it. */
  @Column({ type: 'text' }) keyId!: string;
  /** base64url Ed25519 signature over the canonical bytes. */
  @Column({ type: 'text' }) signature!: string;
  /** The SignedEvidence (record + signature), as evidence.json serves it. */
  @Column({ type: 'jsonb' }) evidence!: SignedEvidence;
  /** Keys in the reports bucket (content-addressed: reports/<reportId>/<sha256>.html|.pdf). */
  @Column({ type: 'text' }) htmlKey!: string;
  @Column({ type: 'text' }) pdfKey!: string;
  @Column({ type: 'text' }) htmlSha256!: string;
  @Column({ type: 'text' }) pdfSha256!: string;
  /** Submission ids the evaluator chose to compare against (empty = none). */
  @Column({ type: 'jsonb', default: [] }) comparators!: string[];
  @CreateDateColumn({ type: 'timestamptz' }) createdAt!: Date;
}
