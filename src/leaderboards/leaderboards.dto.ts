import { ApiProperty } from '@nestjs/swagger';

export class LeaderboardMetricResponse {
  @ApiProperty({ nullable: true, type: Number }) value!: number | null;
  @ApiProperty({ nullable: true, type: [Number], description: '95% confidence interval [lo, hi]' }) ci!: [number, number] | null;
  @ApiProperty({ description: 'How the value and its interval were computed (never counts)' }) method!: string;
  @ApiProperty({ required: false, description: 'Numerator and denominator of a proportion: full-precision readers only (evaluators, admins)' })
  counts?: { numerator: number; denominator: number };
}

export class LeaderboardRowResponse {
  @ApiProperty() rank!: number;
  @ApiProperty() organisation!: string;
  @ApiProperty() submission!: string;
  @ApiProperty() submissionId!: string;
  @ApiProperty() evaluatedAt!: string;
  @ApiProperty({ nullable: true, type: Number, description: 'Median rank over the bootstrap replicates' }) medianRank!: number | null;
  @ApiProperty({ nullable: true, type: [Number], description: '95% bootstrap rank interval [best, worst]' }) rankInterval!: [number, number] | null;
  @ApiProperty({ nullable: true, type: [Number], description: 'Share of replicates per rank (index 0 = rank 1)' }) rankShare!: number[] | null;
  @ApiProperty({ type: 'object', additionalProperties: { $ref: '#/components/schemas/LeaderboardMetricResponse' } }) metrics!: Record<string, LeaderboardMetricResponse>;
}

export class LeaderboardResponse {
  @ApiProperty() benchmark!: string;
  @ApiProperty() benchmarkVersion!: number;
  @ApiProperty() benchmarkContentHash!: string;
  @ApiProperty() phase!: string;
  @ApiProperty() split!: string;
  @ApiProperty() primaryMetric!: string;
  @ApiProperty({ enum: ['higher', 'lower'] }) direction!: 'higher' | 'lower';
  @ApiProperty() ranking!: string;
  @ApiProperty() precision!: number;
  @ApiProperty({ description: 'true: unrounded values with counts (evaluators, admins); false: the public view' }) fullPrecision!: boolean;
  @ApiProperty({ description: "Held-out feedback: 'round' (rounded to precision) or the Ladder with its step (primary metric only)" })
  feedback!: { mechanism: string; step: number | null };
  @ApiProperty({ nullable: true, description: 'How stable the ranking is: bootstrap over cases, Kendall τ against the reported ranking' })
  robustness!: { method: string; kendallTau: { median: number; q25: number; q75: number } | null; replicates: number; seed: number; degenerateReplicates: number } | null;
  @ApiProperty({ type: [LeaderboardRowResponse] }) rows!: LeaderboardRowResponse[];
}

export class ComparedEntryResponse {
  @ApiProperty() submissionId!: string;
  @ApiProperty() submission!: string;
  @ApiProperty() organisation!: string;
}

export class ComparisonResponse {
  @ApiProperty() benchmark!: string;
  @ApiProperty() phase!: string;
  @ApiProperty({ description: 'Number of paired cases' }) n!: number;
  @ApiProperty({ type: ComparedEntryResponse }) a!: ComparedEntryResponse;
  @ApiProperty({ type: ComparedEntryResponse }) b!: ComparedEntryResponse;
  @ApiProperty({ example: 'A − B' }) difference!: string;
  @ApiProperty({ description: 'Per metric: difference, 95% CI, p, Holm-adjusted p and the method' }) comparison!: Record<string, unknown>;
}
