import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ArrayMaxSize, IsArray, IsOptional, IsUUID } from 'class-validator';
import type { SignedEvidence } from './evidence';
import type { ValidationReportEntity } from './reports.entity';

export class ReportRequestDto {
  @ApiPropertyOptional({ type: [String], description: 'Submission ids to compare against (paired tests on the same cases; evaluators only), at most 10' })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(10)
  @IsUUID('all', { each: true, message: 'each comparator must be a submission id (UUID)' })
  comparators?: string[];
}

export class ReportQueuedResponse {
  @ApiProperty() runId!: string;
  @ApiProperty({ description: 'The reports queued: their ids are deterministic, so GET /api/reports/:id finds each once generated' })
  reports!: { reportId: string; audience: 'full' | 'vendor' }[];
}

export class ReportSummaryResponse {
  @ApiProperty({ description: 'Deterministic: first 32 hex of sha256(submissionId:benchmarkVersionId:phase:audience)' }) id!: string;
  @ApiProperty() runId!: string;
  @ApiProperty() submissionId!: string;
  @ApiProperty() benchmarkVersionId!: string;
  @ApiProperty() phase!: string;
  @ApiProperty({ enum: ['full', 'vendor'] }) audience!: 'full' | 'vendor';
  @ApiProperty({ description: 'sha256 of the canonical (RFC 8785) evidence record' }) evidenceSha256!: string;
  @ApiProperty() keyId!: string;
  @ApiProperty() htmlSha256!: string;
  @ApiProperty() pdfSha256!: string;
  @ApiProperty({ type: [String] }) comparators!: string[];
  @ApiProperty() createdAt!: string;
  @ApiProperty({ description: 'Download links' }) links!: { evidence: string; html: string; pdf: string };
}

export class ReportDetailResponse extends ReportSummaryResponse {
  @ApiProperty({ description: 'The evidence record and its Ed25519 signature (what evidence.json downloads)', type: Object }) signed!: SignedEvidence;
}

export function toReportSummary(r: Omit<ValidationReportEntity, 'evidence' | 'htmlKey' | 'pdfKey' | 'signature'>): ReportSummaryResponse {
  const base = `/api/reports/${r.id}`;
  return {
    id: r.id,
    runId: r.runId,
    submissionId: r.submissionId,
    benchmarkVersionId: r.benchmarkVersionId,
    phase: r.phase,
    audience: r.audience,
    evidenceSha256: r.evidenceSha256,
    keyId: r.keyId,
    htmlSha256: r.htmlSha256,
    pdfSha256: r.pdfSha256,
    comparators: r.comparators,
    createdAt: r.createdAt.toISOString(),
    links: { evidence: `${base}/evidence.json`, html: `${base}/report.html`, pdf: `${base}/report.pdf` },
  };
}

export function toReportDetail(r: ValidationReportEntity): ReportDetailResponse {
  return { ...toReportSummary(r), signed: r.evidence };
}
