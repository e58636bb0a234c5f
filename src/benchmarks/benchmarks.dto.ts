import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, ValidateIf } from 'class-validator';
import type { BenchmarkDefinition } from './benchmark-definition';
import type { ResolvedBenchmark } from './benchmarks.service';

export class PhaseResponse {
  @ApiProperty() name!: string;
  @ApiProperty() split!: string;
  @ApiProperty() status!: string;
  @ApiProperty() leaderboard!: string;
}

export class BenchmarkResponse {
  @ApiProperty() slug!: string;
  @ApiProperty() title!: string;
  @ApiProperty() version!: number;
  @ApiProperty({ description: 'sha256 of the canonical definition, including the pinned cohort version' }) contentHash!: string;
  @ApiProperty() task!: string;
  @ApiProperty({ description: 'The full definition (the schema of benchmark.yaml)' }) definition!: BenchmarkDefinition;
  @ApiProperty({ type: [PhaseResponse] }) phases!: PhaseResponse[];
}

export const toBenchmarkResponse = (r: ResolvedBenchmark): BenchmarkResponse => ({
  slug: r.benchmark.slug,
  title: r.benchmark.title,
  version: r.version.version,
  contentHash: r.version.contentHash,
  task: r.version.definition.task,
  definition: r.version.definition,
  phases: r.phases.map((p) => ({ name: p.name, split: p.split, status: p.status, leaderboard: p.leaderboardVisibility })),
});

/** At least one of the two (an empty change is a client's mistake, not a no-op to audit): {} names both fields. */
export class UpdatePhaseDto {
  @ApiPropertyOptional({ enum: ['open', 'closed'], description: 'closed: no new runs on this phase' })
  @ValidateIf((o: UpdatePhaseDto) => o.status !== undefined || o.leaderboard === undefined)
  @IsIn(['open', 'closed'])
  status?: 'open' | 'closed';
  @ApiPropertyOptional({ enum: ['public', 'hidden'], description: 'public releases the leaderboard to vendors and regulators' })
  @ValidateIf((o: UpdatePhaseDto) => o.leaderboard !== undefined || o.status === undefined)
  @IsIn(['public', 'hidden'])
  leaderboard?: 'public' | 'hidden';
}
