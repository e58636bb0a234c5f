import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsEmail, IsOptional, IsString, IsUUID, Length, Matches } from 'class-validator';
import type { AccessGrantEntity } from './grants.entity';

export class CreateGrantDto {
  @ApiProperty({ example: 'reviewer@notified-body.example', description: 'The regulator user who receives access' }) @IsEmail() regulatorEmail!: string;
  @ApiPropertyOptional({ example: 'wdbc-malignancy', description: 'Grant one benchmark (admins and evaluators only); exactly one of benchmark / submissionId' })
  @IsOptional()
  @IsString()
  @Matches(/^[a-z0-9][a-z0-9-]{0,99}$/, { message: 'benchmark: a benchmark slug' })
  benchmark?: string;
  @ApiPropertyOptional({ description: 'Grant one submission (a vendor: its own organisation’s)' }) @IsOptional() @IsUUID() submissionId?: string;
  @ApiPropertyOptional({ example: 'CE technical file review' }) @IsOptional() @IsString() @Length(0, 500) note?: string;
}

export class GrantResponse {
  @ApiProperty() id!: string;
  @ApiProperty() regulatorUserId!: string;
  @ApiProperty({ nullable: true, type: String }) benchmarkId!: string | null;
  @ApiProperty({ nullable: true, type: String }) submissionId!: string | null;
  @ApiProperty() grantedBy!: string;
  @ApiProperty() note!: string;
  @ApiProperty() createdAt!: string;
  @ApiProperty({ nullable: true, type: String }) revokedAt!: string | null;
}

export const toGrantResponse = (g: AccessGrantEntity): GrantResponse => ({
  id: g.id,
  regulatorUserId: g.regulatorUserId,
  benchmarkId: g.benchmarkId,
  submissionId: g.submissionId,
  grantedBy: g.grantedBy,
  note: g.note,
  createdAt: g.createdAt.toISOString(),
  revokedAt: g.revokedAt?.toISOString() ?? null,
});
