import { ApiProperty } from '@nestjs/swagger';
import type { PublicKeyInfo } from './ed25519';
import type { VerifyCheck, VerifyResult } from './verify';

export class PublicKeyResponse implements PublicKeyInfo {
  @ApiProperty({ example: 'ed25519-3f1c2b7e9d4a4c1e' }) keyId!: string;
  @ApiProperty({ enum: ['Ed25519'] }) alg!: 'Ed25519';
  @ApiProperty({ description: 'base64 of the raw 32-byte Ed25519 public key' }) publicKey!: string;
  @ApiProperty({ format: 'date-time' }) createdAt!: string;
  @ApiProperty({ format: 'date-time', nullable: true, type: String, description: 'when a newer key took over signing; a retired key still verifies what it signed' }) retiredAt!: string | null;
}

export class PublicKeysResponse {
  @ApiProperty({ type: [PublicKeyResponse] }) keys!: PublicKeyResponse[];
}

export class VerifyCheckResponse implements VerifyCheck {
  @ApiProperty({ enum: ['parse', 'record-shape', 'report-on-record', 'embedded-evidence', 'evidence-hash', 'key-known', 'evidence-signature', 'digest-signature', 'seal-present', 'document-hash', 'seal-signature', 'seal-matches-evidence'] }) name!: VerifyCheck['name'];
  @ApiProperty() ok!: boolean;
  @ApiProperty({ description: 'what was compared, and what did not match' }) detail!: string;
}

/** The report Assay holds under a verified evidence hash, for the reader to compare with the page in hand. */
export class VerifiedReportResponse {
  @ApiProperty() reportId!: string;
  @ApiProperty({ enum: ['full', 'vendor'] }) audience!: string;
  @ApiProperty({ description: "the report's date (the run's finish)" }) date!: string;
  @ApiProperty() benchmark!: string;
  @ApiProperty() benchmarkVersion!: number;
  @ApiProperty() phase!: string;
  @ApiProperty() submission!: string;
  @ApiProperty() organisation!: string;
  @ApiProperty({ description: 'the primary endpoint as that report states it (rounded as its form is)' })
  primary!: { metric: string; value: number | null; ci: [number, number] | null };
  @ApiProperty({ description: 'false: this version was superseded by a regeneration of the report (the hash names what that version said)' })
  current!: boolean;
}

export class DigestVerifyResponse {
  @ApiProperty() valid!: boolean;
  @ApiProperty({ type: [VerifyCheckResponse] }) checks!: VerifyCheckResponse[];
}

export class DigestVerifyWithReportResponse extends DigestVerifyResponse {
  @ApiProperty({ type: VerifiedReportResponse, nullable: true, description: 'the report signed under this hash, when the signature verifies: compare it with the page' })
  report!: VerifiedReportResponse | null;
}

export class VerifyResponse extends DigestVerifyResponse implements VerifyResult {
  @ApiProperty({ enum: ['json', 'html', 'pdf', 'unknown'] }) format!: VerifyResult['format'];
  @ApiProperty({ nullable: true, type: String }) reportId!: string | null;
  @ApiProperty({ nullable: true, type: String, description: 'the key that signed the evidence record' }) keyId!: string | null;
  @ApiProperty({ nullable: true, type: String, description: 'the evidence hash as recomputed by the server' }) evidenceSha256!: string | null;
}
