import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional } from 'class-validator';
import { IsIntegerText } from '../common/validation';

/** Paging of GET /api/audit: entries with seq > after, at most limit of them. */
export class AuditListQueryDto {
  @ApiPropertyOptional({ description: 'Sequence number to start after (default 0)', example: '0' })
  @IsOptional()
  @IsIntegerText({ min: 0, max: Number.MAX_SAFE_INTEGER })
  after?: string;

  @ApiPropertyOptional({ description: 'Entries per page, 1-1000 (default 100)', example: '100' })
  @IsOptional()
  @IsIntegerText({ min: 1, max: 1000 })
  limit?: string;
}
