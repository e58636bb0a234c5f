import { ApiProperty } from '@nestjs/swagger';
import type { MetricValue } from '../metrics/score-report';
import type { PublicMetric, VendorFeedback } from '../leaderboards/held-out-feedback';
import { RunSummaryResponse } from '../submissions/submissions.dto';

export class RunDetailResponse extends RunSummaryResponse {
  @ApiProperty() submissionId!: string;
  @ApiProperty() split!: string;
  @ApiProperty() attempts!: number;
  @ApiProperty({ description: 'What this run used: model hash, cohort and benchmark content hashes, metric code, runner image, runtime' })
  pins!: Record<string, string | null>;
  @ApiProperty({ description: 'Per-step timings in ms' }) timings!: Record<string, number>;
  @ApiProperty({
    nullable: true,
    description:
      'Aggregate metrics with 95% CIs, once succeeded. Vendors on a held-out phase: only once the phase is released, rounded as the public leaderboard (no counts, no Wilson CIs), or under the Ladder the primary metric\'s ladder value only',
  })
  metrics!: Record<string, MetricValue | PublicMetric> | null;
  @ApiProperty({ description: "How the scores were shown: 'full' (evaluators, admins, sample split), 'round' or the Ladder; state withheld (not released) or pending" })
  feedback!: VendorFeedback;
  @ApiProperty({ nullable: true, type: Object }) details!: Record<string, unknown> | null;
}

export class CasePredictionResponse {
  @ApiProperty() caseId!: string;
  @ApiProperty() prediction!: Record<string, unknown>;
}
