import { ApiProperty } from '@nestjs/swagger';

export class LeaderboardMetricResponse {
  @ApiProperty({ nullable: true, type: Number }) value!: number | null;
  @ApiProperty({ nullable: true, type: [Number], description: '95% confidence interval [lo, hi]' }) ci!: [number, number] | null;
  @ApiProperty({
    required: false,
    description: "How the value and its interval were computed (never counts). On a leaderboard row only where it differs from the board's `methods[metric]` (stated once per board); read `row.metrics[m].method ?? board.methods[m]`",
  })
  method?: string;
  @ApiProperty({ required: false, description: 'Numerator and denominator of a proportion: full-precision readers only (evaluators, admins)' })
  counts?: { numerator: number; denominator: number };
}

export class LeaderboardSiteResponse {
  @ApiProperty({ description: 'The node (site) that scored its own cases' }) site!: string;
  @ApiProperty({ description: "true: fewer cases than the benchmark's subgroup minimum; no values shown" }) suppressed!: boolean;
  @ApiProperty({ nullable: true, type: Number, description: 'Cases scored at the site: full-precision readers only' }) n!: number | null;
  @ApiProperty({ type: 'object', additionalProperties: { type: 'object' }, description: "Per metric, the site's { value, ci } (rounded as the pooled values in the public view); methods in the run's report" })
  metrics!: Record<string, { value: number | null; ci: [number, number] | null }>;
}

export class LeaderboardRowResponse {
  @ApiProperty() rank!: number;
  @ApiProperty() organisation!: string;
  @ApiProperty() submission!: string;
  @ApiProperty() submissionId!: string;
  @ApiProperty() evaluatedAt!: string;
  @ApiProperty({ nullable: true, type: Number, description: 'Median rank over the bootstrap replicates' }) medianRank!: number | null;
  @ApiProperty({ nullable: true, type: [Number], description: '95% bootstrap rank interval [best, worst]' }) rankInterval!: [number, number] | null;
  @ApiProperty({
    nullable: true,
    type: [Number],
    description: 'Share of bootstrap replicates per rank, sparse: the leading and trailing zero shares are left out; element i is the share of rank `rankShareFrom + i` (every rank outside the range has share 0)',
  })
  rankShare!: number[] | null;
  @ApiProperty({ nullable: true, type: Number, description: 'The rank (1-based) of `rankShare[0]`; null when rankShare is null or empty' }) rankShareFrom!: number | null;
  @ApiProperty({ type: 'object', additionalProperties: { $ref: '#/components/schemas/LeaderboardMetricResponse' } }) metrics!: Record<string, LeaderboardMetricResponse>;
  @ApiProperty({
    required: false,
    nullable: true,
    type: [LeaderboardSiteResponse],
    description: 'A federated phase (issue 11): the per-site rows beside the pooled values; null in the public view of a held-out phase (as subgroup tables are); absent for entries scored at the facility',
  })
  sites?: LeaderboardSiteResponse[] | null;
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
  @ApiProperty({ type: 'object', additionalProperties: { type: 'string' }, description: "Per metric, the method of the board's rows (a row states `method` only where its own differs)" })
  methods!: Record<string, string>;
  @ApiProperty({ description: 'Rows on the board (all pages)' }) total!: number;
  @ApiProperty({ description: 'Rows skipped before this page (query `offset`, default 0)' }) offset!: number;
  @ApiProperty({ description: 'Most rows in this page (query `limit`, 1..1000, default 100)' }) limit!: number;
  @ApiProperty({ type: [LeaderboardRowResponse], description: 'Rows offset+1 .. offset+limit in rank order' }) rows!: LeaderboardRowResponse[];
}

/** A row's dense share per rank (index 0 = rank 1) from its sparse `rankShare` and `rankShareFrom`; `ranks` pads trailing zeros. */
export function expandRankShare(row: { rankShare: readonly number[] | null; rankShareFrom: number | null }, ranks = 0): number[] | null {
  if (row.rankShare === null) return null;
  const from = row.rankShareFrom ?? 1;
  const dense = [...new Array<number>(from - 1).fill(0), ...row.rankShare];
  while (dense.length < ranks) dense.push(0);
  return dense;
}

/** The sparse form of a dense share per rank: leading and trailing zeros left out, and the rank of the first kept. */
export function sparseRankShare(share: readonly number[] | null): { rankShare: number[] | null; rankShareFrom: number | null } {
  if (share === null) return { rankShare: null, rankShareFrom: null };
  let lo = 0;
  let hi = share.length;
  while (lo < hi && share[lo] === 0) lo++;
  while (hi > lo && share[hi - 1] === 0) hi--;
  return lo === hi ? { rankShare: [], rankShareFrom: null } : { rankShare: share.slice(lo, hi), rankShareFrom: lo + 1 };
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
