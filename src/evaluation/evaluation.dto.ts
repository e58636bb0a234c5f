import { ApiProperty } from '@nestjs/swagger';
import type { MetricValue } from '../metrics/score-report';
import { RunSummaryResponse } from '../submissions/submissions.dto';

export class RunDetailResponse extends RunSummaryResponse {
  @ApiProperty() submissionId!: string;
  @ApiProperty() split!: string;
  @ApiProperty() attempts!: number;
  @ApiProperty({ description: 'What this run used: model hash, cohort and benchmark content hashes, metric code, runner image, runtime' })
  pins!: Record<string, string | null>;
  @ApiProperty({ description: 'Per-step timings in ms' }) timings!: Record<string, number>;
  @ApiProperty({ nullable: true, description: 'Aggregate metrics with 95% CIs, once succeeded' }) metrics!: Record<string, MetricValue> | null;
  @ApiProperty({ nullable: true, type: Object }) details!: Record<string, unknown> | null;
}

export class CasePredictionResponse {
  @ApiProperty() caseId!: string;
  @ApiProperty() prediction!: Record<string, unknown>;
}
