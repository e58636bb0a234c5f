import { ApiProperty } from '@nestjs/swagger';
import { IsObject, IsString, MaxLength } from 'class-validator';
import { BODY_LIMITS } from '../common/json-body';
import { CohortEntity, CohortVersionEntity } from './cohorts.entity';

export class CreateCohortVersionDto {
  @ApiProperty({ description: 'The cohort descriptor (the schema of cohorts/<slug>/cohort.yaml)' }) @IsObject() descriptor!: Record<string, unknown>;
  @ApiProperty({ description: 'The cohort table as CSV text' }) @IsString() @MaxLength(BODY_LIMITS.cohort) csv!: string;
}

export class CohortVersionResponse {
  @ApiProperty() id!: string;
  @ApiProperty() cohort!: string;
  @ApiProperty() version!: number;
  @ApiProperty() contentHash!: string;
  @ApiProperty() caseCount!: number;
  @ApiProperty() splits!: Record<string, Record<string, number>>;
  @ApiProperty() createdAt!: string;
}

export class CohortResponse {
  @ApiProperty() id!: string;
  @ApiProperty() slug!: string;
  @ApiProperty() title!: string;
  @ApiProperty() description!: string;
  @ApiProperty() attribution!: string;
}

export const toCohortResponse = (c: CohortEntity): CohortResponse => ({ id: c.id, slug: c.slug, title: c.title, description: c.description, attribution: c.attribution });
export const toCohortVersionResponse = (v: CohortVersionEntity): CohortVersionResponse => ({
  id: v.id,
  cohort: v.manifest.cohort,
  version: v.version,
  contentHash: v.contentHash,
  caseCount: v.caseCount,
  splits: v.manifest.split.counts,
  createdAt: v.createdAt.toISOString(),
});
